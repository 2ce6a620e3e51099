//! The console's audit log: who ended whose session, why — in words, not
//! codes — and how many tabs were told; filtered by user and by reason on
//! the server, so the latest 50 are the latest 50 that match.

use bouncer_wire::{AuditEntry, Reason};
use leptos::prelude::*;

use super::Actions;
use crate::{
    server::{console::console_audit, error_text},
    time::Time,
};

/// Why a session ended, as an operator reads it in the log.
pub fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::SignedInElsewhere => "Replaced by a newer sign-in (session limit)",
        Reason::LoggedOutElsewhere => "Signed out on another device (everywhere)",
        Reason::RevokedByUser => "Signed out by the user from another device",
        Reason::AdminRevoked => "Ended by staff or an admin",
        Reason::PasswordChanged => "Password changed",
        Reason::Deactivated => "Account deactivated",
        Reason::IdleTimeout => "Inactive for too long",
        Reason::AbsoluteTimeout => "Reached the maximum session length",
        Reason::LoggedOut => "Signed out",
    }
}

#[component]
pub fn Audit(actions: Actions) -> impl IntoView {
    let user = RwSignal::new(String::new());
    let reason = RwSignal::new(None::<Reason>);
    let entries = Resource::new(
        move || (actions.tick(), user.get(), reason.get()),
        |(_, user, reason)| {
            console_audit(
                user,
                reason.map(Reason::as_str).unwrap_or_default().to_owned(),
            )
        },
    );
    let filtered = move || !user.with(|u| u.trim().is_empty()) || reason.with(Option::is_some);
    let shown = move || {
        entries
            .get()
            .and_then(|r| r.ok())
            .map(|list| (list, filtered()))
    };
    view! {
        <section class="card stack" aria-labelledby="audit-title">
            <h2 id="audit-title">"Audit log"</h2>
            <div class="filters">
                <label>
                    <span>"Filter by user"</span>
                    <input type="search" placeholder="Any user" on:input=move |ev| user.set(event_target_value(&ev)) />
                </label>
                <label>
                    <span>"Filter by reason"</span>
                    <select on:change=move |ev| reason.set(event_target_value(&ev).parse().ok())>
                        <option value="" selected>"Any reason"</option>
                        {Reason::ALL
                            .into_iter()
                            .map(|r| view! { <option value=r.as_str()>{reason_text(r)}</option> })
                            .collect_view()}
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    entries
                        .get()
                        .map(|result| match result {
                            Ok(list) if list.is_empty() && !filtered() => view! { <p class="muted">"No session has ended yet."</p> }.into_any(),
                            Ok(_) => view! { <AuditTable shown=Signal::derive(move || shown().unwrap_or_default()) /> }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn AuditTable(shown: Signal<(Vec<AuditEntry>, bool)>) -> impl IntoView {
    view! {
        <p class="muted small" role="status" data-testid="audit-count">
            {move || {
                shown.with(|(entries, filtered)| match (entries.len(), filtered) {
                    (0, _) => "No ending matches.".to_owned(),
                    (1, false) => "The latest ending.".to_owned(),
                    (n, false) => format!("The latest {n} endings."),
                    (1, true) => "The latest matching ending.".to_owned(),
                    (n, true) => format!("The latest {n} matching endings."),
                })
            }}
        </p>
        <div class="table-wrap">
            <table class="audit" data-testid="audit">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Whose session"</th>
                        <th scope="col">"Why"</th>
                        <th scope="col">"Tabs told"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        shown
                            .get()
                            .0
                            .into_iter()
                            .map(|e| {
                                view! {
                                    <tr>
                                        <td data-label="When"><Time at=e.at /></td>
                                        <td data-label="Who">{e.actor}</td>
                                        <td data-label="Whose session">{e.target_user}</td>
                                        <td data-label="Why" data-reason=e.reason.as_str()>{reason_text(e.reason)}</td>
                                        <td data-label="Tabs told">{e.tabs_notified}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_as_words() {
        for reason in Reason::ALL {
            let text = reason_text(reason);
            assert!(!text.contains('_'), "{reason}: {text}");
            assert!(text.starts_with(char::is_uppercase), "{reason}: {text}");
        }
    }
}
