//! `cargo xtask bench`: whole-system benchmarks of ztapi on this machine.
//!
//! Every figure compares ztapid with a baseline measured in the same run.
//! Runs alternate (baseline, subject, baseline, subject, ...) and the report
//! gives medians, so a change in the machine's load during the run hits both
//! sides alike. Results go to `target/bench/report.md` and
//! `target/bench/report.json`.
//!
//! Loads go only to 127.0.0.1 and are bounded in time. Every process,
//! temporary directory and eBPF attachment a benchmark makes is removed when
//! it finishes or fails; child processes also get SIGTERM if xtask dies.

mod capture_cost;
mod consumer_cost;
mod daemon;
mod http_load;
mod loss;
mod nginx;
mod pipeline;
mod program_time;
mod report;
mod server_throughput;
mod system;
mod tls;

use std::{
    cell::OnceCell,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{bail, Context as _};

use crate::build_ebpf;

pub use system::TempDir;

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Each benchmark prints a progress line per step and adds its figures, each
beside its target, to target/bench/report.md and target/bench/report.json.
Run as root: the benchmarks load eBPF programs and start ztapid, nginx and wrk.")]
pub struct Options {
    /// Run with tiny inputs and short loads, a few minutes in all on 2
    /// cores; the figures are noisier.
    #[arg(long)]
    pub quick: bool,

    /// Rounds of alternating baseline and subject runs [default: 3 with
    /// --quick, 7 otherwise].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: Option<u32>,

    /// Use the release binaries and the eBPF object already built instead of
    /// building them first.
    #[arg(long)]
    pub no_build: bool,

    /// Benchmarks to run, in the order given; all of them when none is named.
    #[arg(value_enum)]
    pub benches: Vec<Benchmark>,
}

/// One benchmark of `cargo xtask bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Benchmark {
    /// Time per SSL_write_ex/SSL_read_ex call of a TLS client on loopback
    /// with no probes, with no-op uprobes, and with ztapid: ztapid's cost
    /// per call as a multiple of the bare trap cost.
    CaptureCost,
    /// nginx over TLS under wrk with and without ztapid, for a static
    /// response and for a proxied API that takes about 1 ms: requests/s
    /// ratios.
    ServerThroughput,
    /// Raises the cleartext HTTP event rate step by step until the ring
    /// buffer drops records, then holds 50 000 events/s with and without
    /// ztapid.
    Loss,
    /// ztapid CPU time per captured event and per transaction under load,
    /// and its resident memory with many open keep-alive connections.
    ConsumerCost,
    /// Criterion benchmark of the user-space stages without the kernel
    /// (`cargo bench -p ztapi --bench pipeline`): transactions/s per core.
    Pipeline,
}

impl Benchmark {
    const ALL: [Benchmark; 5] = [
        Benchmark::CaptureCost,
        Benchmark::ServerThroughput,
        Benchmark::Loss,
        Benchmark::ConsumerCost,
        Benchmark::Pipeline,
    ];

    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::CaptureCost => "capture-cost",
            Benchmark::ServerThroughput => "server-throughput",
            Benchmark::Loss => "loss",
            Benchmark::ConsumerCost => "consumer-cost",
            Benchmark::Pipeline => "pipeline",
        }
    }

    /// Whether the benchmark runs ztapid, and so needs the release binaries
    /// and root.
    fn needs_daemon(self) -> bool {
        self != Benchmark::Pipeline
    }

    /// Ids of the figures the benchmark must produce; the report check
    /// fails a run that lacks one.
    pub fn figure_ids(self) -> &'static [&'static str] {
        match self {
            Benchmark::CaptureCost => &[
                "capture-cost.plain-call",
                "capture-cost.trap-call",
                "capture-cost.sensor-call",
                "capture-cost.sensor-cost",
            ],
            Benchmark::ServerThroughput => &["server-throughput.static", "server-throughput.api"],
            Benchmark::Loss => &["loss.onset", "loss.drops-at-50k", "loss.rate-at-50k"],
            Benchmark::ConsumerCost => &[
                "consumer-cost.cpu-per-event",
                "consumer-cost.cpu-per-transaction",
                "consumer-cost.resident-10k",
            ],
            Benchmark::Pipeline => &[
                "pipeline.http1-tcp",
                "pipeline.http1-tls",
                "pipeline.http2-tls",
                "pipeline.decode",
                "pipeline.streams-http1",
            ],
        }
    }
}

