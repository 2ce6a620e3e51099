//! Bouncer configuration: an optional TOML file plus `BOUNCER_*` environment
//! variables, the environment winning. Bad values are errors, never defaults.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bouncer_engine::privacy::IpPrivacy;
pub use bouncer_web::PublicOrigin;
use toml::de::Error as TomlError;

const DEFAULT_FILE: &str = "bouncer.toml";
const CONFIG_VAR: &str = "BOUNCER_CONFIG";
const DEFAULT_MESSAGE: &str = "Your session has expired. Please sign in again.";
/// Longest accepted duration (100 years), so timestamp arithmetic cannot overflow.
const MAX_DURATION_SECS: u64 = 100 * 365 * 86_400;
const TIMEOUT_FORMS: &str =
    "integer seconds or a duration like 90s, 15m, 12h, 7d; 0 or off disables it";

/// One setting: its environment variable, its TOML key and the forms it accepts.
struct Field {
    env: &'static str,
    key: &'static str,
    expected: &'static str,
}

macro_rules! fields {
    ($($name:ident = $env:literal, $key:literal, $expected:expr;)*) => {
        $(const $name: Field = Field { env: $env, key: $key, expected: $expected };)*
        const FIELDS: &[&Field] = &[$(&$name),*];
    };
}

fields! {
    ADDR = "BOUNCER_ADDR", "addr", "a socket address like 127.0.0.1:3000 or [::1]:3000";
    PUBLIC_ORIGIN = "BOUNCER_PUBLIC_ORIGIN", "public_origin",
        "http://host[:port] or https://host[:port] with no path, query or userinfo";
    DATABASE_URL = "BOUNCER_DATABASE_URL", "database_url",
        "a URL starting with sqlite:, postgres:// or postgresql://";
    SESSION_LIMIT = "BOUNCER_SESSION_LIMIT", "session_limit",
        "a whole number from 0 to 4294967295; 0 means no limit";
    ON_LIMIT = "BOUNCER_ON_LIMIT", "on_limit", "replace_oldest or refuse_new";
    LOGOUT_EVERYWHERE = "BOUNCER_LOGOUT_EVERYWHERE", "logout_everywhere",
        "true/false, 1/0, yes/no or on/off";
    IDLE_TIMEOUT = "BOUNCER_IDLE_TIMEOUT", "idle_timeout", TIMEOUT_FORMS;
    ABSOLUTE_TIMEOUT = "BOUNCER_ABSOLUTE_TIMEOUT", "absolute_timeout", TIMEOUT_FORMS;
    IDLE_WARNING = "BOUNCER_IDLE_WARNING", "idle_warning",
        "integer seconds or a duration like 30s, 2m; 0 or off means no warning";
    AUTO_LOGOUT_MESSAGE = "BOUNCER_AUTO_LOGOUT_MESSAGE", "auto_logout_message",
        "a non-empty message";
    RETENTION = "BOUNCER_RETENTION", "retention",
        "a duration of at least 24h, like 86400, 36h or 7d";
    IP_PRIVACY = "BOUNCER_IP_PRIVACY", "ip_privacy",
        "full (the whole address), truncate (IPv4 /24, IPv6 /48) or off (no address)";
    REAUTH_WINDOW = "BOUNCER_REAUTH_WINDOW", "reauth_window",
        "integer seconds or a duration like 90s, 15m, 12h; 0 or off disables the requirement";
}

/// Everything that can go wrong while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value outside its accepted forms.
    #[error("invalid {var}={value:?}{}: expected {expected}",
        .toml_key.map(|k| format!(" (from toml key `{k}`)")).unwrap_or_default())]
    Invalid {
        var: &'static str,
        toml_key: Option<&'static str>,
        value: String,
        expected: &'static str,
    },
    /// The TOML file has a key Bouncer does not know (likely a typo).
    #[error("unknown key `{key}` in {file}; known keys: {}",
        FIELDS.iter().map(|f| f.key).collect::<Vec<_>>().join(", "))]
    UnknownKey { key: String, file: String },
    /// The TOML file is not valid TOML.
    #[error("cannot parse {file}: {source}")]
    Syntax { file: String, source: TomlError },
    /// The configuration file could not be read.
    #[error("cannot read config file {file}: {source}")]
    Read { file: String, source: io::Error },
}

