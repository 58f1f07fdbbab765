//! The `capture-cost` benchmark: wall time per `SSL_write_ex`/`SSL_read_ex`
//! call of a loopback TLS client, (a) with no probes, (b) with the no-op
//! entry and return probes of `sensor-ebpf/src/bench_probes.rs` on the same
//! libssl functions ztapid hooks, and (c) with ztapid capturing.
//!
//! (b) − (a) is the trap cost this machine imposes on any uprobe-based
//! sensor; (c) − (a) is what ztapid costs. Their ratio shows how close the
//! sensor comes to that floor. ztapid also runs a `sys_enter` tracepoint
//! and cgroup socket hooks, which (b) does not, so their cost shows in the
//! ratio too.
//!
//! The client and server threads and ztapid share the machine's cores, so
//! the daemon's user-space work takes time from the calls being timed.
//! ztapid's CPU time per client call is reported beside the ratio, to show
//! how much of (c) − (a) is that work rather than the kernel side. Two more
//! runs per round repeat (b) and (c) with the kernel's per-program run-time
//! statistics on, to show what the eBPF programs themselves cost per call.
//! Those statistics cost two clock reads per program run, so the timed runs
//! go without them.

use aya::{
    programs::{uprobe::UProbeScope, UProbe},
    Ebpf,
};

use anyhow::Context as _;

use std::time::Duration;

use super::{
    alternate,
    daemon::Daemon,
    median,
    program_time::ProgramStats,
    progress,
    report::{Figure, Outcome, Target},
    system::cpu_seconds,
    tls::{self, MappedLibrary},
    Context,
};

/// The libssl functions ztapid hooks, and whether it has a return probe on
/// each, as in `daemon/src/capture/sensor.rs`.
const HOOKED_FUNCTIONS: [(&str, bool); 6] = [
    ("SSL_write", true),
    ("SSL_write_ex", true),
    ("SSL_read", true),
    ("SSL_read_ex", true),
    ("SSL_do_handshake", true),
    ("SSL_free", false),
];

/// Requests the client writes before it reads their responses, so client
/// and server calls overlap on two cores and scheduling noise averages out.
const BURST: usize = 16;

const VARIANTS: [&str; 5] = [
    "no probes",
    "no-op probes",
    "ztapid",
    "no-op probes, program statistics on",
    "ztapid, program statistics on",
];

/// The no-op probe programs (`sensor-ebpf/src/bench_probes.rs`).
const NOOP_PROGRAMS: [&str; 2] = ["bench_noop_entry", "bench_noop_return"];

/// ztapid's programs (`sensor-ebpf/src/`).
const SENSOR_PROGRAMS: [&str; 13] = [
    "ssl_write_entry",
    "ssl_write_ex_entry",
    "ssl_write_return",
    "ssl_read_entry",
    "ssl_read_ex_entry",
    "ssl_read_return",
    "ssl_handshake_entry",
    "ssl_handshake_return",
    "ssl_free_entry",
    "sys_enter",
    "tcp_egress",
    "tcp_ingress",
    "inet_sock_set_state",
];

/// The target: ztapid costs at most 1.10 times the bare trap cost.
const TARGET_RATIO: f64 = 1.10;

/// How long ztapid gets to read the last records of a run before its CPU
/// time is read.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// One timed run: wall time per client call, and where measured (NaN
/// otherwise) the daemon's CPU time and the eBPF programs' run time per
/// client call.
struct Run {
    call_us: f64,
    daemon_cpu_us: f64,
    program_us: f64,
    /// Program name and run time per client call, largest first.
    by_program: Vec<(String, f64)>,
}

impl Run {
    fn timed(call_us: f64) -> Self {
        Self {
            call_us,
            daemon_cpu_us: f64::NAN,
            program_us: f64::NAN,
            by_program: Vec::new(),
        }
    }
}

