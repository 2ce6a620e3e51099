//! Latency samples: percentiles, and SVG charts (latency distributions, and
//! a value over time).

use std::{fmt::Write, time::Duration};

use serde::{Deserialize, Serialize};

/// Latencies of one benchmark, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Samples {
    pub name: String,
    #[serde(serialize_with = "short_decimals")]
    sorted_ms: Vec<f64>,
}

/// Stores numbers with at most three decimals (a microsecond, for
/// milliseconds): such a short decimal reads back as exactly the number
/// written, so rewriting the data file changes nothing.
pub fn short_decimals<S: serde::Serializer>(values: &[f64], to: S) -> Result<S::Ok, S::Error> {
    to.collect_seq(values.iter().map(|v| (v * 1e3).round() / 1e3))
}

impl Samples {
    pub fn new(name: impl Into<String>, latencies: &[Duration]) -> Self {
        // Whole microseconds, as the data file keeps them (`short_decimals`),
        // so a summary reads the same now and when the report is rewritten.
        let mut sorted_ms: Vec<f64> = latencies
            .iter()
            .map(|d| d.as_micros() as f64 / 1e3)
            .collect();
        sorted_ms.sort_by(f64::total_cmp);
        Samples {
            name: name.into(),
            sorted_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.sorted_ms.len()
    }

    /// The `p`th percentile (nearest rank), in ms.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.sorted_ms.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.sorted_ms.len() as f64).ceil() as usize;
        self.sorted_ms[rank.clamp(1, self.sorted_ms.len()) - 1]
    }

    pub fn max(&self) -> f64 {
        self.sorted_ms.last().copied().unwrap_or(f64::NAN)
    }

    /// `p50 0.41 ms · p99 1.9 ms · max 3.2 ms (n = 1000)`
    pub fn summary(&self) -> String {
        format!(
            "p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms (n = {})",
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.max(),
            self.len()
        )
    }
}

/// An SVG chart: one cumulative distribution line per sample set, latency on
/// a logarithmic x axis (0.05 ms to 100 ms), share of samples on the y axis.
pub fn cdf_svg(series: &[Samples]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 360.0;
    const LEFT: f64 = 60.0;
    const BOTTOM: f64 = 40.0;
    const TOP: f64 = 20.0;
    const RIGHT: f64 = 20.0;
    let (lo, hi) = (0.05_f64.log10(), 100_f64.log10());
    let x = |ms: f64| LEFT + (ms.clamp(0.05, 100.0).log10() - lo) / (hi - lo) * (W - LEFT - RIGHT);
    let y = |share: f64| TOP + (1.0 - share) * (H - TOP - BOTTOM);
    let colours = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    for tick in [0.1, 1.0, 10.0, 100.0] {
        let px = x(tick);
        let _ = write!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{tick} ms</text>"##,
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
    }
    for share in [0.0, 0.5, 0.9, 0.99, 1.0] {
        let py = y(share);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}%</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            share * 100.0
        );
    }
    for (i, samples) in series.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let n = samples.sorted_ms.len().max(1) as f64;
        let mut points = String::new();
        for (k, ms) in samples.sorted_ms.iter().enumerate() {
            let _ = write!(points, "{:.1},{:.1} ", x(*ms), y((k + 1) as f64 / n));
        }
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>"#
        );
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
            LEFT + 10.0,
            TOP + 16.0 + 16.0 * i as f64,
            escape(&samples.name)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">latency (log scale); line = share of samples at or below</text></svg>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 6.0
    );
    svg
}

/// A line chart of one series over time: `points` are (minutes, value),
/// both axes linear from 0, time to the last point, values to a round
/// maximum.
pub fn line_svg(caption: &str, unit: &str, points: &[(f64, f64)]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 360.0;
    const LEFT: f64 = 70.0;
    const BOTTOM: f64 = 40.0;
    const TOP: f64 = 30.0;
    const RIGHT: f64 = 20.0;
    let x_max = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-9);
    let y_max = round_up(points.iter().map(|p| p.1).fold(0.0, f64::max));
    let x = |v: f64| LEFT + v / x_max * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - v / y_max) * (H - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    for k in 0..=4 {
        let value = y_max * f64::from(k) / 4.0;
        let py = y(value);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{} {unit}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            trim_number(value)
        );
        let minutes = x_max * f64::from(k) / 4.0;
        let px = x(minutes);
        let _ = write!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{} min</text>"##,
            H - BOTTOM,
            H - BOTTOM + 16.0,
            trim_number(minutes)
        );
    }
    let mut line = String::new();
    for (minutes, value) in points {
        let _ = write!(line, "{:.1},{:.1} ", x(*minutes), y(*value));
    }
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{line}"/>"##
    );
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" fill="#2563eb">{}</text></svg>"##,
        LEFT + 10.0,
        TOP - 10.0,
        escape(caption)
    );
    svg
}

/// The smallest 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ at or above `value`
/// (1 for nothing).
fn round_up(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10_f64.powf(value.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

/// `2.5` as `2.5`, `200.0` as `200`.
fn trim_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let latencies: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let samples = Samples::new("x", &latencies);
        assert_eq!(samples.percentile(50.0), 50.0);
        assert_eq!(samples.percentile(99.0), 99.0);
        assert_eq!(samples.max(), 100.0);
        assert!(cdf_svg(&[samples]).starts_with("<svg"));
    }

    #[test]
    fn line_charts_scale_to_a_round_maximum() {
        assert_eq!(round_up(183.0), 200.0);
        assert_eq!(round_up(259.2), 300.0);
        assert_eq!(round_up(10.0), 10.0);
        assert_eq!(round_up(0.35), 0.4);
        assert_eq!(trim_number(2.5), "2.5");
        assert_eq!(trim_number(200.0), "200");
        let svg = line_svg("RSS", "MB", &[(0.0, 150.0), (10.0, 183.0)]);
        assert!(svg.contains(">200 MB<"), "{svg}");
        assert!(svg.contains(">10 min<"), "{svg}");
    }
}