/// What to do when a user signs in while already at the session limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimitSetting {
    /// End the user's oldest session to make room for the new one.
    ReplaceOldest,
    /// Refuse the new sign-in until an existing session ends.
    RefuseNew,
}

/// Bouncer's complete, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub addr: SocketAddr,
    /// Origin browsers see; used for CSRF origin checks and absolute links.
    pub public_origin: PublicOrigin,
    /// Where sessions, tombstones and audit rows are stored (SQLite or Postgres).
    pub database_url: String,
    /// Maximum concurrent sessions per user; 0 means no limit.
    pub session_limit: u32,
    /// Policy applied when a sign-in would exceed `session_limit`.
    pub on_limit: OnLimitSetting,
    /// Whether logging out ends all of the user's sessions, not just this one.
    pub logout_everywhere: bool,
    /// Inactivity after which a session ends; `None` disables the idle timeout.
    pub idle_timeout: Option<Duration>,
    /// Maximum session age regardless of activity; `None` disables it.
    pub absolute_timeout: Option<Duration>,
    /// How long before an idle logout the user is warned; zero means no warning.
    pub idle_warning: Duration,
    /// Text shown to a user whose session was ended automatically.
    pub auto_logout_message: String,
    /// How long tombstones and audit rows are kept (at least 24h).
    pub retention: Duration,
    /// How much of a client's IP address is stored.
    pub ip_privacy: IpPrivacy,
    /// How recently the password must have been proved to end one's other
    /// sessions (ASVS V3.3.4); `None` disables the requirement.
    pub reauth_window: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
        Settings {
            addr,
            public_origin: PublicOrigin::for_listen_addr(addr),
            database_url: "sqlite://bouncer.db".to_string(),
            session_limit: 1,
            on_limit: OnLimitSetting::ReplaceOldest,
            logout_everywhere: true,
            idle_timeout: Some(Duration::from_secs(30 * 60)),
            absolute_timeout: Some(Duration::from_secs(12 * 3600)),
            idle_warning: Duration::from_secs(60),
            auto_logout_message: DEFAULT_MESSAGE.to_string(),
            retention: Duration::from_secs(7 * 86_400),
            ip_privacy: IpPrivacy::Full,
            reauth_window: Some(Duration::from_secs(15 * 60)),
        }
    }
}

impl Settings {
    /// The database URL with any password masked, for logs and messages.
    pub fn database_url_for_display(&self) -> String {
        bouncer_engine::db::redacted(&self.database_url)
    }

