//! `/login`: the sign-in form; the reason a session ended (`?reason=`) in an
//! alert, with where a replacing sign-in came from; and, under `refuse_new`,
//! the device-limit screen ([`DeviceLimit`]) in place of the form.
//!
//! A person who is already signed in never stays on a filled-in form here:
//! `next` never names `/login` (the server's redirect after a sign-in goes
//! there), another tab signing in moves this one on (see the watcher), and
//! a sign-in page reached without a reason (the Back button) asks once
//! whether the browser is signed in already.

use leptos::{html::Input, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    form::PostForm,
    is_app_route,
    next::after_sign_in,
    pages::device_limit::DeviceLimit,
    server::{end_notice, error_text, SessionEndNotice, SignIn, SignInResult},
    time::Time,
    watcher::announce_sign_in,
};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let reason = move || query.read().get("reason").unwrap_or_default();
    let next = move || after_sign_in(query.read().get("next").as_deref());
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
    let value = |input: NodeRef<Input>| input.get().map(|i| i.value()).unwrap_or_default();
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
    let replace = move |id: String| {
        sign_in.dispatch(SignIn {
            username: value(username),
            password: value(password),
            next: Some(next()),
            replace_session: Some(id),
        });
    };
    let cancel = move || {
        sign_in.value().set(None);
        if let Some(field) = password.get_untracked() {
            field.set_value("");
            let _ = field.focus();
        }
    };
    after_sign_in_effects(sign_in, username, password, next, reason);

    view! {
        <Title text=move || if holding().is_some() { "Too many devices" } else { "Sign in" } />
        <section class="card narrow" hidden=move || holding().is_some()>
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
        </section>
        {move || {
            holding()
                .map(|sessions| {
                    view! { <DeviceLimit sessions replace cancel pending=sign_in.pending() /> }
                })
        }}
    }
}

/// What happens around a sign-in in the browser: focus on the username
/// (after a kick the person's next move is to sign in again); a signed-in
/// browser never stays here; the other tabs hear of the sign-in.
fn after_sign_in_effects(
    sign_in: ServerAction<SignIn>,
    username: NodeRef<Input>,
    password: NodeRef<Input>,
    next: impl Fn() -> String + Copy + Send + Sync + 'static,
    reason: impl Fn() -> String + Copy + Send + Sync + 'static,
) {
    // `autofocus` works on a page load only; a kick arrives client-side.
    Effect::new(move |_| {
        if let Some(field) = username.get() {
            let _ = field.focus();
        }
    });
    // The server's answer to a sign-in redirects to `next` (never `/login`)
    // when `next` is one of this app's routes; what this page adds is
    // telling the other tabs and leaving nothing typed. Any other path of
    // the origin (the app behind the same proxy, `/player`) would be the
    // router's 404, so the server sends no redirect and the page loads it.
    Effect::new(move |_| {
        if let Some(Ok(SignInResult::SignedIn)) = sign_in.value().get() {
            let name = username
                .get_untracked()
                .map(|field| field.value())
                .unwrap_or_default();
            announce_sign_in(&name);
            if let Some(field) = password.get_untracked() {
                field.set_value("");
            }
            let next = next();
            if !is_app_route(&next) {
                let _ = window().location().replace(&next);
            }
        }
    });
    // Reached without a reason (the Back button after signing in, an old
    // tab): if this browser is signed in, there is nothing to do here. The
    // answer may come after the person has moved on: it then does nothing.
    #[cfg(feature = "hydrate")]
    if reason().is_empty() {
        use std::{cell::Cell, rc::Rc};

        use leptos_router::{hooks::use_navigate, NavigateOptions};

        let navigate = use_navigate();
        let target = next();
        let here = Rc::new(Cell::new(true));
        let still_here = Rc::clone(&here);
        on_cleanup({
            let here = send_wrapper::SendWrapper::new(here);
            move || here.set(false)
        });
        leptos::task::spawn_local(async move {
            if let Ok(Some(_)) = crate::server::current_user().await {
                if !still_here.get() {
                    return;
                }
                if !is_app_route(&target) {
                    let _ = window().location().replace(&target);
                    return;
                }
                let options = NavigateOptions {
                    replace: true,
                    ..NavigateOptions::default()
                };
                navigate(&target, options);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (next, reason);
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
                            {format!("The new sign-in: {} near {}, ", by.device, by.ip)}
                            <Time at=by.at />
                            "."
                        </p>
                        <p class="small">
                            <a href="/login?next=%2Faccount%3Fsecure%3D1">"Not you? Sign in and secure your account"</a>
                        </p>
                    }
                })}
        </div>
    }
}
