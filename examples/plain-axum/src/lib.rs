//! A plain axum app (no Leptos) that gets Bouncer's sessions and live forced
//! logout from two crates: `bouncer-engine` decides, `bouncer-web` is the
//! glue. A sign-in form, one private page whose tab keeps a socket open, and
//! a sign-out: when anything ends the session (an admin, a timeout, a sign-in
//! elsewhere), the open page is told at once and leaves.

use std::sync::Arc;

use axum::{
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Router,
};
use bouncer_engine::{password::Password, Engine, Visitor};
use bouncer_web::{socket, Auth, Client, Credentials, Edge, PublicOrigin, SessionLayer};
use serde::Deserialize;

/// Requests that are not the person being there (the socket's upgrade).
const PASSIVE: &[&str] = &["/api/ws"];

/// The whole app for `engine`, served at `origin`.
pub fn app(engine: Engine, origin: PublicOrigin) -> Router {
    let edge = Arc::new(Edge::new(engine, origin, PASSIVE));
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/api/ws", get(socket::upgrade))
        .layer(SessionLayer::new(edge))
        // The tab watcher for plain pages; it carries nothing per user.
        .merge(bouncer_web::script::routes())
}

/// The private page: `/bouncer.js` opens the tab's socket and, when the
/// session ends, takes the tab to `/login` with the reason.
async fn home(auth: Auth) -> Response {
    let Visitor::Live(live) = auth.visitor() else {
        return Redirect::to("/login").into_response();
    };
    let name = match auth.engine().user_of(live).await {
        Ok(Some(user)) => user.username.to_string(),
        _ => return Redirect::to("/login").into_response(),
    };
    Html(format!(
        "<script src=/bouncer.js defer></script><h1>Hello, {name}</h1>\
         <form method=post action=/logout><button>Sign out</button></form>"
    ))
    .into_response()
}

async fn login_form() -> Html<&'static str> {
    Html(
        "<form method=post action=/login>\
         <label>Username <input name=username></label>\
         <label>Password <input name=password type=password></label>\
         <button>Sign in</button></form>",
    )
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    password: String,
}

async fn login(auth: Auth, Client(client): Client, Form(form): Form<SignInForm>) -> Response {
    let password = Password::new(form.password);
    let credentials = Credentials {
        username: &form.username,
        password: &password,
        replace: None,
    };
    match auth.sign_in(credentials, &client).await {
        Ok((_, cookie)) => (cookie, Redirect::to("/")).into_response(),
        Err((refused, cookie)) => (cookie, bouncer_web::ApiError::from(refused)).into_response(),
    }
}

async fn logout(auth: Auth) -> Response {
    match auth.sign_out().await {
        Ok(cookie) => (cookie, Redirect::to("/login")).into_response(),
        Err(e) => bouncer_web::ApiError::from(e).into_response(),
    }
}
