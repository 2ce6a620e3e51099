//! Latency samples: percentiles, and an SVG chart of their distributions.

use std::{fmt::Write, time::Duration};

/// Latencies of one benchmark, in milliseconds.
#[derive(Debug, Clone)]
pub struct Samples {
    pub name: String,
    sorted_ms: Vec<f64>,
}

impl Samples {
    pub fn new(name: impl Into<String>, latencies: &[Duration]) -> Self {
        let mut sorted_ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
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
}
