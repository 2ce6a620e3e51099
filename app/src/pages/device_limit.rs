//! The device-limit screen (`refuse_new`, the streaming-service way): the
//! sign-in was refused because every device slot is taken. It shows the
//! devices holding them, with their icons and last activity, and lets the
//! person sign one out and continue with the password just typed (the
//! login's `replace_session`), or cancel and go back to the form.

use bouncer_wire::Session;
use leptos::{html::H1, prelude::*};

use crate::device::{order_devices, DeviceItem};

#[component]
pub fn DeviceLimit(
    sessions: Vec<Session>,
    /// Signs the session with this id out and signs in here.
    replace: impl Fn(String) + Copy + Send + Sync + 'static,
    /// Back to the sign-in form.
    cancel: impl Fn() + Copy + Send + Sync + 'static,
    /// Whether a sign-in is on its way (the buttons wait).
    pending: Memo<bool>,
) -> impl IntoView {
    let mut sessions = sessions;
    order_devices(&mut sessions);
    let count = sessions.len();
    let heading = NodeRef::<H1>::new();
    // The screen replaced the form under the person's focus: start them here.
    Effect::new(move |_| {
        if let Some(heading) = heading.get() {
            let _ = heading.focus();
        }
    });
    view! {
        <section class="card limit" aria-labelledby="limit-title" data-testid="device-limit">
            <p class="eyebrow">"Device limit"</p>
            <h1 id="limit-title" tabindex="-1" node_ref=heading>"You are signed in on too many devices"</h1>
            <p class="muted">
                {match count {
                    1 => "Your account may be signed in on one device at a time, and it is signed in on this one:".to_owned(),
                    n => format!("Your account may be signed in on {n} devices at a time, and it is signed in on these:"),
                }}
            </p>
            <ul class="devices stacked">
                {sessions
                    .into_iter()
                    .map(|session| {
                        let id = session.id.clone();
                        let label = format!("Sign out {} and continue", session.device);
                        let choose = move |_| replace(id.clone());
                        view! {
                            <DeviceItem session>
                                <button type="button" class="button primary" disabled=move || pending.get() on:click=choose>{label}</button>
                            </DeviceItem>
                        }
                    })
                    .collect_view()}
            </ul>
            <p class="muted small">
                "Signing a device out ends its session there at once. Your password is kept; no need to type it again."
            </p>
            <div class="toolbar">
                <button type="button" class="button" on:click=move |_| cancel()>
                    "Cancel"
                </button>
            </div>
        </section>
    }
}
