//! Fuzzes the configuration: `Settings::from_sources` with arbitrary
//! `bouncer.toml` text and arbitrary `BOUNCER_*` values, and the parsers it
//! is built from (`parse_duration`, `PublicOrigin::parse`), against API.md:
//!
//! - durations are integer seconds or `90s`, `15m`, `12h`, `7d`; `0` or
//!   `off` disables; nothing else is accepted, and nothing over 100 years;
//! - the environment wins over the file, and both accept the same forms;
//! - an invalid value is an error naming the variable (and the TOML key
//!   when the file held it), never a silent default;
//! - a public origin is normalised to `scheme://host[:port]`, and its normal
//!   form parses to itself.
//!
//! Input: pieces split on `0xFF` (see `bouncer_fuzz::input`). The first is
//! the TOML text; each later one is a variable: its first byte picks which
//! (modulo the list below), the rest is the value.

#![no_main]

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use bouncer::config::{parse_duration, ConfigError, PublicOrigin, Settings};
use bouncer_engine::policy::OnLimit;
use bouncer_fuzz::{
    input::{pieces, tagged, text},
    same_origin::OriginParts,
};
use libfuzzer_sys::fuzz_target;

/// The settings' variables (API.md and README), each read from the TOML key
/// that is its name without the prefix, in lowercase.
const SETTINGS: &[&str] = &[
    "BOUNCER_ADDR",
    "BOUNCER_PUBLIC_ORIGIN",
    "BOUNCER_DATABASE_URL",
    "BOUNCER_SESSION_LIMIT",
    "BOUNCER_ON_LIMIT",
    "BOUNCER_LOGOUT_EVERYWHERE",
    "BOUNCER_IDLE_TIMEOUT",
    "BOUNCER_ABSOLUTE_TIMEOUT",
    "BOUNCER_IDLE_WARNING",
    "BOUNCER_AUTO_LOGOUT_MESSAGE",
    "BOUNCER_RETENTION",
];

/// Variables that are not settings: the file's name (it only appears in
/// messages here, since the text is given), and one Bouncer does not know,
/// which must be ignored.
const OTHER_VARIABLES: &[&str] = &["BOUNCER_CONFIG", "BOUNCER_NOT_A_SETTING"];

const DEFAULT_FILE: &str = "bouncer.toml";

/// "Durations above 100 years are rejected."
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The shortest retention (tombstones are kept at least 24 h).
const MIN_RETENTION: Duration = Duration::from_secs(86_400);

fn toml_key(variable: &str) -> String {
    variable.trim_start_matches("BOUNCER_").to_ascii_lowercase()
}

