//! Where a person goes after signing in: the page they came from (`next`),
//! when that is a path on this site and not the sign-in page itself.
//!
//! A `next` of `/login` sent a freshly signed-in person back to a filled-in
//! sign-in form: the watcher used to build it from the address bar, which
//! still shows `/login` while a lazy page's code loads (see
//! `watcher::client::login_url`).

use crate::server::safe_next;

/// Whether `path` (with any query) is the sign-in page.
pub fn is_login(path: &str) -> bool {
    path.strip_prefix("/login")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '#', '/']))
}

/// Where to go after signing in, from the sign-in page's `next`: a local
/// path (never another site), never the sign-in page; `/` otherwise.
pub fn after_sign_in(next: Option<&str>) -> String {
    let path = safe_next(next);
    if is_login(&path) {
        "/".to_owned()
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_never_leads_back_to_the_sign_in_page() {
        let cases = [
            (Some("/login"), "/"),
            (Some("/login?next=%2Flogin"), "/"),
            (Some("/login#top"), "/"),
            (Some("/login/"), "/"),
            (Some("/loginhelp"), "/loginhelp"),
            (Some("/watch?t=1"), "/watch?t=1"),
            (Some("https://evil.example/"), "/"),
            (None, "/"),
        ];
        for (next, goes_to) in cases {
            assert_eq!(after_sign_in(next), goes_to, "{next:?}");
        }
    }
}
