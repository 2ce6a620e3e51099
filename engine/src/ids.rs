//! The identifiers, each its own type so they cannot be mixed up.
//!
//! A [`SessionId`] is public: it is shown in lists and used in the API. The
//! cookie's secret is a different value entirely; the engine only ever stores
//! its [`SecretHash`], so a copy of the database yields no usable cookie.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

macro_rules! public_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id (128 bits from the OS).
            pub fn generate() -> Self {
                $name(random_token($prefix))
            }

            /// Accepts an id read from the database or a URL. Ids are opaque, so any
            /// non-empty string of at most 64 bytes is accepted; a wrong one
            /// simply matches nothing.
            pub fn parse(raw: &str) -> Option<Self> {
                (!raw.is_empty() && raw.len() <= 64).then(|| $name(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

public_id!(
    /// A user's id (`u_…`).
    UserId,
    "u_"
);
public_id!(
    /// A session's public id (`s_…`), never the cookie's secret.
    SessionId,
    "s_"
);

/// The SHA-256 of a session cookie's secret: how the registry finds a session
/// without ever storing the secret itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes the cookie's secret (its textual form, as sent by the browser).
    pub fn of_secret(secret: &str) -> Self {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// The hex form stored in the database.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for SecretHash {
    // Even the hash is abbreviated in logs: it is a lookup key for a live session.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({}…)", &hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_prefixed_random_and_distinct() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert!(a.as_str().starts_with("s_"));
        assert_eq!(a.as_str().len(), 2 + 32);
        assert_ne!(a, b);
        assert!(UserId::generate().as_str().starts_with("u_"));
    }

    #[test]
    fn parse_rejects_empty_and_oversized_ids() {
        assert!(SessionId::parse("").is_none());
        assert!(SessionId::parse(&"x".repeat(65)).is_none());
        assert_eq!(
            SessionId::parse("s_abc").map(|id| id.to_string()),
            Some("s_abc".to_owned())
        );
    }

    #[test]
    fn secret_hash_is_stable_and_does_not_print_the_hash() {
        let a = SecretHash::of_secret("secret");
        assert_eq!(a, SecretHash::of_secret("secret"));
        assert_ne!(a, SecretHash::of_secret("secret2"));
        assert_eq!(a.to_hex().len(), 64);
        assert!(format!("{a:?}").len() < 30);
    }
}
