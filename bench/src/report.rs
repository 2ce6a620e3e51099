//! BENCHMARKS.md: the machine, a table of figures against their targets, each
//! with the command that produced it, the latency chart, and a section for
//! each benchmark that needs more than a row (chaos, soak, login flood).
//!
//! What a run measured is also kept in `benchmarks-data.json` beside the
//! report. A run of some benchmarks (`--only`) replaces theirs there and
//! keeps the others', so the report always shows every benchmark's latest
//! figures, each with the commit it was measured at; a full run replaces
//! everything.

use std::{
    collections::BTreeMap,
    fmt::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::stats::{cdf_svg, line_svg, Samples};

/// Every benchmark, in the report's order.
pub const BENCHMARKS: [&str; 13] = [
    "push",
    "end-user",
    "throughput",
    "two-nodes",
    "wasm",
    "chaos",
    "soak",
    "login-flood",
    "hostile",
    "idle",
    "forward-auth",
    "webhooks",
    "webhook-nodes",
];

/// One figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    number: String,
    name: String,
    target: String,
    result: String,
    met: Option<bool>,
    /// The benchmark (`--only` name) that measures it.
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

/// More than a row can say: a heading, Markdown, and maybe a chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Section {
    pub title: String,
    pub body: String,
    pub chart: Option<LineChart>,
}

/// A series over time, drawn as `<report>-<benchmark>.svg`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineChart {
    pub caption: String,
    pub unit: String,
    /// (minutes, value in `unit`).
    #[serde(serialize_with = "short_decimal_pairs")]
    pub points: Vec<(f64, f64)>,
}

/// Pairs with at most three decimals each (see [`crate::stats::short_decimals`]).
fn short_decimal_pairs<S: serde::Serializer>(
    pairs: &[(f64, f64)],
    to: S,
) -> Result<S::Ok, S::Error> {
    let short = |v: f64| (v * 1e3).round() / 1e3;
    to.collect_seq(pairs.iter().map(|(x, y)| (short(*x), short(*y))))
}

/// What one benchmark measured in one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    benchmark: String,
    commit: String,
    machine: String,
    smoke: bool,
    rows: Vec<Row>,
    charts: Vec<Samples>,
    sections: Vec<Section>,
    /// The benchmark could not run (no PostgreSQL, no wasm bundle): a
    /// partial run keeps earlier figures rather than this.
    #[serde(default)]
    skipped: bool,
}

/// The data file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    entries: Vec<Entry>,
}

#[derive(Debug)]
pub struct Report {
    smoke: bool,
    commit: String,
    machine: String,
    /// This run's benchmarks, in the order they ran.
    entries: Vec<Entry>,
    /// Why this run must fail (lost messages, spurious endings…), whatever
    /// the scale.
    failures: Vec<String>,
}

