//! A ztapid under benchmark: started with its own socket and data
//! directory, read through `ztapi status --json`, and stopped by pid.

use std::{
    fs::File,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use serde_json::Value;

use super::{
    system::{ChildProcess, TempDir},
    Context,
};

/// Time ztapid gets to load the sensor and answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Time a library scan gets to hook a library; the daemon scans every
/// second by default.
const HOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// Time between status reads while waiting. The pipeline publishes its
/// counters every 250 ms.
const POLL_INTERVAL: Duration = Duration::from_millis(300);

/// The counters the benchmarks read from `ztapi status --json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Records the kernel wrote to the ring buffer (`kernel.records_sent`).
    pub records_sent: u64,
    /// Records lost because the ring buffer was full
    /// (`kernel.ringbuf_drops`).
    pub ringbuf_drops: u64,
    /// TLS calls that moved plaintext (`kernel.tls_calls`).
    pub tls_calls: u64,
    /// Ring-buffer records the daemon read (`pipeline.records`).
    pub records: u64,
    pub transactions: u64,
    pub connections_open: u64,
    pub flows_open: u64,
}

impl Counters {
    /// Counts from `earlier` to `self`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            records_sent: self.records_sent.saturating_sub(earlier.records_sent),
            ringbuf_drops: self.ringbuf_drops.saturating_sub(earlier.ringbuf_drops),
            tls_calls: self.tls_calls.saturating_sub(earlier.tls_calls),
            records: self.records.saturating_sub(earlier.records),
            transactions: self.transactions.saturating_sub(earlier.transactions),
            connections_open: self.connections_open,
            flows_open: self.flows_open,
        }
    }

    fn from_status(status: &Value) -> anyhow::Result<Self> {
        let number = |section: &str, key: &str| -> anyhow::Result<u64> {
            status[section][key]
                .as_u64()
                .with_context(|| format!("ztapi status --json has no number {section}.{key}"))
        };
        Ok(Self {
            records_sent: number("kernel", "records_sent")?,
            ringbuf_drops: number("kernel", "ringbuf_drops")?,
            tls_calls: number("kernel", "tls_calls")?,
            records: number("pipeline", "records")?,
            transactions: number("pipeline", "transactions")?,
            connections_open: number("pipeline", "connections_open")?,
            flows_open: number("pipeline", "flows_open")?,
        })
    }
}

/// A running ztapid; dropping it stops the process.
pub struct Daemon {
    process: ChildProcess,
    socket: PathBuf,
    ztapi: PathBuf,
    log: PathBuf,
    _directory: TempDir,
}

impl Daemon {
    /// Starts ztapid with the default configuration, its own socket and a
    /// fresh data directory, and waits until it answers.
    pub fn start(context: &Context, label: &str) -> anyhow::Result<Self> {
        let directory = TempDir::new(&format!("ztapid-{label}"))?;
        let socket = directory.path().join("ztapid.sock");
        let log = directory.path().join("ztapid.log");
        let log_file =
            File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;

        let mut command = Command::new(&context.ztapid);
        command
            .arg("--socket")
            .arg(&socket)
            .arg("--data-dir")
            .arg(directory.path().join("data"))
            .env("RUST_LOG", "info,sled=warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().context("cannot share the log file")?)
            .stderr(log_file);
        let process = ChildProcess::spawn("ztapid", &mut command)?;
        let mut daemon = Self {
            process,
            socket,
            ztapi: context.ztapi.clone(),
            log,
            _directory: directory,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = daemon.process.exited() {
                bail!(
                    "ztapid exited with {status} during start:\n{}",
                    daemon.log_tail()
                );
            }
            if daemon.status().is_ok() {
                return Ok(daemon);
            }
            if Instant::now() >= deadline {
                bail!(
                    "ztapid did not answer on {} within {START_TIMEOUT:?}:\n{}",
                    daemon.socket.display(),
                    daemon.log_tail()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The daemon's status report, as `ztapi status --json` prints it.
    pub fn status(&self) -> anyhow::Result<Value> {
        let output = Command::new(&self.ztapi)
            .args(["status", "--json", "--socket"])
            .arg(&self.socket)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.ztapi.display()))?;
        if !output.status.success() {
            bail!(
                "ztapi status failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        serde_json::from_slice(&output.stdout).context("ztapi status --json printed invalid JSON")
    }

    pub fn counters(&self) -> anyhow::Result<Counters> {
        Counters::from_status(&self.status()?)
    }

    /// Waits until the daemon has uprobes on the library file `file_id`
    /// (`MAJOR:MINOR:INODE`, as in `ztapi status`).
    pub fn wait_hooked(&self, file_id: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + HOOK_TIMEOUT;
        loop {
            let status = self.status()?;
            let hooked = status["libraries"].as_array().is_some_and(|libraries| {
                libraries.iter().any(|library| {
                    library["file"].as_str() == Some(file_id)
                        && library["probes"].as_u64().unwrap_or(0) > 0
                })
            });
            if hooked {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "ztapid did not hook the library {file_id} within {HOOK_TIMEOUT:?}; libraries: {}\n{}",
                    status["libraries"],
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until the daemon has read every record the kernel sent, or
    /// until the count of read records stops moving, and returns the
    /// counters then.
    pub fn wait_drained(&self, timeout: Duration) -> anyhow::Result<Counters> {
        let deadline = Instant::now() + timeout;
        let mut previous = self.counters()?;
        loop {
            std::thread::sleep(POLL_INTERVAL);
            let current = self.counters()?;
            // Records of other traffic on the node may trickle in, so an
            // unchanged count over two reads also counts as drained.
            if current.records >= current.records_sent || current.records == previous.records {
                return Ok(current);
            }
            if Instant::now() >= deadline {
                return Ok(current);
            }
            previous = current;
        }
    }

    /// Stops the daemon with SIGTERM and checks that it exited cleanly.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = self.process.stop()?;
        if !status.success() {
            bail!("ztapid exited with {status}:\n{}", self.log_tail());
        }
        Ok(())
    }

    /// The last lines of the daemon's log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}