/// What `parse_duration` must answer, from the accepted forms alone.
fn expected_duration(raw: &str) -> Result<Option<Duration>, ()> {
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (digits, multiplier) = match raw.as_bytes().last() {
        Some(b's') => (&raw[..raw.len() - 1], 1),
        Some(b'm') => (&raw[..raw.len() - 1], 60),
        Some(b'h') => (&raw[..raw.len() - 1], 3600),
        Some(b'd') => (&raw[..raw.len() - 1], 86_400),
        _ => (raw, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    // Past 20 significant digits the number is far over the limit anyway.
    let significant = digits.trim_start_matches('0');
    if significant.len() > 20 {
        return Err(());
    }
    let seconds = significant.parse::<u128>().unwrap_or(0) * multiplier;
    match seconds {
        0 => Ok(None),
        s if s <= MAX_DURATION.as_secs().into() => {
            Ok(Some(Duration::from_secs(u64::try_from(s).map_err(|_| ())?)))
        }
        _ => Err(()),
    }
}

fn check_duration(raw: &str) {
    let parsed = parse_duration(raw);
    match (&parsed, expected_duration(raw)) {
        (Ok(got), Ok(want)) => {
            assert_eq!(*got, want, "parse_duration({raw:?})");
            if let Some(duration) = got {
                // Its plain-seconds form means the same.
                let again = parse_duration(&duration.as_secs().to_string());
                assert_eq!(again, Ok(Some(*duration)));
            }
        }
        (Err(message), Err(())) => assert!(!message.is_empty()),
        _ => panic!("parse_duration({raw:?}) = {parsed:?}, not an accepted form's answer"),
    }
}

fn check_public_origin(raw: &str) {
    let Ok(origin) = PublicOrigin::parse(raw) else {
        return;
    };
    let normal = origin.as_str();
    assert_eq!(
        PublicOrigin::parse(normal).as_ref(),
        Ok(&origin),
        "{normal} parses to itself"
    );
    assert_eq!(origin.is_https(), normal.starts_with("https://"));
    assert!(
        OriginParts::of_normalised(normal).is_some(),
        "{raw:?} normalised to {normal:?}, not scheme://host[:port]"
    );
}

/// The TOML file's values as the environment would spell them, when every
/// value is a string, an integer or a boolean (the types a setting accepts).
fn toml_as_environment(toml: &str) -> Option<HashMap<String, String>> {
    let table = toml.parse::<toml::Table>().ok()?;
    table
        .iter()
        .map(|(key, value)| {
            let variable = format!("BOUNCER_{}", key.to_ascii_uppercase());
            let value = match value {
                toml::Value::String(text) => text.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => return None,
            };
            (SETTINGS.contains(&variable.as_str()) && toml_key(&variable) == *key)
                .then_some((variable, value))
        })
        .collect()
}

fn check_settings(settings: &Settings, env: &HashMap<String, String>, toml: &str) {
    // Every value the environment set is the one in force.
    for (variable, value) in env {
        let duration = || expected_duration(value).expect("an accepted duration");
        match variable.as_str() {
            "BOUNCER_ADDR" => assert_eq!(Ok(settings.addr), value.parse::<SocketAddr>()),
            "BOUNCER_PUBLIC_ORIGIN" => {
                assert_eq!(
                    Ok(&settings.public_origin),
                    PublicOrigin::parse(value).as_ref()
                )
            }
            "BOUNCER_DATABASE_URL" => assert_eq!(&settings.database_url, value),
            "BOUNCER_SESSION_LIMIT" => {
                assert!(value.bytes().all(|b| b.is_ascii_digit()), "{value:?}");
                assert_eq!(Ok(u64::from(settings.session_limit)), value.parse::<u64>());
            }
            "BOUNCER_ON_LIMIT" => assert_eq!(
                settings.on_limit,
                match value.as_str() {
                    "replace_oldest" => OnLimit::ReplaceOldest,
                    "refuse_new" => OnLimit::RefuseNew,
                    other => panic!("BOUNCER_ON_LIMIT={other:?} was accepted"),
                }
            ),
            "BOUNCER_LOGOUT_EVERYWHERE" => assert_eq!(
                settings.logout_everywhere,
                match value.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => true,
                    "false" | "0" | "no" | "off" => false,
                    other => panic!("BOUNCER_LOGOUT_EVERYWHERE={other:?} was accepted"),
                }
            ),
            "BOUNCER_IDLE_TIMEOUT" => assert_eq!(settings.idle_timeout, duration()),
            "BOUNCER_ABSOLUTE_TIMEOUT" => assert_eq!(settings.absolute_timeout, duration()),
            "BOUNCER_IDLE_WARNING" => {
                assert_eq!(settings.idle_warning, duration().unwrap_or(Duration::ZERO))
            }
            "BOUNCER_AUTO_LOGOUT_MESSAGE" => assert_eq!(&settings.auto_logout_message, value),
            "BOUNCER_RETENTION" => assert_eq!(Some(settings.retention), duration()),
            _ => {}
        }
    }
    // Whatever the source, no value outside the accepted ranges gets in.
    for duration in [settings.idle_timeout, settings.absolute_timeout]
        .into_iter()
        .flatten()
    {
        assert!(
            duration > Duration::ZERO && duration <= MAX_DURATION,
            "{duration:?}"
        );
    }
    assert!(settings.idle_warning <= MAX_DURATION);
    assert!((MIN_RETENTION..=MAX_DURATION).contains(&settings.retention));
    assert!(!settings.auto_logout_message.trim().is_empty());
    let url = &settings.database_url;
    assert!(
        ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|prefix| url.len() > prefix.len() && url.starts_with(prefix)),
        "{url:?}"
    );
    assert!(!url.contains(char::is_whitespace), "{url:?}");
    let origin = &settings.public_origin;
    let origin_set = env.contains_key("BOUNCER_PUBLIC_ORIGIN")
        || toml
            .parse::<toml::Table>()
            .is_ok_and(|table| table.contains_key("public_origin"));
    if !origin_set {
        assert_eq!(*origin, PublicOrigin::for_listen_addr(settings.addr));
    }
    // The default origin of port 0 ("any free port", e.g. `http://localhost:0`)
    // is a placeholder: `Application::build` replaces it with the bound port.
    // Every other origin is a normal form.
    if origin_set || settings.addr.port() != 0 {
        assert_eq!(PublicOrigin::parse(origin.as_str()).as_ref(), Ok(origin));
    }
}

