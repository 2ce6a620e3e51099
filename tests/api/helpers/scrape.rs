//! A node's Prometheus metrics (`BOUNCER_METRICS_ADDR`), scraped and read.

use std::collections::HashMap;

/// One scrape: each sample by its name and labels as written
/// (`bouncer_logins_total{outcome="signed_in"}`).
#[derive(Debug)]
pub struct Metrics {
    samples: HashMap<String, f64>,
    /// The text as scraped, for a failing assertion's message.
    pub text: String,
}

impl Metrics {
    /// Scrapes `GET /metrics` on the loopback `port`.
    pub async fn scrape(port: u16) -> Metrics {
        let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .expect("the metrics answer");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().expect("ASCII");
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        Metrics::parse(response.text().await.expect("a body"))
    }

    /// Reads the exposition format's sample lines (`# …` lines are comments).
    pub fn parse(text: String) -> Metrics {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample line");
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    value => value.parse().expect("a number"),
                };
                (series.to_owned(), value)
            })
            .collect();
        Metrics { samples, text }
    }

    /// A sample's value, 0 when the series is absent (a counter not yet
    /// moved). `labels` as written between the braces, in their order.
    pub fn value(&self, name: &str, labels: &str) -> f64 {
        let series = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{labels}}}")
        };
        self.samples.get(&series).copied().unwrap_or(0.0)
    }

    /// Whether the scrape holds any series of `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples
            .keys()
            .any(|series| series == name || series.starts_with(&format!("{name}{{")))
    }
}
