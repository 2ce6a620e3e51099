//! Bouncer configuration: one [`Settings`] struct that figment deserializes
//! from an optional TOML file with the `BOUNCER_*` variables over it (the
//! environment wins). Every value is read as the text the environment would
//! hold, so both sources accept the same forms, and a bad value is an error
//! naming its variable and the forms it accepts, never a silent default.

use std::{collections::HashMap, ffi::OsString, io, net::SocketAddr, time::Duration};

use bouncer_engine::{policy::OnLimit, privacy::IpPrivacy};
use bouncer_web::{ForwardedHeader, TrustedProxies};
use figment::providers::{Format, Serialized, Toml};
use figment::{error::Kind, value::Value, Figment};
use serde::de::{value::StrDeserializer, DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use crate::telemetry::LogFormat;

/// The type of `public_origin`: the edge's, which compares it with `Origin`
/// and `Referer` headers.
pub use bouncer_web::PublicOrigin;

const DEFAULT_FILE: &str = "bouncer.toml";
const CONFIG_VAR: &str = "BOUNCER_CONFIG";
/// Longest accepted duration (100 years), so timestamp arithmetic cannot overflow.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The TOML keys, as [`Settings`] names its fields (a test holds them equal);
/// each is also read from its variable, `BOUNCER_` and the key in capitals.
const KEYS: &str = "addr public_origin database_url session_limit on_limit logout_everywhere \
    idle_timeout absolute_timeout idle_warning auto_logout_message retention ip_privacy \
    reauth_window max_connections max_connections_per_address header_timeout \
    max_tabs_per_session max_tabs_per_user trusted_proxies forwarded_header metrics_addr \
    log_format shutdown_delay";

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
    /// HTTP connections open at once, and tabs' sockets open at once (each,
    /// and both together kept under the file handle limit; see
    /// `serve::connection_caps`).
    #[serde(deserialize_with = "max_connections")]
    pub max_connections: usize,
    /// HTTP connections one address (an IPv4 address, an IPv6 /64) may hold
    /// open at once, so one client cannot take every connection; at most
    /// `max_connections`.
    #[serde(deserialize_with = "max_connections")]
    pub max_connections_per_address: usize,
    /// How long a client has to send a request's headers (and how long an
    /// idle kept-alive connection stays open).
    #[serde(deserialize_with = "header_timeout")]
    pub header_timeout: Duration,
    /// Tabs one session may keep open on a node; one more closes the
    /// newest with 4003.
    #[serde(deserialize_with = "max_tabs")]
    pub max_tabs_per_session: usize,
    /// Tabs one user may keep open on a node, all sessions together.
    #[serde(deserialize_with = "max_tabs")]
    pub max_tabs_per_user: usize,
    /// The proxies (balancers) whose forwarding header names the client's
    /// address; nobody by default (see `bouncer_web::forwarded`).
    #[serde(deserialize_with = "trusted_proxies")]
    pub trusted_proxies: TrustedProxies,
    /// Which forwarding header those proxies write.
    #[serde(deserialize_with = "forwarded_header")]
    pub forwarded_header: ForwardedHeader,
    /// Where the Prometheus metrics are served, on a listener of their own;
    /// `None` (the default) collects none.
    #[serde(deserialize_with = "metrics_addr")]
    pub metrics_addr: Option<SocketAddr>,
    /// How log lines are written: for people, or one JSON object each.
    #[serde(deserialize_with = "log_format")]
    pub log_format: LogFormat,
    /// How long a stopping node answers 503 on `/readyz`, still serving,
    /// before it closes its tabs and stops accepting: time for the
    /// balancer's health check to take it out of the pool.
    #[serde(deserialize_with = "shutdown_delay")]
    pub shutdown_delay: Duration,
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
            max_connections: 50_000,
            max_connections_per_address: 1_000,
            header_timeout: Duration::from_secs(10),
            max_tabs_per_session: 20,
            max_tabs_per_user: 100,
            trusted_proxies: TrustedProxies::default(),
            forwarded_header: ForwardedHeader::default(),
            metrics_addr: None,
            log_format: LogFormat::Text,
            shutdown_delay: Duration::from_secs(5),
        }
    }
}

impl Settings {
    /// The trusted proxies, reading the configured header.
    pub fn proxies(&self) -> TrustedProxies {
        self.trusted_proxies.clone().reading(self.forwarded_header)
    }

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
    max_connections: usize, "a whole number from 1 to 1000000",
        |s| number(s).filter(|n| (1..=1_000_000).contains(n));
    header_timeout: Duration, "a duration from 1s to 10m, like 10s or 1m",
        |s| parse_duration(s).ok().flatten()
            .filter(|d| (1..=600).contains(&d.as_secs()) && d.subsec_nanos() == 0);
    max_tabs: usize, "a whole number from 1 to 10000",
        |s| number(s).filter(|n| (1..=10_000).contains(n));
    forwarded_header: ForwardedHeader, "x-forwarded-for or forwarded", variant;
    metrics_addr: Option<SocketAddr>,
        "a socket address like 127.0.0.1:9100 or [::1]:9100, or off",
        |s| if s.eq_ignore_ascii_case("off") { Some(None) } else { s.parse().ok().map(Some) };
    log_format: LogFormat, "text or json", variant;
    shutdown_delay: Duration,
        "integer seconds or a duration like 5s, 1m; 0 or off stops at once",
        |s| Some(parse_duration(s).ok()?.unwrap_or_default());
}

/// What `trusted_proxies` accepts, also in the refusal's message.
const TRUSTED_PROXIES: &str = "addresses and CIDR ranges separated by commas, \
    like 127.0.0.1, 10.0.0.0/8, fd00::/8 (or a TOML array of them); empty for none";

/// `trusted_proxies`: the list as one string, or, in the file, an array of
/// strings. A refusal says which entry is wrong.
fn trusted_proxies<'de, D: Deserializer<'de>>(d: D) -> Result<TrustedProxies, D::Error> {
    let value = <Value as Deserialize>::deserialize(d)?;
    let list = match &value {
        Value::Array(_, items) => items.iter().map(written).collect::<Option<Vec<_>>>(),
        value => written(value).map(|text| vec![text]),
    };
    let list = list.ok_or_else(|| D::Error::custom(TRUSTED_PROXIES))?;
    TrustedProxies::parse(&list.join(","))
        .map_err(|entry| D::Error::custom(format!("{TRUSTED_PROXIES} ({entry})")))
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
mod tests;
