//! The console's audit log: who ended whose session, why — in words, not
//! codes — and how many tabs were told; filtered by user and by reason.
//!
//! The filters apply to the entries fetched (the latest 50) in the page for
//! now; the server-side filter is the lead's half (see the report of the
//! issue that brought them).

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

/// Whether `entry` passes the filters: `user` (any part of the name, either
/// side, ignoring case) and `reason`.
pub fn matches(entry: &AuditEntry, user: &str, reason: Option<Reason>) -> bool {
    let user = user.trim().to_lowercase();
    let names_user = user.is_empty()
        || entry.target_user.to_lowercase().contains(&user)
        || entry.actor.to_lowercase().contains(&user);
    names_user && reason.is_none_or(|reason| entry.reason == reason)
}

#[component]
pub fn Audit(actions: Actions) -> impl IntoView {
    let entries = Resource::new(move || actions.tick(), |_| console_audit());
    let user = RwSignal::new(String::new());
    let reason = RwSignal::new(None::<Reason>);
    let shown = move || {
        entries.get().and_then(|r| r.ok()).map(|list| {
            let total = list.len();
            let filter = user.get();
            let reason = reason.get();
            let kept: Vec<AuditEntry> = list
                .into_iter()
                .filter(|entry| matches(entry, &filter, reason))
                .collect();
            (kept, total)
        })
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
                            Ok(list) if list.is_empty() => view! { <p class="muted">"No session has ended yet."</p> }.into_any(),
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
fn AuditTable(shown: Signal<(Vec<AuditEntry>, usize)>) -> impl IntoView {
    view! {
        <p class="muted small" role="status" data-testid="audit-count">
            {move || {
                shown.with(|(kept, total)| {
                    if kept.len() == *total {
                        match total {
                            1 => "The latest ending.".to_owned(),
                            n => format!("The latest {n} endings."),
                        }
                    } else if *total == 1 {
                        "The latest ending does not match.".to_owned()
                    } else {
                        format!("{} of the latest {total} endings match.", kept.len())
                    }
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

    fn entry(actor: &str, target: &str, reason: Reason) -> AuditEntry {
        AuditEntry {
            at: "2026-01-01T00:00:00Z".into(),
            actor: actor.into(),
            action: "end".into(),
            target_user: target.into(),
            session_id: "s_1".into(),
            reason,
            tabs_notified: 1,
        }
    }

    #[test]
    fn every_reason_reads_as_words() {
        for reason in Reason::ALL {
            let text = reason_text(reason);
            assert!(!text.contains('_'), "{reason}: {text}");
            assert!(text.starts_with(char::is_uppercase), "{reason}: {text}");
        }
    }

    #[test]
    fn filters_match_either_side_and_the_reason() {
        let sam_ended_alice = entry("sam", "alice", Reason::AdminRevoked);
        assert!(matches(&sam_ended_alice, "", None));
        assert!(matches(&sam_ended_alice, "ALI", None));
        assert!(matches(
            &sam_ended_alice,
            " sam ",
            Some(Reason::AdminRevoked)
        ));
        assert!(!matches(&sam_ended_alice, "bob", None));
        assert!(!matches(
            &sam_ended_alice,
            "alice",
            Some(Reason::IdleTimeout)
        ));
    }
}
