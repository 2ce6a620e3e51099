//! Times as people read them: "5 min ago" in the page, the exact time in the
//! browser's time zone on hover (`<time datetime title>`).
//!
//! The server does not know the reader's time zone or clock, so it renders
//! the absolute UTC time ([`human_time`]); the browser hydrates that same text
//! and, once the whole page has hydrated, [`Clock`]
//! starts ticking and every [`Time`] switches to the relative form.
//! Hydration therefore always matches.

use leptos::prelude::*;

/// The browser's clock for the page, shared by every [`Time`] and the idle
/// countdown. Zero until the page is live in a browser (and always on the
/// server), which means "unknown": show absolute times.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Milliseconds since the epoch, updated every second.
    pub now: RwSignal<f64>,
    /// [`Clock::now`] rounded down to ten seconds, so relative times (which
    /// change at most once a minute) do not re-render every second.
    coarse: Memo<f64>,
}

impl Clock {
    /// Creates the page's clock; in the browser it starts once the whole
    /// page has hydrated (see [`crate::hydration`]): a relative time computed
    /// while a lazy page was still hydrating would never replace the absolute
    /// one the server wrote, until its text next changed.
    pub fn provide() -> Clock {
        let now = RwSignal::new(0.0_f64);
        let coarse = Memo::new(move |_| (now.get() / 10_000.0).floor() * 10_000.0);
        #[cfg(feature = "hydrate")]
        crate::hydration::when_hydrated(move || {
            let tick = move || now.set(js_sys::Date::now());
            tick();
            // The clock runs as long as the page: it is never cleared.
            let _ = set_interval_with_handle(tick, std::time::Duration::from_secs(1));
        });
        let clock = Clock { now, coarse };
        provide_context(clock);
        clock
    }

    /// The page's clock; a stopped one where none was provided (a component
    /// rendered on its own), which shows absolute times.
    pub fn get() -> Clock {
        use_context::<Clock>().unwrap_or_else(|| {
            let now = RwSignal::new(0.0);
            Clock {
                now,
                coarse: Memo::new(move |_| now.get()),
            }
        })
    }

    /// The time in ms, at ten-second precision; `None` while unknown.
    fn coarse_now(&self) -> Option<f64> {
        Some(self.coarse.get()).filter(|now| *now > 0.0)
    }
}

/// Formats an API timestamp (`2026-11-21T19:38:16Z`) for people:
/// `21 Nov 2026, 19:38 UTC`. Deterministic, so server and browser render the
/// same text and hydration matches.
pub fn human_time(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts = (
        rfc3339.get(0..4),
        rfc3339.get(5..7),
        rfc3339.get(8..10),
        rfc3339.get(11..16),
    );
    match parts {
        (Some(year), Some(month), Some(day), Some(clock)) => {
            let month = month
                .parse::<usize>()
                .ok()
                .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
            match (month, day.parse::<u8>()) {
                (Some(month), Ok(day)) => format!("{day} {month} {year}, {clock} UTC"),
                _ => rfc3339.to_owned(),
            }
        }
        _ => rfc3339.to_owned(),
    }
}

/// How long ago something happened, `elapsed_ms` before now: "just now",
/// "5 min ago", "3 h ago", "yesterday", "4 days ago", "2 months ago". A time
/// slightly in the future (another machine's clock) reads "just now".
pub fn ago(elapsed_ms: f64) -> String {
    const MINUTE: f64 = 60_000.0;
    const HOUR: f64 = 60.0 * MINUTE;
    const DAY: f64 = 24.0 * HOUR;
    let whole = |unit: f64| (elapsed_ms / unit).floor() as u64;
    if !elapsed_ms.is_finite() || elapsed_ms < MINUTE {
        "just now".to_owned()
    } else if elapsed_ms < HOUR {
        format!("{} min ago", whole(MINUTE))
    } else if elapsed_ms < DAY {
        format!("{} h ago", whole(HOUR))
    } else if elapsed_ms < 2.0 * DAY {
        "yesterday".to_owned()
    } else if elapsed_ms < 60.0 * DAY {
        format!("{} days ago", whole(DAY))
    } else if elapsed_ms < 365.0 * DAY {
        format!("{} months ago", whole(30.0 * DAY))
    } else {
        "over a year ago".to_owned()
    }
}

