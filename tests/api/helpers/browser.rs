//! HTTP clients that stand in for browsers and scripts. The typed calls, one
//! per endpoint, are in `endpoints`; here are the clients and the raw
//! requests that tests about headers, pages or malformed input make.

use std::{net::IpAddr, sync::Arc, time::Duration};

use bouncer_wire::{Me, Role};
use reqwest::{
    cookie::{CookieStore, Jar},
    header, redirect, Method, RequestBuilder, Response, Url,
};

use super::{
    answer::Answer,
    app::{TestApp, TestUser},
    cookies::cookie_header_from,
};

/// What the browsers say they are: the device lists show "Chrome on Linux".
const CHROME_ON_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/// A client of one server: a browser with its own cookie jar, or a script
/// holding one hand-made cookie. Redirects are not followed, so tests see
/// them.
#[derive(Clone)]
pub struct Browser {
    client: reqwest::Client,
    /// `http://host:port` of the server (or node) it talks to.
    address: String,
    /// Where its `Cookie` header comes from.
    cookies: Cookies,
    /// Headers sent with every request besides (a forged `X-Forwarded-For`).
    extra: header::HeaderMap,
}

/// A browser's cookies: its jar, or the one header a script holds.
#[derive(Clone)]
enum Cookies {
    Jar(Arc<Jar>),
    Held(String),
}

impl Browser {
    /// A new browser on the server at `address`: its own cookie jar,
    /// Chrome's user agent.
    pub fn new(address: &str) -> Browser {
        Browser::connecting_from(address, None)
    }

    /// [`Browser::new`] on a machine of its own: its connections come from
    /// `local` (any loopback address, `127.0.0.2`…), as another client's
    /// would through a balancer.
    pub fn new_from(address: &str, local: IpAddr) -> Browser {
        Browser::connecting_from(address, Some(local))
    }

    fn connecting_from(address: &str, local: Option<IpAddr>) -> Browser {
        let jar = Arc::new(Jar::default());
        Browser {
            client: reqwest::Client::builder()
                .local_address(local)
                .cookie_provider(jar.clone())
                .redirect(redirect::Policy::none())
                .user_agent(CHROME_ON_LINUX)
                .timeout(Duration::from_secs(30))
                .local_address(local)
                .build()
                .expect("a client"),
            address: address.to_owned(),
            cookies: Cookies::Jar(jar),
            extra: header::HeaderMap::new(),
        }
    }

    /// The same browser, sending `name: value` with every request too.
    pub fn sending(mut self, name: &'static str, value: &str) -> Browser {
        self.extra
            .append(name, value.parse().expect("a header value"));
        self
    }

    /// A client of the server at `address` that sends exactly this
    /// `Cookie` header (none when empty) and keeps no cookie it is given:
    /// another tab still holding an old cookie, an attacker's copy, a
    /// script. No user agent.
    pub fn holding(address: &str, cookie: &str) -> Browser {
        let mut headers = header::HeaderMap::new();
        if !cookie.is_empty() {
            headers.insert(header::COOKIE, cookie.parse().expect("a header value"));
        }
        Browser::script(address, headers, cookie)
    }

    /// A script on the server at `address` that sends exactly this
    /// `Authorization` header (a service token is `Bearer bnc_…`; any bytes
    /// go) and no cookie.
    pub fn authorized(address: &str, authorization: &[u8]) -> Browser {
        let mut headers = header::HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            header::HeaderValue::from_bytes(authorization).expect("a header value"),
        );
        Browser::script(address, headers, "")
    }

    /// A client with these headers on every request and no cookie jar.
    fn script(address: &str, headers: header::HeaderMap, cookie: &str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .default_headers(headers)
                .build()
                .expect("a client"),
            address: address.to_owned(),
            cookies: Cookies::Held(cookie.to_owned()),
            extra: header::HeaderMap::new(),
        }
    }

    /// The same browser (the same cookies) talking to another node, as a
    /// load balancer without sticky sessions sends it.
    pub fn on(&self, address: &str) -> Browser {
        Browser {
            address: address.to_owned(),
            ..self.clone()
        }
    }

    /// The `Cookie` header this browser sends now.
    pub fn cookie(&self) -> String {
        match &self.cookies {
            Cookies::Jar(jar) => {
                let url: Url = self.address.parse().expect("a URL");
                jar.cookies(&url)
                    .map(|header| header.to_str().expect("ASCII").to_owned())
                    .unwrap_or_default()
            }
            Cookies::Held(cookie) => cookie.clone(),
        }
    }

    /// The server this browser talks to, `http://host:port`: its origin.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A request to `path` on this browser's server.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .headers(self.extra.clone())
    }

    /// `GET path`, raw (pages, headers).
    pub async fn get(&self, path: &str) -> Response {
        send(self.request(Method::GET, path)).await
    }
}

/// Sends a request made by hand; the server must answer.
pub async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("answered")
}

impl TestApp {
    /// A new browser: its own cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.address)
    }

    /// A new browser connecting from `127.0.0.<n>`: one of many addresses.
    pub fn browser_from(&self, n: u8) -> Browser {
        Browser::new_from(&self.address, IpAddr::from([127, 0, 0, n]))
    }

    /// A client that sends exactly this `Cookie` header: [`Browser::holding`].
    pub fn browser_holding(&self, cookie: &str) -> Browser {
        Browser::holding(&self.address, cookie)
    }

    /// A script presenting the service token `token`.
    pub fn with_token(&self, token: &str) -> Browser {
        Browser::authorized(&self.address, format!("Bearer {token}").as_bytes())
    }

    /// A request made by hand, with no cookie and no user agent (foreign
    /// origins, malformed bodies, forged headers); see [`send`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.browser_holding("").request(method, path)
    }

    /// `user` signs in with a new browser: the browser, and what the login
    /// answered.
    pub async fn login(&self, user: &TestUser) -> (Browser, Answer<Me>) {
        let browser = self.browser();
        let answer = browser.login(user).await;
        (browser, answer)
    }

    /// Signs `user` in with a new browser; returns it and its `Cookie`
    /// header as it is now.
    pub async fn signed_in(&self, user: &TestUser) -> (Browser, String) {
        let (browser, answer) = self.login(user).await;
        assert_eq!(
            answer.status,
            reqwest::StatusCode::OK,
            "{} signs in",
            user.username
        );
        let cookie = cookie_header_from(&answer.headers);
        (browser, cookie)
    }

    /// Adds `name`, a plain user (`max_sessions` overriding the limit), and
    /// signs them in on `N` new browsers: the opening of most tests.
    pub async fn signed_in_user<const N: usize>(
        &self,
        name: &str,
        max_sessions: Option<u32>,
    ) -> (TestUser, [Browser; N]) {
        let user = self.add_user(name, Role::User, max_sessions).await;
        let devices = self.devices(&user).await;
        (user, devices)
    }

    /// `N` browsers, each signed in as `user` in turn: a user's devices.
    pub async fn devices<const N: usize>(&self, user: &TestUser) -> [Browser; N] {
        let mut devices = Vec::with_capacity(N);
        for _ in 0..N {
            devices.push(self.signed_in(user).await.0);
        }
        devices
            .try_into()
            .unwrap_or_else(|_| unreachable!("exactly N were made"))
    }
}
