//! How much of a client's IP address Bouncer keeps (`BOUNCER_IP_PRIVACY`).
//!
//! The address is personal data. It is shown to the account holder and to
//! operators so they can tell devices apart and spot a stranger, but many
//! operators need less than all of it, or none. The setting applies wherever
//! an address is *stored*: a session's row (and so every device list) and the
//! `signed_in_elsewhere` detail in the log. The login throttle keeps counting
//! per full address, in memory only, for at most its window — otherwise
//! `off` would make every client one address and lock everyone out together.

use std::net::IpAddr;

use anyhow::Context;
use serde::Deserialize;

use crate::db::Pool;

/// What is kept of an address; configured by name (`full`, `truncate`, `off`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpPrivacy {
    /// The whole address.
    #[default]
    Full,
    /// The network only: IPv4 /24, IPv6 /48, written as CIDR (`203.0.113.0/24`).
    Truncate,
    /// Nothing: an empty string.
    Off,
}

impl IpPrivacy {
    /// The setting's name, as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            IpPrivacy::Full => "full",
            IpPrivacy::Truncate => "truncate",
            IpPrivacy::Off => "off",
        }
    }

    /// The setting named `raw`, if it is one.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "full" => Some(IpPrivacy::Full),
            "truncate" => Some(IpPrivacy::Truncate),
            "off" => Some(IpPrivacy::Off),
            _ => None,
        }
    }

    /// What to store of the address `ip` (as the peer address prints).
    /// Anything that is not an address is kept only under `full`.
    pub fn stored(self, ip: &str) -> String {
        match self {
            IpPrivacy::Full => ip.to_owned(),
            IpPrivacy::Off => String::new(),
            IpPrivacy::Truncate => match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(v4)) => {
                    let [a, b, c, _] = v4.octets();
                    format!("{a}.{b}.{c}.0/24")
                }
                Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                    Some(v4) => IpPrivacy::Truncate.stored(&v4.to_string()),
                    None => {
                        let s = v6.segments();
                        format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
                    }
                },
                Err(_) => String::new(),
            },
        }
    }

    /// Whether `stored` is already in this setting's form, so a rewrite of
    /// older rows can skip it.
    pub fn holds(self, stored: &str) -> bool {
        match self {
            IpPrivacy::Full => true,
            IpPrivacy::Off => stored.is_empty(),
            IpPrivacy::Truncate => stored.is_empty() || stored.contains('/'),
        }
    }
}

/// Rewrites the addresses stored under an earlier, looser setting, so that
/// turning privacy up also covers what is already kept: sessions (live and
/// ended) and the `signed_in_elsewhere` details in the log. Rows already in
/// the setting's form are skipped, so a restart rewrites nothing. Returns how
/// many rows changed.
pub async fn apply_to_stored(pool: &Pool, setting: IpPrivacy) -> anyhow::Result<u64> {
    if setting == IpPrivacy::Full {
        return Ok(0);
    }
    let mut changed = 0;
    // Narrowed in SQL so that a restart reads nothing back; `holds` decides.
    let unrewritten = match setting {
        IpPrivacy::Truncate => "SELECT id, ip FROM sessions WHERE ip <> '' AND ip NOT LIKE '%/%'",
        _ => "SELECT id, ip FROM sessions WHERE ip <> ''",
    };
    let sessions: Vec<(String, String)> = sqlx::query_as(unrewritten)
        .fetch_all(pool)
        .await
        .context("Failed to read stored addresses")?;
    for (id, ip) in sessions.into_iter().filter(|(_, ip)| !setting.holds(ip)) {
        sqlx::query("UPDATE sessions SET ip = $1 WHERE id = $2")
            .bind(setting.stored(&ip))
            .bind(id)
            .execute(pool)
            .await
            .context("Failed to rewrite a stored address")?;
        changed += 1;
    }
    let details: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, detail FROM revocations WHERE reason = 'signed_in_elsewhere'")
            .fetch_all(pool)
            .await
            .context("Failed to read the log's details")?;
    for (seq, detail) in details {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&detail) else {
            continue;
        };
        let Some(ip) = value.get("ip").and_then(|ip| ip.as_str()) else {
            continue;
        };
        if setting.holds(ip) {
            continue;
        }
        value["ip"] = setting.stored(ip).into();
        sqlx::query("UPDATE revocations SET detail = $1 WHERE seq = $2")
            .bind(value.to_string())
            .bind(seq)
            .execute(pool)
            .await
            .context("Failed to rewrite a log detail")?;
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::IpPrivacy::{self, *};

    #[test]
    fn each_setting_keeps_what_it_says() {
        let cases = [
            ("203.0.113.77", "203.0.113.77", "203.0.113.0/24"),
            (
                "2001:db8:85a3::8a2e:370:7334",
                "2001:db8:85a3::8a2e:370:7334",
                "2001:db8:85a3::/48",
            ),
            (
                "::ffff:198.51.100.9",
                "::ffff:198.51.100.9",
                "198.51.100.0/24",
            ),
            ("unknown", "unknown", ""),
        ];
        for (ip, full, truncated) in cases {
            assert_eq!(Full.stored(ip), full);
            assert_eq!(Truncate.stored(ip), truncated, "{ip}");
            assert_eq!(Off.stored(ip), "");
        }
    }

    #[test]
    fn a_stored_form_is_recognised_and_stable() {
        for setting in [Full, Truncate, Off] {
            for ip in ["203.0.113.77", "2001:db8::1", "unknown"] {
                let stored = setting.stored(ip);
                assert!(setting.holds(&stored), "{setting:?} {ip}");
            }
        }
        assert!(!Truncate.holds("203.0.113.77"));
        assert!(!Off.holds("203.0.113.0/24"));
    }

    #[test]
    fn names_round_trip() {
        for setting in [Full, Truncate, Off] {
            assert_eq!(IpPrivacy::parse(setting.as_str()), Some(setting));
        }
        assert_eq!(IpPrivacy::parse("partial"), None);
    }
}
