//! Where a person goes after signing in: the page they came from (`next`),
//! when that is a path on this site and not the sign-in page itself.
//!
//! A `next` of `/login` sent a freshly signed-in person back to a filled-in
//! sign-in form: the watcher used to build it from the address bar, which
//! still shows `/login` while a lazy page's code loads (see
//! `watcher::client::login_url`).

/// Whether `path` (with any query) is the sign-in page.
pub fn is_login(path: &str) -> bool {
    path.strip_prefix("/login")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '#', '/']))
}

/// Where to go after signing in, from the sign-in page's `next`: a plain
/// local path, never the sign-in page; `/` otherwise. The browser side
/// navigates with it itself, so it accepts only what no URL parser can read
/// as another site: one leading `/`, then visible ASCII without `\` (a tab
/// or a backslash would let `/\t/evil.example` become `//evil.example`).
/// The server resolves a sign-in's `next` with a full URL parser
/// (`PublicOrigin::next_path`).
pub fn after_sign_in(next: Option<&str>) -> String {
    match next {
        Some(path) if is_plain_local_path(path) && !is_login(path) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_plain_local_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\')
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
            (Some("//evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("/\t/evil.example/pwned"), "/"),
            (Some("/\n/evil.example"), "/"),
            (Some("/watch\r\nSet-Cookie: a=b"), "/"),
            (Some("/a%2F%2Fb"), "/a%2F%2Fb"),
            (None, "/"),
        ];
        for (next, goes_to) in cases {
            assert_eq!(after_sign_in(next), goes_to, "{next:?}");
        }
    }
}
