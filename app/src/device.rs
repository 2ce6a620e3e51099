//! Devices as people recognise them: an icon for the kind of device (from the
//! device label and the user agent), its name, whether it is online and when
//! it was last active. The device lists of `/account`, the console and the
//! device-limit screen all show a session through [`DeviceItem`].

use bouncer_wire::Session;
use leptos::prelude::*;

use crate::time::Time;

/// The kind of device a session runs on, for its icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Desktop,
    Phone,
    Tablet,
    /// A script, a command-line client, or nothing recognisable.
    Other,
}

impl DeviceKind {
    /// The name tests and styles read (`data-kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Desktop => "desktop",
            DeviceKind::Phone => "phone",
            DeviceKind::Tablet => "tablet",
            DeviceKind::Other => "other",
        }
    }

    /// The icon, inline SVG drawn with the text colour. A static string set
    /// as inner HTML costs the bundle a few bytes of data instead of the code
    /// that would build each element.
    fn icon(self) -> &'static str {
        /// One 24×24 line icon around `$shapes`.
        macro_rules! icon {
            ($shapes:literal) => {
                concat!(
                    r#"<svg viewBox="0 0 24 24" width="24" height="24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" focusable="false">"#,
                    $shapes,
                    "</svg>"
                )
            };
        }
        match self {
            DeviceKind::Desktop => {
                icon!(
                    r#"<rect x="3" y="4" width="18" height="12" rx="2"/><path d="M8 20h8M12 16v4"/>"#
                )
            }
            DeviceKind::Phone => {
                icon!(
                    r#"<rect x="7" y="2.5" width="10" height="19" rx="2"/><path d="M11 18.5h2"/>"#
                )
            }
            DeviceKind::Tablet => {
                icon!(r#"<rect x="4" y="3" width="16" height="18" rx="2"/><path d="M11 18h2"/>"#)
            }
            DeviceKind::Other => {
                icon!(
                    r#"<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M7 9l3 3-3 3M12 15h5"/>"#
                )
            }
        }
    }
}

/// What kind of device a session runs on, from the server's label ("Safari
/// on iPhone") and the raw user agent. Tablets first: an Android tablet's
/// agent lacks "Mobile", and an iPad's names no phone.
pub fn device_kind(device: &str, user_agent: &str) -> DeviceKind {
    let ua = user_agent.to_ascii_lowercase();
    let label = device.to_ascii_lowercase();
    let either = |needle: &str| ua.contains(needle) || label.contains(needle);
    if either("ipad") || ua.contains("tablet") || (ua.contains("android") && !ua.contains("mobile"))
    {
        DeviceKind::Tablet
    } else if either("iphone") || either("ipod") || either("android") || ua.contains("mobile") {
        DeviceKind::Phone
    } else if [
        "windows",
        "macintosh",
        "mac os",
        "macos",
        "linux",
        "x11",
        "cros",
        "chromeos",
    ]
    .iter()
    .any(|os| either(os))
    {
        DeviceKind::Desktop
    } else {
        DeviceKind::Other
    }
}

/// Orders a device list as people scan it: this device first, then the
/// online ones, then by last activity, newest first. The order of equals is
/// kept (the server lists newest sign-ins first).
pub fn order_devices(sessions: &mut [Session]) {
    sessions.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then((b.online_tabs > 0).cmp(&(a.online_tabs > 0)))
            // RFC 3339 in UTC with one format: text order is time order.
            .then(b.last_seen_at.cmp(&a.last_seen_at))
    });
}

/// A fetched device list in [`order_devices`]' order; empty while loading
/// or on an error (the page says so beside it).
pub fn ordered_devices<E>(fetched: Option<Result<Vec<Session>, E>>) -> Vec<Session> {
    let mut list = fetched.and_then(Result::ok).unwrap_or_default();
    order_devices(&mut list);
    list
}

/// "Online · 2 tabs" or "Offline".
pub fn online_text(tabs: u32) -> String {
    match tabs {
        0 => "Offline".to_owned(),
        1 => "Online · 1 tab".to_owned(),
        n => format!("Online · {n} tabs"),
    }
}

/// A device's icon, hidden from assistive technology: the name beside it says
/// what it is.
#[component]
pub fn DeviceIcon(kind: DeviceKind) -> impl IntoView {
    view! { <span class="device-icon" data-kind=kind.as_str() aria-hidden="true" inner_html=kind.icon()></span> }
}