pub fn run(context: &Context) -> anyhow::Result<Outcome> {
    let library = MappedLibrary::find()?;
    progress(format_args!(
        "  hooking {} ({})",
        library.path.display(),
        library.file_id
    ));
    let calls = context.pick(20_000, 200_000);
    let results = alternate(context.rounds, &VARIANTS, |_, variant| {
        let server = tls::Server::start(context.certificate()?)?;
        let run = match variant {
            0 => tls::time_calls(server.address, calls, BURST).map(Run::timed),
            1 => {
                let _probes = NoopProbes::attach(context, &library)?;
                tls::time_calls(server.address, calls, BURST).map(Run::timed)
            }
            3 => {
                let _probes = NoopProbes::attach(context, &library)?;
                program_time_per_call(server.address, calls, &NOOP_PROGRAMS)
            }
            4 => {
                let daemon = Daemon::start(context, "capture-cost")?;
                daemon.wait_hooked(&library.file_id)?;
                let run = program_time_per_call(server.address, calls, &SENSOR_PROGRAMS);
                daemon.stop()?;
                run
            }
            _ => {
                let daemon = Daemon::start(context, "capture-cost")?;
                daemon.wait_hooked(&library.file_id)?;
                let cpu_before = cpu_seconds(daemon.pid())?;
                let timing = tls::time_calls(server.address, calls, BURST);
                let counters = daemon.wait_drained(DRAIN_TIMEOUT)?;
                let daemon_cpu = cpu_seconds(daemon.pid())? - cpu_before;
                daemon.stop()?;
                if timing.is_ok() && counters.tls_calls == 0 {
                    anyhow::bail!("ztapid captured no TLS call of the client; the figure would measure nothing");
                }
                timing.map(|call_us| Run {
                    daemon_cpu_us: daemon_cpu * 1e6 / calls as f64,
                    ..Run::timed(call_us)
                })
            }
        };
        server.join()?;
        run
    })?;

    let call_times =
        |variant: usize| -> Vec<f64> { results[variant].iter().map(|run| run.call_us).collect() };
    let plain = median(&call_times(0));
    let trapped = median(&call_times(1));
    let captured = median(&call_times(2));
    let daemon_cpu: Vec<f64> = results[2].iter().map(|run| run.daemon_cpu_us).collect();
    let daemon_cpu = median(&daemon_cpu);
    let program_times = |variant: usize| -> Vec<f64> {
        results[variant].iter().map(|run| run.program_us).collect()
    };
    let noop_programs = median(&program_times(3));
    let sensor_programs = median(&program_times(4));
    let mut outcome = Outcome::default();
    outcome.push(Figure::new(
        "capture-cost.plain-call",
        "TLS call without probes (64-byte SSL_write_ex/SSL_read_ex)",
        "µs/call",
        plain,
    ));
    outcome.push(
        Figure::new(
            "capture-cost.trap-call",
            "TLS call with no-op entry and return uprobes",
            "µs/call",
            trapped,
        )
        .baseline("without probes", plain),
    );
    outcome.push(
        Figure::new(
            "capture-cost.sensor-call",
            "TLS call with ztapid capturing",
            "µs/call",
            captured,
        )
        .baseline("without probes", plain),
    );
    outcome.push(
        Figure::new(
            "capture-cost.sensor-cost",
            "ztapid's cost per TLS call (c − a) against the bare trap cost (b − a)",
            "µs/call",
            captured - plain,
        )
        .baseline("bare trap cost", trapped - plain)
        .target(Target::ratio_at_most(TARGET_RATIO)),
    );
    outcome.push(
        Figure::new(
            "capture-cost.daemon-cpu",
            "ztapid's user-space CPU time per client call, taken from the same cores",
            "µs/call",
            daemon_cpu,
        )
        .baseline("ztapid's cost per TLS call (c − a)", captured - plain),
    );
    outcome.push(Figure::new(
        "capture-cost.noop-programs",
        "run time of the no-op probe programs per client call (kernel statistics)",
        "µs/call",
        noop_programs,
    ));
    outcome.push(
        Figure::new(
            "capture-cost.sensor-programs",
            "run time of ztapid's eBPF programs per client call (kernel statistics)",
            "µs/call",
            sensor_programs,
        )
        .baseline("no-op probe programs", noop_programs),
    );
    outcome.note(format!(
        "{calls} calls per run in bursts of {BURST}, client and server in one process on 127.0.0.1"
    ));
    if let Some(run) = results[4].last() {
        let parts: Vec<String> = run
            .by_program
            .iter()
            .map(|(name, us)| format!("{name} {us:.3}"))
            .collect();
        outcome.note(format!(
            "ztapid's program run time per client call in the last round, µs: {}",
            parts.join(", ")
        ));
    }
    Ok(outcome)
}

/// Runs the client with the kernel's program statistics on; returns the run
/// time of the programs named `programs` per client call.
fn program_time_per_call(
    address: std::net::SocketAddr,
    calls: u64,
    programs: &[&str],
) -> anyhow::Result<Run> {
    let stats = ProgramStats::enable()?;
    let before = stats.run_times(programs)?;
    let call_us = tls::time_calls(address, calls, BURST)?;
    let after = stats.run_times(programs)?;

    let per_call = |spent: Duration| spent.as_secs_f64() * 1e6 / calls as f64;
    let mut by_program: Vec<(String, f64)> = after
        .iter()
        .map(|(name, time)| {
            let earlier = before.get(name).copied().unwrap_or_default();
            (name.clone(), per_call(time.saturating_sub(earlier)))
        })
        .collect();
    let total: f64 = by_program.iter().map(|(_, us)| us).sum();
    if total <= 0.0 {
        anyhow::bail!(
            "the kernel counted no run time for {programs:?}; the figure would measure nothing"
        );
    }
    by_program.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(Run {
        program_us: total,
        by_program,
        ..Run::timed(call_us)
    })
}

/// The no-op probes, attached for all processes; dropping them detaches
/// every probe and unloads the programs.
struct NoopProbes {
    _ebpf: Ebpf,
}

impl NoopProbes {
    fn attach(context: &Context, library: &MappedLibrary) -> anyhow::Result<Self> {
        let mut ebpf = Ebpf::load_file(&context.ebpf_object).with_context(|| {
            format!(
                "loading {} failed; build it with cargo xtask build-ebpf",
                context.ebpf_object.display()
            )
        })?;
        for (program, returns) in [("bench_noop_entry", false), ("bench_noop_return", true)] {
            let probe: &mut UProbe = ebpf
                .program_mut(program)
                .with_context(|| format!("the eBPF object has no program {program}"))?
                .try_into()?;
            probe
                .load()
                .with_context(|| format!("the verifier rejected {program}"))?;
            for (function, has_return) in HOOKED_FUNCTIONS {
                if returns && !has_return {
                    continue;
                }
                probe
                    .attach(function, &library.path, UProbeScope::AllProcesses)
                    .with_context(|| {
                        format!(
                            "attaching {program} to {function} in {} failed",
                            library.path.display()
                        )
                    })?;
            }
        }
        Ok(Self { _ebpf: ebpf })
    }
}
