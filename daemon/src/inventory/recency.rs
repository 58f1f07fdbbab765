//! Least-recently-used order over keys, for evicting the stalest entry of a
//! bounded map in O(log n).
//!
//! Each use of a key takes a fresh tick from a counter, and the entry stores
//! its tick so the caller can move or remove it. Ticks order uses, not time:
//! wall-clock times from captured traffic can go backwards, ticks cannot.

use std::collections::BTreeMap;

/// Keys ordered by their last use.
#[derive(Clone, Debug)]
pub(super) struct RecencyIndex<K> {
    by_tick: BTreeMap<u64, K>,
    next_tick: u64,
}

impl<K> Default for RecencyIndex<K> {
    fn default() -> Self {
        RecencyIndex {
            by_tick: BTreeMap::new(),
            next_tick: 0,
        }
    }
}

impl<K> RecencyIndex<K> {
    /// Marks `key` as the most recently used and returns its new tick.
    /// `previous` is the tick the key had, if any, which is dropped.
    pub(super) fn touch(&mut self, key: K, previous: Option<u64>) -> u64 {
        if let Some(tick) = previous {
            self.by_tick.remove(&tick);
        }
        let tick = self.next_tick;
        // 2^64 uses cannot happen in a process's life, so this never wraps.
        self.next_tick += 1;
        self.by_tick.insert(tick, key);
        tick
    }

    /// Puts `key` back at a tick it was given earlier, for example after a
    /// merge that keeps the newer of two entries' ticks.
    pub(super) fn reinsert(&mut self, key: K, tick: u64) {
        self.by_tick.insert(tick, key);
    }

    /// Forgets the entry at `tick`.
    pub(super) fn remove(&mut self, tick: u64) {
        self.by_tick.remove(&tick);
    }

    /// Removes and returns the least recently used key.
    pub(super) fn pop_oldest(&mut self) -> Option<K> {
        self.by_tick.pop_first().map(|(_, key)| key)
    }
}