/// One session in a device list: icon, name, "This device", online badge,
/// where from, when signed in and last active; `children` are its buttons.
#[component]
pub fn DeviceItem(session: Session, children: Children) -> impl IntoView {
    let kind = device_kind(&session.device, &session.user_agent);
    let online = session.online_tabs > 0;
    view! {
        <li class="device" data-session-id=session.id.clone() data-current=session.current.to_string()>
            <DeviceIcon kind />
            <div class="device-main">
                <p class="device-name">
                    <span>{session.device.clone()}</span>
                    {session.current.then(|| view! { <span class="badge accent">"This device"</span> })}
                    <span class=if online { "badge online" } else { "badge" }>{online_text(session.online_tabs)}</span>
                </p>
                <p class="muted small device-meta">
                    <span>{session.ip.clone()}</span>
                    <span>"Signed in " <Time at=session.created_at.clone() /></span>
                    <span>
                        {if online {
                            view! { "Active now" }.into_any()
                        } else {
                            view! { "Last active " <Time at=session.last_seen_at.clone() /> }.into_any()
                        }}
                    </span>
                </p>
            </div>
            <div class="device-actions">{children()}</div>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    const ANDROID_PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
    const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";

    #[test]
    fn device_kinds_come_from_the_label_and_the_agent() {
        let cases = [
            ("Safari on iPhone", IPHONE, DeviceKind::Phone),
            ("Safari on iPad", IPAD, DeviceKind::Tablet),
            ("Chrome on Android", ANDROID_PHONE, DeviceKind::Phone),
            ("Chrome on Android", ANDROID_TABLET, DeviceKind::Tablet),
            ("Chrome on Linux", LINUX, DeviceKind::Desktop),
            ("Chrome on Windows 10", WINDOWS, DeviceKind::Desktop),
            ("Safari on macOS", MAC, DeviceKind::Desktop),
            ("curl", "curl/8.5.0", DeviceKind::Other),
            ("billing-job", "billing-job/2.1", DeviceKind::Other),
            ("Unknown device", "", DeviceKind::Other),
            // The label alone, when the agent was not kept.
            ("Safari on iPhone", "", DeviceKind::Phone),
            ("Firefox on Linux", "", DeviceKind::Desktop),
        ];
        for (label, agent, kind) in cases {
            assert_eq!(device_kind(label, agent), kind, "{label} / {agent}");
        }
    }

    #[test]
    fn every_icon_is_a_whole_svg() {
        for kind in [
            DeviceKind::Desktop,
            DeviceKind::Phone,
            DeviceKind::Tablet,
            DeviceKind::Other,
        ] {
            let icon = kind.icon();
            assert!(icon.starts_with("<svg viewBox=\"0 0 24 24\""), "{kind:?}");
            assert!(icon.ends_with("</svg>"), "{kind:?}");
            assert_eq!(icon.matches("<svg").count(), 1, "{kind:?}");
        }
    }

    fn session(id: &str, current: bool, tabs: u32, last_seen: &str) -> Session {
        Session {
            id: id.into(),
            user_id: "u_1".into(),
            username: "ana".into(),
            current,
            created_at: "2026-01-01T00:00:00Z".into(),
            last_seen_at: last_seen.into(),
            last_activity_at: last_seen.into(),
            ip: "127.0.0.1".into(),
            user_agent: String::new(),
            device: "Firefox on Linux".into(),
            online_tabs: tabs,
            idle_expires_at: None,
            absolute_expires_at: None,
        }
    }

    #[test]
    fn this_device_comes_first_then_online_then_recent() {
        let mut list = vec![
            session("old", false, 0, "2026-01-01T08:00:00Z"),
            session("recent", false, 0, "2026-01-01T10:00:00Z"),
            session("online", false, 2, "2026-01-01T07:00:00Z"),
            session("this", true, 1, "2026-01-01T06:00:00Z"),
        ];
        order_devices(&mut list);
        let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["this", "online", "recent", "old"]);
    }

    #[test]
    fn online_badges_count_tabs() {
        assert_eq!(online_text(0), "Offline");
        assert_eq!(online_text(1), "Online · 1 tab");
        assert_eq!(online_text(3), "Online · 3 tabs");
    }
}
