//! `/account`: the person's own devices, live, with `Sign out` per device,
//! `Sign out all other devices`, and a password change that keeps this
//! device signed in.
//!
//! Signing out another device needs the password proved recently (ASVS
//! V3.3.4): when the server asks for it, the page shows a password form and,
//! once it is accepted, repeats the sign-out that was asked for.

use bouncer_wire::Session;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    form::PostForm,
    human_time,
    server::{
        error_text, my_sessions, needs_reauthentication, ChangePassword, EndMySession,
        EndOtherSessions, Reauthenticate, REAUTHENTICATION_REQUIRED,
    },
    watcher::SessionsVersion,
};

/// A sign-out of other devices that the page may have to repeat once the
/// password has been entered again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SignOutRequest {
    /// "Sign out this device" for the session with this id.
    One(String),
    /// "Sign out all other devices".
    Others,
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let version = use_context::<SessionsVersion>()
        .map(|v| v.0)
        .unwrap_or_else(|| RwSignal::new(0));
    let end_one = ServerAction::<EndMySession>::new();
    let end_others = ServerAction::<EndOtherSessions>::new();
    let change = ServerAction::<ChangePassword>::new();
    let reauth = ServerAction::<Reauthenticate>::new();
    // The last sign-out asked for, to repeat after re-authentication.
    let requested = RwSignal::new(None::<SignOutRequest>);
    let sign_out = move |request: SignOutRequest| {
        requested.set(Some(request.clone()));
        match request {
            SignOutRequest::One(id) => end_one.dispatch(EndMySession { id }),
            SignOutRequest::Others => end_others.dispatch(EndOtherSessions {}),
        };
    };
    // The request waiting for the password, if the server asked for it.
    let awaiting_password = move || {
        let request = requested.get()?;
        let refused = match request {
            SignOutRequest::One(_) => end_one.value().get().and_then(|r| r.err()),
            SignOutRequest::Others => end_others.value().get().and_then(|r| r.err()),
        };
        refused
            .is_some_and(|e| needs_reauthentication(&e))
            .then_some(request)
    };
    // Once the password is accepted, repeat the sign-out it was asked for.
    Effect::new(move |_| {
        if let Some(Ok(())) = reauth.value().get() {
            reauth.value().set(None);
            if let Some(request) = requested.get_untracked() {
                sign_out(request);
            }
        }
    });
    // Re-read the list when the server says it changed, and after our own actions.
    let sessions = Resource::new(
        move || {
            (
                version.get(),
                end_one.version().get(),
                end_others.version().get(),
                change.version().get(),
            )
        },
        |_| my_sessions(),
    );
    // The password form says what a re-authentication request means.
    let action_error = move || {
        end_one
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| end_others.value().get().and_then(|r| r.err()))
            .filter(|e| !needs_reauthentication(e))
            .map(|e| error_text(&e))
    };

    view! {
        <Title text="Your devices" />
        <section class="card stack">
            <div class="section-head">
                <div>
                    <p class="eyebrow">"Account"</p>
                    <h1>"Your devices"</h1>
                </div>
                <Transition>
                    {move || {
                        sessions
                            .get()
                            .and_then(|r| r.ok())
                            .filter(|list| list.len() > 1)
                            .map(|_| {
                                view! {
                                    <button
                                        type="button"
                                        class="button danger"
                                        on:click=move |_| sign_out(SignOutRequest::Others)
                                    >
                                        "Sign out all other devices"
                                    </button>
                                }
                            })
                    }}
                </Transition>
            </div>
            {move || action_error().map(|message| view! { <p class="error" role="alert">{message}</p> })}
            {move || awaiting_password().map(|_| view! { <ReauthForm reauth /> })}
            {move || {
                end_others
                    .value()
                    .get()
                    .and_then(|r| r.ok())
                    .map(|n| {
                        let text = match n {
                            0 => "No other device was signed in.".to_owned(),
                            1 => "Signed out 1 other device.".to_owned(),
                            n => format!("Signed out {n} other devices."),
                        };
                        view! { <p class="success" role="status">{text}</p> }
                    })
            }}
            <Transition fallback=|| view! { <p class="muted">"Loading your devices…"</p> }>
                <ul class="devices" aria-live="polite" data-testid="devices">
                    {move || {
                        sessions
                            .get()
                            .map(|result| match result {
                                Ok(list) => {
                                    list.into_iter()
                                        .map(|session| view! { <DeviceRow session sign_out /> })
                                        .collect_view()
                                        .into_any()
                                }
                                Err(e) => view! { <li class="error" role="alert">{error_text(&e)}</li> }.into_any(),
                            })
                    }}
                </ul>
            </Transition>
        </section>
        <PasswordForm change />
    }
}

