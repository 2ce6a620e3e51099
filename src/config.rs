//! Bouncer configuration: one [`Settings`] struct that figment deserializes
//! from an optional TOML file with the `BOUNCER_*` variables over it (the
//! environment wins). Every value is read as the text the environment would
//! hold, so both sources accept the same forms, and a bad value is an error
//! naming its variable and the forms it accepts, never a silent default.

use std::{collections::HashMap, ffi::OsString, io, net::SocketAddr, time::Duration};

use bouncer_engine::{policy::OnLimit, privacy::IpPrivacy};
use figment::providers::{Format, Serialized, Toml};
use figment::{error::Kind, value::Value, Figment};
use serde::de::{value::StrDeserializer, DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

/// The type of `public_origin`, kept with the cross-site check that compares it.
pub use crate::origin::PublicOrigin;

const DEFAULT_FILE: &str = "bouncer.toml";
const CONFIG_VAR: &str = "BOUNCER_CONFIG";
/// Longest accepted duration (100 years), so timestamp arithmetic cannot overflow.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The TOML keys, as [`Settings`] names its fields (a test holds them equal);
/// each is also read from its variable, `BOUNCER_` and the key in capitals.
const KEYS: &str = "addr public_origin database_url session_limit on_limit logout_everywhere \
    idle_timeout absolute_timeout idle_warning auto_logout_message retention ip_privacy \
    reauth_window";

fn keys() -> impl Iterator<Item = &'static str> {
    KEYS.split_whitespace()
}

fn variable(key: &str) -> String {
    format!("BOUNCER_{}", key.to_ascii_uppercase())
}

/// Everything that can go wrong while loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value outside its accepted forms.
    #[error("invalid {var}={value:?}{}: expected {expected}",
        .toml_key.as_ref().map(|k| format!(" (from toml key `{k}`)")).unwrap_or_default())]
    Invalid {
        var: String,
        toml_key: Option<String>,
        value: String,
        expected: String,
    },
    /// A variable Bouncer reads holds bytes that are not UTF-8 text.
    #[error("invalid {var}: the value is not UTF-8 text")]
    NotUnicode { var: String },
    /// The TOML file has a key Bouncer does not know (likely a typo).
    #[error("unknown key `{key}` in {file}; known keys: {}", KEYS.replace(' ', ", "))]
    UnknownKey { key: String, file: String },
    /// The TOML file is not valid TOML.
    #[error("cannot parse {file}: {message}")]
    Syntax { file: String, message: String },
    /// The configuration file could not be read (the cause follows in the
    /// error's chain, which `main` prints).
    #[error("cannot read config file {file}")]
    Read { file: String, source: io::Error },
}

