//! The `pipeline` benchmark: runs the criterion benchmark
//! `daemon/benches/pipeline.rs`, pinned to one CPU, and reads its medians
//! back as transactions per second per core.
//!
//! Pinning makes the figure "per core": sled's background threads and the
//! benchmark thread share that one CPU, so their work counts against it.
//! Criterion's own repeated sampling replaces the alternating rounds of the
//! other benchmarks. The baseline, `httparse` on the same messages, comes
//! from the same criterion run.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context as _};
use serde_json::Value;

use super::{
    progress,
    report::{Figure, Outcome, Target},
    system::run_bounded,
    Context, TempDir,
};

/// Whole-pipeline cases of the criterion benchmark, with their figure ids
/// and labels.
const CASES: [(&str, &str, &str); 3] = [
    (
        "pipeline/http1-tcp",
        "pipeline.http1-tcp",
        "pipeline throughput, HTTP/1.1 over cleartext TCP (reassembly, parsing, classification, inventory, store)",
    ),
    (
        "pipeline/http1-tls",
        "pipeline.http1-tls",
        "pipeline throughput, HTTP/1.1 from TLS plaintext",
    ),
    (
        "pipeline/http2-tls",
        "pipeline.http2-tls",
        "pipeline throughput, HTTP/2 from TLS plaintext",
    ),
];

/// Stages measured alone, to show where the time goes.
const STAGES: [(&str, &str, &str); 3] = [
    (
        "stages/decode",
        "pipeline.decode",
        "stage alone: ring-buffer record decoding",
    ),
    (
        "stages/streams-http1",
        "pipeline.streams-http1",
        "stage alone: connection table and HTTP/1.1 parser",
    ),
    (
        "stages/analysis-http1",
        "pipeline.analysis-http1",
        "HTTP/1.1 through parsing, classification and templating, without the store",
    ),
];

const BASELINE: &str = "baseline/httparse";

/// The HTTP/1 target: 200 000 transactions per second on one core.
const HTTP1_TARGET: f64 = 200_000.0;

/// Time a criterion run may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

pub fn run(context: &Context) -> anyhow::Result<Outcome> {
    let executable = build(&context.root)?;
    let criterion_home = TempDir::new("criterion")?;
    let (warm_up, measurement, samples) = context.pick(("0.5", "1", "10"), ("2", "5", "50"));

    progress(format_args!(
        "  running {} on CPU 0 ({measurement} s per case)",
        executable.display()
    ));
    let mut command = Command::new("taskset");
    command
        .args(["--cpu-list", "0"])
        .arg(&executable)
        .args(["--bench", "--noplot", "--warm-up-time", warm_up])
        .args(["--measurement-time", measurement, "--sample-size", samples])
        .current_dir(&context.root)
        .env("CRITERION_HOME", criterion_home.path())
        .stdin(Stdio::null());
    run_bounded("the pipeline benchmark", &mut command, RUN_TIMEOUT)
        .context("the criterion benchmark failed; run `cargo bench -p ztapi --bench pipeline` to see its output")?;

    let baseline = per_second(criterion_home.path(), BASELINE)?;
    let mut outcome = Outcome::default();
    for (case, id, label) in CASES.iter().chain(STAGES.iter()) {
        let mut figure = Figure::new(id, label, "tx/s", per_second(criterion_home.path(), case)?)
            .baseline("httparse on the same heads", baseline);
        // The target names reassembly, parsing, templating and
        // classification; the figures with the store show its cost beside.
        if *id == "pipeline.analysis-http1" {
            figure = figure.target(Target::value_at_least(HTTP1_TARGET));
        }
        outcome.push(figure);
    }
    outcome.note("one thread pinned to CPU 0 with taskset; each transaction is written to the store (segment files and their sled index) as the daemon does");
    Ok(outcome)
}

/// Builds the benchmark executable and returns its path.
fn build(root: &Path) -> anyhow::Result<PathBuf> {
    progress("  building the pipeline benchmark (release)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // `output` reads the JSON messages while cargo writes them: they
    // outgrow a pipe's buffer, so waiting for the exit first would block.
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["bench", "-p", "ztapi", "--bench", "pipeline", "--no-run"])
        .args(["--message-format", "json-render-diagnostics"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo bench --no-run")?;
    if !output.status.success() {
        bail!(
            "cargo bench -p ztapi --bench pipeline --no-run failed ({})",
            output.status
        );
    }
    let output = String::from_utf8_lossy(&output.stdout);
    // The last compiler-artifact message of the target is the executable.
    let executable = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["target"]["name"] == "pipeline")
        .filter_map(|message| message["executable"].as_str().map(PathBuf::from))
        .next_back();
    match executable {
        Some(path) => Ok(path),
        None => bail!("cargo bench --no-run built no pipeline executable"),
    }
}

/// Elements per second of one criterion case: the elements per iteration
/// divided by the median time per iteration.
fn per_second(criterion_home: &Path, case: &str) -> anyhow::Result<f64> {
    let directory = criterion_home.join(case).join("new");
    let read = |name: &str| -> anyhow::Result<Value> {
        let path = directory.join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("invalid JSON in {}", path.display()))
    };
    let median_ns = read("estimates.json")?["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("no median in the estimates of {case}"))?;
    let elements = read("benchmark.json")?["throughput"]["Elements"]
        .as_f64()
        .with_context(|| format!("no element throughput in {case}"))?;
    Ok(elements / (median_ns * 1e-9))
}
