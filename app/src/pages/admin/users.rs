//! One user's row in the console, their live sessions, and the
//! confirmations before ending a user's sessions or deactivating them.
//!
//! A row lives as long as its user is listed: its figures come from the
//! latest list (a refetch updates them in place), while what the operator
//! is doing in it — the open session list, a typed limit — stays.

use std::collections::BTreeSet;

use bouncer_wire::{AdminUser, Session, UserList};
use leptos::prelude::*;

use super::Actions;
use crate::{
    device::{ordered_devices, DeviceItem},
    server::{
        console::{
            console_user_sessions, Capabilities, ConsoleEndSession, ConsoleRevokeUsers,
            ConsoleSetActive, ConsoleSetMaxSessions,
        },
        error_text,
    },
};

/// What the console asks before doing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// End every session of this user.
    EndSessions {
        user_id: String,
        username: String,
        sessions: u32,
    },
    /// Deactivate this user (which ends every session too).
    Deactivate { user_id: String, username: String },
}

/// The confirmation waiting for an answer, and whether its dialog is open.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub open: RwSignal<bool>,
    asked: RwSignal<Option<Confirm>>,
}

impl Default for Pending {
    fn default() -> Pending {
        Pending {
            open: RwSignal::new(false),
            asked: RwSignal::new(None),
        }
    }
}

impl Pending {
    fn ask(&self, confirm: Confirm) {
        self.asked.set(Some(confirm));
        self.open.set(true);
    }
}

/// The content of the console's confirmation dialog.
#[component]
pub fn ConfirmDialog(pending: Pending, actions: Actions) -> impl IntoView {
    let close = move || pending.open.set(false);
    move || {
        pending.asked.get().map(|asked| {
            let (title, text, button) = match &asked {
                Confirm::EndSessions {
                    username, sessions, ..
                } => (
                    format!("End {username}'s sessions?"),
                    match sessions {
                        1 => format!("{username} is signed out of 1 session at once."),
                        n => format!("{username} is signed out of all {n} sessions at once, on every device."),
                    },
                    "End sessions",
                ),
                Confirm::Deactivate { username, .. } => (
                    format!("Deactivate {username}?"),
                    format!(
                        "{username} is signed out everywhere at once and cannot sign in until the account is activated again."
                    ),
                    "Deactivate",
                ),
            };
            let run = move |_| {
                match asked.clone() {
                    Confirm::EndSessions { user_id, .. } => {
                        actions.revoke_users.dispatch(ConsoleRevokeUsers { user_ids: user_id });
                    }
                    Confirm::Deactivate { user_id, .. } => {
                        actions.set_active.dispatch(ConsoleSetActive { user_id, active: false });
                    }
                }
                close();
            };
            view! {
                <h2 id="confirm-title">{title}</h2>
                <p>{text}</p>
                <div class="toolbar">
                    <button type="button" class="button danger" on:click=run>{button}</button>
                    <button type="button" class="button" autofocus on:click=move |_| close()>"Cancel"</button>
                </div>
            }
        })
    }
}

#[component]
pub fn UserRow(
    /// The user as first listed: what never changes in a row (id, name, role).
    user: AdminUser,
    /// The latest list, for the figures that do.
    users: Resource<Result<UserList, crate::server::Refusal>>,
    caps: Capabilities,
    actions: Actions,
    selected: RwSignal<BTreeSet<String>>,
    confirm: Pending,
) -> impl IntoView {
    let id = user.user.id.clone();
    let name = user.user.username.clone();
    let role = user.user.role;
    let can_revoke = caps.can_revoke(role);
    let live = {
        let id = id.clone();
        Memo::new(move |previous: Option<&AdminUser>| {
            users
                .with(|list| {
                    list.as_ref()
                        .and_then(|list| list.as_ref().ok())
                        .and_then(|list| list.users.iter().find(|u| u.user.id == id).cloned())
                })
                .or_else(|| previous.cloned())
                .unwrap_or_else(|| user.clone())
        })
    };
    let active = move || live.with(|u| u.user.active);
    let online = move || live.with(|u| u.online);
    let expanded = RwSignal::new(false);
    let is_selected = {
        let id = id.clone();
        move || selected.with(|s| s.contains(&id))
    };
    let toggle_id = id.clone();
    let sessions_id = id.clone();
    let (end_id, active_id, end_name, active_name) =
        (id.clone(), id.clone(), name.clone(), name.clone());
    view! {
        <tr data-username=name.clone() class:inactive=move || !active()>
            <td class="select">
                {can_revoke
                    .then(|| {
                        view! {
                            <input
                                type="checkbox"
                                aria-label=format!("Select {name}")
                                prop:checked=is_selected
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    selected.update(|s| {
                                        if on { s.insert(toggle_id.clone()); } else { s.remove(&toggle_id); }
                                    });
                                }
                            />
                        }
                    })}
            </td>
            <th scope="row" class="user">
                <span class=move || if online() { "dot online" } else { "dot" } aria-hidden="true"></span>
                <span class="visually-hidden">{move || if online() { "Online: " } else { "Offline: " }}</span>
                {name.clone()}
            </th>
            <td data-label="Role">{role.as_str()}</td>
            <td data-label="Status">{move || if active() { "Active" } else { "Deactivated" }}</td>
            <td data-label="Sessions" data-testid="session-count">{move || live.with(|u| u.sessions)}</td>
            <td data-label="Max sessions">
                <MaxSessions id=id.clone() name=name.clone() live caps actions />
            </td>
            <td class="actions">
                <div class="row-actions">
                <button
                    type="button"
                    class="button small"
                    aria-expanded=move || expanded.get().to_string()
                    on:click=move |_| expanded.update(|e| *e = !*e)
                >
                    {move || if expanded.get() { "Hide sessions" } else { "Show sessions" }}
                    <span class="visually-hidden">{format!(" of {name}")}</span>
                </button>
                {can_revoke
                    .then(|| {
                        view! {
                            <button type="button" class="button small danger" aria-label=format!("End sessions of {end_name}") on:click=move |_| {
                                confirm.ask(Confirm::EndSessions {
                                    user_id: end_id.clone(),
                                    username: end_name.clone(),
                                    sessions: live.with_untracked(|u| u.sessions),
                                });
                            }>"End sessions"</button>
                        }
                    })}
                {caps
                    .manage_users
                    .then(|| {
                        let verb = move || if active() { "Deactivate" } else { "Activate" };
                        let label_name = active_name.clone();
                        view! {
                            <button type="button" class="button small" aria-label=move || format!("{} {label_name}", verb()) on:click=move |_| {
                                if active() {
                                    confirm.ask(Confirm::Deactivate { user_id: active_id.clone(), username: active_name.clone() });
                                } else {
                                    actions.set_active.dispatch(ConsoleSetActive { user_id: active_id.clone(), active: true });
                                }
                            }>{verb}</button>
                        }
                    })}
                </div>
            </td>
        </tr>
        <Show when=move || expanded.get()>
            <tr class="expanded">
                <td colspan="7">
                    <UserSessions user_id=sessions_id.clone() can_revoke actions />
                </td>
            </tr>
        </Show>
    }
    .into_any()
}

