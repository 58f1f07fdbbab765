//! The capture thread: drains the event ring buffer and feeds the pipeline.
//!
//! The sensor writes records without waking user space, except when the
//! unconsumed data passes a threshold, so this thread both waits for that
//! wakeup and polls on a short timer. A plain thread rather than a tokio task,
//! because all of its work is CPU-bound and it owns the pipeline state alone.

use std::{
    os::fd::{AsRawFd, RawFd},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tracing::{info, warn};

use super::sensor::SensorStreams;
use crate::pipeline::Pipeline;

/// Records handled between housekeeping steps, so a flood cannot starve
/// the idle-connection sweep and store flushes.
const BATCH_RECORDS: usize = 4096;

/// Time between housekeeping steps (idle sweep, retention, flush).
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);

/// Waits until `fd` is readable or `timeout` passes.
fn wait_readable(fd: RawFd, timeout: Duration) {
    let mut poll_fd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and the count says one.
    unsafe { libc::poll(&mut poll_fd, 1, timeout.as_millis() as libc::c_int) };
}

/// Runs until `stop` is set, then drains what is left and finishes the
/// pipeline (open connections flushed, store synced).
pub fn run(
    mut streams: SensorStreams,
    mut pipeline: Pipeline,
    stop: Arc<AtomicBool>,
    poll_interval: Duration,
) {
    info!(
        poll_interval_ms = poll_interval.as_millis() as u64,
        "capture thread started"
    );
    let fd = streams.events.as_raw_fd();
    let mut last_housekeeping = Instant::now();

    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let mut handled = 0;
        while let Some(record) = streams.events.next() {
            pipeline.handle_record(&record);
            drop(record);
            handled += 1;
            if handled == BATCH_RECORDS && !stopping {
                break;
            }
        }
        if let Some(logger) = streams.logger.as_mut() {
            logger.flush();
        }
        pipeline.write_pending_if_due();

        if last_housekeeping.elapsed() >= HOUSEKEEPING_INTERVAL {
            pipeline.housekeeping();
            last_housekeeping = Instant::now();
        }
        if stopping {
            break;
        }
        if handled < BATCH_RECORDS {
            wait_readable(fd, poll_interval);
        }
    }

    if let Err(error) = pipeline.finish() {
        warn!(
            error = format!("{error:#}"),
            "flushing the store at shutdown failed"
        );
    }
    info!("capture thread stopped");
}
