//! The benchmark report: every figure with its baseline, ratio and target,
//! written as a Markdown table (`report.md`) and as JSON (`report.json`).
//!
//! A figure whose measurement failed is NaN, which JSON writes as `null`
//! and the check in [`Report::missing_figures`] rejects, so a broken
//! benchmark cannot pass as a good one.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde::Serialize;

use super::{system::Machine, Benchmark};

/// The number of a figure that its target bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Value,
    /// The value divided by the baseline.
    Ratio,
}

/// The direction of a target: an upper or a lower bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    AtMost,
    AtLeast,
}

/// The goal a figure is held against.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Target {
    pub subject: Subject,
    pub bound: Bound,
    pub limit: f64,
}

impl Target {
    pub fn value_at_most(limit: f64) -> Self {
        Self {
            subject: Subject::Value,
            bound: Bound::AtMost,
            limit,
        }
    }

    pub fn value_at_least(limit: f64) -> Self {
        Self {
            subject: Subject::Value,
            bound: Bound::AtLeast,
            limit,
        }
    }

    pub fn ratio_at_most(limit: f64) -> Self {
        Self {
            subject: Subject::Ratio,
            bound: Bound::AtMost,
            limit,
        }
    }

    /// Whether `figure` meets the target; `None` when the bounded number is
    /// not finite.
    fn met(&self, figure: &Figure) -> Option<bool> {
        let number = match self.subject {
            Subject::Value => figure.value,
            Subject::Ratio => figure.ratio(),
        };
        if !number.is_finite() {
            return None;
        }
        Some(match self.bound {
            Bound::AtMost => number <= self.limit,
            Bound::AtLeast => number >= self.limit,
        })
    }

    /// The target as the report prints it, such as `ratio ≤ 1.10`.
    fn describe(&self, unit: &str) -> String {
        let sign = match self.bound {
            Bound::AtMost => "≤",
            Bound::AtLeast => "≥",
        };
        match self.subject {
            Subject::Value => format!("{sign} {} {unit}", format_number(self.limit)),
            Subject::Ratio => format!("ratio {sign} {:.2}", self.limit),
        }
    }
}

/// The reference a figure is divided by, measured in the same run.
#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    /// What the baseline measures, in a few words.
    pub label: String,
    pub value: f64,
}

/// One measured number.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// Stable identifier, the same in every run (`capture-cost.sensor-cost`).
    pub id: String,
    /// What the number is, for the table.
    pub label: String,
    pub unit: String,
    /// Median over the rounds.
    pub value: f64,
    pub baseline: Option<Baseline>,
    pub target: Option<Target>,
}

impl Figure {
    pub fn new(id: &str, label: &str, unit: &str, value: f64) -> Self {
        Self {
            id: id.to_owned(),
            label: label.to_owned(),
            unit: unit.to_owned(),
            value,
            baseline: None,
            target: None,
        }
    }

