//! The pages: the app's route list, and the page guard: a page request
//! whose session ended is redirected (303) to `/login?reason=…&next=…`, and
//! a signed-out visitor to `/login?next=…`, before any page renders. The JSON
//! API answers 401 instead (see `api`).

use std::sync::OnceLock;

use axum::{
    extract::Request,
    http::{header, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use bouncer_engine::Visitor;
use bouncer_web::layer::RequestSession;
use leptos_axum::AxumRouteListing;

/// The app's routes, listed once per process. Listing them runs the app
/// with every resource's loading switched off by a flag that is global to
/// the process (leptos_server's `SuppressResourceLoad`), and a resource
/// first polled meanwhile, by a page rendering for another application in
/// the same process, never loads: its page hangs (leptos-rs/leptos#4773).
/// Listed once, before the first application serves, nothing renders then.
pub fn app_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES
        .get_or_init(|| leptos_axum::generate_route_list(app::App))
        .clone()
}

/// Pages anyone may open.
const PUBLIC_PAGES: &[&str] = &["/login"];

/// Percent-encodes a path for a query parameter (RFC 3986 unreserved kept).
fn encode_component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte))
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Where a visitor who may not see `path` is sent, if anywhere.
pub fn redirect_for(visitor: &Visitor, path_and_query: &str) -> Option<String> {
    let path = path_and_query.split('?').next().unwrap_or("/");
    match visitor {
        Visitor::Live(_) if path == "/login" => Some("/".to_owned()),
        Visitor::Live(_) => None,
        _ if PUBLIC_PAGES.contains(&path) => None,
        Visitor::Ended(reason) => Some(format!(
            "/login?reason={}&next={}",
            reason.as_str(),
            encode_component(path_and_query)
        )),
        Visitor::Anonymous => Some(format!("/login?next={}", encode_component(path_and_query))),
    }
}

/// Whether `path` belongs to the JSON API (which answers 401, never redirects).
fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The middleware form of [`redirect_for`], for page routes only.
pub async fn guard_pages(request: Request, next: Next) -> Response {
    let is_page =
        matches!(*request.method(), Method::GET | Method::HEAD) && !is_api(request.uri().path());
    if is_page {
        if let Some(RequestSession { visitor, .. }) = request.extensions().get::<RequestSession>() {
            let target = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            if let Some(location) = redirect_for(visitor, target) {
                return (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use bouncer_wire::Reason;

    use super::*;

    #[test]
    fn ended_and_anonymous_visitors_go_to_login_with_reason_and_next() {
        assert_eq!(
            redirect_for(&Visitor::Ended(Reason::AdminRevoked), "/watch?t=1"),
            Some("/login?reason=admin_revoked&next=/watch%3Ft%3D1".to_owned())
        );
        assert_eq!(
            redirect_for(&Visitor::Anonymous, "/"),
            Some("/login?next=/".to_owned())
        );
        assert_eq!(redirect_for(&Visitor::Anonymous, "/login?next=/"), None);
        assert_eq!(
            redirect_for(&Visitor::Ended(Reason::IdleTimeout), "/login"),
            None
        );
    }

    /// The login page loads a path the router lacks instead of navigating
    /// to it (`app::is_app_route`): the list must be the router's own.
    #[tokio::test]
    async fn the_app_s_route_list_is_its_router_s() {
        let mut routed: Vec<String> = super::app_routes()
            .iter()
            .map(|route| route.path().to_owned())
            .collect();
        routed.sort();
        let mut listed = app::ROUTES.map(str::to_owned).to_vec();
        listed.sort();
        assert_eq!(routed, listed);
        assert!(app::is_app_route("/watch?t=1"));
        assert!(!app::is_app_route("/player"));
    }
}