fn check_error(error: &ConfigError, env: &HashMap<String, String>) {
    let message = error.to_string();
    let file = env
        .get("BOUNCER_CONFIG")
        .map_or(DEFAULT_FILE, String::as_str);
    match error {
        ConfigError::Invalid {
            var,
            toml_key: None,
            value,
            ..
        } => {
            assert_eq!(
                env.get(var),
                Some(value),
                "the environment's value is named"
            );
            assert!(message.contains(var), "{message:?} names {var}");
            let duration = expected_duration(value);
            match var.as_str() {
                "BOUNCER_IDLE_TIMEOUT" | "BOUNCER_ABSOLUTE_TIMEOUT" | "BOUNCER_IDLE_WARNING" => {
                    assert!(duration.is_err(), "{var}={value:?} is an accepted duration")
                }
                "BOUNCER_RETENTION" => assert!(
                    !duration.is_ok_and(|d| d.is_some_and(|d| d >= MIN_RETENTION)),
                    "{var}={value:?} is an accepted retention"
                ),
                _ => {}
            }
        }
        ConfigError::Invalid {
            var,
            toml_key: Some(key),
            ..
        } => {
            assert!(
                !env.contains_key(var),
                "the environment's {var} wins over the file"
            );
            assert_eq!(toml_key(var), *key);
            assert!(
                message.contains(var) && message.contains(key),
                "{message:?}"
            );
        }
        ConfigError::UnknownKey { key, file: named } => {
            assert!(
                !SETTINGS.iter().any(|v| toml_key(v) == *key),
                "{key} is known"
            );
            assert_eq!(named, file);
            assert!(
                message.contains(key.as_str()) && message.contains(file),
                "{message:?}"
            );
        }
        ConfigError::Syntax { file: named, .. } => {
            assert_eq!(named, file);
            assert!(message.contains(file), "{message:?}");
        }
        ConfigError::Read { .. } => panic!("from_sources reads no file: {message}"),
        ConfigError::NotUnicode { .. } => {
            panic!("from_sources reads no process variable: {message}")
        }
    }
}

/// The file and the environment accept the same forms: the file's values
/// moved into the environment (under what it already sets) give the same
/// settings, or an error about the same variable.
fn check_file_equals_environment(
    result: &Result<Settings, ConfigError>,
    env: &HashMap<String, String>,
    toml: &str,
) {
    let Some(from_file) = toml_as_environment(toml) else {
        return;
    };
    let mut combined = from_file;
    combined.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let moved = Settings::from_sources(&combined, None);
    match (result, &moved) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(ConfigError::Invalid { var: a, .. }), Err(ConfigError::Invalid { var: b, .. })) => {
            assert_eq!(a, b)
        }
        _ => panic!("from the file: {result:?}; from the environment: {moved:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut pieces = pieces(data);
    let toml = text(pieces.next().unwrap_or_default());
    let variables = SETTINGS.len() + OTHER_VARIABLES.len();
    let mut env = HashMap::new();
    for (tag, value) in pieces.filter_map(tagged) {
        let index = usize::from(tag) % variables;
        let variable = SETTINGS
            .get(index)
            .unwrap_or_else(|| &OTHER_VARIABLES[index - SETTINGS.len()]);
        env.insert((*variable).to_owned(), text(value));
    }

    for raw in env.values().chain([&toml]) {
        check_duration(raw);
        check_public_origin(raw);
    }
    let result = Settings::from_sources(&env, Some(&toml));
    match &result {
        Ok(settings) => check_settings(settings, &env, &toml),
        Err(error) => check_error(error, &env),
    }
    check_file_equals_environment(&result, &env, &toml);
});