    /// Reads `bouncer.toml` (or the file named by BOUNCER_CONFIG; missing default file is fine,
    /// a missing BOUNCER_CONFIG file is an error) and the process environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v)));
        let env = env.filter(|(k, _)| k.starts_with("BOUNCER_"));
        // Non-UTF-8 bytes become U+FFFD, which every validator but the message's rejects.
        let env = env
            .map(|(k, v)| (k, v.to_string_lossy().into_owned()))
            .collect();
        Self::load_with_env(&env)
    }

    fn load_with_env(env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let (file, explicit) = match env.get(CONFIG_VAR) {
            Some(file) => (file.clone(), true),
            None => (DEFAULT_FILE.to_string(), false),
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => Some(text),
            Err(e) if !explicit && e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::Read { file, source }),
        };
        Self::from_sources(env, text.as_deref())
    }

    /// Pure version for tests: `env` is a map of variable name -> value, `toml` the file text if any.
    pub fn from_sources(
        env: &HashMap<String, String>,
        toml: Option<&str>,
    ) -> Result<Settings, ConfigError> {
        let file = env.get(CONFIG_VAR).cloned();
        let file = file.unwrap_or_else(|| DEFAULT_FILE.to_string());
        let table = match toml.unwrap_or_default().parse::<toml::Table>() {
            Ok(table) => table,
            Err(source) => return Err(ConfigError::Syntax { file, source }),
        };
        if let Some(key) = table.keys().find(|k| FIELDS.iter().all(|f| f.key != *k)) {
            let key = key.clone();
            return Err(ConfigError::UnknownKey { key, file });
        }
        let src = Sources { env, table: &table };
        let mut s = Settings::default();
        src.set(&ADDR, &mut s.addr, |v| v.parse().ok())?;
        s.public_origin = PublicOrigin::for_listen_addr(s.addr);
        let origin = |v: &str| PublicOrigin::parse(v).ok();
        src.set(&PUBLIC_ORIGIN, &mut s.public_origin, origin)?;
        src.set(&DATABASE_URL, &mut s.database_url, parse_database_url)?;
        src.set(&SESSION_LIMIT, &mut s.session_limit, parse_u32)?;
        src.set(&ON_LIMIT, &mut s.on_limit, |v| match v {
            "replace_oldest" => Some(OnLimitSetting::ReplaceOldest),
            "refuse_new" => Some(OnLimitSetting::RefuseNew),
            _ => None,
        })?;
        src.set(&LOGOUT_EVERYWHERE, &mut s.logout_everywhere, parse_bool)?;
        let duration = |v: &str| parse_duration(v).ok();
        src.set(&IDLE_TIMEOUT, &mut s.idle_timeout, duration)?;
        src.set(&ABSOLUTE_TIMEOUT, &mut s.absolute_timeout, duration)?;
        let warning = |v: &str| duration(v).map(|d| d.unwrap_or(Duration::ZERO));
        src.set(&IDLE_WARNING, &mut s.idle_warning, warning)?;
        let message = |v: &str| (!v.trim().is_empty()).then(|| v.to_string());
        src.set(&AUTO_LOGOUT_MESSAGE, &mut s.auto_logout_message, message)?;
        let retention = |v: &str| duration(v).flatten().filter(|d| d.as_secs() >= 86_400);
        src.set(&RETENTION, &mut s.retention, retention)?;
        src.set(&IP_PRIVACY, &mut s.ip_privacy, IpPrivacy::parse)?;
        src.set(&REAUTH_WINDOW, &mut s.reauth_window, duration)?;
        Ok(s)
    }
}

/// The two configuration sources, environment first.
struct Sources<'a> {
    env: &'a HashMap<String, String>,
    table: &'a toml::Table,
}

impl Sources<'_> {
    /// Overwrites `slot` with the parsed value of `f` when either source sets it.
    fn set<T, P>(&self, f: &Field, slot: &mut T, parse: P) -> Result<(), ConfigError>
    where
        P: Fn(&str) -> Option<T>,
    {
        let toml_key = Some(f.key);
        let (value, toml_key, parsed) = match (self.env.get(f.env), self.table.get(f.key)) {
            (Some(v), _) => (v.clone(), None, parse(v)),
            (None, Some(toml::Value::String(v))) => (v.clone(), toml_key, parse(v)),
            (None, Some(v @ (toml::Value::Integer(_) | toml::Value::Boolean(_)))) => {
                (v.to_string(), toml_key, parse(&v.to_string()))
            }
            (None, Some(other)) => (other.to_string(), toml_key, None), // wrong TOML type
            (None, None) => return Ok(()),
        };
        let (var, expected) = (f.env, f.expected);
        let invalid = ConfigError::Invalid {
            var,
            toml_key,
            value,
            expected,
        };
        *slot = parsed.ok_or(invalid)?;
        Ok(())
    }
}

fn parse_u32(s: &str) -> Option<u32> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| s.parse().ok()).flatten()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_database_url(s: &str) -> Option<String> {
    let known = |p: &str| s.len() > p.len() && s.starts_with(p);
    let ok = known("sqlite:") || known("postgres://") || known("postgresql://");
    (ok && !s.contains(char::is_whitespace)).then(|| s.to_string())
}

