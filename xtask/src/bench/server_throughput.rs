//! The `server-throughput` benchmark: nginx over TLS on 127.0.0.1 under
//! wrk, with and without ztapid, for a tiny static response (the worst
//! case: almost all of a request's cost is the TLS calls ztapid hooks) and
//! for an API behind nginx that takes about a millisecond per request (the
//! common case).

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context as _};

use super::{
    alternate,
    daemon::Daemon,
    http_load, median,
    nginx::Nginx,
    report::{Figure, Outcome},
    system::run_bounded,
    tls::MappedLibrary,
    Context,
};

/// wrk connections: enough to keep one nginx worker busy.
const CONNECTIONS: u32 = 32;

/// Delay of the API behind nginx.
const API_DELAY: Duration = Duration::from_millis(1);

const VARIANTS: [&str; 2] = ["without ztapid", "with ztapid"];

/// Requests per second of the two workloads in one run.
#[derive(Clone, Copy, Debug)]
struct Throughput {
    static_response: f64,
    api: f64,
}

pub fn run(context: &Context) -> anyhow::Result<Outcome> {
    let library = MappedLibrary::find()?;
    let upstream = http_load::Server::start(&context.runtime, Some(API_DELAY))?;
    let nginx = Nginx::start(context, upstream.address)?;
    let seconds = context.pick(3, 10);

    let results = alternate(context.rounds, &VARIANTS, |_, variant| {
        let daemon = if variant == 1 {
            let daemon = Daemon::start(context, "server-throughput")?;
            daemon.wait_hooked(&library.file_id)?;
            Some(daemon)
        } else {
            None
        };
        let throughput = Throughput {
            static_response: wrk(&nginx.tls_url("/static"), seconds)?,
            api: wrk(&nginx.tls_url("/api/items/42"), seconds)?,
        };
        if let Some(daemon) = daemon {
            daemon.stop()?;
        }
        Ok(throughput)
    })?;

    let medians = |pick: fn(&Throughput) -> f64| -> [f64; 2] {
        [0, 1].map(|variant| median(&results[variant].iter().map(pick).collect::<Vec<_>>()))
    };
    let static_response = medians(|throughput| throughput.static_response);
    let api = medians(|throughput| throughput.api);
    let mut outcome = Outcome::default();
    outcome.push(
        Figure::new(
            "server-throughput.static",
            "nginx TLS, tiny static response, with ztapid",
            "req/s",
            static_response[1],
        )
        .baseline("without ztapid", static_response[0]),
    );
    outcome.push(
        Figure::new(
            "server-throughput.api",
            "nginx TLS, proxied API taking about 1 ms, with ztapid",
            "req/s",
            api[1],
        )
        .baseline("without ztapid", api[0]),
    );
    outcome.note(format!(
        "1 nginx worker; wrk with 1 thread and {CONNECTIONS} connections for {seconds} s per run"
    ));
    drop(nginx);
    Ok(outcome)
}

/// Runs wrk against `url` for `seconds` and returns its requests per second.
fn wrk(url: &str, seconds: u64) -> anyhow::Result<f64> {
    let mut command = Command::new("wrk");
    command
        .args(["--threads", "1", "--connections", &CONNECTIONS.to_string()])
        .args(["--duration", &format!("{seconds}s"), url])
        .stdin(Stdio::null());
    let output = run_bounded("wrk", &mut command, Duration::from_secs(seconds + 30))
        .context("running wrk failed; is the wrk package installed?")?;
    if output.contains("Non-2xx or 3xx responses") {
        bail!("nginx returned error responses under wrk:\n{output}");
    }
    output
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
        .with_context(|| format!("no Requests/sec line in the output of wrk:\n{output}"))
}