impl Report {
    /// A report to be written to `out`.
    pub fn new(smoke: bool, out: &Path) -> Report {
        Report {
            smoke,
            commit: commit(out),
            machine: machine(),
            entries: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn entry(&mut self, benchmark: &str) -> &mut Entry {
        let index = match self.entries.iter().position(|e| e.benchmark == benchmark) {
            Some(index) => index,
            None => {
                self.entries.push(Entry {
                    benchmark: benchmark.to_owned(),
                    commit: self.commit.clone(),
                    machine: self.machine.clone(),
                    smoke: self.smoke,
                    rows: Vec::new(),
                    charts: Vec::new(),
                    sections: Vec::new(),
                    skipped: false,
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[index]
    }

    pub fn row(&mut self, row: Row) {
        println!("{} {}: {}", row.number, row.name, row.result);
        let benchmark = row.only.clone();
        self.entry(&benchmark).rows.push(row);
    }

    pub fn skipped(&mut self, benchmark: &str, number: &str, name: &str, why: &str) {
        self.row(Row::new(
            number,
            name,
            "",
            format!("not run: {why}"),
            None,
            benchmark,
        ));
        self.entry(benchmark).skipped = true;
    }

    pub fn chart(&mut self, benchmark: &str, samples: Samples) {
        self.entry(benchmark).charts.push(samples);
    }

    pub fn section(&mut self, benchmark: &str, section: Section) {
        self.entry(benchmark).sections.push(section);
    }

    /// Records tabs that were never told: a failure at any scale.
    pub fn lost_messages(&mut self, lost: usize) {
        if lost > 0 {
            self.fail(format!("{lost} tabs were never told of their ending"));
        }
    }

    /// Records why the run must fail, at any scale.
    pub fn fail(&mut self, why: String) {
        eprintln!("FAILED: {why}");
        self.failures.push(why);
    }

    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Writes the report to `out`, its charts and data file beside it. With
    /// `keep_others`, benchmarks this run did not measure, or could not run,
    /// keep their figures from the data file (or, for a report written
    /// before there was one, their rows from the report itself).
    pub fn write(&self, out: &Path, keep_others: bool) -> anyhow::Result<()> {
        let files = Files::beside(out);
        let mut entries: Vec<Entry> = if keep_others {
            previous_entries(out, &files.data)?
                .into_iter()
                .filter(|old| old.smoke == self.smoke)
                .collect()
        } else {
            Vec::new()
        };
        for new in &self.entries {
            let old = entries.iter().position(|e| e.benchmark == new.benchmark);
            match old {
                // Earlier figures beat "not run this time".
                Some(_) if new.skipped => {}
                Some(old) => entries[old] = new.clone(),
                None => entries.push(new.clone()),
            }
        }
        entries.sort_by_key(|e| {
            BENCHMARKS
                .iter()
                .position(|b| *b == e.benchmark)
                .unwrap_or(BENCHMARKS.len())
        });

        let charts: Vec<Samples> = entries.iter().flat_map(|e| e.charts.clone()).collect();
        if !charts.is_empty() {
            std::fs::write(&files.latency_svg, cdf_svg(&charts))?;
        }
        for entry in &entries {
            for section in &entry.sections {
                if let Some(chart) = &section.chart {
                    std::fs::write(
                        files.section_svg(&entry.benchmark),
                        line_svg(&chart.caption, &chart.unit, &chart.points),
                    )?;
                }
            }
        }
        std::fs::write(out, render(&entries, &charts, &files, self.smoke))?;
        let stored = serde_json::to_string_pretty(&Stored { entries })?;
        std::fs::write(&files.data, stored + "\n")
            .with_context(|| format!("Failed to write {}", files.data.display()))?;
        Ok(())
    }
}

/// The files written beside `BENCHMARKS.md`, named after it.
struct Files {
    /// `benchmarks` for `BENCHMARKS.md`.
    stem: String,
    latency_svg: PathBuf,
    data: PathBuf,
    dir: PathBuf,
}

impl Files {
    fn beside(out: &Path) -> Files {
        let stem = out
            .file_stem()
            .map(|stem| stem.to_string_lossy().to_lowercase())
            .unwrap_or_else(|| "benchmarks".to_owned());
        Files {
            latency_svg: out.with_file_name(format!("{stem}-latency.svg")),
            data: out.with_file_name(format!("{stem}-data.json")),
            dir: out.parent().map(Path::to_owned).unwrap_or_default(),
            stem,
        }
    }

    fn name(path: &Path) -> String {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn section_svg(&self, benchmark: &str) -> PathBuf {
        self.dir.join(format!("{}-{benchmark}.svg", self.stem))
    }
}

/// What earlier runs measured: the data file, or the rows of a report that
/// predates it, or nothing.
fn previous_entries(out: &Path, data: &Path) -> anyhow::Result<Vec<Entry>> {
    match std::fs::read_to_string(data) {
        Ok(text) => {
            let stored: Stored = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a benchmark data file (remove it, or run every benchmark)",
                    data.display()
                )
            })?;
            Ok(stored.entries)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::read_to_string(out) {
            Ok(markdown) => Ok(entries_from_markdown(&markdown)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("Failed to read {}", out.display())),
        },
        Err(e) => Err(e).with_context(|| format!("Failed to read {}", data.display())),
    }
}

/// The rows of a report written before the data file existed, one entry per
/// benchmark (their latency samples were not kept, so they have no chart).
fn entries_from_markdown(markdown: &str) -> Vec<Entry> {
    let commit = markdown
        .lines()
        .find_map(|l| l.strip_prefix("Measured at commit `"))
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("unknown")
        .to_owned();
    let machine = markdown
        .split("## Machine\n\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default()
        .to_owned();
    let smoke = markdown.contains("(smoke scale");
    let mut entries: Vec<Entry> = Vec::new();
    for line in markdown.lines() {
        let Some(inner) = line.strip_prefix("| ").and_then(|l| l.strip_suffix(" |")) else {
            continue;
        };
        let cells: Vec<&str> = inner.split(" | ").collect();
        let [number, name, target, result, met, command] = cells[..] else {
            continue;
        };
        let Some(benchmark) = command
            .strip_prefix("`scripts/bench.sh --only ")
            .and_then(|rest| rest.strip_suffix('`'))
        else {
            continue;
        };
        let row = Row::new(
            number,
            name,
            target,
            result,
            match met {
                "yes" => Some(true),
                "**no**" => Some(false),
                _ => None,
            },
            benchmark,
        );
        match entries.iter_mut().find(|e| e.benchmark == benchmark) {
            Some(entry) => entry.rows.push(row),
            None => entries.push(Entry {
                benchmark: benchmark.to_owned(),
                commit: commit.clone(),
                machine: machine.clone(),
                smoke,
                rows: vec![row],
                charts: Vec::new(),
                sections: Vec::new(),
                skipped: false,
            }),
        }
    }
    entries
}

fn render(entries: &[Entry], charts: &[Samples], files: &Files, smoke: bool) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `scripts/bench.sh` ({}). Each benchmark's figures come from its latest \
         run on the machine described here; each row names the command that re-runs just \
         that benchmark (the others keep their figures). Latencies are measured by the load \
         generator (`bench/`, tokio-tungstenite) in its own process on the same machine.\n",
        if smoke {
            "smoke scale: targets are not judged"
        } else {
            "full scale"
        }
    );
    let _ = writeln!(
        md,
        "## Machine\n\n{}\n",
        grouped(entries, |e| e.machine.clone())
    );
    let _ = writeln!(
        md,
        "Measured at commit {}.\n",
        grouped(entries, |e| format!("`{}`", e.commit))
    );
    let _ = writeln!(md, "## Figures\n");
    let _ = writeln!(md, "| # | benchmark | target | result | met | command |");
    let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
    for row in entries.iter().flat_map(|e| &e.rows) {
        let met = match (smoke, row.met) {
            (true, _) | (_, None) => "–",
            (false, Some(true)) => "yes",
            (false, Some(false)) => "**no**",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            row.number,
            row.name,
            row.target,
            row.result,
            met,
            command(&row.only)
        );
    }
    if !charts.is_empty() {
        let _ = writeln!(
            md,
            "\n## Latency distributions\n\n![Cumulative latency distributions]({})\n",
            Files::name(&files.latency_svg)
        );
        for samples in charts {
            let _ = writeln!(md, "- {}: {}", samples.name, samples.summary());
        }
    }
    for entry in entries {
        for section in &entry.sections {
            let _ = writeln!(md, "\n## {}\n", section.title);
            let _ = writeln!(md, "{}\n", section.body.trim_end());
            if let Some(chart) = &section.chart {
                let _ = writeln!(
                    md,
                    "![{}]({})\n",
                    chart.caption,
                    Files::name(&files.section_svg(&entry.benchmark))
                );
            }
            let _ = writeln!(
                md,
                "Measured at commit `{}` with {}.",
                entry.commit,
                command(&entry.benchmark)
            );
        }
    }
    md
}

fn command(benchmark: &str) -> String {
    format!("`scripts/bench.sh --only {benchmark}`")
}

/// `abc` when every entry agrees, else `abc (push, wasm); def (chaos)`.
fn grouped(entries: &[Entry], field: impl Fn(&Entry) -> String) -> String {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for entry in entries {
        groups
            .entry(field(entry))
            .or_default()
            .push(&entry.benchmark);
    }
    if groups.len() <= 1 {
        return groups
            .into_keys()
            .next()
            .unwrap_or_else(|| "unknown".to_owned());
    }
    groups
        .iter()
        .map(|(value, benchmarks)| format!("{value} ({})", benchmarks.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The commit the benchmarked binaries were built from (`git describe`),
/// `-dirty` when a tracked file differs from it. The report's own files
/// (`out` and what is written beside it) do not count: a partial run starts
/// from a report an earlier run just rewrote.
fn commit(out: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let Some(described) = git(&["describe", "--always"]) else {
        return "unknown".to_owned();
    };
    let files = Files::beside(out);
    let report = format!(":(exclude){}", out.display());
    let beside = format!(
        ":(exclude,glob){}",
        files.dir.join(format!("{}-*", files.stem)).display()
    );
    let changed = git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ":/",
        &report,
        &beside,
    ]);
    match changed {
        Some(changed) if changed.is_empty() => described,
        _ => format!("{described}-dirty"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report_with(benchmark: &str, result: &str) -> Report {
        let mut report = Report::new(false, Path::new("BENCHMARKS.md"));
        report.row(Row::new(
            "1",
            "a figure",
            "fast",
            result,
            Some(true),
            benchmark,
        ));
        report
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "bouncer-bench-report-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir.join("BENCHMARKS.md")
    }

    #[test]
    fn a_partial_run_keeps_the_other_benchmarks_figures() {
        let out = scratch("merge");
        report_with("push", "push figure 1")
            .write(&out, false)
            .expect("written");
        report_with("chaos", "chaos figure")
            .write(&out, true)
            .expect("written");
        report_with("push", "push figure 2")
            .write(&out, true)
            .expect("written");
        let markdown = std::fs::read_to_string(&out).expect("read");
        assert!(markdown.contains("push figure 2"), "{markdown}");
        assert!(markdown.contains("chaos figure"), "{markdown}");
        assert!(!markdown.contains("push figure 1"), "{markdown}");
        // Push comes first, whatever the order of the runs.
        assert!(
            markdown.find("push figure").expect("push") < markdown.find("chaos").expect("chaos")
        );

        // A benchmark that could not run keeps its earlier figures.
        let mut skipped = Report::new(false, &out);
        skipped.skipped("chaos", "8", "Chaos run", "no TEST_DATABASE_URL");
        skipped.write(&out, true).expect("written");
        let markdown = std::fs::read_to_string(&out).expect("read");
        assert!(markdown.contains("chaos figure") && !markdown.contains("not run"));

        // A full run replaces everything.
        report_with("soak", "soak figure")
            .write(&out, false)
            .expect("written");
        let markdown = std::fs::read_to_string(&out).expect("read");
        assert!(markdown.contains("soak figure") && !markdown.contains("chaos figure"));
    }

    #[test]
    fn rewriting_the_report_changes_nothing() {
        let out = scratch("rewrite");
        let mut report = report_with("chaos", "chaos figure");
        let latencies: Vec<std::time::Duration> = (1..200)
            .map(|k| std::time::Duration::from_nanos(1_234_567 * k))
            .collect();
        report.chart("chaos", Samples::new("told", &latencies));
        report.write(&out, false).expect("written");
        let data = out.with_file_name("benchmarks-data.json");
        let first = std::fs::read_to_string(&data).expect("read");
        Report::new(false, &out)
            .write(&out, true)
            .expect("rewritten");
        assert_eq!(std::fs::read_to_string(&data).expect("read"), first);
    }

    #[test]
    fn a_section_comes_with_its_chart_and_command() {
        let out = scratch("section");
        let mut report = report_with("soak", "soak figure");
        report.section(
            "soak",
            Section {
                title: "Soak".to_owned(),
                body: "What was done.".to_owned(),
                chart: Some(LineChart {
                    caption: "RSS".to_owned(),
                    unit: "MB".to_owned(),
                    points: vec![(0.0, 100.0), (10.0, 101.0)],
                }),
            },
        );
        report.write(&out, false).expect("written");
        let markdown = std::fs::read_to_string(&out).expect("read");
        assert!(
            markdown.contains(
                "## Soak\n\nWhat was done.\n\n![RSS](benchmarks-soak.svg)\n\n\
                 Measured at commit `"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("with `scripts/bench.sh --only soak`."),
            "{markdown}"
        );
        let svg = std::fs::read_to_string(out.with_file_name("benchmarks-soak.svg")).expect("svg");
        assert!(svg.starts_with("<svg"));
    }

    #[test]
    fn a_report_without_a_data_file_gives_up_its_rows() {
        let out = scratch("legacy");
        std::fs::write(
            &out,
            "# Benchmarks\n\n## Machine\n\nA CPU, 2 cores\n\nMeasured at commit `967af97`.\n\n\
             ## Figures\n\n| # | benchmark | target | result | met | command |\n\
             | --- | --- | --- | --- | --- | --- |\n\
             | 4 | End one user | ≤ 10 ms | median 0.62 ms | yes | `scripts/bench.sh --only end-user` |\n\
             | 7 | Wasm | ≤ 250 KB gzip | 484556 B gzip | **no** | `scripts/bench.sh --only wasm` |\n",
        )
        .expect("written");
        report_with("chaos", "chaos figure")
            .write(&out, true)
            .expect("written");
        let markdown = std::fs::read_to_string(&out).expect("read");
        assert!(
            markdown.contains(
                "| 4 | End one user | ≤ 10 ms | median 0.62 ms | yes | `scripts/bench.sh --only end-user` |"
            ),
            "{markdown}"
        );
        assert!(markdown.contains("| **no** |"), "{markdown}");
        assert!(
            markdown.contains("`967af97` (end-user, wasm)"),
            "{markdown}"
        );
        assert!(markdown.contains("chaos figure"), "{markdown}");
    }
}
