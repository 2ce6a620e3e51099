//! `/admin`: the live console for staff and admins — users with search and
//! paging, their sessions, bulk and global endings, account changes, and the
//! audit log. It shows only what the caller may do; the server checks every
//! call regardless.
//!
//! Live updates never cost the operator their place: the users' rows are
//! keyed by user and read their figures from the latest list, so a refetch
//! updates them in place — open session lists stay open (and keep counting
//! tabs), a typed but unsaved limit stays typed, and the page does not jump.
//! Ending a user's sessions and deactivating an account ask first.
//!
//! # Layout
//!
//! - [`users`] — one user's row, their sessions, the confirmations.
//! - [`audit`] — the audit log, readable and filtered.

mod audit;
mod users;

use std::collections::BTreeSet;

use leptos::{html::Input, prelude::*};
use leptos_meta::Title;

use self::{
    audit::Audit,
    users::{ConfirmDialog, Pending, UserRow},
};
use crate::{
    form::{clear_on_success, NewPasswordField, PostForm},
    modal::Modal,
    server::{
        console::{
            console_users, my_capabilities, Capabilities, ConsoleCreateUser, ConsoleEndSession,
            ConsoleRevokeAll, ConsoleRevokeUsers, ConsoleSetActive, ConsoleSetMaxSessions,
            PAGE_SIZE,
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
    let confirm = Pending::default();
    let users = Resource::new(
        move || (query.get(), offset.get(), actions.tick()),
        |(query, offset, _)| console_users(query, offset),
    );
    let listed = move || users.get().and_then(|r| r.ok());
    let total = Signal::derive(move || listed().map(|list| list.total).unwrap_or(0));
    let load_error = move || users.get().and_then(|r| r.err()).map(|e| error_text(&e));
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
                {move || load_error().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <div class="table-wrap">
                    <table class="users">
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
                        <tbody>
                            <For
                                each=move || listed().map(|list| list.users).unwrap_or_default()
                                key=|user| user.user.id.clone()
                                children=move |user| view! { <UserRow user users caps actions selected confirm /> }
                            />
                        </tbody>
                    </table>
                </div>
                <Pager total offset />
            </Transition>
        </section>
        <Show when=move || caps.manage_users>
            <CreateUser actions />
        </Show>
        <Audit actions />
        <Modal open=confirm.open labelled_by="confirm-title" testid="confirm">
            <ConfirmDialog pending=confirm actions />
        </Modal>
    }
    .into_any()
}

#[component]
fn Pager(total: Signal<u64>, offset: RwSignal<u32>) -> impl IntoView {
    let page = PAGE_SIZE;
    let has_prev = move || offset.get() > 0;
    let has_next = move || u64::from(offset.get() + page) < total.get();
    view! {
        <nav class="pager" aria-label="Pages">
            <span class="muted small">
                {move || {
                    let total = total.get();
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
        <Modal open=confirming labelled_by="end-everyone-title">
            <h2 id="end-everyone-title">"End everyone's sessions?"</h2>
            <p>"Every session except yours ends now: everyone else is signed out at once, on every device."</p>
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
                <button type="button" class="button" autofocus on:click=move |_| confirming.set(false)>"Cancel"</button>
            </div>
        </Modal>
        {move || done().map(|n| view! { <p class="success" role="status">{format!("Ended {n} session(s) everywhere.")}</p> })}
    }
    .into_any()
}

#[component]
fn CreateUser(actions: Actions) -> impl IntoView {
    let result = move || actions.create.value().get();
    let username = NodeRef::<Input>::new();
    let password = NodeRef::<Input>::new();
    // Created: the form is ready for the next one, with no password left in it.
    clear_on_success(actions.create, [username, password]);
    view! {
        <section class="card narrow-left" aria-labelledby="create-title">
            <h2 id="create-title">"Create a user"</h2>
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
                <input id="new-username" name="username" type="text" autocomplete="off" required node_ref=username />
                <NewPasswordField id="new-password" name="password" label="Password" field=password />
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
