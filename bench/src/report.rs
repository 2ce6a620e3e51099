//! BENCHMARKS.md: the machine, a table of figures against their targets, each
//! with the command that produced it, and the latency chart.

use std::{fmt::Write, path::Path};

use crate::stats::{cdf_svg, Samples};

/// One figure.
pub struct Row {
    number: String,
    name: String,
    target: String,
    result: String,
    met: Option<bool>,
    only: String,
}

impl Row {
    pub fn new(
        number: &str,
        name: impl Into<String>,
        target: &str,
        result: impl Into<String>,
        met: Option<bool>,
        only: &str,
    ) -> Row {
        Row {
            number: number.to_owned(),
            name: name.into(),
            target: target.to_owned(),
            result: result.into(),
            met,
            only: only.to_owned(),
        }
    }
}

pub struct Report {
    smoke: bool,
    rows: Vec<Row>,
    charts: Vec<Samples>,
    lost: usize,
}

impl Report {
    pub fn new(smoke: bool) -> Report {
        Report {
            smoke,
            rows: Vec::new(),
            charts: Vec::new(),
            lost: 0,
        }
    }

    pub fn row(&mut self, row: Row) {
        println!("{} {}: {}", row.number, row.name, row.result);
        self.rows.push(row);
    }

    pub fn skipped(&mut self, number: &str, name: &str, why: &str) {
        self.row(Row::new(
            number,
            name,
            "",
            format!("not run: {why}"),
            None,
            "",
        ));
    }

    pub fn chart(&mut self, samples: Samples) {
        self.charts.push(samples);
    }

    /// Records tabs that were never told: a failure at any scale.
    pub fn lost_messages(&mut self, lost: usize) {
        self.lost += lost;
    }

    pub fn lost(&self) -> bool {
        self.lost > 0
    }

    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        let svg_name = out
            .file_stem()
            .map(|stem| format!("{}-latency.svg", stem.to_string_lossy().to_lowercase()))
            .unwrap_or_else(|| "latency.svg".to_owned());
        let svg_path = out.with_file_name(&svg_name);
        std::fs::write(&svg_path, cdf_svg(&self.charts))?;
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Written by `scripts/bench.sh` ({}). Every figure below comes from one run of it \
             on the machine described here; each row names the command that re-runs just that \
             benchmark. Latencies are measured by the load generator \
             (`bench/`, tokio-tungstenite) in its own process on the same machine.\n",
            if self.smoke {
                "smoke scale: targets are not judged"
            } else {
                "full scale"
            }
        );
        let _ = writeln!(md, "## Machine\n\n{}\n", machine());
        let _ = writeln!(md, "Measured at commit `{}`.\n", commit());
        let _ = writeln!(md, "## Figures\n");
        let _ = writeln!(md, "| # | benchmark | target | result | met | command |");
        let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
        for row in &self.rows {
            let met = match (self.smoke, row.met) {
                (true, _) | (_, None) => "–",
                (false, Some(true)) => "yes",
                (false, Some(false)) => "**no**",
            };
            let command = if row.only.is_empty() {
                String::new()
            } else {
                format!("`scripts/bench.sh --only {}`", row.only)
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                row.number, row.name, row.target, row.result, met, command
            );
        }
        let _ = writeln!(
            md,
            "\n## Latency distributions\n\n![Cumulative latency distributions]({svg_name})\n"
        );
        for samples in &self.charts {
            let _ = writeln!(md, "- {}: {}", samples.name, samples.summary());
        }
        std::fs::write(out, md)?;
        Ok(())
    }
}

/// The commit the benchmarked binaries were built from (`git describe`).
fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// CPU model, cores, memory and kernel, read from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {memory_gb:.0} GiB RAM, Linux {}; open files per process: {}",
        kernel.trim(),
        open_files_limit()
    )
}

fn open_files_limit() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
