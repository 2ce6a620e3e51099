//! The configuration's unit tests: every form each setting accepts and
//! refuses, from both sources.

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
    assert_eq!(
        (
            s.max_connections,
            s.max_connections_per_address,
            s.header_timeout,
            s.max_tabs_per_session,
            s.max_tabs_per_user
        ),
        (50_000, 1_000, secs(10), 20, 100)
    );
    assert!(s.trusted_proxies.is_empty());
    assert_eq!(s.forwarded_header, ForwardedHeader::XForwardedFor);
    assert_eq!((s.metrics_addr, s.log_format), (None, LogFormat::Text));
    assert_eq!(s.shutdown_delay, secs(5));
}

/// Per setting: a value it accepts and one it refuses. Each source gives
/// the accepted one the same meaning; each refusal names the variable,
/// and the key when the file held it; the environment's value wins.
#[test]
fn every_setting_reads_both_sources_alike() {
    let cases = "addr,0.0.0.0:8080,localhost:3000|public_origin,https://a.example,http://a.ex/p|\
        database_url,postgres://db/bouncer,mysql://db|session_limit,7,+7|\
        on_limit,refuse_new,Refuse_new|logout_everywhere,no,nope|idle_timeout,7d,5ms|\
        absolute_timeout,off,1h 30m|idle_warning,0,2weeks|auto_logout_message,Bye., |\
        retention,36h,23h|ip_privacy,truncate,none|reauth_window,3600,1.5h|\
        max_connections,500,0|max_connections_per_address,50,1000001|header_timeout,30s,0|\
        max_tabs_per_session,4,-1|max_tabs_per_user,12,10001|\
        trusted_proxies,10.0.0.0/8,10.0.0.0/33|forwarded_header,forwarded,Forwarded|\
        metrics_addr,127.0.0.1:9100,9100|log_format,json,JSON|shutdown_delay,0,1.5s";
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

#[test]
fn trusted_proxies_forms() {
    let s = load("TRUSTED_PROXIES=127.0.0.1, 10.0.0.0/8 ::1", None);
    for trusted in ["127.0.0.1", "10.9.8.7", "::1"] {
        assert!(s
            .trusted_proxies
            .trusts(trusted.parse().expect("an address")));
    }
    assert!(!s
        .trusted_proxies
        .trusts("127.0.0.2".parse().expect("an address")));
    let toml = "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]";
    assert_eq!(load("", Some(toml)).trusted_proxies, s.trusted_proxies);
    assert_eq!(
        load("", Some("trusted_proxies = []")).trusted_proxies,
        Default::default()
    );
    assert!(load("TRUSTED_PROXIES=", None).trusted_proxies.is_empty());
    // The refused entry is named, whichever source held it.
    fails(
        "TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8,example.com",
        None,
        &[
            "invalid BOUNCER_TRUSTED_PROXIES=",
            "\"example.com\" is neither",
        ],
    );
    fails(
        "",
        Some("trusted_proxies = [\"::1\", \"fe80::/129\"]"),
        &[
            "BOUNCER_TRUSTED_PROXIES",
            "`trusted_proxies`",
            "\"fe80::/129\"",
        ],
    );
    fails(
        "",
        Some("trusted_proxies = [1, 2]"),
        &["BOUNCER_TRUSTED_PROXIES", "CIDR ranges"],
    );
    // The header they write goes with them.
    let s = load("TRUSTED_PROXIES=10.0.0.1;FORWARDED_HEADER=forwarded", None);
    assert_eq!(s.proxies().header(), ForwardedHeader::Forwarded);
}

#[test]
fn metrics_log_format_and_shutdown_delay_forms() {
    let s = load(
        "METRICS_ADDR=[::1]:9100;LOG_FORMAT=json;SHUTDOWN_DELAY=30s",
        None,
    );
    assert_eq!(s.metrics_addr, Some("[::1]:9100".parse().expect("valid")));
    assert_eq!(
        (s.log_format, s.shutdown_delay),
        (LogFormat::Json, secs(30))
    );
    let s = load("METRICS_ADDR=off;SHUTDOWN_DELAY=off", None);
    assert_eq!((s.metrics_addr, s.shutdown_delay), (None, Duration::ZERO));
    let msg = try_load("METRICS_ADDR=localhost:9100", None).expect_err("invalid");
    let want = "invalid BOUNCER_METRICS_ADDR=\"localhost:9100\": expected a socket address \
        like 127.0.0.1:9100 or [::1]:9100, or off";
    assert_eq!(msg.to_string(), want);
    fails(
        "LOG_FORMAT=yaml",
        None,
        &["BOUNCER_LOG_FORMAT", "text or json"],
    );
    fails(
        "SHUTDOWN_DELAY=soon",
        None,
        &["BOUNCER_SHUTDOWN_DELAY", "5s"],
    );
    fails(
        "FORWARDED_HEADER=x-real-ip",
        None,
        &["BOUNCER_FORWARDED_HEADER", "x-forwarded-for or forwarded"],
    );
}