/// What every benchmark shares: settings, built artefacts, a scratch
/// directory and the async runtime of the load generators.
pub struct Context {
    pub quick: bool,
    pub rounds: usize,
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub ztapid: PathBuf,
    pub ztapi: PathBuf,
    pub ebpf_object: PathBuf,
    pub scratch: TempDir,
    pub runtime: tokio::runtime::Runtime,
    certificate: OnceCell<tls::Certificate>,
}

impl Context {
    /// The self-signed certificate of the TLS servers, made on first use.
    pub fn certificate(&self) -> anyhow::Result<&tls::Certificate> {
        if let Some(certificate) = self.certificate.get() {
            return Ok(certificate);
        }
        let certificate = tls::Certificate::create(self.scratch.path())?;
        Ok(self.certificate.get_or_init(|| certificate))
    }

    /// Picks the quick or the full value of a setting.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// Prints one progress line at once, so a long step shows where it is.
pub fn progress(message: impl std::fmt::Display) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "bench: {message}");
    let _ = stdout.flush();
}

/// Runs `measure(round, variant)` for every variant in turn, `rounds` times
/// over, so the variants alternate, and returns the results indexed
/// `[variant][round]`.
pub fn alternate<T>(
    rounds: usize,
    variants: &[&str],
    mut measure: impl FnMut(usize, usize) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<Vec<T>>> {
    let mut results: Vec<Vec<T>> = variants.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (variant, name) in variants.iter().enumerate() {
            progress(format_args!("  round {}/{rounds}: {name}", round + 1));
            let result = measure(round, variant)
                .with_context(|| format!("round {} of {name} failed", round + 1))?;
            results[variant].push(result);
        }
    }
    Ok(results)
}

/// The median of `values`, or NaN when there are none, so a missing
/// measurement shows up as a non-finite figure.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// Setting this variable to 1 skips the benchmarks that need root and the
/// kernel, as it skips the privileged tests.
const SKIP_PRIVILEGED_VARIABLE: &str = "ZTAPI_SKIP_PRIVILEGED";

