//! Lock in place on timeout: when the idle deadline passes on a page with
//! unsaved input, the tab does not leave the page. The page is hidden (the
//! `hidden` attribute on the app's page, so an unattended screen shows
//! nothing of it and it leaves the accessibility tree) and [`LockScreen`]
//! asks for a sign-in. The same person signing in again (a new session)
//! gets the page back as it was, with what they typed, which never left the
//! tab's memory; anyone else gets a fresh page.
//!
//! The sign-in here goes to `POST /api/auth/login` directly: the lock
//! screen lives in the main wasm module, and the JSON API needs no decoder
//! beyond the browser's own `JSON.parse`.

use leptos::{html::Input, prelude::*};

use super::SessionsVersion;
use crate::header::CurrentUser;

/// Whether the tab is locked, and who it was locked for.
#[derive(Debug, Clone, Copy)]
pub struct Lock {
    /// `Some` while locked: the username of the person whose session timed
    /// out (`None` inside when the page never knew it).
    state: RwSignal<Option<Option<String>>>,
    current: Option<CurrentUser>,
    version: Option<SessionsVersion>,
}

impl Lock {
    /// Creates the app's lock (after [`CurrentUser`] and [`SessionsVersion`]).
    pub fn provide() -> Lock {
        let lock = Lock {
            state: RwSignal::new(None),
            current: CurrentUser::get(),
            version: use_context::<SessionsVersion>(),
        };
        provide_context(lock);
        lock
    }

    pub fn get() -> Option<Lock> {
        use_context::<Lock>()
    }

    /// Whether the page is hidden behind the lock screen.
    pub fn is_locked(&self) -> bool {
        self.state.with(Option::is_some)
    }

    pub fn is_locked_untracked(&self) -> bool {
        self.state.with_untracked(Option::is_some)
    }

    /// Hides the page and shows the lock screen.
    pub fn lock(&self) {
        let username = self
            .current
            .and_then(|current| current.username_untracked());
        self.state.set(Some(username));
    }

    /// Someone signed in again in this browser (here or in another tab): the
    /// same person gets the page back; anyone else a fresh one.
    pub fn signed_in_again(&self, username: &str) {
        let same = self
            .state
            .with_untracked(|state| matches!(state, Some(Some(locked)) if locked == username));
        if same {
            self.state.set(None);
            #[cfg(feature = "hydrate")]
            super::resume();
            if let Some(current) = self.current {
                current.0.refetch();
            }
            if let Some(version) = self.version {
                version.0.update(|v| *v += 1);
            }
        } else {
            // Nothing of the previous person's page may reach the next one.
            #[cfg(feature = "hydrate")]
            let _ = window().location().reload();
        }
    }
}

/// The lock screen: shown over the hidden page while the tab is locked.
/// The page hides at once; the form's code comes in a chunk of its own
/// ([`lock_form`]), fetched the first time a tab locks.
#[component]
pub fn LockScreen() -> impl IntoView {
    let Some(lock) = Lock::get() else {
        return ().into_any();
    };
    view! {
        <Show when=move || lock.is_locked()>
            {move || Suspend::new(lock_form(lock))}
        </Show>
    }
    .into_any()
}

/// The lock screen's form, split out of the main wasm module: most tabs
/// never lock, and the main module has a size budget.
#[lazy]
fn lock_form(lock: Lock) -> AnyView {
    view! { <LockForm lock /> }.into_any()
}

/// What the lock screen's sign-in came to, when it did not get the page back.
#[derive(Debug, Clone, PartialEq, Eq)]
// Only the browser signs in from the lock screen; the server renders none.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Refusal {
    /// A sentence from the server (wrong password, too many attempts…).
    Message(String),
    /// `refuse_new` and every device slot is taken: only the sign-in page
    /// can say which device to sign out.
    TooManyDevices,
}

