//! [`PostForm`]: a form that posts to a server function, without JavaScript
//! as a plain HTML form and, once hydrated, through its [`ServerAction`].
//!
//! It does what Leptos' `ActionForm` does for these pages, except that the
//! page reads the submitted fields itself: `ActionForm` parses them with
//! `serde_qs`, whose deserializer (with its B-tree of nested levels) was a
//! large part of the wasm bundle, while every form here is a handful of flat
//! text fields.

use leptos::{html::Input, prelude::*, server_fn::ServerFn};

/// The rule for a new password, as the server checks it (length only, as
/// NIST SP 800-63B advises), shown as text beside every new-password field
/// rather than only as the browser's tooltip for `minlength`.
pub const PASSWORD_RULE: &str =
    "At least 8 characters. A few words together are easy to remember and hard to guess.";

/// A field for a new password, with the rule as text under it (and as the
/// field's description, so a screen reader says it too).
#[component]
pub fn NewPasswordField(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    field: NodeRef<Input>,
) -> impl IntoView {
    let rule = format!("{id}-rule");
    view! {
        <label for=id>{label}</label>
        <input id=id name=name type="password" autocomplete="new-password" minlength="8" required aria-describedby=rule.clone() node_ref=field />
        <p id=rule class="hint">{PASSWORD_RULE}</p>
    }
}

/// Empties `fields` once `action` succeeds: nothing typed, a password above
/// all, stays behind a form that did its job.
pub fn clear_on_success<S, const N: usize>(action: ServerAction<S>, fields: [NodeRef<Input>; N])
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    Effect::new(move |_| {
        if action.value().with(|result| matches!(result, Some(Ok(_)))) {
            for field in fields {
                if let Some(field) = field.get_untracked() {
                    field.set_value("");
                }
            }
        }
    });
}

/// The fields of a submitted form, by `name`.
#[derive(Debug)]
pub struct Fields {
    #[cfg(feature = "hydrate")]
    data: web_sys::FormData,
}

impl Fields {
    /// The field's value, or `None` when the form did not send it (an
    /// unchecked checkbox) or sent it empty — as `serde_qs` reads an
    /// `Option<String>` argument.
    pub fn optional(&self, name: &str) -> Option<String> {
        #[cfg(feature = "hydrate")]
        {
            self.data
                .get(name)
                .as_string()
                .filter(|value| !value.is_empty())
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = name;
            None
        }
    }

    /// The field's value; empty when the form did not send it.
    pub fn text(&self, name: &str) -> String {
        self.optional(name).unwrap_or_default()
    }
}

/// `<form action=(the server function's URL) method="post">`: submitted
/// after hydration, it builds the arguments with `read` and dispatches
/// `action` instead of leaving the page.
#[component]
pub fn PostForm<S>(
    action: ServerAction<S>,
    /// The server function's arguments from the submitted fields.
    read: fn(&Fields) -> S,
    /// The form's `class`.
    #[prop(optional)]
    class: Option<&'static str>,
    children: Children,
) -> impl IntoView
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        if ev.default_prevented() {
            return;
        }
        ev.prevent_default();
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;

            let data = ev
                .target()
                .and_then(|target| target.dyn_into::<web_sys::HtmlFormElement>().ok())
                .and_then(|form| web_sys::FormData::new_with_form(&form).ok());
            if let Some(data) = data {
                action.dispatch(read(&Fields { data }));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (action, read);
    };
    view! {
        <form action=S::url() method="post" class=class on:submit=on_submit>
            {children()}
        </form>
    }
}
