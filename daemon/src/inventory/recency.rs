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

    /// Moves the key used at `previous` to a new tick and returns it; the
    /// key itself is moved, not copied. A tick not in the index is left
    /// alone and a fresh one returned.
    pub(super) fn retouch(&mut self, previous: u64) -> u64 {
        let tick = self.next_tick;
        self.next_tick += 1;
        if let Some(key) = self.by_tick.remove(&previous) {
            self.by_tick.insert(tick, key);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retouched_key_becomes_newest() {
        let mut index = RecencyIndex::default();
        let first = index.touch("a", None);
        index.touch("b", None);
        let moved = index.retouch(first);
        assert!(moved > first);
        assert_eq!(index.pop_oldest(), Some("b"), "a was used after b");
        assert_eq!(index.pop_oldest(), Some("a"));
        assert_eq!(index.pop_oldest(), None);
    }

    #[test]
    fn retouch_of_unknown_tick_adds_nothing() {
        let mut index: RecencyIndex<&str> = RecencyIndex::default();
        index.retouch(42);
        assert_eq!(index.pop_oldest(), None);
    }
}
