//! `/`: who is signed in, on which device, and `Sign out`.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    form::PostForm,
    header::CurrentUser,
    server::{current_user, error_text, SignOut},
    time::human_time,
};

#[component]
pub fn HomePage() -> impl IntoView {
    // The header's copy of who is signed in: one request for both.
    let me = CurrentUser::get()
        .map(|current| current.0)
        .unwrap_or_else(|| Resource::new(|| (), |_| current_user()));
    let sign_out = ServerAction::<SignOut>::new();

    view! {
        <Title text="Home" />
        <Suspense fallback=|| view! { <section class="card"><p class="muted">"Loading…"</p></section> }>
            {move || {
                me.get()
                    .map(|result| match result {
                        Ok(Some(me)) => {
                            let role = me.user.role.as_str();
                            view! {
                                <section class="card">
                                    <p class="eyebrow">"Signed in"</p>
                                    <h1 data-testid="signed-in-as">{format!("Hello, {}", me.user.username)}</h1>
                                    <dl class="facts">
                                        <dt>"Role"</dt>
                                        <dd>{role}</dd>
                                        <dt>"This device"</dt>
                                        <dd>{me.session.device.clone()}</dd>
                                        <dt>"Signed in"</dt>
                                        <dd><time datetime=me.session.created_at.clone()>{human_time(&me.session.created_at)}</time></dd>
                                        <dt>"From"</dt>
                                        <dd>{me.session.ip.clone()}</dd>
                                    </dl>
                                    <PostForm action=sign_out read=|_| SignOut {}>
                                        <button type="submit" class="button">"Sign out"</button>
                                    </PostForm>
                                </section>
                            }
                                .into_any()
                        }
                        Ok(None) => {
                            view! {
                                <section class="card">
                                    <h1>"You are signed out"</h1>
                                    <a class="button primary" href="/login">"Sign in"</a>
                                </section>
                            }
                                .into_any()
                        }
                        Err(e) => {
                            view! {
                                <section class="card">
                                    <p class="error" role="alert">{error_text(&e)}</p>
                                </section>
                            }
                                .into_any()
                        }
                    })
            }}
        </Suspense>
    }
}
