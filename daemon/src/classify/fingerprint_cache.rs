//! A cache of recent fingerprints, so a value that recurs across calls (a
//! customer's e-mail address, a city, a name) is given to HMAC-SHA256 once
//! instead of on every call. HMAC was the largest single cost of a scan.
//!
//! The cache keeps no values. Each slot contains a 64-bit tag of the data type
//! and the value's canonical form, made with a SipHash-1-3 key drawn at
//! random for each cache, and the fingerprint. The key never leaves the
//! process, so a sender cannot craft a value whose tag matches another
//! value's and take its fingerprint. Slots are direct-mapped and
//! overwritten, so the memory is fixed: [`SLOTS`] slots of 24 bytes.
//!
//! NOTE: two distinct values whose tags collide by chance would share a
//! fingerprint. With 64-bit tags that is about one lookup in 2^52 for a
//! full cache, far below the rate of any other error in the findings.

use std::hash::{BuildHasher, Hasher, RandomState};

use super::fingerprint::FINGERPRINT_BYTES;
use super::registry::TypeId;

/// Number of slots, a power of two.
pub const SLOTS: usize = 4096;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// Zero in an empty slot; a tag of zero is never stored.
    tag: u64,
    fingerprint: [u8; FINGERPRINT_BYTES],
}

pub struct FingerprintCache {
    slots: Box<[Slot]>,
    key: RandomState,
}

impl Default for FingerprintCache {
    fn default() -> Self {
        Self {
            slots: vec![Slot::default(); SLOTS].into_boxed_slice(),
            key: RandomState::new(),
        }
    }
}

impl FingerprintCache {
    /// Returns the fingerprint of `value` as a `data_type` value, from the
    /// cache or else from `compute`, which is then remembered.
    pub fn get_or_compute(
        &mut self,
        data_type: TypeId,
        value: &[u8],
        compute: impl FnOnce() -> [u8; FINGERPRINT_BYTES],
    ) -> [u8; FINGERPRINT_BYTES] {
        let tag = self.tag(data_type, value);
        // The low bits pick the slot, and all 64 must match.
        let slot = &mut self.slots[tag as usize & (SLOTS - 1)];
        if slot.tag == tag {
            return slot.fingerprint;
        }
        let fingerprint = compute();
        *slot = Slot { tag, fingerprint };
        fingerprint
    }

    fn tag(&self, data_type: TypeId, value: &[u8]) -> u64 {
        let mut hasher = self.key.build_hasher();
        hasher.write_u16(data_type);
        hasher.write(value);
        // Zero marks an empty slot.
        hasher.finish().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_value_computed_once() {
        let mut cache = FingerprintCache::default();
        let mut computed = 0;
        for _ in 0..3 {
            let fingerprint = cache.get_or_compute(3, b"ada@example.com", || {
                computed += 1;
                [7; FINGERPRINT_BYTES]
            });
            assert_eq!(fingerprint, [7; FINGERPRINT_BYTES]);
        }
        assert_eq!(computed, 1);
    }

    #[test]
    fn type_and_value_both_key() {
        let mut cache = FingerprintCache::default();
        cache.get_or_compute(3, b"value", || [1; FINGERPRINT_BYTES]);
        let other_type = cache.get_or_compute(4, b"value", || [2; FINGERPRINT_BYTES]);
        assert_eq!(other_type, [2; FINGERPRINT_BYTES], "another type misses");
        let other_value = cache.get_or_compute(3, b"value2", || [3; FINGERPRINT_BYTES]);
        assert_eq!(other_value, [3; FINGERPRINT_BYTES], "another value misses");
    }

    #[test]
    fn evicted_value_computed_again() {
        let mut cache = FingerprintCache::default();
        // More distinct values than slots: most early ones are overwritten.
        for index in 0..(4 * SLOTS as u32) {
            cache.get_or_compute(0, &index.to_le_bytes(), || [0; FINGERPRINT_BYTES]);
        }
        let mut recomputed = 0;
        for index in 0..64u32 {
            cache.get_or_compute(0, &index.to_le_bytes(), || {
                recomputed += 1;
                [0; FINGERPRINT_BYTES]
            });
        }
        assert!(recomputed > 0, "a full cache recomputes what it lost");
    }
}