/// Milliseconds since the epoch of an API timestamp, in the browser.
#[cfg(feature = "hydrate")]
fn epoch_ms(rfc3339: &str) -> Option<f64> {
    Some(js_sys::Date::parse(rfc3339)).filter(|ms| ms.is_finite())
}

/// The exact time in the browser's time zone and with its name, such as
/// `29 Nov 2026, 15:55 GMT+1`.
#[cfg(feature = "hydrate")]
fn local_exact(ms: f64) -> String {
    use wasm_bindgen::JsValue;

    let options = js_sys::Object::new();
    for (key, value) in [
        ("day", "numeric"),
        ("month", "short"),
        ("year", "numeric"),
        ("hour", "2-digit"),
        ("minute", "2-digit"),
        ("timeZoneName", "short"),
    ] {
        let _ = js_sys::Reflect::set(&options, &JsValue::from_str(key), &JsValue::from_str(value));
    }
    js_sys::Date::new(&JsValue::from_f64(ms))
        .to_locale_string("en-GB", &options)
        .into()
}

/// What a [`Time`] shows: `(text, exact)`. Absolute UTC while the clock is
/// unknown (on the server and during hydration), then relative.
fn time_texts(at: &str, now: Option<f64>) -> (String, String) {
    #[cfg(feature = "hydrate")]
    if let (Some(now), Some(then)) = (now, epoch_ms(at)) {
        return (ago(now - then), local_exact(then));
    }
    let _ = now;
    let absolute = human_time(at);
    (absolute.clone(), absolute)
}

/// `<time datetime=… title=(exact, local)>5 min ago</time>`.
#[component]
pub fn Time(
    /// An API timestamp (RFC 3339, UTC).
    at: String,
) -> impl IntoView {
    let clock = Clock::get();
    let texts = {
        let at = at.clone();
        Memo::new(move |_| time_texts(&at, clock.coarse_now()))
    };
    view! {
        <time datetime=at title=move || texts.with(|(_, exact)| exact.clone())>
            {move || texts.with(|(text, _)| text.clone())}
        </time>
    }
}

#[cfg(test)]
mod tests {
    use super::{ago, human_time, time_texts};

    #[test]
    fn timestamps_read_like_dates() {
        assert_eq!(human_time("2026-11-21T19:38:16Z"), "21 Nov 2026, 19:38 UTC");
        assert_eq!(human_time("2026-01-05T07:08:09Z"), "5 Jan 2026, 07:08 UTC");
        assert_eq!(human_time("garbage"), "garbage");
        assert_eq!(human_time("2026-13-05T07:08:09Z"), "2026-13-05T07:08:09Z");
    }

    #[test]
    fn elapsed_times_read_like_people_say_them() {
        let minute = 60_000.0;
        let cases = [
            (-5_000.0, "just now"),
            (0.0, "just now"),
            (59_999.0, "just now"),
            (minute, "1 min ago"),
            (5.0 * minute + 30_000.0, "5 min ago"),
            (59.0 * minute, "59 min ago"),
            (60.0 * minute, "1 h ago"),
            (23.0 * 60.0 * minute, "23 h ago"),
            (25.0 * 60.0 * minute, "yesterday"),
            (3.0 * 24.0 * 60.0 * minute, "3 days ago"),
            (90.0 * 24.0 * 60.0 * minute, "3 months ago"),
            (400.0 * 24.0 * 60.0 * minute, "over a year ago"),
            (f64::NAN, "just now"),
        ];
        for (elapsed, text) in cases {
            assert_eq!(ago(elapsed), text, "{elapsed} ms");
        }
    }

    #[test]
    fn the_server_renders_the_absolute_time_for_hydration() {
        let at = "2026-11-21T19:38:16Z";
        let expected = "21 Nov 2026, 19:38 UTC".to_owned();
        assert_eq!(time_texts(at, None), (expected.clone(), expected.clone()));
        // Outside a browser there is no clock to be relative to.
        assert_eq!(time_texts(at, Some(1.0)), (expected.clone(), expected));
    }
}
