//! The API's request to the capture thread to write the new transactions it
//! keeps in memory, so a transaction listing includes every counted call.

use std::{
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// A request from the API to the capture thread to write the transactions
/// it keeps for up to [`super::PENDING_WINDOW`], so a listing includes every
/// counted call.
#[derive(Default)]
pub struct PendingWrites {
    /// Transactions kept in memory, as the capture thread last published.
    count: AtomicUsize,
    flush_requested: AtomicBool,
}

impl PendingWrites {
    /// Requests a write of the kept transactions and waits until it is done,
    /// or until `timeout`. The capture thread reads the request at
    /// least once per poll interval.
    pub fn write_now(&self, timeout: Duration) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        self.flush_requested.store(true, Ordering::Release);
        let deadline = Instant::now() + timeout;
        while self.count.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Publishes how many transactions the capture thread keeps in memory.
    pub(super) fn publish(&self, pending_count: usize) {
        self.count.store(pending_count, Ordering::Release);
    }

    /// Returns whether the API asked for a write since the last call.
    pub(super) fn take_request(&self) -> bool {
        self.flush_requested.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn write_now_without_pending_asks_nothing() {
        let pending = PendingWrites::default();
        pending.write_now(Duration::from_secs(60));
        assert!(!pending.flush_requested.load(Ordering::Acquire));
    }

    #[test]
    fn write_now_waits_for_the_capture_thread() {
        let pending = Arc::new(PendingWrites::default());
        pending.count.store(3, Ordering::Release);

        // Stands in for the capture thread: writes once asked.
        let capture = {
            let pending = Arc::clone(&pending);
            std::thread::spawn(move || {
                while !pending.flush_requested.swap(false, Ordering::AcqRel) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                pending.count.store(0, Ordering::Release);
            })
        };
        pending.write_now(Duration::from_secs(60));
        assert_eq!(
            pending.count.load(Ordering::Acquire),
            0,
            "returned once written"
        );
        capture.join().unwrap();
    }

    #[test]
    fn write_now_gives_up_when_nobody_writes() {
        let pending = PendingWrites::default();
        pending.count.store(3, Ordering::Release);
        pending.write_now(Duration::from_millis(10));
        assert!(
            pending.flush_requested.load(Ordering::Acquire),
            "the request stays for the capture thread"
        );
        assert_eq!(pending.count.load(Ordering::Acquire), 3);
    }
}
