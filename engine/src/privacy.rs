//! How much of a client's IP address Bouncer keeps (`BOUNCER_IP_PRIVACY`).
//!
//! The address is personal data. It is shown to the account holder and to
//! operators so they can tell devices apart and spot a stranger, but many
//! operators need less than all of it, or none. The setting applies wherever
//! an address is *stored*: a session's row (and so every device list) and the
//! `signed_in_elsewhere` detail in the log. The login throttle keeps counting
//! per full address, in memory only, for at most its window — otherwise
//! `off` would make every client one address and lock everyone out together.
//!
//! This module only says what to keep; the stores that hold addresses
//! (`sessions`, `log`) rewrite their older rows with it at start-up, so
//! turning privacy up also covers what is already kept.

use std::net::IpAddr;

use serde::Deserialize;

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

/// An address with its host part hidden, for showing to the person who was
/// displaced by a sign-in: `203.0.113.x`, or the first 48 bits of an IPv6
/// address. Takes a stored address in any [`IpPrivacy`] form (a whole
/// address, a network such as `203.0.113.0/24`, or nothing).
pub fn approximate_ip(ip: &str) -> String {
    let address = ip.split('/').next().unwrap_or_default();
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.x")
        }
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => "an unknown address".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        approximate_ip,
        IpPrivacy::{self, *},
    };

    #[test]
    fn addresses_are_shown_approximately() {
        assert_eq!(approximate_ip("203.0.113.77"), "203.0.113.x");
        assert_eq!(
            approximate_ip("2001:db8:85a3::8a2e:370:7334"),
            "2001:db8:85a3::/48"
        );
        assert_eq!(approximate_ip("unknown"), "an unknown address");
        // The forms `BOUNCER_IP_PRIVACY=truncate` and `off` store.
        assert_eq!(approximate_ip("203.0.113.0/24"), "203.0.113.x");
        assert_eq!(approximate_ip("2001:db8:85a3::/48"), "2001:db8:85a3::/48");
        assert_eq!(approximate_ip(""), "an unknown address");
    }

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