/// Parses `90`, `90s`, `15m`, `12h` or `7d`; `0` (with any unit) or `off` gives
/// `Ok(None)`, meaning "disabled". Durations above 100 years are rejected.
pub fn parse_duration(raw: &str) -> Result<Option<Duration>, String> {
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (digits, unit) = match raw.char_indices().last() {
        None => return Err("empty duration".to_string()),
        Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], c),
        Some(_) => (raw, 's'),
    };
    let units = [('s', 1), ('m', 60), ('h', 3600), ('d', 86_400)];
    let Some(&(_, multiplier)) = units.iter().find(|(u, _)| *u == unit) else {
        return Err(format!("unknown unit {unit:?}; use s, m, h or d"));
    };
    let secs = parse_u32(digits).map(|n| u64::from(n) * multiplier);
    match secs.filter(|&s| s <= MAX_DURATION_SECS) {
        Some(secs) => Ok((secs > 0).then(|| Duration::from_secs(secs))),
        None => Err(format!("{raw:?} is not a whole number up to 100 years")),
    }
}

#[cfg(test)]
mod tests {
    use super::OnLimitSetting::{RefuseNew, ReplaceOldest};
    use super::*;

    /// `spec` holds `NAME=value` pairs separated by `;`, each NAME getting a `BOUNCER_` prefix.
    fn try_load(spec: &str, toml: Option<&str>) -> Result<Settings, ConfigError> {
        let pairs = spec.split(';').filter_map(|kv| kv.split_once('='));
        let env = pairs.map(|(k, v)| (format!("BOUNCER_{k}"), v.to_string()));
        Settings::from_sources(&env.collect(), toml)
    }

    fn load(spec: &str, toml: Option<&str>) -> Settings {
        try_load(spec, toml).expect("valid config")
    }