#[component]
fn DeviceRow(
    session: Session,
    /// Signs a device out, asking for the password first if need be.
    sign_out: impl Fn(SignOutRequest) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = session.id.clone();
    let online = match session.online_tabs {
        0 => "Offline".to_owned(),
        1 => "Online · 1 tab".to_owned(),
        n => format!("Online · {n} tabs"),
    };
    let online_class = if session.online_tabs > 0 {
        "badge online"
    } else {
        "badge"
    };
    let label = if session.current {
        "Sign out"
    } else {
        "Sign out this device"
    };
    view! {
        <li class="device" data-session-id=session.id.clone() data-current=session.current.to_string()>
            <div class="device-main">
                <p class="device-name">
                    {session.device.clone()}
                    {session.current.then(|| view! { <span class="badge accent">"This device"</span> })}
                    <span class=online_class>{online}</span>
                </p>
                <p class="muted small">
                    {format!(
                        "{} · signed in {} · last seen {}",
                        session.ip,
                        human_time(&session.created_at),
                        human_time(&session.last_seen_at),
                    )}
                </p>
            </div>
            <button
                type="button"
                class="button"
                aria-label=format!("{label}: {}", session.device)
                on:click=move |_| sign_out(SignOutRequest::One(id.clone()))
            >
                {label}
            </button>
        </li>
    }
}

/// The password, entered again before another device is signed out.
#[component]
fn ReauthForm(reauth: ServerAction<Reauthenticate>) -> impl IntoView {
    view! {
        <div class="reauth stack" data-testid="reauth">
            <p>{REAUTHENTICATION_REQUIRED}</p>
            {move || {
                reauth
                    .value()
                    .get()
                    .and_then(|r| r.err())
                    .map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })
            }}
            <PostForm
                action=reauth
                read=|fields| Reauthenticate { password: fields.text("password") }
                class="form"
            >
                <label for="reauth_password">"Password"</label>
                <input id="reauth_password" name="password" type="password" autocomplete="current-password" required />
                <button type="submit" class="button primary" disabled=move || reauth.pending().get()>
                    "Confirm"
                </button>
            </PostForm>
        </div>
    }
}

#[component]
fn PasswordForm(change: ServerAction<ChangePassword>) -> impl IntoView {
    let result = move || change.value().get();
    // `?secure=1`: arrived from "Not you? Sign in and secure your account".
    let query = leptos_router::hooks::use_query_map();
    let secure = Memo::new(move |_| query.read().get("secure").as_deref() == Some("1"));
    view! {
        <section class="card narrow-left">
            <h2>"Change password"</h2>
            <p class="muted small">"Your other devices will be signed out; this one stays signed in."</p>
            {move || match result() {
                Some(Ok(ended)) => {
                    let text = match ended {
                        0 => "Password changed.".to_owned(),
                        1 => "Password changed. 1 other device was signed out.".to_owned(),
                        n => format!("Password changed. {n} other devices were signed out."),
                    };
                    view! { <p class="success" role="status">{text}</p> }.into_any()
                }
                Some(Err(e)) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                None => ().into_any(),
            }}
            {move || {
                secure.get().then(|| {
                    view! {
                        <p class="notice" role="status">
                            "If someone else signed in, change your password now: every other device is signed out at once."
                        </p>
                    }
                })
            }}
            <PostForm
                action=change
                read=|fields| ChangePassword {
                    current_password: fields.text("current_password"),
                    new_password: fields.text("new_password"),
                    confirm_password: fields.text("confirm_password"),
                }
                class="form"
            >
                <label for="current_password">"Current password"</label>
                <input id="current_password" name="current_password" type="password" autocomplete="current-password" required />
                <label for="new_password">"New password"</label>
                <input id="new_password" name="new_password" type="password" autocomplete="new-password" minlength="8" required />
                <label for="confirm_password">"Repeat new password"</label>
                <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" minlength="8" required />
                <button type="submit" class="button primary" disabled=move || change.pending().get()>
                    "Change password"
                </button>
            </PostForm>
        </section>
    }
}