/// Bouncer's complete, validated configuration. Each field names the reader
/// (below) that parses it and says, when it refuses a value, what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    #[serde(deserialize_with = "addr")]
    pub addr: SocketAddr,
    /// Origin browsers see; used for CSRF origin checks and absolute links.
    /// Unset, it follows `addr` (see [`PublicOrigin::for_listen_addr`]).
    #[serde(deserialize_with = "public_origin")]
    pub public_origin: PublicOrigin,
    /// Where sessions, tombstones and audit rows are stored (SQLite or Postgres).
    #[serde(deserialize_with = "database_url")]
    pub database_url: String,
    /// Maximum concurrent sessions per user; 0 means no limit.
    #[serde(deserialize_with = "session_limit")]
    pub session_limit: u32,
    /// Policy applied when a sign-in would exceed `session_limit`.
    #[serde(deserialize_with = "on_limit")]
    pub on_limit: OnLimit,
    /// Whether logging out ends all of the user's sessions, not just this one.
    #[serde(deserialize_with = "logout_everywhere")]
    pub logout_everywhere: bool,
    /// Inactivity after which a session ends; `None` disables the idle timeout.
    #[serde(deserialize_with = "timeout")]
    pub idle_timeout: Option<Duration>,
    /// Maximum session age regardless of activity; `None` disables it.
    #[serde(deserialize_with = "timeout")]
    pub absolute_timeout: Option<Duration>,
    /// How long before an idle logout the user is warned; zero means no warning.
    #[serde(deserialize_with = "idle_warning")]
    pub idle_warning: Duration,
    /// Text shown to a user whose session was ended automatically.
    #[serde(deserialize_with = "auto_logout_message")]
    pub auto_logout_message: String,
    /// How long tombstones and audit rows are kept (at least 24h).
    #[serde(deserialize_with = "retention")]
    pub retention: Duration,
    /// How much of a client's IP address is stored.
    #[serde(deserialize_with = "ip_privacy")]
    pub ip_privacy: IpPrivacy,
    /// How recently the password must have been proved to end one's other
    /// sessions (ASVS V3.3.4); `None` disables the requirement.
    #[serde(deserialize_with = "reauth_window")]
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
            on_limit: OnLimit::ReplaceOldest,
            logout_everywhere: true,
            idle_timeout: Some(Duration::from_secs(30 * 60)),
            absolute_timeout: Some(Duration::from_secs(12 * 3600)),
            idle_warning: Duration::from_secs(60),
            auto_logout_message: "Your session has expired. Please sign in again.".to_string(),
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
        Self::load_with_env(&environment(std::env::vars_os())?)
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
        let set = keys().filter_map(|key| {
            let value = env.get(&variable(key))?;
            Some((key, value.as_str()))
        });
        let set: HashMap<&str, &str> = set.collect();
        let file = Toml::string(toml.unwrap_or_default());
        let figment = Figment::from(file).merge(Serialized::defaults(set));
        let mut settings: Settings = figment.extract().map_err(|e| named(e, &figment, env))?;
        if !figment.contains("public_origin") {
            settings.public_origin = PublicOrigin::for_listen_addr(settings.addr);
        }
        Ok(settings)
    }
}

/// The variables [`Settings::load`] reads, from the process's: the settings'
/// and `BOUNCER_CONFIG`, which must be UTF-8. Others (`BOUNCER_SITE_ROOT`…)
/// are left alone.
fn environment(
    vars: impl Iterator<Item = (OsString, OsString)>,
) -> Result<HashMap<String, String>, ConfigError> {
    let read = |var: &String| *var == CONFIG_VAR || keys().any(|key| variable(key) == *var);
    let vars = vars.filter_map(|(var, value)| Some((var.into_string().ok().filter(read)?, value)));
    let utf8 = |(var, value): (String, OsString)| match value.into_string() {
        Ok(value) => Ok((var, value)),
        Err(_) => Err(ConfigError::NotUnicode { var }),
    };
    vars.map(utf8).collect()
}

/// Figment's `error` as a [`ConfigError`]: the variable (and, when the file
/// held the value, its key) whose value was refused, an unknown key, or the
/// file's syntax error.
fn named(error: figment::Error, figment: &Figment, env: &HashMap<String, String>) -> ConfigError {
    let file = env.get(CONFIG_VAR).map_or(DEFAULT_FILE, String::as_str);
    let file = file.to_owned();
    match (error.kind, error.path.first()) {
        (Kind::UnknownField(key, _), _) => ConfigError::UnknownKey { key, file },
        (kind, None) => ConfigError::Syntax {
            file,
            message: kind.to_string(),
        },
        (kind, Some(key)) => {
            let var = variable(key);
            let value = figment.find_value(key).ok();
            ConfigError::Invalid {
                toml_key: (!env.contains_key(&var)).then(|| key.clone()),
                var,
                value: value.map(|v| shown(&v)).unwrap_or_default(),
                expected: kind.to_string(),
            }
        }
    }
}

/// A value as the environment spells it: the file's strings, integers and
/// booleans have such a spelling; its floats, arrays and tables do not.
fn written(value: &Value) -> Option<String> {
    match value {
        Value::String(_, text) => Some(text.clone()),
        Value::Bool(_, b) => Some(b.to_string()),
        _ => value.to_i128().map(|n| n.to_string()),
    }
}

/// How a message shows a value: as written, else a float as a number and
/// an array or table (or a TOML date) in outline.
fn shown(value: &Value) -> String {
    match value {
        Value::Array(..) => "[…]".to_owned(),
        Value::Dict(..) => "{…}".to_owned(),
        _ => written(value)
            .or_else(|| Some(value.to_f64()?.to_string()))
            .unwrap_or_default(),
    }
}