/// The user's session limit: a field for admins, text for staff. What the
/// operator types stays until it is saved (the list may refresh meanwhile).
#[component]
fn MaxSessions(
    id: String,
    name: String,
    live: Memo<AdminUser>,
    caps: Capabilities,
    actions: Actions,
) -> impl IntoView {
    let saved = move || {
        live.with(|u| {
            u.user
                .max_sessions
                .map(|n| n.to_string())
                .unwrap_or_default()
        })
    };
    if !caps.manage_users {
        return view! {
            <span>{move || Some(saved()).filter(|max| !max.is_empty()).unwrap_or_else(|| "default".to_owned())}</span>
        }
        .into_any();
    }
    // `None` while the field shows the saved value.
    let draft = RwSignal::new(None::<String>);
    // Once the list shows the saved draft, the draft is done.
    Effect::new(move |_| {
        let saved = saved();
        if draft.with_untracked(|d| d.as_deref() == Some(saved.as_str())) {
            draft.set(None);
        }
    });
    view! {
        <form class="inline" on:submit=move |ev| {
            ev.prevent_default();
            let max_sessions = draft.get_untracked().unwrap_or_else(saved);
            actions.set_max.dispatch(ConsoleSetMaxSessions { user_id: id.clone(), max_sessions });
        }>
            <input
                type="number"
                min="0"
                class="narrow-input"
                aria-label=format!("Max sessions for {name}")
                placeholder="default"
                prop:value=move || draft.get().unwrap_or_else(saved)
                on:input=move |ev| draft.set(Some(event_target_value(&ev)))
            />
            <button type="submit" class="button small">"Save"</button>
        </form>
    }
    .into_any()
}

#[component]
fn UserSessions(user_id: String, can_revoke: bool, actions: Actions) -> impl IntoView {
    let sessions = Resource::new(
        move || (user_id.clone(), actions.tick()),
        |(id, _)| console_user_sessions(id),
    );
    let listed = move || ordered_devices(sessions.get());
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading sessions…"</p> }>
            {move || match sessions.get() {
                Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any()),
                Some(Ok(list)) if list.is_empty() => Some(view! { <p class="muted">"No live sessions."</p> }.into_any()),
                _ => None,
            }}
            <ul class="devices">
                <For
                    each=listed
                    key=|s| (s.id.clone(), s.online_tabs, s.last_seen_at.clone())
                    children=move |session| view! { <SessionItem session can_revoke actions /> }
                />
            </ul>
        </Transition>
    }
    .into_any()
}

#[component]
fn SessionItem(session: Session, can_revoke: bool, actions: Actions) -> impl IntoView {
    let id = session.id.clone();
    let label = format!("End session on {}", session.device);
    view! {
        <DeviceItem session>
            {can_revoke
                .then(|| {
                    view! {
                        <button type="button" class="button small danger" aria-label=label on:click=move |_| {
                            actions.end_session.dispatch(ConsoleEndSession { id: id.clone() });
                        }>"End session"</button>
                    }
                })}
        </DeviceItem>
    }
    .into_any()
}
