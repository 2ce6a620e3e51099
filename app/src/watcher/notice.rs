//! The live notice of a new sign-in: when another device signs in to the
//! account, every open tab of the person's other sessions says who it was
//! (device, approximate place, time) and offers to sign it out, in the page,
//! without a reload.
//!
//! "Sign it out" goes to `/account?end=<id>`, where the device list asks to
//! confirm (and for the password, if it is due) before anything ends: a
//! link alone never signs a device out.

use bouncer_wire::{NewSignInHead, SignInNotice};
use leptos::prelude::*;

use crate::time::Time;

/// The notice for a `new_sign_in` message (its text), split out of the main
/// wasm module with the parser of its body: fetched the first time a tab
/// shows one. `shown` is what the watcher shows, cleared to dismiss.
#[lazy]
pub fn notice_view(message: String, shown: RwSignal<Option<String>>) -> AnyView {
    match serde_json::from_str::<NewSignInHead>(&message) {
        Ok(body) => {
            view! { <NewSignInNotice notice=body.session dismiss=move || shown.set(None) /> }
                .into_any()
        }
        Err(_) => ().into_any(),
    }
}

#[component]
fn NewSignInNotice(
    notice: SignInNotice,
    /// Hides the notice.
    dismiss: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let href = format!("/account?end={}", url_safe_id(&notice.id));
    view! {
        <div class="signin-notice" role="alert" data-testid="new-sign-in" data-session-id=notice.id.clone()>
            <div>
                <p><strong>"New sign-in to your account"</strong></p>
                <p class="small">
                    {notice.device.clone()}
                    " · near "
                    {notice.place.clone()}
                    " · "
                    <Time at=notice.at.clone() />
                </p>
                <p class="small">
                    "Not you? "
                    <a href=href on:click=move |_| dismiss()>"Sign it out and change your password"</a>
                </p>
            </div>
            <button type="button" class="button small" on:click=move |_| dismiss()>"Dismiss"</button>
        </div>
    }
}

/// Session ids are `s_` and URL-safe characters; anything else is dropped
/// rather than trusted into a URL.
fn url_safe_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::url_safe_id;

    #[test]
    fn only_url_safe_characters_reach_the_link() {
        for (id, kept) in [
            ("s_AbC-9", "s_AbC-9"),
            ("s_1&next=//evil", "s_1nextevil"),
            ("s_é\u{0}?#", "s_"),
        ] {
            assert_eq!(url_safe_id(id), kept, "{id:?}");
        }
    }
}
