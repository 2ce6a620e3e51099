//! `/admin`: the live console for staff and admins — users with search and
//! paging, their sessions, bulk and global endings behind a confirmation,
//! account changes, and the audit log. It shows only what the caller may do;
//! the server checks every call regardless.

use std::collections::BTreeSet;

use bouncer_wire::{AdminUser, Session};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    form::PostForm,
    human_time,
    server::{
        console::{
            console_audit, console_user_sessions, console_users, my_capabilities, Capabilities,
            ConsoleCreateUser, ConsoleEndSession, ConsoleRevokeAll, ConsoleRevokeUsers,
            ConsoleSetActive, ConsoleSetMaxSessions, PAGE_SIZE,
        },
        error_text,
    },
    watcher::SessionsVersion,
};

/// The console's actions, shared by its parts; every list re-reads when any
/// of them completes or the server says sessions changed.
#[derive(Clone, Copy)]
struct Actions {
    end_session: ServerAction<ConsoleEndSession>,
    revoke_users: ServerAction<ConsoleRevokeUsers>,
    revoke_all: ServerAction<ConsoleRevokeAll>,
    set_active: ServerAction<ConsoleSetActive>,
    set_max: ServerAction<ConsoleSetMaxSessions>,
    create: ServerAction<ConsoleCreateUser>,
    version: RwSignal<u64>,
}

impl Actions {
    fn new() -> Self {
        let version = use_context::<SessionsVersion>()
            .map(|v| v.0)
            .unwrap_or_else(|| RwSignal::new(0));
        Actions {
            end_session: ServerAction::new(),
            revoke_users: ServerAction::new(),
            revoke_all: ServerAction::new(),
            set_active: ServerAction::new(),
            set_max: ServerAction::new(),
            create: ServerAction::new(),
            version,
        }
    }

    /// Changes whenever something the lists show may have changed.
    fn tick(&self) -> (u64, usize, usize, usize, usize, usize, usize) {
        (
            self.version.get(),
            self.end_session.version().get(),
            self.revoke_users.version().get(),
            self.revoke_all.version().get(),
            self.set_active.version().get(),
            self.set_max.version().get(),
            self.create.version().get(),
        )
    }

