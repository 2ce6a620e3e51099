//! `/account`: the person's own devices, live (this one first, icons,
//! relative times), with `Sign out` per device, `Sign out all other
//! devices`, and a password change that keeps this device signed in.
//!
//! Signing out another device needs the password proved recently (ASVS
//! V3.3.4): when the server asks for it, a modal dialog names the device and
//! asks for the password, then repeats the sign-out. Arriving from the
//! notice of a new sign-in (`?end=<id>`), the same dialog first asks to
//! confirm signing that device out, then points at the password change.

use bouncer_wire::Session;
use leptos::{html::Input, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    device::{ordered_devices, DeviceItem},
    form::{clear_on_success, Fields, NewPasswordField, PostForm},
    modal::Modal,
    server::{
        error_text, my_sessions, needs_reauthentication, ChangePassword, EndMySession,
        EndOtherSessions, Reauthenticate,
    },
    watcher::SessionsVersion,
};

/// A sign-out of other devices that the page may have to repeat once the
/// password has been entered again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SignOutRequest {
    /// "Sign out this device" for the session with this id and device label.
    One { id: String, device: String },
    /// "Sign out all other devices".
    Others,
}

impl SignOutRequest {
    /// What is being signed out, for the dialog's sentence.
    fn what(&self) -> String {
        match self {
            SignOutRequest::One { device, .. } => device.clone(),
            SignOutRequest::Others => "all your other devices".to_owned(),
        }
    }
}

