//! Cross-site request protection: any request with a method other than
//! GET/HEAD/OPTIONS whose `Origin` (or, lacking it, `Referer`) names another
//! origin than the app's public one is refused with 403 `cross_origin`.
//! Requests with neither header (curl, scripts) pass: they carry no ambient
//! browser credentials an attacker could ride on.

use axum::{
    extract::{Request, State},
    http::{header, Method, StatusCode},
    middleware::Next,
    response::Response,
};
use bouncer_engine::web::json_error;
use bouncer_wire::ErrorBody;

use std::sync::Arc;

use crate::config::PublicOrigin;

/// Whether a request with these headers may proceed.
pub fn allowed(
    public: &PublicOrigin,
    method: &Method,
    origin: Option<&str>,
    referer: Option<&str>,
) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    match (origin, referer) {
        (Some(origin), _) => public.matches(origin),
        (None, Some(referer)) => {
            PublicOrigin::from_referer(referer).is_some_and(|o| public.matches(&o))
        }
        (None, None) => true,
    }
}

/// The middleware form of [`allowed`].
pub async fn check_origin(
    // Behind an `Arc`: the state is cloned for every request.
    State(public): State<Arc<PublicOrigin>>,
    request: Request,
    next: Next,
) -> Response {
    let is_allowed = {
        let header_str = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        allowed(
            &public,
            request.method(),
            header_str(header::ORIGIN),
            header_str(header::REFERER),
        )
    };
    if is_allowed {
        next.run(request).await
    } else {
        json_error(
            StatusCode::FORBIDDEN,
            ErrorBody {
                error: "cross_origin".into(),
                message: Some("This request came from another site and was refused.".into()),
                reason: None,
                sessions: None,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unsafe_methods_from_other_origins_are_refused() {
        let public = PublicOrigin::parse("http://127.0.0.1:3000").expect("valid origin");
        let post = Method::POST;
        assert!(allowed(
            &public,
            &Method::GET,
            Some("https://evil.example"),
            None
        ));
        assert!(allowed(&public, &post, None, None));
        assert!(allowed(&public, &post, Some("http://127.0.0.1:3000"), None));
        assert!(!allowed(&public, &post, Some("https://evil.example"), None));
        assert!(!allowed(&public, &post, Some("null"), None));
        assert!(allowed(
            &public,
            &post,
            None,
            Some("http://127.0.0.1:3000/login?next=/")
        ));
        assert!(!allowed(
            &public,
            &post,
            None,
            Some("https://evil.example/page")
        ));
        assert!(!allowed(
            &public,
            &Method::DELETE,
            Some("http://127.0.0.1:3001"),
            None
        ));
    }
}
