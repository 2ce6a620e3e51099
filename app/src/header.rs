//! The page header: who is signed in (username and role), `Sign out`, and
//! links only to the pages this visitor may open — none for a signed-out
//! visitor, no Console for a plain user.
//!
//! It reads [`CurrentUser`], the app's one copy of "who is this", which the
//! home page shares. The header never asks the server on its own when a
//! session ends: a tab on `/login` is signed out by definition (the server
//! sends signed-in visitors away from it), so arriving there clears it, and
//! leaving `/login` (after signing in) asks again.

use bouncer_wire::{Me, Role};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::{
    form::PostForm,
    server::{current_user, SignOut},
};

/// Who is signed in, for every part of the app: `Ok(None)` when nobody is.
#[derive(Debug, Clone, Copy)]
pub struct CurrentUser(pub Resource<Result<Option<Me>, crate::server::Refusal>>);

impl CurrentUser {
    /// Creates the app's copy (call inside the router) and keeps it true
    /// across sign-in and sign-out without a reload.
    pub fn provide() -> CurrentUser {
        let me = Resource::new(|| (), |_| current_user());
        #[cfg(feature = "hydrate")]
        {
            let location = use_location();
            Effect::new(move |was_on_login: Option<bool>| {
                let on_login = location.pathname.with(|path| path == "/login");
                if on_login {
                    me.set(Some(Ok(None)));
                } else if was_on_login == Some(true) {
                    me.refetch();
                }
                on_login
            });
        }
        let current = CurrentUser(me);
        provide_context(current);
        current
    }

    /// The app's copy; `None` outside the app.
    pub fn get() -> Option<CurrentUser> {
        use_context::<CurrentUser>()
    }

    /// The signed-in username right now, without tracking.
    pub fn username_untracked(&self) -> Option<String> {
        self.0
            .get_untracked()
            .and_then(|result| result.ok().flatten())
            .map(|me| me.user.username)
    }
}

#[component]
pub fn SiteHeader() -> impl IntoView {
    let me = CurrentUser::get();
    let signed_in = move || {
        me.and_then(|me| me.0.get())
            .and_then(|result| result.ok().flatten())
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true"></span>
                "Bouncer"
            </a>
            <Suspense>{move || signed_in().map(|me| view! { <SignedIn me /> })}</Suspense>
        </header>
    }
}

/// The signed-in part of the header.
#[component]
fn SignedIn(me: Me) -> impl IntoView {
    let location = use_location();
    let sign_out = ServerAction::<SignOut>::new();
    let staff = me.user.role != Role::User;
    let link = move |href: &'static str, text: &'static str| {
        let current = move || {
            location
                .pathname
                .with(|path| path == href)
                .then_some("page")
        };
        view! { <a href=href aria-current=current>{text}</a> }
    };
    view! {
        <nav class="nav" aria-label="Main">
            {link("/", "Home")}
            {link("/watch", "Watch")}
            {link("/account", "Account")}
            {staff.then(|| link("/admin", "Console"))}
        </nav>
        <div class="who">
            <span class="who-name" data-testid="header-user">
                <span class="visually-hidden">"Signed in as "</span>
                {me.user.username.clone()}
                <span class="badge role">{me.user.role.as_str()}</span>
            </span>
            <PostForm action=sign_out read=|_| SignOut {} class="inline">
                <button type="submit" class="button small">"Sign out"</button>
            </PostForm>
        </div>
    }
}
