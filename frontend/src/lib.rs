//! The wasm entry point: hydrates the server-rendered pages. Nothing else
//! belongs here; the app lives in the `app` crate.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The pages other than `/` are lazy routes (split out of the main wasm,
    // see `app::App`): hydrating waits for the current page's chunk first,
    // as `leptos::mount::hydrate_lazy` does.
    wasm_bindgen_futures::spawn_local(async {
        let owner = leptos::mount::hydrate_from_async(leptos::tachys::dom::body(), app::App).await;
        owner.forget();
        // The clock and the socket start only now (see `app::hydration`).
        app::hydration::page_hydrated();
        // Started before the page is marked interactive, so its fetch is
        // never mistaken for a request the page needed later.
        wasm_bindgen_futures::spawn_local(app::preload_login_page());
        // Marks the page as interactive: browser tests (and any script) wait for
        // this instead of guessing when the wasm has taken over.
        if let Some(root) = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.document_element())
        {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}