/// What the dialog asks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Prompt {
    /// Arrived from the notice of a new sign-in: sign that device out?
    Confirm(SignOutRequest),
    /// The server wants the password before this sign-out.
    Password(SignOutRequest),
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
    let prompt = RwSignal::new(None::<Prompt>);
    let dialog_open = RwSignal::new(false);
    // Set once a device from the new-sign-in notice is signed out: the
    // password form comes next.
    let securing = RwSignal::new(false);
    let from_notice = RwSignal::new(false);
    let sign_out = move |request: SignOutRequest| {
        requested.set(Some(request.clone()));
        match request {
            SignOutRequest::One { id, .. } => end_one.dispatch(EndMySession { id }),
            SignOutRequest::Others => end_others.dispatch(EndOtherSessions {}),
        };
    };
    // The server asked for the password: open the dialog for it.
    Effect::new(move |_| {
        let refused = end_one
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| end_others.value().get().and_then(|r| r.err()));
        if refused.is_some_and(|e| needs_reauthentication(&e)) {
            if let Some(request) = requested.get_untracked() {
                reauth.value().set(None);
                prompt.set(Some(Prompt::Password(request)));
                dialog_open.set(true);
            }
        }
    });
    // Once the password is accepted, close the dialog and repeat the sign-out.
    Effect::new(move |_| {
        if let Some(Ok(())) = reauth.value().get() {
            reauth.value().set(None);
            dialog_open.set(false);
            if let Some(request) = requested.get_untracked() {
                sign_out(request);
            }
        }
    });
    // A closed dialog keeps nothing: its sentence names a device that may be gone.
    Effect::new(move |_| {
        if !dialog_open.get() {
            prompt.set(None);
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
    from_the_notice(sessions, prompt, dialog_open, from_notice);
    // A device from the notice is signed out: on to the password.
    Effect::new(move |_| {
        if let Some(Ok(())) = end_one.value().get() {
            if from_notice.get_untracked() {
                from_notice.set(false);
                securing.set(true);
            }
        }
    });
    let action_error = move || {
        end_one
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| end_others.value().get().and_then(|r| r.err()))
            .filter(|e| !needs_reauthentication(e))
            .map(|e| error_text(&e))
    };
    let ordered = move || ordered_devices(sessions.get());
    let load_error = move || sessions.get().and_then(|r| r.err()).map(|e| error_text(&e));

    view! {
        <Title text="Your devices" />
        <section class="card stack">
            <div class="section-head">
                <div>
                    <p class="eyebrow">"Account"</p>
                    <h1 id="devices-title" tabindex="-1">"Your devices"</h1>
                </div>
                <Transition>
                    {move || {
                        (ordered().len() > 1)
                            .then(|| {
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
                {move || load_error().map(|message| view! { <p class="error" role="alert">{message}</p> })}
                <ul class="devices" data-testid="devices">
                    <For
                        each=ordered
                        key=|s| (s.id.clone(), s.online_tabs, s.last_seen_at.clone(), s.current)
                        children=move |session| view! { <DeviceRow session sign_out /> }
                    />
                </ul>
            </Transition>
        </section>
        <PasswordForm change securing />
        <Modal open=dialog_open labelled_by="prompt-title" testid="prompt">
            {move || {
                prompt
                    .get()
                    .map(|asked| match asked {
                        Prompt::Confirm(request) => {
                            view! { <ConfirmSignOut request dialog_open sign_out from_notice /> }.into_any()
                        }
                        Prompt::Password(request) => {
                            view! { <ReauthForm request reauth dialog_open /> }.into_any()
                        }
                    })
            }}
        </Modal>
    }
}

/// `?end=<id>` (from the notice of a new sign-in): once the list is loaded,
/// ask to confirm signing that device out. Only a confirmation: a link
/// alone never signs anything out.
fn from_the_notice(
    sessions: Resource<Result<Vec<Session>, crate::server::Refusal>>,
    prompt: RwSignal<Option<Prompt>>,
    dialog_open: RwSignal<bool>,
    from_notice: RwSignal<bool>,
) {
    let query = use_query_map();
    Effect::new(move |asked: Option<bool>| {
        if asked == Some(true) {
            return true;
        }
        let Some(wanted) = query.with_untracked(|q| q.get("end")) else {
            return true;
        };
        let Some(Ok(list)) = sessions.get() else {
            return false;
        };
        if let Some(session) = list.into_iter().find(|s| s.id == wanted && !s.current) {
            from_notice.set(true);
            prompt.set(Some(Prompt::Confirm(SignOutRequest::One {
                id: session.id,
                device: session.device,
            })));
            dialog_open.set(true);
        }
        true
    });
}

#[component]
fn DeviceRow(
    session: Session,
    /// Signs a device out, asking for the password first if need be.
    sign_out: impl Fn(SignOutRequest) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let request = SignOutRequest::One {
        id: session.id.clone(),
        device: session.device.clone(),
    };
    let label = if session.current {
        "Sign out"
    } else {
        "Sign out this device"
    };
    let name = format!("{label}: {}", session.device);
    view! {
        <DeviceItem session>
            <button
                type="button"
                class="button"
                aria-label=name
                on:click=move |_| sign_out(request.clone())
            >
                {label}
            </button>
        </DeviceItem>
    }
}

/// The dialog's question when arriving from the notice of a new sign-in.
#[component]
fn ConfirmSignOut(
    request: SignOutRequest,
    dialog_open: RwSignal<bool>,
    sign_out: impl Fn(SignOutRequest) + Copy + Send + Sync + 'static,
    from_notice: RwSignal<bool>,
) -> impl IntoView {
    let what = request.what();
    view! {
        <h2 id="prompt-title">{format!("Sign out {what}?")}</h2>
        <p>
            "It is signed out at once, wherever it is. Then change your password, so that whoever it was cannot sign in again."
        </p>
        <div class="toolbar">
            <button
                type="button"
                class="button danger"
                autofocus
                on:click=move |_| {
                    dialog_open.set(false);
                    sign_out(request.clone());
                }
            >
                "Sign it out"
            </button>
            <button
                type="button"
                class="button"
                on:click=move |_| {
                    from_notice.set(false);
                    dialog_open.set(false);
                }
            >
                "Cancel"
            </button>
        </div>
    }
}

/// The password, entered again before another device is signed out.
#[component]
fn ReauthForm(
    request: SignOutRequest,
    reauth: ServerAction<Reauthenticate>,
    dialog_open: RwSignal<bool>,
) -> impl IntoView {
    view! {
        <div class="stack" data-testid="reauth">
            <h2 id="prompt-title">"Confirm it's you"</h2>
            <p>{format!("Enter your password to sign out {}.", request.what())}</p>
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
                <input id="reauth_password" name="password" type="password" autocomplete="current-password" required autofocus />
                <div class="toolbar">
                    <button type="submit" class="button primary" disabled=move || reauth.pending().get()>
                        "Confirm"
                    </button>
                    <button type="button" class="button" on:click=move |_| dialog_open.set(false)>
                        "Cancel"
                    </button>
                </div>
            </PostForm>
        </div>
    }
}

/// The password change's arguments from its form.
fn read_password_change(fields: &Fields) -> ChangePassword {
    ChangePassword {
        current_password: fields.text("current_password"),
        new_password: fields.text("new_password"),
        confirm_password: fields.text("confirm_password"),
    }
}

#[component]
fn PasswordForm(change: ServerAction<ChangePassword>, securing: RwSignal<bool>) -> impl IntoView {
    let result = move || change.value().get();
    // `?secure=1`: arrived from "Not you? Sign in and secure your account".
    let query = use_query_map();
    let secure =
        Memo::new(move |_| securing.get() || query.read().get("secure").as_deref() == Some("1"));
    let current = NodeRef::<Input>::new();
    let new = NodeRef::<Input>::new();
    let confirm = NodeRef::<Input>::new();
    clear_on_success(change, [current, new, confirm]);
    // Coming from signing out a stranger's device: the password is next.
    Effect::new(move |_| {
        if securing.get() {
            if let Some(field) = current.get_untracked() {
                let _ = field.focus();
            }
        }
    });
    view! {
        <section class="card narrow-left" aria-labelledby="password-title">
            <h2 id="password-title">"Change password"</h2>
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
            <PostForm action=change read=read_password_change class="form">
                <label for="current_password">"Current password"</label>
                <input id="current_password" name="current_password" type="password" autocomplete="current-password" required node_ref=current />
                <NewPasswordField id="new_password" name="new_password" label="New password" field=new />
                <label for="confirm_password">"Repeat new password"</label>
                <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" minlength="8" required node_ref=confirm />
                <button type="submit" class="button primary" disabled=move || change.pending().get()>
                    "Change password"
                </button>
            </PostForm>
        </section>
    }
}