/// Reads a setting's value as text and parses it; a refused value is an
/// error carrying the forms the setting accepts.
fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, D::Error> {
    let value = <Value as Deserialize>::deserialize(d)?;
    let parsed = written(&value).as_deref().and_then(parse);
    parsed.ok_or_else(|| D::Error::custom(expected))
}

/// The readers `Settings` names: each one's type, the forms it accepts (its
/// error says them) and its parser.
macro_rules! readers {
    ($($name:ident: $type:ty, $expected:expr, $parse:expr;)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$type, D::Error> {
            parsed(d, $expected, $parse)
        }
    )*};
}

readers! {
    addr: SocketAddr, "a socket address like 127.0.0.1:3000 or [::1]:3000", |s| s.parse().ok();
    public_origin: PublicOrigin,
        "http://host[:port] or https://host[:port] with no path, query or userinfo",
        |s| PublicOrigin::parse(s).ok();
    database_url: String, "a URL starting with sqlite:, postgres:// or postgresql://",
        parse_database_url;
    session_limit: u32, "a whole number from 0 to 4294967295; 0 means no limit", number;
    on_limit: OnLimit, "replace_oldest or refuse_new", variant;
    logout_everywhere: bool, "true/false, 1/0, yes/no or on/off", parse_bool;
    timeout: Option<Duration>,
        "integer seconds or a duration like 90s, 15m, 12h, 7d; 0 or off disables it",
        |s| parse_duration(s).ok();
    idle_warning: Duration,
        "integer seconds or a duration like 30s, 2m; 0 or off means no warning",
        |s| Some(parse_duration(s).ok()?.unwrap_or_default());
    auto_logout_message: String, "a non-empty message",
        |s| (!s.trim().is_empty()).then(|| s.to_owned());
    retention: Duration, "a duration of at least 24h, like 86400, 36h or 7d",
        |s| parse_duration(s).ok().flatten().filter(|d| d.as_secs() >= 86_400);
    ip_privacy: IpPrivacy,
        "full (the whole address), truncate (IPv4 /24, IPv6 /48) or off (no address)", variant;
    reauth_window: Option<Duration>,
        "integer seconds or a duration like 90s, 15m, 12h; 0 or off disables the requirement",
        |s| parse_duration(s).ok();
}

/// A whole number in plain digits (`str::parse` alone would take a `+`).
fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| s.parse().ok())?
}

/// An enum's variant by its serde name (`replace_oldest`, `truncate`).
fn variant<T: DeserializeOwned>(s: &str) -> Option<T> {
    T::deserialize(StrDeserializer::<serde::de::value::Error>::new(s)).ok()
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
/// humantime reads the number and unit; it would also take `1h 30m`, `5ms` or
/// `2weeks`, which API.md does not promise, so only these forms reach it.
pub fn parse_duration(raw: &str) -> Result<Option<Duration>, String> {
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let digits = raw.strip_suffix(['s', 'm', 'h', 'd']).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{raw:?} is not a whole number, alone or with s, m, h or d"
        ));
    }
    let unit = if digits.len() == raw.len() { "s" } else { "" };
    let duration = humantime::parse_duration(&format!("{raw}{unit}"));
    match duration.ok().filter(|d| *d <= MAX_DURATION) {
        Some(d) => Ok((!d.is_zero()).then_some(d)),
        None => Err(format!("{raw:?} is longer than 100 years")),
    }
}