/// Runs `cargo xtask bench`.
pub fn run(options: &Options) -> anyhow::Result<()> {
    let mut benches = selected(&options.benches);
    let mut skipped = Vec::new();
    if std::env::var(SKIP_PRIVILEGED_VARIABLE).as_deref() == Ok("1") {
        skipped = benches
            .iter()
            .copied()
            .filter(|bench| bench.needs_daemon())
            .collect();
        benches.retain(|bench| !bench.needs_daemon());
        for bench in &skipped {
            println!(
                "\n!!! SKIPPED privileged benchmark {}: {SKIP_PRIVILEGED_VARIABLE}=1 is set !!!\n",
                bench.name()
            );
        }
    }
    // SAFETY: geteuid has no preconditions.
    if benches.iter().any(|bench| bench.needs_daemon()) && unsafe { libc::geteuid() } != 0 {
        bail!("cargo xtask bench loads eBPF programs and starts ztapid, so it must run as root; rerun with sudo, or set {SKIP_PRIVILEGED_VARIABLE}=1 to run only the pipeline benchmark");
    }
    let quick = options.quick;
    let rounds = options.rounds.unwrap_or(if quick { 3 } else { 7 }) as usize;
    let root = workspace_root();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));

    let ebpf_object = if options.no_build {
        target_dir.join("ebpf/bpfel-unknown-none/release/sensor")
    } else {
        build(&root, &benches)?
    };
    let context = Context {
        quick,
        rounds,
        ztapid: target_dir.join("release/ztapid"),
        ztapi: target_dir.join("release/ztapi"),
        ebpf_object,
        root,
        target_dir,
        scratch: TempDir::new("run")?,
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime of the load generators")?,
        certificate: OnceCell::new(),
    };
    for needed in [&context.ztapid, &context.ztapi] {
        if benches.iter().any(|bench| bench.needs_daemon()) && !needed.exists() {
            bail!(
                "{} not found; run without --no-build to build it",
                needed.display()
            );
        }
    }
    let open_files = system::raise_open_files_limit(65_536)?;

    let mut report = report::Report::new(quick, rounds, system::Machine::read());
    for bench in skipped {
        report.skip(bench, format!("{SKIP_PRIVILEGED_VARIABLE}=1 is set"));
    }
    if open_files < 65_536 {
        progress(format_args!(
            "  note: the open-file limit is {open_files}; the hard limit cannot be raised here"
        ));
    }
    for bench in benches {
        progress(format_args!("{}: started", bench.name()));
        let others = system::other_daemons();
        if !others.is_empty() {
            progress(format_args!("  warning: other ztapid processes are running (pids {others:?}); they add their own probe costs"));
            report.note(format!(
                "{}: other ztapid processes (pids {others:?}) were running, so figures include their probe costs",
                bench.name()
            ));
        }
        let started = Instant::now();
        let outcome = match bench {
            Benchmark::CaptureCost => capture_cost::run(&context),
            Benchmark::ServerThroughput => server_throughput::run(&context),
            Benchmark::Loss => loss::run(&context),
            Benchmark::ConsumerCost => consumer_cost::run(&context),
            Benchmark::Pipeline => pipeline::run(&context),
        };
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok(outcome) => {
                progress(format_args!("{}: done in {seconds:.0} s", bench.name()));
                report.add(bench, outcome, seconds);
            }
            Err(error) => {
                progress(format_args!("{}: FAILED: {error:#}", bench.name()));
                report.fail(bench, format!("{error:#}"), seconds);
            }
        }
    }

    let directory = context.target_dir.join("bench");
    let (markdown, json) = report.write(&directory)?;
    println!("\n{}", report.markdown());
    progress(format_args!(
        "report written to {} and {}",
        markdown.display(),
        json.display()
    ));
    if report.has_failures() {
        bail!("some benchmarks failed; see the report");
    }
    let missing = report::check_written(&json)?;
    if !missing.is_empty() {
        bail!(
            "the report lacks figures or has non-finite ones:\n{}",
            missing.join("\n")
        );
    }
    progress("every expected figure is present and finite");
    Ok(())
}

/// The benchmarks to run: the named ones without repeats, else all.
fn selected(named: &[Benchmark]) -> Vec<Benchmark> {
    if named.is_empty() {
        return Benchmark::ALL.to_vec();
    }
    let mut benches = Vec::new();
    for bench in named {
        if !benches.contains(bench) {
            benches.push(*bench);
        }
    }
    benches
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Builds the release binaries and the eBPF object the benchmarks need, and
/// returns the object's path.
fn build(root: &Path, benches: &[Benchmark]) -> anyhow::Result<PathBuf> {
    progress("building the eBPF object (release)");
    let object = build_ebpf::build(&build_ebpf::Options { debug: false })?;
    if benches.iter().any(|bench| bench.needs_daemon()) {
        progress("building ztapid and ztapi (release)");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args(["build", "--release", "--bin", "ztapid", "--bin", "ztapi"])
            .status()
            .context("cannot run cargo build")?;
        if !status.success() {
            bail!("cargo build --release --bin ztapid --bin ztapi failed ({status})");
        }
    }
    Ok(object)
}
