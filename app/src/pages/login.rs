//! `/login`: the sign-in form; the reason a session ended (`?reason=`) in an
//! alert, with where a replacing sign-in came from; and, under `refuse_new`,
//! the devices holding the slots, any of which the person can sign out to
//! continue with the password they just typed.

use bouncer_wire::Session;
use leptos::{html::Input, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    form::PostForm,
    human_time, is_app_route,
    server::{end_notice, error_text, safe_next, SessionEndNotice, SignIn, SignInResult},
};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let reason = move || query.read().get("reason").unwrap_or_default();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    // Most reasons have a fixed sentence; timeouts use the operator's message
    // and a replaced session learns where the new sign-in came from, which
    // only the server knows.
    let notice = Resource::new(reason, |reason| async move {
        match reason.parse::<bouncer_wire::Reason>() {
            Ok(known)
                if !known.is_timeout() && known != bouncer_wire::Reason::SignedInElsewhere =>
            {
                Some(SessionEndNotice {
                    message: known.message().to_owned(),
                    displaced_by: None,
                })
            }
            Ok(_) => end_notice(reason).await.ok().flatten(),
            Err(_) => None,
        }
    });
    let sign_in = ServerAction::<SignIn>::new();
    let username = NodeRef::<Input>::new();
    let password = NodeRef::<Input>::new();
    let error = move || {
        sign_in
            .value()
            .get()
            .and_then(|result| result.err())
            .map(|e| error_text(&e))
    };
    let holding = move || match sign_in.value().get() {
        Some(Ok(SignInResult::LimitReached(sessions))) => Some(sessions),
        _ => None,
    };
    // Signed in for a path that is not one of this app's routes (the app
    // behind the proxy, `/player`): the server sent no redirect, which the
    // router would follow to its 404, so the page loads that path itself.
    Effect::new(move || {
        if let Some(Ok(SignInResult::SignedIn)) = sign_in.value().get() {
            let next = safe_next(Some(&next()));
            if !is_app_route(&next) {
                let _ = window().location().replace(&next);
            }
        }
    });
    let replace = move |id: String| {
        let value = |input: NodeRef<Input>| input.get().map(|i| i.value()).unwrap_or_default();
        sign_in.dispatch(SignIn {
            username: value(username),
            password: value(password),
            next: Some(next()),
            replace_session: Some(id),
        });
    };

    view! {
        <Title text="Sign in" />
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <Suspense>
                {move || notice.get().flatten().map(|notice| view! { <Notice notice reason=reason() /> })}
            </Suspense>
            {move || error().map(|message| view! { <p class="error" role="alert">{message}</p> })}
            <PostForm
                action=sign_in
                read=|fields| SignIn {
                    username: fields.text("username"),
                    password: fields.text("password"),
                    next: fields.optional("next"),
                    replace_session: fields.optional("replace_session"),
                }
                class="form"
            >
                <input type="hidden" name="next" value=next />
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username" required autofocus node_ref=username />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required node_ref=password />
                <button type="submit" class="button primary" disabled=move || sign_in.pending().get()>
                    {move || if sign_in.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </PostForm>
            {move || holding().map(|sessions| view! { <Slots sessions replace /> })}
        </section>
    }
}

#[component]
fn Notice(notice: SessionEndNotice, reason: String) -> impl IntoView {
    view! {
        <div class="notice" role="alert" data-reason=reason>
            <p>{notice.message}</p>
            {notice
                .displaced_by
                .map(|by| {
                    view! {
                        <p class="small" data-testid="displaced-by">
                            {format!("The new sign-in: {} near {}, at {}.", by.device, by.ip, human_time(&by.at))}
                        </p>
                        <p class="small">
                            <a href="/login?next=%2Faccount%3Fsecure%3D1">"Not you? Sign in and secure your account"</a>
                        </p>
                    }
                })}
        </div>
    }
}

#[component]
fn Slots(
    sessions: Vec<Session>,
    replace: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <section class="slots" aria-live="polite" aria-labelledby="slots-title">
            <h2 id="slots-title">"You are signed in on too many devices"</h2>
            <p class="muted small">"Sign out one of them to continue here. Your password is kept; no need to type it again."</p>
            <ul class="devices">
                {sessions
                    .into_iter()
                    .map(|session| {
                        let id = session.id.clone();
                        view! {
                            <li class="device">
                                <div class="device-main">
                                    <p class="device-name">{session.device.clone()}</p>
                                    <p class="muted small">
                                        {format!("{} · last seen {}", session.ip, human_time(&session.last_seen_at))}
                                    </p>
                                </div>
                                <button
                                    type="button"
                                    class="button"
                                    aria-label=format!("Sign out {} and continue", session.device)
                                    on:click=move |_| replace(id.clone())
                                >
                                    "Sign out this device and continue"
                                </button>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
    .into_any()
}
