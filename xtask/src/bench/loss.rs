//! The `loss` benchmark: cleartext HTTP on 127.0.0.1, which ztapid's
//! cgroup socket hooks capture as one ring-buffer record per request and
//! one per response.
//!
//! First the event rate rises step by step, with ztapid running in its
//! default configuration, until the kernel counts ring-buffer drops or the
//! load generator reaches its limit. Then a fixed rate of 50 000 events per
//! second is held, alternating runs without and with ztapid: the drops
//! with ztapid, and the request rate the load reached both times.

use std::time::Duration;

use super::{
    alternate,
    daemon::{Counters, Daemon},
    http_load::{self, PacedLoad},
    median, progress,
    report::{Figure, Outcome, Target},
    Context,
};

/// Ring-buffer records per request: the request's segment at the client's
/// egress and the response's at the server's.
const EVENTS_PER_REQUEST: f64 = 2.0;

/// The sustained rate of the target, in events per second.
const SUSTAINED_EVENTS: f64 = 50_000.0;

/// Keep-alive connections the load is spread over.
const CONNECTIONS: usize = 32;

/// Requests a connection sends before reading their responses. Batching
/// lets one load thread reach high rates, and each request still leaves in
/// its own segment.
const MAX_BATCH: usize = 16;

const VARIANTS: [&str; 2] = ["without ztapid", "with ztapid"];

/// What one step of load produced.
#[derive(Clone, Copy, Debug)]
struct Step {
    requests_per_second: f64,
    /// Records per second the kernel sent or dropped.
    events_per_second: f64,
    drops: u64,
    records_sent: u64,
}

pub fn run(context: &Context) -> anyhow::Result<Outcome> {
    let server = http_load::Server::start(&context.runtime, None)?;
    let mut outcome = Outcome::default();

    // The ramp: doubling rates until drops appear.
    let step_seconds = context.pick(2, 5);
    let steps: &[f64] = context.pick(
        &[25_000.0, 50_000.0, 100_000.0, 200_000.0][..],
        &[
            12_500.0, 25_000.0, 50_000.0, 100_000.0, 200_000.0, 400_000.0,
        ][..],
    );
    let daemon = Daemon::start(context, "loss-ramp")?;
    let mut first_dropping = None;
    let mut highest_without_drops: f64 = 0.0;
    for &events in steps {
        let step = load_step(context, &server, Some(&daemon), events, step_seconds)?;
        progress(format_args!(
            "  asked {events:.0} events/s: reached {:.0} events/s, {} drops",
            step.events_per_second, step.drops
        ));
        if step.drops > 0 {
            first_dropping = Some(step);
            break;
        }
        highest_without_drops = highest_without_drops.max(step.events_per_second);
    }
    daemon.stop()?;
    match first_dropping {
        Some(step) => outcome.note(format!(
            "the ring buffer first dropped records at {:.0} events/s: {} of {} records",
            step.events_per_second,
            step.drops,
            step.drops + step.records_sent
        )),
        None => outcome.note(format!(
            "no drops at any step; the load generator reached {highest_without_drops:.0} events/s, so drops start above that"
        )),
    }
    outcome.push(
        Figure::new(
            "loss.onset",
            "highest event rate without ring-buffer drops (the rate doubles per step)",
            "events/s",
            highest_without_drops,
        )
        .baseline("sustained target rate", SUSTAINED_EVENTS)
        .target(Target::value_at_least(SUSTAINED_EVENTS)),
    );

    // The sustained rate, alternating without and with ztapid.
    let hold_seconds = context.pick(5, 20);
    let results = alternate(context.rounds, &VARIANTS, |_, variant| {
        if variant == 0 {
            return load_step(context, &server, None, SUSTAINED_EVENTS, hold_seconds);
        }
        let daemon = Daemon::start(context, "loss-hold")?;
        let step = load_step(
            context,
            &server,
            Some(&daemon),
            SUSTAINED_EVENTS,
            hold_seconds,
        );
        daemon.stop()?;
        step
    })?;
    let pick = |variant: usize, value: fn(&Step) -> f64| -> f64 {
        median(&results[variant].iter().map(value).collect::<Vec<_>>())
    };
    outcome.push(
        Figure::new(
            "loss.drops-at-50k",
            "records dropped while holding 50 000 events/s for the run",
            "records",
            pick(1, |step| step.drops as f64),
        )
        .baseline(
            "records the kernel tried to send",
            pick(1, |step| (step.records_sent + step.drops) as f64),
        )
        .target(Target::value_at_most(0.0)),
    );
    outcome.push(
        Figure::new(
            "loss.rate-at-50k",
            "request rate reached while asking for 50 000 events/s, with ztapid",
            "req/s",
            pick(1, |step| step.requests_per_second),
        )
        .baseline("without ztapid", pick(0, |step| step.requests_per_second)),
    );
    outcome.note(format!(
        "{CONNECTIONS} keep-alive connections, batches of up to {MAX_BATCH} requests; steps of {step_seconds} s, holds of {hold_seconds} s"
    ));
    drop(server);
    Ok(outcome)
}

/// Runs the paced load for `seconds` at `events` per second and reads the
/// kernel's counters around it when a daemon runs.
fn load_step(
    context: &Context,
    server: &http_load::Server,
    daemon: Option<&Daemon>,
    events: f64,
    seconds: u64,
) -> anyhow::Result<Step> {
    let before = match daemon {
        Some(daemon) => daemon.counters()?,
        None => Counters::default(),
    };
    let load = PacedLoad {
        connections: CONNECTIONS,
        requests_per_second: events / EVENTS_PER_REQUEST,
        duration: Duration::from_secs(seconds),
        max_batch: MAX_BATCH,
    };
    let outcome = http_load::run_paced(&context.runtime, server.address, load)?;
    let delta = match daemon {
        Some(daemon) => daemon.wait_drained(Duration::from_secs(10))?.since(&before),
        None => Counters::default(),
    };
    let records = delta.records_sent + delta.ringbuf_drops;
    Ok(Step {
        requests_per_second: outcome.requests_per_second(),
        events_per_second: records as f64 / outcome.seconds,
        drops: delta.ringbuf_drops,
        records_sent: delta.records_sent,
    })
}
