//! Unsaved input on the page: the fields a person typed into (or ticked)
//! since their form was last submitted. An idle timeout locks such a page in
//! place instead of leaving it (see `client::finish`).
//!
//! Tracked from the document's `input` and `submit` events rather than by
//! comparing values with their defaults, because the pages set many values
//! as properties (a typed limit in the console), which `defaultValue` does
//! not see.

use std::cell::RefCell;

use wasm_bindgen::{prelude::*, JsCast};
use web_sys::{Element, Event};

thread_local! {
    /// The fields edited since their form was submitted, in `<main>` only
    /// (the lock screen's own fields do not count).
    static EDITED: RefCell<Vec<Element>> = const { RefCell::new(Vec::new()) };
}

/// Starts listening (once per page load; the listeners live as long as it).
pub fn track() {
    let document = leptos::prelude::document();
    let on_input = Closure::<dyn FnMut(Event)>::new(|event: Event| {
        let Some(field) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        if field.closest("main").ok().flatten().is_none() {
            return;
        }
        EDITED.with(|edited| {
            let mut edited = edited.borrow_mut();
            // Fields of pages left behind are gone: drop them as we go.
            edited.retain(|known| known.is_connected() && *known != field);
            edited.push(field);
        });
    });
    let on_submit = Closure::<dyn FnMut(Event)>::new(|event: Event| {
        let Some(form) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        EDITED.with(|edited| {
            edited
                .borrow_mut()
                .retain(|field| !form.contains(Some(field)))
        });
    });
    for (name, listener) in [("input", on_input), ("submit", on_submit)] {
        let _ = document.add_event_listener_with_callback_and_bool(
            name,
            listener.as_ref().unchecked_ref(),
            true,
        );
        listener.forget();
    }
}

/// Whether the page holds input the person would lose by leaving it: an
/// edited field still on the page with something in it (or a ticked box).
pub fn any() -> bool {
    EDITED.with(|edited| {
        edited.borrow().iter().any(|field| {
            field.is_connected()
                && match field.get_attribute("type").as_deref() {
                    Some("checkbox" | "radio") => true,
                    _ => js_sys::Reflect::get(field, &JsValue::from_str("value"))
                        .ok()
                        .and_then(|value| value.as_string())
                        .is_some_and(|value| !value.is_empty()),
                }
        })
    })
}