    /// Asserts that loading fails with an error mentioning every one of `parts`.
    fn fails(spec: &str, toml: Option<&str>, parts: &[&str]) {
        let msg = try_load(spec, toml).expect_err("invalid config");
        for part in parts {
            assert!(msg.to_string().contains(part), "{msg} lacks {part:?}");
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn defaults_with_empty_sources() {
        let s = load("", None);
        assert_eq!(s, Settings::default());
        assert_eq!(load("", Some("")), s);
        assert_eq!(s.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(s.public_origin.as_str(), "http://127.0.0.1:3000");
        assert_eq!(s.database_url, "sqlite://bouncer.db");
        assert_eq!((s.session_limit, s.on_limit), (1, ReplaceOldest));
        assert_eq!(s.idle_timeout, Some(secs(1800)));
        assert_eq!(s.absolute_timeout, Some(secs(43_200)));
        assert_eq!((s.idle_warning, s.retention), (secs(60), secs(604_800)));
        assert!(s.logout_everywhere && s.auto_logout_message == DEFAULT_MESSAGE);
        assert_eq!(s.ip_privacy, IpPrivacy::Full);
        assert_eq!(s.reauth_window, Some(secs(900)));
    }

    #[test]
    fn reauth_window_forms() {
        for (raw, want) in [
            ("15m", Some(secs(900))),
            ("90", Some(secs(90))),
            ("1", Some(secs(1))),
            ("2h", Some(secs(7200))),
            ("0", None),
            ("off", None),
        ] {
            let s = load(&format!("REAUTH_WINDOW={raw}"), None);
            assert_eq!(s.reauth_window, want, "{raw}");
        }
        assert_eq!(
            load("", Some("reauth_window = \"5m\"")).reauth_window,
            Some(secs(300))
        );
        assert_eq!(load("", Some("reauth_window = 0")).reauth_window, None);
        let msg = try_load("REAUTH_WINDOW=soon", None).expect_err("invalid");
        let want = "invalid BOUNCER_REAUTH_WINDOW=\"soon\": expected integer seconds or a \
            duration like 90s, 15m, 12h; 0 or off disables the requirement";
        assert_eq!(msg.to_string(), want);
        fails(
            "",
            Some("reauth_window = 1.5"),
            &["BOUNCER_REAUTH_WINDOW", "`reauth_window`"],
        );
    }

    #[test]
    fn ip_privacy_forms() {
        for (raw, want) in [
            ("full", IpPrivacy::Full),
            ("truncate", IpPrivacy::Truncate),
            ("off", IpPrivacy::Off),
        ] {
            assert_eq!(load(&format!("IP_PRIVACY={raw}"), None).ip_privacy, want);
        }
        assert_eq!(
            load("", Some("ip_privacy = \"off\"")).ip_privacy,
            IpPrivacy::Off
        );
    }

    #[test]
    fn env_wins_over_toml_and_toml_over_defaults() {
        let toml = "session_limit = 5\non_limit = \"refuse_new\"\nidle_timeout = \"15m\"";
        let s = load("SESSION_LIMIT=2", Some(toml));
        assert_eq!((s.session_limit, s.on_limit), (2, RefuseNew));
        assert_eq!(s.idle_timeout, Some(secs(900)));
        // The environment wins, so a bad TOML value underneath it is never consulted.
        let s = load("IDLE_TIMEOUT=5m", Some("idle_timeout = \"x\""));
        assert_eq!(s.idle_timeout, Some(secs(300)));
    }

    #[test]
    fn toml_native_types_and_off() {
        let toml = "idle_timeout = 90\nlogout_everywhere = false\nsession_limit = 0\n\
            absolute_timeout = 0\naddr = \"0.0.0.0:8080\"\nretention = \"2d\"\nidle_warning = \"off\"";
        let s = load("", Some(toml));
        assert_eq!((s.idle_timeout, s.absolute_timeout), (Some(secs(90)), None));
        assert_eq!((s.logout_everywhere, s.session_limit), (false, 0));
        assert_eq!((s.retention, s.idle_warning), (secs(172_800), secs(0)));
        assert_eq!(s.public_origin.as_str(), "http://localhost:8080");
        let s = load("IDLE_TIMEOUT=off;ABSOLUTE_TIMEOUT=0;IDLE_WARNING=off", None);
        assert_eq!((s.idle_timeout, s.absolute_timeout), (None, None));
        assert_eq!(s.idle_warning, Duration::ZERO);
        for (i, raw) in "YES 1 on True no FALSE 0 Off".split(' ').enumerate() {
            let s = load(&format!("LOGOUT_EVERYWHERE={raw}"), None);
            assert_eq!(s.logout_everywhere, i < 4, "{raw}");
        }
    }

    #[test]
    fn duration_forms() {
        for case in "90=90 90s=90 15m=900 12h=43200 7d=604800 0=0 off=0 OFF=0 0m=0".split(' ') {
            let (raw, want) = case.split_once('=').expect("case");
            let want = want.parse().ok().filter(|&n| n > 0).map(secs);
            assert_eq!(parse_duration(raw), Ok(want), "{raw}");
        }
        let bad = "|-5|+5|1.5|1.5h|1 m| 5|5 |5x|5ms|m|15M|é|1e3|99999999999|4294967295d|36501d";
        for raw in bad.split('|') {
            assert!(parse_duration(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let cases = "ADDR=localhost:3000|ADDR=|PUBLIC_ORIGIN=ftp://x|PUBLIC_ORIGIN=https://x/app|\
            DATABASE_URL=mysql://db|DATABASE_URL=sqlite:|SESSION_LIMIT=-1|SESSION_LIMIT=4294967296|\
            ON_LIMIT=sometimes|LOGOUT_EVERYWHERE=maybe|IDLE_TIMEOUT=abc|ABSOLUTE_TIMEOUT=-12h|\
            IDLE_WARNING=1.5m|AUTO_LOGOUT_MESSAGE=|AUTO_LOGOUT_MESSAGE=  |RETENTION=23h|RETENTION=off|\
            IP_PRIVACY=partial|IP_PRIVACY=Full|IP_PRIVACY=|REAUTH_WINDOW=15x|REAUTH_WINDOW=-1|\
            REAUTH_WINDOW=";
        for case in cases.split('|') {
            let (name, bad) = case.split_once('=').expect("case");
            let want = format!("invalid BOUNCER_{name}={bad:?}: expected ");
            fails(case, None, &[&want]);
        }
        let msg = try_load("IDLE_TIMEOUT=abc", None).expect_err("invalid");
        let want = "invalid BOUNCER_IDLE_TIMEOUT=\"abc\": expected integer seconds or a duration \
            like 90s, 15m, 12h, 7d; 0 or off disables it";
        assert_eq!(msg.to_string(), want);
    }

    #[test]
    fn invalid_toml_values_name_variable_and_key() {
        let want = "BOUNCER_IDLE_TIMEOUT=\"abc\" (from toml key `idle_timeout`): expected";
        fails("", Some("idle_timeout = \"abc\""), &[want]);
        let cases = "idle_timeout = 1.5|logout_everywhere = [1]|session_limit = -3|retention = 60";
        for toml in cases.split('|') {
            let key = toml.split(' ').next().expect("key");
            let var = format!("BOUNCER_{}", key.to_uppercase());
            fails("", Some(toml), &[&var, &format!("`{key}`")]);
        }
    }

    #[test]
    fn unknown_key_and_syntax_errors() {
        let want = ["`idle_timout`", "bouncer.toml"];
        fails("", Some("idle_timout = 5"), &want);
        fails("CONFIG=/etc/b.toml", Some("addr = "), &["/etc/b.toml"]);
    }

    #[test]
    fn load_reads_files() {
        let env = |path: &str| HashMap::from([(CONFIG_VAR.to_string(), path.to_string())]);
        let err = Settings::load_with_env(&env("/nonexistent/b.toml")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/b.toml"), "{err}");
        let path = std::env::temp_dir().join(format!("bouncer-test-{}.toml", std::process::id()));
        std::fs::write(&path, "session_limit = 3\n").expect("write temp file");
        let result = Settings::load_with_env(&env(path.to_str().expect("utf-8 path")));
        std::fs::remove_file(&path).expect("remove temp file");
        assert_eq!(result.expect("valid file").session_limit, 3);
    }

    #[test]
    fn public_origin_normalisation() {
        let cases = "HTTP://LOCALHOST:80 http://localhost|https://Ex.COM:443/ https://ex.com|\
            https://ex.com:8443 https://ex.com:8443|http://ex.com:443 http://ex.com:443|\
            http://[::1]:3000 http://[::1]:3000|https://[::1] https://[::1]";
        for case in cases.split('|') {
            let (raw, want) = case.split_once(' ').expect("case");
            assert_eq!(PublicOrigin::parse(raw).expect(raw).as_str(), want);
        }
        let https = PublicOrigin::parse("https://a.example").expect("https");
        assert!(https.is_https() && !Settings::default().public_origin.is_https());
        let bad = "example.com|ftp://x|http://|http:///|http://x/path|http://x//|http://x?q=1|\
            http://x#f|http://u:p@x|http://x:0|http://x:99999|http://x:|http://[::1|http://a b|http://::1";
        for raw in bad.split('|') {
            assert!(PublicOrigin::parse(raw).is_err(), "{raw:?}");
        }
        let origin = |spec: &str| load(spec, None).public_origin.as_str().to_string();
        assert_eq!(origin("ADDR=[::1]:4000"), "http://[::1]:4000");
        assert_eq!(origin("ADDR=0.0.0.0:80"), "http://localhost");
        let both = "ADDR=0.0.0.0:80;PUBLIC_ORIGIN=HTTPS://B.example/";
        assert_eq!(origin(both), "https://b.example");
    }

    #[test]
    fn public_origin_matching() {
        let o = PublicOrigin::parse("http://LOCALHOST:80").expect("origin");
        assert!(o.matches("http://localhost") && o.matches("http://localhost:80"));
        assert!(!o.matches("https://localhost") && !o.matches("http://localhost:8080"));
        assert!(!o.matches("null") && !o.matches("http://localhost.evil.example"));
    }

    #[test]
    fn referer_extraction() {
        let cases = "https://Ex.com:8443/a/b?c=1#d https://ex.com:8443|http://h:3000/ http://h:3000|\
            http://h:80?x=1 http://h|https://h#frag https://h|not-a-url -|http://user@h/ -|ws://x/ -";
        for case in cases.split('|') {
            let (referer, want) = case.split_once(' ').expect("case");
            let want = (want != "-").then_some(want);
            assert_eq!(PublicOrigin::from_referer(referer).as_deref(), want);
        }
    }
}