#[cfg(test)]
mod tests {
    use super::OnLimit::{RefuseNew, ReplaceOldest};
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
        let message = "Your session has expired. Please sign in again.";
        assert!(s.logout_everywhere && s.auto_logout_message == message);
        assert_eq!(s.ip_privacy, IpPrivacy::Full);
        assert_eq!(s.reauth_window, Some(secs(900)));
    }

    /// Per setting: a value it accepts and one it refuses. Each source gives
    /// the accepted one the same meaning; each refusal names the variable,
    /// and the key when the file held it; the environment's value wins.
    #[test]
    fn every_setting_reads_both_sources_alike() {
        let cases =
            "addr,0.0.0.0:8080,localhost:3000|public_origin,https://a.example,http://a.ex/p|\
            database_url,postgres://db/bouncer,mysql://db|session_limit,7,+7|\
            on_limit,refuse_new,Refuse_new|logout_everywhere,no,nope|idle_timeout,7d,5ms|\
            absolute_timeout,off,1h 30m|idle_warning,0,2weeks|auto_logout_message,Bye., |\
            retention,36h,23h|ip_privacy,truncate,none|reauth_window,3600,1.5h";
        let cases: Vec<_> = cases
            .split('|')
            .map(|c| c.split(',').collect::<Vec<_>>())
            .collect();
        let tested: Vec<_> = cases.iter().map(|case| case[0]).collect();
        assert_eq!(tested, keys().collect::<Vec<_>>());
        // serde lists the struct's fields when it meets an unknown one.
        let unknown = Figment::from(Toml::string("x = 1")).extract::<Settings>();
        let fields = unknown.map_err(|e| e.kind);
        assert!(
            matches!(fields, Err(Kind::UnknownField(_, f)) if *f == tested),
            "KEYS"
        );
        for case in &cases {
            let [key, good, bad] = case[..] else {
                panic!("{case:?} is not key,good,bad")
            };
            let var = variable(key);
            let env = |value: &str| HashMap::from([(var.clone(), value.to_owned())]);
            let file = |value: &str| format!("{key} = {value:?}");
            let from_env = Settings::from_sources(&env(good), None).expect(good);
            assert_ne!(from_env, Settings::default(), "{var}={good} is read");
            let from_file = Settings::from_sources(&HashMap::new(), Some(&file(good)));
            assert_eq!(from_file.expect(good), from_env);
            let over_bad = Settings::from_sources(&env(good), Some(&file(bad)));
            assert_eq!(over_bad.expect("the environment wins"), from_env);

            let err = Settings::from_sources(&env(bad), Some(&file(good))).expect_err(bad);
            let want = format!("invalid {var}={bad:?}: expected ");
            assert!(err.to_string().starts_with(&want), "{err}");
            let err = Settings::from_sources(&HashMap::new(), Some(&file(bad))).expect_err(bad);
            let want = format!("invalid {var}={bad:?} (from toml key `{key}`): expected ");
            assert!(err.to_string().starts_with(&want), "{err}");
        }
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
        assert_eq!(
            load("", Some("auto_logout_message = 5")).auto_logout_message,
            "5"
        );
        let s = load(
            "",
            Some("logout_everywhere = \"off\"\nsession_limit = \"3\""),
        );
        assert_eq!((s.logout_everywhere, s.session_limit), (false, 3));
    }

    #[test]
    fn duration_forms() {
        for case in "90=90 90s=90 15m=900 12h=43200 7d=604800 0=0 off=0 OFF=0 0m=0 007m=420 \
            36500d=3153600000 3153600000=3153600000 876000h=3153600000"
            .split_whitespace()
        {
            let (raw, want) = case.split_once('=').expect("case");
            let want = want.parse().ok().filter(|&n| n > 0).map(secs);
            assert_eq!(parse_duration(raw), Ok(want), "{raw}");
        }
        let bad = "|-5|+5|1.5|1.5h|1 m| 5|5 |5x|5ms|m|15M|é|1e3|99999999999|4294967295d|36501d|\
            3153600001|1h30m|2weeks|1w|1y|99999999999999999999999999d";
        for raw in bad.split('|') {
            assert!(parse_duration(raw).is_err(), "{raw:?}");
        }
        fails(
            "RETENTION=36501d",
            None,
            &["invalid BOUNCER_RETENTION=\"36501d\""],
        );
        assert_eq!(
            load("RETENTION=36500d", None).retention,
            secs(3_153_600_000)
        );
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let cases = "ADDR=localhost:3000|ADDR=|PUBLIC_ORIGIN=ftp://x|PUBLIC_ORIGIN=https://x/app|\
            DATABASE_URL=mysql://db|DATABASE_URL=sqlite:|SESSION_LIMIT=-1|SESSION_LIMIT=4294967296|\
            ON_LIMIT=sometimes|LOGOUT_EVERYWHERE=maybe|IDLE_TIMEOUT=abc|ABSOLUTE_TIMEOUT=-12h|\
            IDLE_WARNING=1.5m|AUTO_LOGOUT_MESSAGE=|AUTO_LOGOUT_MESSAGE=  |RETENTION=23h|RETENTION=off|\
            IP_PRIVACY=partial|IP_PRIVACY=Full|IP_PRIVACY=|REAUTH_WINDOW=15x|REAUTH_WINDOW=-1|\
            REAUTH_WINDOW=|ON_LIMIT=1|ON_LIMIT=|SESSION_LIMIT=";
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
        // Floats, arrays, tables and dates have no text form; an enum is never
        // picked by its index (`on_limit = 1`).
        let cases = "idle_timeout = 1.5|logout_everywhere = [1]|session_limit = -3|retention = 60|\
            on_limit = 1|ip_privacy = 0|addr = { host = \"x\" }|absolute_timeout = 1979-05-27|\
            logout_everywhere = 2";
        for toml in cases.split('|') {
            let key = toml.split(' ').next().expect("key");
            let var = format!("BOUNCER_{}", key.to_uppercase());
            fails("", Some(toml), &[&var, &format!("`{key}`")]);
        }
        for (toml, shown) in [
            ("session_limit = -3", "-3"),
            ("idle_timeout = 1.5", "1.5"),
            ("session_limit = 3.0", "3"),
            ("logout_everywhere = [true]", "[…]"),
            ("addr = { host = \"x\" }", "{…}"),
        ] {
            let err = try_load("", Some(toml)).expect_err(toml);
            assert!(
                matches!(&err, ConfigError::Invalid { value, .. } if value == shown),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_key_and_syntax_errors() {
        let mut want = vec!["`idle_timout`", "bouncer.toml"];
        want.extend(keys());
        fails("", Some("idle_timout = 5"), &want);
        fails(
            "",
            Some("ADDR = \"127.0.0.1:3000\""),
            &["unknown key `ADDR`"],
        );
        fails(
            "",
            Some("[server]\naddr = \"127.0.0.1:3000\""),
            &["`server`"],
        );
        fails(
            "CONFIG=/etc/b.toml",
            Some("addr = "),
            &["cannot parse /etc/b.toml"],
        );
    }

    #[test]
    fn variables_that_are_not_settings_are_ignored() {
        let spec = "SITE_ROOT=x;NOT_A_SETTING=y;CONFIG=/etc/b.toml;TEST_BACKEND=postgres";
        assert_eq!(load(spec, None), Settings::default());
        let env = HashMap::from([("bouncer_addr".to_owned(), "x".to_owned())]);
        assert_eq!(
            Settings::from_sources(&env, None).ok(),
            Some(Settings::default())
        );
    }

    #[test]
    fn environment_refuses_non_utf8_settings_only() {
        use std::os::unix::ffi::OsStringExt;
        let os = |s: &str| OsString::from(s);
        let latin1 = || OsString::from_vec(b"caf\xe9".to_vec());
        let vars = [
            (os("BOUNCER_SITE_ROOT"), latin1()),
            (os("HOME"), latin1()),
            (os("BOUNCER_SESSION_LIMIT"), os("4")),
            (os("BOUNCER_CONFIG"), os("b.toml")),
        ];
        let env = environment(vars.into_iter()).expect("only settings must be UTF-8");
        let want = [("BOUNCER_SESSION_LIMIT", "4"), ("BOUNCER_CONFIG", "b.toml")];
        assert_eq!(env, want.map(|(k, v)| (k.to_owned(), v.to_owned())).into());
        for var in ["BOUNCER_AUTO_LOGOUT_MESSAGE", "BOUNCER_CONFIG"] {
            let err = environment([(os(var), latin1())].into_iter()).expect_err(var);
            assert_eq!(
                err.to_string(),
                format!("invalid {var}: the value is not UTF-8 text")
            );
        }
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
    fn public_origin_follows_addr_unless_set() {
        let origin = |spec: &str| load(spec, None).public_origin.as_str().to_string();
        assert_eq!(origin("ADDR=[::1]:4000"), "http://[::1]:4000");
        assert_eq!(origin("ADDR=0.0.0.0:80"), "http://localhost");
        let both = "ADDR=0.0.0.0:80;PUBLIC_ORIGIN=HTTPS://B.example/";
        assert_eq!(origin(both), "https://b.example");
        let toml = Some("public_origin = \"http://a.example\"");
        assert_eq!(
            load("ADDR=0.0.0.0:80", toml).public_origin.as_str(),
            "http://a.example"
        );
    }
}
