//! Bouncer's pages: the Leptos app, rendered on the server (`ssr`) and
//! hydrated in the browser (`hydrate`).
//!
//! # Layout
//!
//! - [`shell`] and [`App`] — the HTML document and the router.
//! - [`server`] — server functions, thin adapters over the engine.
//! - [`pages`] — one module per page.
//!
//! Architecture invariant: this crate names the engine, axum and tokio only
//! behind the `ssr` feature, so the `hydrate` build is pure wasm.

pub mod pages;
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

use crate::pages::{home::HomePage, login::LoginPage, not_found::NotFound};

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The app: header, routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="bouncer" href="/style/bouncer.css" />
        <Title formatter=|page: String| if page.is_empty() { "Bouncer".to_owned() } else { format!("{page} · Bouncer") } />
        <Router>
            <header class="topbar">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Bouncer"
                </a>
            </header>
            <main class="content">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/login") view=LoginPage />
                </Routes>
            </main>
        </Router>
    }
}
