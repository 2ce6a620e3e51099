//! `/login`: the sign-in form, and the reason a session ended (`?reason=`) in
//! an alert, so a person who was signed out learns why.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::server::{end_notice, error_text, SignIn};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let reason = move || query.read().get("reason").unwrap_or_default();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    // Most reasons have a fixed sentence; only timeouts use the operator's
    // configured message, which the server knows.
    let notice = Resource::new(reason, |reason| async move {
        match reason.parse::<bouncer_wire::Reason>() {
            Ok(known) if !known.is_timeout() => Some(known.message().to_owned()),
            Ok(_) => end_notice(reason).await.ok().flatten(),
            Err(_) => None,
        }
    });
    let sign_in = ServerAction::<SignIn>::new();
    let error = move || {
        sign_in
            .value()
            .get()
            .and_then(|result| result.err())
            .map(|e| error_text(&e))
    };

    view! {
        <Title text="Sign in" />
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <Suspense>
                {move || {
                    notice
                        .get()
                        .flatten()
                        .map(|message| {
                            view! {
                                <p class="notice" role="alert" data-reason=reason>
                                    {message}
                                </p>
                            }
                        })
                }}
            </Suspense>
            {move || error().map(|message| view! { <p class="error" role="alert">{message}</p> })}
            <ActionForm action=sign_in attr:class="form">
                <input type="hidden" name="next" value=next />
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username" required autofocus />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required />
                <button type="submit" class="button primary" disabled=move || sign_in.pending().get()>
                    {move || if sign_in.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
        </section>
    }
}