#[component]
fn LockForm(lock: Lock) -> impl IntoView {
    let username = NodeRef::<Input>::new();
    let password = NodeRef::<Input>::new();
    let refusal = RwSignal::new(None::<Refusal>);
    let pending = RwSignal::new(false);
    // The person's first move is to type their name.
    Effect::new(move |_| {
        if let Some(field) = username.get() {
            let _ = field.focus();
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = |input: NodeRef<Input>| input.get().map(|i| i.value()).unwrap_or_default();
        let (name, secret) = (value(username), value(password));
        pending.set(true);
        refusal.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let outcome = sign_in(&name, &secret).await;
            pending.set(false);
            match outcome {
                Ok(signed_in_as) => {
                    super::announce_sign_in(&signed_in_as);
                    lock.signed_in_again(&signed_in_as);
                }
                Err(why) => {
                    if let Some(field) = password.get_untracked() {
                        field.set_value("");
                    }
                    refusal.set(Some(why));
                }
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (name, secret, lock);
    };
    let leave_href = move || {
        #[cfg(feature = "hydrate")]
        {
            super::login_url(Some(bouncer_wire::Reason::IdleTimeout))
        }
        #[cfg(not(feature = "hydrate"))]
        {
            "/login".to_owned()
        }
    };
    view! {
        <div class="lock" role="dialog" aria-modal="true" aria-labelledby="lock-title" data-testid="lock">
            <section class="card narrow">
                <h1 id="lock-title">"You were signed out"</h1>
                <p class="muted">
                    "You were inactive for a while, so your session ended and this page is hidden. Sign in again to continue where you left off: what you typed is still here, in this tab only."
                </p>
                {move || {
                    refusal
                        .get()
                        .map(|why| match why {
                            Refusal::Message(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                            Refusal::TooManyDevices => {
                                view! {
                                    <p class="error" role="alert">
                                        "Your account is signed in on too many devices. "
                                        <a href=leave_href>"Choose one to sign out on the sign-in page"</a>
                                        " (what you typed here will be lost)."
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
                <form class="form" on:submit=on_submit>
                    <label for="lock-username">"Username"</label>
                    <input id="lock-username" name="username" type="text" autocomplete="username" required node_ref=username />
                    <label for="lock-password">"Password"</label>
                    <input id="lock-password" name="password" type="password" autocomplete="current-password" required node_ref=password />
                    <button type="submit" class="button primary" disabled=move || pending.get()>
                        {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </form>
                <p class="small">
                    <a href=leave_href rel="external">"Leave this page without signing in"</a>
                </p>
            </section>
        </div>
    }
}

/// Signs in over the JSON API; the username signed in as, or why not.
#[cfg(feature = "hydrate")]
async fn sign_in(username: &str, password: &str) -> Result<String, Refusal> {
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    const UNREACHABLE: &str =
        "The server could not be reached. Check your connection and try again.";
    let unreachable = || Refusal::Message(UNREACHABLE.to_owned());
    let field = |object: &JsValue, name: &str| {
        js_sys::Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    };

    let body = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&body, &"username".into(), &username.into());
    let _ = js_sys::Reflect::set(&body, &"password".into(), &password.into());
    let body = js_sys::JSON::stringify(&body).map_err(|_| unreachable())?;
    let headers = web_sys::Headers::new().map_err(|_| unreachable())?;
    let _ = headers.set("content-type", "application/json");
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    init.set_headers(&headers);
    init.set_body(&body);
    let promise = window().fetch_with_str_and_init("/api/auth/login", &init);
    let response: web_sys::Response = JsFuture::from(promise)
        .await
        .ok()
        .and_then(|r| r.dyn_into().ok())
        .ok_or_else(unreachable)?;
    let status = response.status();
    let json = match response.json() {
        Ok(promise) => JsFuture::from(promise).await.unwrap_or(JsValue::NULL),
        Err(_) => JsValue::NULL,
    };
    match status {
        200 => field(&field(&json, "user"), "username")
            .as_string()
            .ok_or_else(unreachable),
        409 => Err(Refusal::TooManyDevices),
        _ => Err(Refusal::Message(
            field(&json, "message")
                .as_string()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| UNREACHABLE.to_owned()),
        )),
    }
}
