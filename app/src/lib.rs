//! Bouncer's pages: the Leptos app, rendered on the server (`ssr`) and
//! hydrated in the browser (`hydrate`).
//!
//! # Layout
//!
//! - [`shell`] and [`App`] — the HTML document and the router.
//! - [`server`] — server functions, thin adapters over the engine.
//! - [`pages`] — one module per page.
//! - [`header`] — the header that knows the visitor, and [`header::CurrentUser`].
//! - [`form`] — [`form::PostForm`], the pages' forms.
//! - [`modal`] — [`modal::Modal`], a real modal dialog.
//! - [`device`] — device lists: icons, names, activity.
//! - [`time`] — relative times and the page's clock.
//! - [`next`] — where a sign-in goes on to.
//! - [`hydration`] — what waits until the whole page has hydrated.
//! - [`watcher`] — the tab's WebSocket: live endings, idle warning, the lock
//!   on timeout, new sign-ins, activity.
//!
//! Architecture invariant: this crate names the engine, axum and tokio only
//! behind the `ssr` feature, so the `hydrate` build is pure wasm.

pub mod device;
pub mod form;
pub mod header;
pub mod hydration;
pub mod modal;
pub mod next;
pub mod pages;
pub mod server;
pub mod time;
pub mod watcher;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    lazy_route, path, Lazy, LazyRoute,
};

use crate::{
    header::{CurrentUser, SiteHeader},
    pages::{
        account::AccountPage, admin::AdminPage, home::HomePage, login::LoginPage,
        not_found::NotFound, watch::WatchPage,
    },
    time::Clock,
    watcher::{Lock, LockScreen, SessionWatcher, SessionsVersion},
};

/// The brand mark as an inline SVG icon: no extra request, no 404.
const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%233b5bdb'/%3E%3C/svg%3E";

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href=FAVICON />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The paths of the routes [`App`] declares: a client-side navigation reaches
/// only these. On an origin shared with another app (docs/INTEGRATION.md),
/// every other path is that app's and needs a full page load. The server's
/// tests hold this list equal to the router's (`src/pages.rs`).
pub const ROUTES: [&str; 5] = ["/", "/login", "/watch", "/account", "/admin"];

/// Whether `path` (its query and fragment aside) is one of [`ROUTES`].
pub fn is_app_route(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    ROUTES.contains(&path)
}

/// The app: the router around [`Shell`].
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="bouncer" href="/style/bouncer.css" />
        <Title formatter=|page: String| if page.is_empty() { "Bouncer".to_owned() } else { format!("{page} · Bouncer") } />
        <Router>
            <Shell />
        </Router>
    }
}

/// What every page shares: who is signed in, the clock, the watcher, the
/// header; and the lock screen, outside the page it hides.
#[component]
fn Shell() -> impl IntoView {
    Clock::provide();
    CurrentUser::provide();
    SessionsVersion::provide();
    let lock = Lock::provide();
    view! {
        <div class="page" hidden=move || lock.is_locked()>
            <SiteHeader />
            <SessionWatcher />
            <main class="content">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} />
                    <Route path=path!("/watch") view={Lazy::<WatchRoute>::new()} />
                    <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} />
                    <Route path=path!("/admin") view={Lazy::<AdminRoute>::new()} />
                </Routes>
            </main>
        </div>
        <LockScreen />
    }
}

/// Generates a lazy route for a page: in the browser its code is a split
/// point, so `scripts/lib.sh`'s `build_frontend` moves it out of the main
/// wasm into a chunk fetched on the first visit of that page (the home page
/// and the tab's watcher stay in the main module). On the server the view is
/// only made async. The main module went from 359,131 to 226,763 B gzip.
macro_rules! lazy_page {
    ($(#[$doc:meta])* $route:ident => $page:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page /> }.into_any()
            }
        }
    };
}

lazy_page!(
    /// `/login`, loaded on demand.
    LoginRoute => LoginPage
);
lazy_page!(
    /// `/watch`, loaded on demand.
    WatchRoute => WatchPage
);
lazy_page!(
    /// `/account`, loaded on demand.
    AccountRoute => AccountPage
);
lazy_page!(
    /// `/admin`, loaded on demand.
    AdminRoute => AdminPage
);

/// Fetches the `/login` page's code ahead of need. The watcher navigates
/// there on its own when the session ends (idle timeout, revocation), and
/// that must show at once, without first asking the network for code.
pub async fn preload_login_page() {
    <LoginRoute as LazyRoute>::preload().await;
}
