//! [`Modal`]: a real modal dialog over the browser's `<dialog>`.
//!
//! `showModal()` does what an imitation gets wrong: the rest of the page is
//! inert (no focus, no clicks, out of the accessibility tree), focus moves
//! into the dialog, and Escape closes it. On top of that, focus goes to the
//! dialog's `autofocus` field even when its content changed as it opened,
//! and back to the control that opened it on closing.

use leptos::{html::Dialog, prelude::*};

/// A modal dialog, shown while `open` is true. `labelled_by` is the id of
/// the heading inside `children` that names it.
#[component]
pub fn Modal(
    open: RwSignal<bool>,
    labelled_by: &'static str,
    /// The dialog's `data-testid`.
    #[prop(optional)]
    testid: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    #[cfg(feature = "hydrate")]
    let opener = StoredValue::new_local(None::<web_sys::HtmlElement>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;

        let wanted = open.get();
        let Some(dialog) = dialog.get() else { return };
        if wanted && !dialog.open() {
            opener.set_value(
                document()
                    .active_element()
                    .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok()),
            );
            let _ = dialog.show_modal();
            // The dialog's content may change as it opens (a password field
            // replacing a question): focus its `autofocus` field once drawn.
            request_animation_frame(move || {
                if let Some(Some(field)) = dialog
                    .query_selector("[autofocus]")
                    .ok()
                    .map(|field| field.and_then(|f| f.dyn_into::<web_sys::HtmlElement>().ok()))
                {
                    let _ = field.focus();
                }
            });
        } else if !wanted && dialog.open() {
            dialog.close();
        }
    });
    // Escape, the Cancel button and `open.set(false)` all end here.
    let on_close = move |_| {
        open.set(false);
        #[cfg(feature = "hydrate")]
        if let Some(opener) = opener.get_value() {
            if opener.is_connected() {
                let _ = opener.focus();
            }
        }
    };
    view! {
        <dialog node_ref=dialog class="modal" aria-labelledby=labelled_by data-testid=testid on:close=on_close>
            {children()}
        </dialog>
    }
}
