//! What a person is told when something is refused. Every domain error says
//! its own API code and sentence through [`UserFacing`], so the JSON API and
//! the pages show the same words; the sentences more than one error says live
//! here, so every sentence exists once.

/// An error a person may be told about.
pub trait UserFacing: std::error::Error {
    /// The API's error code (`invalid_credentials`, …); `internal` for a
    /// failure the person cannot fix, whose cause is logged, never shown.
    fn code(&self) -> &'static str;

    /// The sentence a person reads.
    fn user_message(&self) -> String;
}

/// A throttled password check (sign-in, re-authentication, password
/// change) that may be retried after `wait`.
pub fn too_many_attempts(wait: std::time::Duration) -> String {
    let secs = wait.as_secs().max(1);
    let wait = if secs >= 90 {
        format!("{} minutes", secs.div_ceil(60))
    } else {
        format!("{secs} seconds")
    };
    format!("Too many failed attempts. Please wait {wait} and try again.")
}

/// The password queue was full: a moment later it will not be.
pub const BUSY: &str = "The server is busy. Please try again in a moment.";

/// A failure the person cannot fix (the cause is logged, never shown).
pub const INTERNAL: &str = "Something went wrong on the server. Please try again.";

/// A wrong password given by someone already signed in.
pub const WRONG_CURRENT_PASSWORD: &str = "The current password is not correct.";

/// A user or session that does not exist (or is not the caller's).
pub const NOT_FOUND: &str = "There is nothing here.";

/// A signed-in call whose session ended while it ran.
pub const SIGNED_OUT: &str = "You are signed out. Please sign in again.";
