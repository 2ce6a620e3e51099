//! The Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of
//! `<webhook-id>.<webhook-timestamp>.<body>`, keyed by the endpoint's secret,
//! which is serialised as `whsec_` and the key in base64.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a serialised secret.
const PREFIX: &str = "whsec_";
/// The specification's bounds on a symmetric key: at least 24 bytes.
const MIN_KEY: usize = 24;
const MAX_KEY: usize = 64;

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the webhook secret is missing: give it on standard input (whsec_ and base64)")]
    Missing,
    #[error("the webhook secret must start with `whsec_` (a Standard Webhooks secret)")]
    NoPrefix,
    #[error("the webhook secret after `whsec_` is not valid base64")]
    NotBase64,
    #[error("the webhook secret's key is {0} bytes; it must be {MIN_KEY} to {MAX_KEY}")]
    Length(usize),
}

/// An endpoint's signing key, read from its serialised secret.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Reads `whsec_<base64>` (padding optional; surrounding whitespace,
    /// such as the newline of standard input, ignored).
    pub fn parse(secret: &str) -> Result<Self, SecretError> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(SecretError::Missing);
        }
        let encoded = secret.strip_prefix(PREFIX).ok_or(SecretError::NoPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| SecretError::NotBase64)?;
        if !(MIN_KEY..=MAX_KEY).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(SigningKey(key))
    }

    /// The `webhook-signature` header's value for one request.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        // Any key length is valid for HMAC; the error cannot happen.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example, as its reference libraries test it.
    #[test]
    fn signs_the_specifications_example() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn refuses_secrets_that_are_not_standard_webhooks_secrets() {
        assert_eq!(SigningKey::parse("").err(), Some(SecretError::Missing));
        assert_eq!(SigningKey::parse(" \n").err(), Some(SecretError::Missing));
        assert_eq!(
            SigningKey::parse("hunter2hunter2hunter2hunter2").err(),
            Some(SecretError::NoPrefix)
        );
        assert_eq!(
            SigningKey::parse("whsec_not base64!").err(),
            Some(SecretError::NotBase64)
        );
        assert_eq!(
            SigningKey::parse("whsec_c2hvcnQ=").err(),
            Some(SecretError::Length(5))
        );
        let newline = format!("whsec_{}\n", STANDARD.encode([7u8; 32]));
        assert!(SigningKey::parse(&newline).is_ok());
    }
}
