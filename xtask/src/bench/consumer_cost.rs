//! The `consumer-cost` benchmark: ztapid's CPU time per captured event and
//! per transaction under a steady cleartext HTTP load, and its resident
//! memory once many keep-alive connections are open.
//!
//! The CPU figures are held against the CPU that the load itself (client and
//! server, in this process) spends per event, so the ratio reads as "the
//! sensor's consumer costs this fraction of the traffic it watches". The
//! memory figure is held against the same daemon's memory before the
//! connections were opened.

use std::time::Duration;

use super::{
    alternate,
    daemon::Daemon,
    http_load::{self, OpenConnections, PacedLoad},
    median,
    nginx::Nginx,
    progress,
    report::{Figure, Outcome, Target},
    system::{cpu_seconds, resident_kib},
    Context,
};

/// Requests per second of the steady load: 40 000 events per second, below
/// the loss target, so every event is consumed.
const REQUESTS_PER_SECOND: f64 = 20_000.0;

/// Open connections of the memory figure. Their server ends are in nginx,
/// so neither process needs more than 20 000 open files.
const OPEN_CONNECTIONS: usize = 10_000;

/// The request on each of them: nginx's tiny static response.
const STATIC_REQUEST: &[u8] = b"GET /static HTTP/1.1\r\nHost: bench.local\r\n\r\n";

const CPU_TARGET_US: f64 = 0.5;
const MEMORY_TARGET_MB: f64 = 150.0;

/// One round's measurements.
#[derive(Clone, Copy, Debug)]
struct Round {
    daemon_us_per_event: f64,
    daemon_us_per_transaction: f64,
    load_us_per_event: f64,
    load_us_per_transaction: f64,
    resident_before_mb: f64,
    resident_after_mb: f64,
}

pub fn run(context: &Context) -> anyhow::Result<Outcome> {
    let server = http_load::Server::start(&context.runtime, None)?;
    let nginx = Nginx::start(context, server.address)?;
    let seconds = context.pick(3, 10);
    let results = alternate(context.rounds, &["ztapid under load"], |_, _| {
        measure(context, &server, &nginx, seconds)
    })?;
    let rounds = &results[0];
    let pick = |value: fn(&Round) -> f64| median(&rounds.iter().map(value).collect::<Vec<_>>());

    let mut outcome = Outcome::default();
    outcome.push(
        Figure::new(
            "consumer-cost.cpu-per-event",
            "ztapid CPU time per ring-buffer record",
            "µs",
            pick(|round| round.daemon_us_per_event),
        )
        .baseline(
            "CPU of the HTTP client and server per record",
            pick(|round| round.load_us_per_event),
        )
        .target(Target::value_at_most(CPU_TARGET_US)),
    );
    outcome.push(
        Figure::new(
            "consumer-cost.cpu-per-transaction",
            "ztapid CPU time per transaction",
            "µs",
            pick(|round| round.daemon_us_per_transaction),
        )
        .baseline(
            "CPU of the HTTP client and server per request",
            pick(|round| round.load_us_per_transaction),
        ),
    );
    outcome.push(
        Figure::new(
            "consumer-cost.resident-10k",
            "ztapid resident memory with 10 000 open keep-alive connections",
            "MB",
            pick(|round| round.resident_after_mb),
        )
        .baseline(
            "before opening them",
            pick(|round| round.resident_before_mb),
        )
        .target(Target::value_at_most(MEMORY_TARGET_MB)),
    );
    outcome.note(format!(
        "{REQUESTS_PER_SECOND:.0} requests/s of cleartext HTTP for {seconds} s per round; MB are 10^6 bytes"
    ));
    drop(nginx);
    drop(server);
    Ok(outcome)
}

fn measure(
    context: &Context,
    server: &http_load::Server,
    nginx: &Nginx,
    seconds: u64,
) -> anyhow::Result<Round> {
    let daemon = Daemon::start(context, "consumer-cost")?;
    let pid = daemon.pid();
    let own_pid = std::process::id();

    let counters_before = daemon.counters()?;
    let daemon_cpu_before = cpu_seconds(pid)?;
    let load_cpu_before = cpu_seconds(own_pid)?;
    let load = PacedLoad {
        connections: 32,
        requests_per_second: REQUESTS_PER_SECOND,
        duration: Duration::from_secs(seconds),
        max_batch: 16,
    };
    let requests = http_load::run_paced(&context.runtime, server.address, load)?.requests;
    let load_cpu = cpu_seconds(own_pid)? - load_cpu_before;
    let counters = daemon
        .wait_drained(Duration::from_secs(10))?
        .since(&counters_before);
    let daemon_cpu = cpu_seconds(pid)? - daemon_cpu_before;
    if counters.records == 0 || counters.transactions == 0 {
        anyhow::bail!(
            "ztapid read {} records and made {} transactions from the load; nothing to divide by",
            counters.records,
            counters.transactions
        );
    }
    progress(format_args!(
        "  {} records, {} transactions, ztapid CPU {daemon_cpu:.2} s",
        counters.records, counters.transactions
    ));

    let resident_before = resident_kib(pid)?;
    let connections = OpenConnections::open(
        &context.runtime,
        nginx.plain_address,
        STATIC_REQUEST,
        OPEN_CONNECTIONS,
    )?;
    daemon.wait_drained(Duration::from_secs(20))?;
    let resident_after = resident_kib(pid)?;
    let tracked = daemon.counters()?;
    progress(format_args!(
        "  {} connections open: ztapid tracks {} connections and {} flows, {} KiB resident",
        connections.len(),
        tracked.connections_open,
        tracked.flows_open,
        resident_after
    ));
    connections.close(&context.runtime);
    daemon.stop()?;

    let kib_to_mb = |kib: u64| kib as f64 * 1024.0 / 1e6;
    Ok(Round {
        daemon_us_per_event: daemon_cpu * 1e6 / counters.records as f64,
        daemon_us_per_transaction: daemon_cpu * 1e6 / counters.transactions as f64,
        load_us_per_event: load_cpu * 1e6 / counters.records as f64,
        load_us_per_transaction: load_cpu * 1e6 / requests as f64,
        resident_before_mb: kib_to_mb(resident_before),
        resident_after_mb: kib_to_mb(resident_after),
    })
}