    /// The latest failure of any action, as a sentence.
    fn error(&self) -> Option<String> {
        let e1 = self.end_session.value().get().and_then(|r| r.err());
        let e2 = self.revoke_users.value().get().and_then(|r| r.err());
        let e3 = self.revoke_all.value().get().and_then(|r| r.err());
        let e4 = self.set_active.value().get().and_then(|r| r.err());
        let e5 = self.set_max.value().get().and_then(|r| r.err());
        e1.or(e2).or(e3).or(e4).or(e5).map(|e| error_text(&e))
    }
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let caps = Resource::new(|| (), |_| my_capabilities());
    view! {
        <Title text="Console" />
        <Suspense fallback=|| view! { <p class="muted">"Loading the console…"</p> }>
            {move || {
                caps.get()
                    .map(|result| match result {
                        Ok(caps) if caps.staff => view! { <Console caps /> }.into_any(),
                        Ok(_) => {
                            view! {
                                <section class="card narrow">
                                    <h1>"Staff only"</h1>
                                    <p class="muted">"The console is for staff and admins."</p>
                                    <a class="button" href="/">"Go home"</a>
                                </section>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
    .into_any()
}

#[component]
fn Console(caps: Capabilities) -> impl IntoView {
    let actions = Actions::new();
    let query = RwSignal::new(String::new());
    let offset = RwSignal::new(0_u32);
    let selected = RwSignal::new(BTreeSet::<String>::new());
    let users = Resource::new(
        move || (query.get(), offset.get(), actions.tick()),
        |(query, offset, _)| console_users(query, offset),
    );
    let bulk_done = move || {
        actions
            .revoke_users
            .value()
            .get()
            .and_then(|r| r.ok())
            .map(|n| format!("Ended {n} session(s)."))
    };

    view! {
        <section class="card stack">
            <div class="section-head">
                <div>
                    <p class="eyebrow">"Console"</p>
                    <h1>"Users"</h1>
                </div>
                <label class="search">
                    <span class="visually-hidden">"Search users"</span>
                    <input
                        type="search"
                        placeholder="Search users"
                        aria-label="Search users"
                        on:input=move |ev| {
                            offset.set(0);
                            query.set(event_target_value(&ev));
                        }
                    />
                </label>
            </div>
            {move || actions.error().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            {move || bulk_done().map(|m| view! { <p class="success" role="status">{m}</p> })}
            <Show when=move || caps.revoke_users>
                <div class="toolbar">
                    <button
                        type="button"
                        class="button danger"
                        disabled=move || selected.with(|s| s.is_empty())
                        on:click=move |_| {
                            let ids = selected.get().into_iter().collect::<Vec<_>>().join(",");
                            actions.revoke_users.dispatch(ConsoleRevokeUsers { user_ids: ids });
                            selected.set(BTreeSet::new());
                        }
                    >
                        {move || format!("End sessions of selected ({})", selected.with(|s| s.len()))}
                    </button>
                    <EndEveryone caps actions />
                </div>
            </Show>
            <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                {move || {
                    users
                        .get()
                        .map(|result| match result {
                            Ok(list) => {
                                let total = list.total;
                                let rows = list
                                    .users
                                    .into_iter()
                                    .map(|user| view! { <UserRow user caps actions selected /> })
                                    .collect_view();
                                view! {
                                    <div class="table-wrap">
                                        <table class="users" aria-live="polite">
                                            <thead>
                                                <tr>
                                                    <th scope="col"><span class="visually-hidden">"Select"</span></th>
                                                    <th scope="col">"User"</th>
                                                    <th scope="col">"Role"</th>
                                                    <th scope="col">"Status"</th>
                                                    <th scope="col">"Sessions"</th>
                                                    <th scope="col">"Max sessions"</th>
                                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                                </tr>
                                            </thead>
                                            <tbody>{rows}</tbody>
                                        </table>
                                    </div>
                                    <Pager total offset />
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
        <Show when=move || caps.manage_users>
            <CreateUser actions />
        </Show>
        <Audit actions />
    }
    .into_any()
}

#[component]
fn Pager(total: u64, offset: RwSignal<u32>) -> impl IntoView {
    let page = PAGE_SIZE;
    let has_prev = move || offset.get() > 0;
    let has_next = move || u64::from(offset.get() + page) < total;
    view! {
        <nav class="pager" aria-label="Pages">
            <span class="muted small">
                {move || {
                    if total == 0 {
                        "No users match.".to_owned()
                    } else {
                        let first = offset.get() + 1;
                        let last = (u64::from(offset.get() + page)).min(total);
                        format!("{first}–{last} of {total}")
                    }
                }}
            </span>
            <button type="button" class="button" disabled=move || !has_prev() on:click=move |_| offset.update(|o| *o = o.saturating_sub(page))>
                "Previous"
            </button>
            <button type="button" class="button" disabled=move || !has_next() on:click=move |_| offset.update(|o| *o += page)>
                "Next"
            </button>
        </nav>
    }
    .into_any()
}

#[component]
fn EndEveryone(caps: Capabilities, actions: Actions) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let include_admins = RwSignal::new(false);
    let done = move || actions.revoke_all.value().get().and_then(|r| r.ok());
    view! {
        <button type="button" class="button danger" on:click=move |_| confirming.set(true)>
            "End everyone's sessions"
        </button>
        <Show when=move || confirming.get()>
            <div class="confirm" role="dialog" aria-label="Confirm ending everyone's sessions">
                <p>"End every session except yours? Everyone else is signed out at once."</p>
                <Show when=move || caps.revoke_admins>
                    <label class="check">
                        <input type="checkbox" prop:checked=move || include_admins.get() on:change=move |ev| include_admins.set(event_target_checked(&ev)) />
                        "Include admins"
                    </label>
                </Show>
                <div class="toolbar">
                    <button
                        type="button"
                        class="button danger"
                        on:click=move |_| {
                            actions.revoke_all.dispatch(ConsoleRevokeAll { include_admins: include_admins.get_untracked() });
                            confirming.set(false);
                        }
                    >
                        "Yes, end them all"
                    </button>
                    <button type="button" class="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </div>
            </div>
        </Show>
        {move || done().map(|n| view! { <p class="success" role="status">{format!("Ended {n} session(s) everywhere.")}</p> })}
    }
    .into_any()
}

#[component]
fn UserRow(
    user: AdminUser,
    caps: Capabilities,
    actions: Actions,
    selected: RwSignal<BTreeSet<String>>,
) -> impl IntoView {
    let id = user.user.id.clone();
    let name = user.user.username.clone();
    let role = user.user.role;
    let active = user.user.active;
    let expanded = RwSignal::new(false);
    let can_revoke = caps.can_revoke(role);
    let max_value = user
        .user
        .max_sessions
        .map(|n| n.to_string())
        .unwrap_or_default();
    let max_draft = RwSignal::new(max_value.clone());
    let toggle_id = id.clone();
    let is_selected = {
        let id = id.clone();
        move || selected.with(|s| s.contains(&id))
    };
    let (active_id, revoke_id, max_id, sessions_id) =
        (id.clone(), id.clone(), id.clone(), id.clone());
    let (end_name, active_name) = (name.clone(), name.clone());
    view! {
        <tr data-username=name.clone() class:inactive=!active>
            <td>
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
            <th scope="row">
                <span class=if user.online { "dot online" } else { "dot" } title=if user.online { "Online" } else { "Offline" }></span>
                <span class="visually-hidden">{if user.online { "Online: " } else { "Offline: " }}</span>
                {name.clone()}
            </th>
            <td>{role.as_str()}</td>
            <td>{if active { "Active" } else { "Deactivated" }}</td>
            <td data-testid="session-count">{user.sessions}</td>
            <td>
                {if caps.manage_users {
                    view! {
                        <form class="inline" on:submit=move |ev| {
                            ev.prevent_default();
                            actions.set_max.dispatch(ConsoleSetMaxSessions { user_id: max_id.clone(), max_sessions: max_draft.get_untracked() });
                        }>
                            <input
                                type="number"
                                min="0"
                                class="narrow-input"
                                aria-label=format!("Max sessions for {name}")
                                placeholder="default"
                                prop:value=move || max_draft.get()
                                on:input=move |ev| max_draft.set(event_target_value(&ev))
                            />
                            <button type="submit" class="button small">"Save"</button>
                        </form>
                    }
                        .into_any()
                } else {
                    view! { <span>{if max_value.is_empty() { "default".to_owned() } else { max_value.clone() }}</span> }.into_any()
                }}
            </td>
            <td class="actions">
                <button type="button" class="button small" aria-label=format!("Show sessions of {name}") aria-expanded=move || expanded.get().to_string() on:click=move |_| expanded.update(|e| *e = !*e)>
                    {move || if expanded.get() { "Hide sessions" } else { "Sessions" }}
                </button>
                {can_revoke
                    .then(|| {
                        view! {
                            <button type="button" class="button small danger" aria-label=format!("End sessions of {end_name}") on:click=move |_| {
                                actions.revoke_users.dispatch(ConsoleRevokeUsers { user_ids: revoke_id.clone() });
                            }>"End sessions"</button>
                        }
                    })}
                {caps
                    .manage_users
                    .then(|| {
                        view! {
                            <button type="button" class="button small" aria-label=format!("{} {active_name}", if active { "Deactivate" } else { "Activate" }) on:click=move |_| {
                                actions.set_active.dispatch(ConsoleSetActive { user_id: active_id.clone(), active: !active });
                            }>{if active { "Deactivate" } else { "Activate" }}</button>
                        }
                    })}
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

#[component]
fn UserSessions(user_id: String, can_revoke: bool, actions: Actions) -> impl IntoView {
    let sessions = Resource::new(
        move || (user_id.clone(), actions.tick()),
        |(id, _)| console_user_sessions(id),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading sessions…"</p> }>
            {move || {
                sessions
                    .get()
                    .map(|result| match result {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No live sessions."</p> }.into_any(),
                        Ok(list) => {
                            view! {
                                <ul class="devices">
                                    {list.into_iter().map(|s| view! { <SessionItem session=s can_revoke actions /> }).collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Transition>
    }
    .into_any()
}

#[component]
fn SessionItem(session: Session, can_revoke: bool, actions: Actions) -> impl IntoView {
    let id = session.id.clone();
    let online = match session.online_tabs {
        0 => "Offline".to_owned(),
        n => format!("Online · {n} tab{}", if n == 1 { "" } else { "s" }),
    };
    view! {
        <li class="device">
            <div class="device-main">
                <p class="device-name">{session.device.clone()} <span class="badge">{online}</span></p>
                <p class="muted small">
                    {format!("{} · signed in {} · last seen {}", session.ip, human_time(&session.created_at), human_time(&session.last_seen_at))}
                </p>
            </div>
            {can_revoke
                .then(|| {
                    view! {
                        <button type="button" class="button small danger" aria-label=format!("End session on {}", session.device) on:click=move |_| {
                            actions.end_session.dispatch(ConsoleEndSession { id: id.clone() });
                        }>"End session"</button>
                    }
                })}
        </li>
    }
    .into_any()
}

#[component]
fn CreateUser(actions: Actions) -> impl IntoView {
    let result = move || actions.create.value().get();
    view! {
        <section class="card narrow-left">
            <h2>"Create a user"</h2>
            {move || match result() {
                Some(Ok(name)) => view! { <p class="success" role="status">{format!("Created {name}.")}</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                None => ().into_any(),
            }}
            <PostForm
                action=actions.create
                read=|fields| ConsoleCreateUser {
                    username: fields.text("username"),
                    password: fields.text("password"),
                    role: fields.text("role"),
                    revoke_users: fields.optional("revoke_users"),
                    revoke_admins: fields.optional("revoke_admins"),
                    max_sessions: fields.text("max_sessions"),
                }
                class="form"
            >
                <label for="new-username">"Username"</label>
                <input id="new-username" name="username" type="text" autocomplete="off" required />
                <label for="new-password">"Password"</label>
                <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="8" required />
                <label for="new-role">"Role"</label>
                <select id="new-role" name="role">
                    <option value="user" selected>"User"</option>
                    <option value="staff">"Staff"</option>
                    <option value="admin">"Admin"</option>
                </select>
                <fieldset class="checks">
                    <legend>"Permissions"</legend>
                    <label class="check"><input type="checkbox" name="revoke_users" value="on" />"May end users' and staff sessions"</label>
                    <label class="check"><input type="checkbox" name="revoke_admins" value="on" />"May end admins' sessions"</label>
                </fieldset>
                <label for="new-max">"Max sessions (empty: the default, 0: no limit)"</label>
                <input id="new-max" name="max_sessions" type="number" min="0" />
                <button type="submit" class="button primary">"Create user"</button>
            </PostForm>
        </section>
    }
    .into_any()
}

#[component]
fn Audit(actions: Actions) -> impl IntoView {
    let entries = Resource::new(move || actions.tick(), |_| console_audit());
    view! {
        <section class="card stack">
            <h2>"Audit log"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    entries
                        .get()
                        .map(|result| match result {
                            Ok(list) if list.is_empty() => view! { <p class="muted">"No session has ended yet."</p> }.into_any(),
                            Ok(list) => {
                                view! {
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
                                                {list
                                                    .into_iter()
                                                    .map(|e| {
                                                        view! {
                                                            <tr>
                                                                <td>{human_time(&e.at)}</td>
                                                                <td>{e.actor}</td>
                                                                <td>{e.target_user}</td>
                                                                <td>{e.reason.as_str()}</td>
                                                                <td>{e.tabs_notified}</td>
                                                            </tr>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
    .into_any()
}
