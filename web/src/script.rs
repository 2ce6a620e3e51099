//! `GET /bouncer.js`: the tab watcher for pages that are not Bouncer's own
//! (`web/assets/bouncer.js`, API v2), compiled in. It speaks the protocol of
//! [`crate::socket`], so any axum app mounting this crate can serve it.
//!
//! The script is gzipped and hashed once, when the router is built, so a
//! request only picks one of two byte strings. Browsers keep it for a short
//! while and then revalidate with the `ETag`, so an upgrade reaches every
//! page within minutes without anyone changing their `<script>` tag. It
//! carries nothing per user, so it is served outside the session layers.

use std::{io::Write, sync::Arc};

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use flate2::{write::GzEncoder, Compression};
use sha2::{Digest, Sha256};

/// The script as written: readable, no build step.
const SOURCE: &str = include_str!("../assets/bouncer.js");

/// How long a browser uses its copy before revalidating: short, so an
/// upgraded server's script is picked up soon; the `ETag` makes the
/// revalidation a 304 when nothing changed.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The script's two representations and their validator.
#[derive(Debug)]
struct Script {
    /// `None` only if compressing failed, which writing into memory does not:
    /// then every client gets the plain script.
    gzip: Option<Vec<u8>>,
    /// Weak, since the gzip and the plain body are the same script: one
    /// validator revalidates either.
    etag: HeaderValue,
}

impl Script {
    fn build() -> Script {
        let digest = Sha256::digest(SOURCE.as_bytes());
        let etag = format!("W/\"{}\"", hex::encode(&digest[..8]));
        Script {
            gzip: gzip(SOURCE.as_bytes()).ok(),
            // Hex digits and quotes only: always a valid header value.
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("W/\"0\"")),
        }
    }

    fn respond(&self, request: &HeaderMap) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        );
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if etag_matches(request, &self.etag) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        match &self.gzip {
            Some(gzip) if accepts_gzip(request) => {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                (headers, gzip.clone()).into_response()
            }
            _ => (headers, SOURCE).into_response(),
        }
    }
}

/// The route, with the script compressed and hashed now.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let script = Arc::new(Script::build());
    Router::new().route(
        "/bouncer.js",
        get(move |headers: HeaderMap| async move { script.respond(&headers) }),
    )
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Whether `If-None-Match` names our validator (or `*`). The comparison is
/// the weak one RFC 9110 prescribes for `If-None-Match`: `W/` is ignored.
fn etag_matches(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = strip_weak(etag.to_str().unwrap_or_default());
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || strip_weak(tag) == ours)
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// Whether `Accept-Encoding` allows gzip: `gzip` or `*` with a q-value above
/// zero. An unreadable header means the plain script, which every client takes.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next()?;
            let weight = parts
                .find_map(|param| {
                    param
                        .strip_prefix("q=")
                        .or_else(|| param.strip_prefix("Q="))
                })
                .map_or(Some(1.0), |q| q.parse::<f32>().ok())?;
            Some((name, weight))
        })
        .any(|(name, weight)| (name.eq_ignore_ascii_case("gzip") || name == "*") && weight > 0.0)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn fetch(headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::get("/bouncer.js");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = routes::<()>()
            .oneshot(request.body(Body::empty()).expect("a request"))
            .await
            .expect("an answer");
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, headers, body.to_vec())
    }

    fn gunzip(bytes: &[u8]) -> String {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .expect("valid gzip");
        text
    }

    #[tokio::test]
    async fn plain_without_accept_encoding_with_type_cache_and_validator() {
        let (status, headers, body) = fetch(&[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, SOURCE.as_bytes());
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(headers[header::CACHE_CONTROL], CACHE_CONTROL);
        assert_eq!(headers[header::VARY], "Accept-Encoding");
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        let etag = headers[header::ETAG].to_str().expect("ascii");
        assert!(etag.starts_with("W/\"") && etag.len() == 20, "{etag}");
    }

    #[tokio::test]
    async fn gzip_when_accepted_and_the_same_script_inside() {
        let (status, headers, body) = fetch(&[("accept-encoding", "br, gzip;q=0.8")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gunzip(&body), SOURCE);
        assert!(
            body.len() <= 4096,
            "bouncer.js is {} bytes gzip",
            body.len()
        );
    }

    #[tokio::test]
    async fn refused_or_unreadable_gzip_gets_the_plain_script() {
        for value in ["gzip;q=0", "identity", "gzip;q=zero", "deflate, *;q=0"] {
            let (_, headers, body) = fetch(&[("accept-encoding", value)]).await;
            assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{value}");
            assert_eq!(body, SOURCE.as_bytes(), "{value}");
        }
        let (_, headers, _) = fetch(&[("accept-encoding", "*")]).await;
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    }

    #[tokio::test]
    async fn a_matching_validator_gets_304_without_a_body() {
        let (_, headers, _) = fetch(&[]).await;
        let etag = headers[header::ETAG].to_str().expect("ascii").to_owned();
        let strong = etag.trim_start_matches("W/").to_owned();
        for value in [etag.as_str(), &strong, &format!("\"other\", {etag}"), "*"] {
            let (status, headers, body) = fetch(&[("if-none-match", value)]).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{value}");
            assert!(body.is_empty());
            assert_eq!(headers[header::ETAG], etag.as_str());
        }
        let (status, _, _) = fetch(&[("if-none-match", "W/\"stale\"")]).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[test]
    fn headers_that_are_not_text_are_ignored() {
        let mut headers = HeaderMap::new();
        let garbage = HeaderValue::from_bytes(b"gzip\xff\xfe").expect("opaque bytes are allowed");
        headers.insert(header::ACCEPT_ENCODING, garbage.clone());
        headers.insert(header::IF_NONE_MATCH, garbage);
        let script = Script::build();
        assert!(!accepts_gzip(&headers));
        assert!(!etag_matches(&headers, &script.etag));
    }

    #[test]
    fn the_validator_follows_the_script() {
        let digest = Sha256::digest(SOURCE.as_bytes());
        let expected = format!("W/\"{}\"", hex::encode(&digest[..8]));
        assert_eq!(Script::build().etag, expected.as_str());
    }
}