    pub fn baseline(mut self, label: &str, value: f64) -> Self {
        self.baseline = Some(Baseline {
            label: label.to_owned(),
            value,
        });
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The value divided by the baseline, or NaN without a baseline.
    pub fn ratio(&self) -> f64 {
        match &self.baseline {
            Some(baseline) => self.value / baseline.value,
            None => f64::NAN,
        }
    }

    /// Whether every number the figure carries is finite.
    fn is_finite(&self) -> bool {
        self.value.is_finite()
            && self
                .baseline
                .as_ref()
                .is_none_or(|baseline| baseline.value.is_finite() && self.ratio().is_finite())
    }
}

/// What one benchmark produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub figures: Vec<Figure>,
    /// Observations worth keeping beside the figures, such as a rate the
    /// load generator could not reach.
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn push(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

/// How a benchmark ended.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum Status {
    Ok,
    Failed(String),
    /// Not run, and why.
    Skipped(String),
}

#[derive(Debug, Serialize)]
struct Section {
    benchmark: Benchmark,
    #[serde(flatten)]
    status: Status,
    seconds: f64,
    figures: Vec<Figure>,
    /// Figure ids the benchmark must produce; the check reports those absent.
    expected: Vec<&'static str>,
    notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RowJson<'a> {
    #[serde(flatten)]
    figure: &'a Figure,
    ratio: f64,
    met: Option<bool>,
}

/// The whole report of one `cargo xtask bench` run.
#[derive(Debug)]
pub struct Report {
    quick: bool,
    rounds: usize,
    machine: Machine,
    sections: Vec<Section>,
    notes: Vec<String>,
}

impl Report {
    pub fn new(quick: bool, rounds: usize, machine: Machine) -> Self {
        Self {
            quick,
            rounds,
            machine,
            sections: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a note about the run as a whole.
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub fn add(&mut self, benchmark: Benchmark, outcome: Outcome, seconds: f64) {
        self.sections.push(Section {
            benchmark,
            status: Status::Ok,
            seconds,
            figures: outcome.figures,
            expected: benchmark.figure_ids().to_vec(),
            notes: outcome.notes,
        });
    }

    pub fn fail(&mut self, benchmark: Benchmark, error: String, seconds: f64) {
        self.sections.push(Section {
            benchmark,
            status: Status::Failed(error),
            seconds,
            figures: Vec::new(),
            expected: benchmark.figure_ids().to_vec(),
            notes: Vec::new(),
        });
    }

    pub fn skip(&mut self, benchmark: Benchmark, reason: String) {
        self.sections.push(Section {
            benchmark,
            status: Status::Skipped(reason),
            seconds: 0.0,
            figures: Vec::new(),
            expected: benchmark.figure_ids().to_vec(),
            notes: Vec::new(),
        });
    }

    pub fn has_failures(&self) -> bool {
        self.sections
            .iter()
            .any(|section| matches!(section.status, Status::Failed(_)))
    }

    /// Figures that a benchmark which ran should have produced but did not,
    /// or produced with a non-finite number: `benchmark: figure id` each.
    pub fn missing_figures(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for section in &self.sections {
            if matches!(section.status, Status::Skipped(_)) {
                continue;
            }
            for id in &section.expected {
                let found = section.figures.iter().find(|figure| figure.id == *id);
                match found {
                    None => missing.push(format!("{}: {id} is missing", section.benchmark.name())),
                    Some(figure) if !figure.is_finite() => missing.push(format!(
                        "{}: {id} is not finite (value {}, ratio {})",
                        section.benchmark.name(),
                        figure.value,
                        figure.ratio()
                    )),
                    Some(_) => {}
                }
            }
        }
        missing
    }

    /// The report as a Markdown document.
    pub fn markdown(&self) -> String {
        let mut text = String::new();
        let machine = &self.machine;
        let _ = writeln!(text, "# ztapi benchmark report\n");
        let _ = writeln!(
            text,
            "Mode: {}, {} rounds of alternating runs; medians.  \nMachine: {} CPUs, {}, Linux {}, {}; load average at start {}.\n",
            if self.quick { "quick" } else { "full" },
            self.rounds,
            machine.cpus,
            machine.cpu_model,
            machine.kernel,
            machine.openssl,
            machine.load_average
        );
        let _ = writeln!(
            text,
            "| figure | value | baseline | ratio | target | met? |\n| --- | --- | --- | --- | --- | --- |"
        );
        for section in &self.sections {
            match &section.status {
                Status::Ok => {}
                Status::Failed(error) => {
                    let _ = writeln!(
                        text,
                        "| {}: FAILED: {} | | | | | |",
                        section.benchmark.name(),
                        escape(error)
                    );
                }
                Status::Skipped(reason) => {
                    let _ = writeln!(
                        text,
                        "| {}: skipped: {} | | | | | |",
                        section.benchmark.name(),
                        escape(reason)
                    );
                }
            }
            for figure in &section.figures {
                let _ = writeln!(text, "{}", row(figure));
            }
        }
        let notes: Vec<String> = self
            .notes
            .iter()
            .cloned()
            .chain(self.sections.iter().flat_map(|section| {
                section
                    .notes
                    .iter()
                    .map(|note| format!("{}: {note}", section.benchmark.name()))
            }))
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(text, "\nNotes:\n");
            for note in notes {
                let _ = writeln!(text, "- {note}");
            }
        }
        let timings: Vec<String> = self
            .sections
            .iter()
            .map(|section| format!("{} {:.0} s", section.benchmark.name(), section.seconds))
            .collect();
        let _ = writeln!(text, "\nDurations: {}.", timings.join(", "));
        text
    }

    /// The report as JSON; non-finite numbers become `null`.
    pub fn json(&self) -> serde_json::Value {
        let sections: Vec<serde_json::Value> = self
            .sections
            .iter()
            .map(|section| {
                let rows: Vec<RowJson> = section
                    .figures
                    .iter()
                    .map(|figure| RowJson {
                        figure,
                        ratio: figure.ratio(),
                        met: figure.target.and_then(|target| target.met(figure)),
                    })
                    .collect();
                let mut value = serde_json::to_value(section).unwrap_or_default();
                value["figures"] = serde_json::to_value(rows).unwrap_or_default();
                value
            })
            .collect();
        serde_json::json!({
            "quick": self.quick,
            "rounds": self.rounds,
            "machine": self.machine,
            "benchmarks": sections,
            "notes": self.notes,
            "missing_figures": self.missing_figures(),
        })
    }

    /// Writes `report.md` and `report.json` into `directory` and returns
    /// their paths.
    pub fn write(&self, directory: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(directory)
            .with_context(|| format!("cannot create {}", directory.display()))?;
        let markdown = directory.join("report.md");
        let json = directory.join("report.json");
        std::fs::write(&markdown, self.markdown())
            .with_context(|| format!("cannot write {}", markdown.display()))?;
        let text = serde_json::to_string_pretty(&self.json())?;
        std::fs::write(&json, text + "\n")
            .with_context(|| format!("cannot write {}", json.display()))?;
        Ok((markdown, json))
    }
}

/// Reads a written `report.json` back and returns what it lacks: every
/// expected figure of a benchmark that was not skipped must be there with a
/// finite value, and with a finite baseline and ratio when it has a
/// baseline. JSON has no NaN or infinity, so a non-finite number was
/// written as `null` and fails here.
pub fn check_written(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let sections = report["benchmarks"]
        .as_array()
        .with_context(|| format!("{} has no benchmarks list", path.display()))?;
    let mut missing = Vec::new();
    for section in sections {
        let name = section["benchmark"].as_str().unwrap_or("?");
        if section["status"] == "skipped" {
            continue;
        }
        let figures = section["figures"].as_array().cloned().unwrap_or_default();
        let expected = section["expected"].as_array().cloned().unwrap_or_default();
        if expected.is_empty() {
            missing.push(format!("{name}: no expected figures listed"));
        }
        for id in expected.iter().filter_map(|id| id.as_str()) {
            let Some(figure) = figures.iter().find(|figure| figure["id"] == id) else {
                missing.push(format!("{name}: {id} is missing"));
                continue;
            };
            let mut numbers = vec![("value", &figure["value"])];
            if !figure["baseline"].is_null() {
                numbers.push(("baseline", &figure["baseline"]["value"]));
                numbers.push(("ratio", &figure["ratio"]));
            }
            for (what, number) in numbers {
                if !number.as_f64().is_some_and(f64::is_finite) {
                    missing.push(format!("{name}: {id} has no finite {what} ({number})"));
                }
            }
        }
    }
    Ok(missing)
}

/// One table row.
fn row(figure: &Figure) -> String {
    let value = format!("{} {}", format_number(figure.value), figure.unit);
    let baseline = match &figure.baseline {
        Some(baseline) => format!(
            "{} {} ({})",
            format_number(baseline.value),
            figure.unit,
            baseline.label
        ),
        None => "–".to_owned(),
    };
    let ratio = if figure.baseline.is_some() {
        format!("{:.3}", figure.ratio())
    } else {
        "–".to_owned()
    };
    let (target, met) = match &figure.target {
        Some(target) => (
            target.describe(&figure.unit),
            match target.met(figure) {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "unknown",
            },
        ),
        None => ("–".to_owned(), "–"),
    };
    format!(
        "| {} | {value} | {baseline} | {ratio} | {target} | {met} |",
        figure.label
    )
}

/// A number with precision that suits its size: 3 significant digits for
/// small values, whole numbers with thousands separators for large ones.
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        let whole = value.round() as i64;
        let digits = whole.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                grouped.push(' ');
            }
            grouped.push(digit);
        }
        if whole < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// Keeps an error message from breaking the table.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            kernel: "6.0".to_owned(),
            cpu_model: "test".to_owned(),
            load_average: "0".to_owned(),
            openssl: "OpenSSL".to_owned(),
        }
    }

    fn complete_outcome(benchmark: Benchmark) -> Outcome {
        let mut outcome = Outcome::default();
        for id in benchmark.figure_ids() {
            outcome.push(Figure::new(id, id, "µs", 1.0).baseline("base", 2.0));
        }
        outcome
    }

    #[test]
    fn complete_report_has_no_missing_figures() {
        let mut report = Report::new(true, 1, machine());
        for benchmark in Benchmark::ALL {
            report.add(benchmark, complete_outcome(benchmark), 1.0);
        }
        assert_eq!(report.missing_figures(), Vec::<String>::new());
        assert!(!report.has_failures());
    }

    #[test]
    fn nan_figure_reported_as_missing() {
        let mut report = Report::new(true, 1, machine());
        let mut outcome = complete_outcome(Benchmark::Pipeline);
        outcome.figures[0].value = f64::NAN;
        report.add(Benchmark::Pipeline, outcome, 1.0);
        let missing = report.missing_figures();
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("not finite"), "{missing:?}");
    }

    #[test]
    fn zero_baseline_reported_as_missing() {
        let mut report = Report::new(true, 1, machine());
        let mut outcome = complete_outcome(Benchmark::Pipeline);
        outcome.figures[0].baseline = Some(Baseline {
            label: "zero".to_owned(),
            value: 0.0,
        });
        report.add(Benchmark::Pipeline, outcome, 1.0);
        assert_eq!(report.missing_figures().len(), 1);
    }

    #[test]
    fn failed_benchmark_lists_all_figures() {
        let mut report = Report::new(true, 1, machine());
        report.fail(Benchmark::Loss, "boom".to_owned(), 1.0);
        assert!(report.has_failures());
        assert_eq!(
            report.missing_figures().len(),
            Benchmark::Loss.figure_ids().len()
        );
    }

    #[test]
    fn skipped_benchmark_not_checked() {
        let mut report = Report::new(true, 1, machine());
        report.skip(Benchmark::Loss, "not root".to_owned());
        assert!(report.missing_figures().is_empty());
        assert!(report.markdown().contains("loss: skipped: not root"));
    }

    #[test]
    fn target_checks_ratio_and_value() {
        let figure = Figure::new("a", "a", "µs", 1.2).baseline("b", 1.0);
        assert_eq!(Target::ratio_at_most(1.1).met(&figure), Some(false));
        assert_eq!(Target::value_at_most(1.5).met(&figure), Some(true));
        assert_eq!(Target::value_at_least(2.0).met(&figure), Some(false));
        let no_baseline = Figure::new("a", "a", "µs", 1.2);
        assert_eq!(Target::ratio_at_most(1.1).met(&no_baseline), None);
    }

    #[test]
    fn json_writes_nan_as_null() {
        let mut report = Report::new(true, 1, machine());
        let mut outcome = Outcome::default();
        outcome.push(Figure::new("pipeline.x", "x", "tx/s", f64::NAN));
        report.add(Benchmark::Pipeline, outcome, 1.0);
        let json = report.json();
        assert!(json["benchmarks"][0]["figures"][0]["value"].is_null());
    }

    #[test]
    fn written_report_checked() {
        let directory = super::super::TempDir::new("report-test").unwrap();
        let mut report = Report::new(true, 1, machine());
        report.add(
            Benchmark::Pipeline,
            complete_outcome(Benchmark::Pipeline),
            1.0,
        );
        report.skip(Benchmark::Loss, "not root".to_owned());
        let (_, json) = report.write(directory.path()).unwrap();
        assert_eq!(check_written(&json).unwrap(), Vec::<String>::new());

        let mut broken = Report::new(true, 1, machine());
        let mut outcome = complete_outcome(Benchmark::Pipeline);
        outcome.figures[1].value = f64::INFINITY;
        outcome.figures.pop();
        broken.add(Benchmark::Pipeline, outcome, 1.0);
        let (_, json) = broken.write(directory.path()).unwrap();
        let missing = check_written(&json).unwrap();
        assert_eq!(missing.len(), 3, "value, ratio and one absent: {missing:?}");
    }

    #[test]
    fn numbers_formatted_by_size() {
        assert_eq!(format_number(1_234_567.0), "1 234 567");
        assert_eq!(format_number(12.345), "12.3");
        assert_eq!(format_number(0.01234), "0.012");
        assert_eq!(format_number(1.5), "1.50");
    }
}
