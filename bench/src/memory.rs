//! A server's memory over time: its RSS sampled at a fixed interval in the
//! background, and the trend drawn from the samples.

use std::time::{Duration, Instant};

use tokio::{sync::watch, task::JoinHandle};

use crate::node;

/// One reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Since the sampler started.
    pub at: Duration,
    /// Resident set size, in bytes.
    pub rss: u64,
}

/// Samples a process's RSS until [`Sampler::finish`].
#[derive(Debug)]
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Reads process `pid`'s RSS now and every `every` after.
    pub fn start(pid: u32, every: Duration) -> Sampler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut samples = Vec::new();
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopped.changed() => break,
                }
                // A process that is gone has nothing left to measure.
                let Ok(rss) = node::rss_of(pid) else { break };
                samples.push(Sample {
                    at: started.elapsed(),
                    rss,
                });
            }
            if let Ok(rss) = node::rss_of(pid) {
                samples.push(Sample {
                    at: started.elapsed(),
                    rss,
                });
            }
            samples
        });
        Sampler { stop, task }
    }

    /// Stops sampling (after one last reading) and returns every sample.
    pub async fn finish(self) -> anyhow::Result<Vec<Sample>> {
        let _ = self.stop.send(true);
        Ok(self.task.await?)
    }
}

/// The largest RSS among `samples` (0 for none).
pub fn peak(samples: &[Sample]) -> u64 {
    samples.iter().map(|s| s.rss).max().unwrap_or(0)
}

/// The least-squares slope of RSS over time, in bytes per minute (0 for
/// fewer than two samples).
pub fn slope_per_minute(samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let minutes = |s: &Sample| s.at.as_secs_f64() / 60.0;
    let mean_x = samples.iter().map(minutes).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.rss as f64).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for sample in samples {
        let dx = minutes(sample) - mean_x;
        covariance += dx * (sample.rss as f64 - mean_y);
        variance += dx * dx;
    }
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

/// Bytes as megabytes (10⁶), for reports.
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_minute(minute: u64, rss: u64) -> Sample {
        Sample {
            at: Duration::from_secs(minute * 60),
            rss,
        }
    }

    #[test]
    fn the_slope_is_the_least_squares_fit() {
        let rising: Vec<Sample> = (0..10).map(|m| at_minute(m, 1_000 + 50 * m)).collect();
        assert!((slope_per_minute(&rising) - 50.0).abs() < 1e-9);
        let flat = [
            at_minute(0, 100),
            at_minute(1, 120),
            at_minute(2, 120),
            at_minute(3, 100),
        ];
        assert!(slope_per_minute(&flat).abs() < 1e-9);
        assert_eq!(slope_per_minute(&flat[..1]), 0.0);
        assert_eq!(peak(&flat), 120);
    }
}
