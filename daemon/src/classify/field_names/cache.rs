//! A per-thread cache of classified field names.
//!
//! API bodies repeat the same keys in every array element and every response
//! of an endpoint, so most keys are found here instead of being split into
//! words and matched again. The cache is looked up once per JSON key, which
//! makes its lookup part of the walker's hot path: a key is packed into
//! words with overlapping unaligned loads straight from the body, never
//! copied into a padded buffer first.

use std::cell::RefCell;

use super::{classify_field_uncached, CustomFieldNames, FieldInfo, FieldKinds};

/// Number of sets in a [`FieldCache`], each of [`WAYS`] entries.
const CACHE_SETS: usize = 256;

/// Entries per set: two keys whose hashes share a set can both stay, so a
/// collision between two keys of one object does not make them evict each
/// other at every element of an array.
const WAYS: usize = 2;

/// Maximum length of a key kept in a [`FieldCache`]. Longer keys are
/// classified at every lookup.
const CACHE_KEY_LEN: usize = 32;

/// A classified key in a [`FieldCache`], one cache line each, so a lookup
/// touches one line per way.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct CacheEntry {
    /// [`CustomFieldNames::cache_owner`] of the classifier, 0 for an empty
    /// slot.
    owner: u64,
    parent: u32,
    length: u8,
    /// The key as [`pack_key`] packs it.
    key: [u64; 4],
    info: FieldInfo,
}

const EMPTY_ENTRY: CacheEntry = CacheEntry {
    owner: 0,
    parent: 0,
    length: 0,
    key: [0; 4],
    info: FieldInfo {
        kinds: FieldKinds::empty(),
        custom: 0,
    },
};

/// Recently classified keys in a two-way set-associative table, indexed by
/// a hash of the key and its parent's flags.
pub struct FieldCache {
    sets: Vec<[CacheEntry; WAYS]>,
}

impl FieldCache {
    pub(super) fn new() -> Self {
        Self {
            sets: vec![[EMPTY_ENTRY; WAYS]; CACHE_SETS],
        }
    }

    /// Classifies `key` under `parent`, as
    /// [`classify_field`](super::classify_field) does.
    pub fn classify(
        &mut self,
        key: &[u8],
        parent: &FieldInfo,
        custom: &CustomFieldNames,
    ) -> FieldInfo {
        if key.len() > CACHE_KEY_LEN {
            return classify_field_uncached(key, parent, custom);
        }

        // The words stay scalars: comparing them as an array made the
        // compiler spill them with two 8-byte stores and reload them with
        // one 16-byte load, which cannot be store-forwarded and stalled
        // every lookup.
        let [w0, w1, w2, w3] = pack_key(key);
        // The four products are independent, so they run in parallel rather
        // than as a chain, and the high bits of a product depend on every
        // bit of its word.
        let hash = w0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ w1.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            ^ w2.wrapping_mul(0x1656_67b1_9e37_79f9)
            ^ w3.wrapping_mul(0x85eb_ca77_c2b2_ae63)
            ^ (key.len() as u64 | u64::from(parent.kinds.0) << 8)
                .wrapping_mul(0x27d4_eb2f_1656_67c5);
        let set = &mut self.sets[(hash >> 56) as usize % CACHE_SETS];

        let matches = |entry: &CacheEntry| {
            let different = (entry.key[0] ^ w0)
                | (entry.key[1] ^ w1)
                | (entry.key[2] ^ w2)
                | (entry.key[3] ^ w3)
                | (entry.owner ^ custom.cache_owner)
                | u64::from(entry.parent ^ parent.kinds.0)
                | (u64::from(entry.length) ^ key.len() as u64);
            different == 0
        };
        if matches(&set[0]) {
            return set[0].info;
        }
        if matches(&set[1]) {
            // Keep the most recently used entry first.
            set.swap(0, 1);
            return set[0].info;
        }

        let info = classify_field_uncached(key, parent, custom);
        set[1] = set[0];
        set[0] = CacheEntry {
            owner: custom.cache_owner,
            parent: parent.kinds.0,
            length: key.len() as u8,
            key: [w0, w1, w2, w3],
            info,
        };
        info
    }
}

/// Packs a key of at most [`CACHE_KEY_LEN`] bytes into four words. Keys of
/// four bytes or more are read as overlapping head and tail loads that
/// together cover every byte. So two keys of the same length pack alike only
/// when they are equal, and the cache compares lengths as well.
fn pack_key(key: &[u8]) -> [u64; 4] {
    let length = key.len();
    let u32_at = |at: usize| {
        u64::from(u32::from_le_bytes(
            key[at..at + 4].try_into().expect("4-byte slice"),
        ))
    };
    let u64_at = |at: usize| u64::from_le_bytes(key[at..at + 8].try_into().expect("8-byte slice"));

    match length {
        0..=3 => {
            let mut word = 0u64;
            for (index, &byte) in key.iter().enumerate() {
                word |= u64::from(byte) << (8 * index);
            }
            [word, 0, 0, 0]
        }
        4..=8 => [u32_at(0) | (u32_at(length - 4) << 32), 0, 0, 0],
        9..=16 => [u64_at(0), u64_at(length - 8), 0, 0],
        _ => [
            u64_at(0),
            u64_at(8),
            u64_at(length - 16),
            u64_at(length - 8),
        ],
    }
}

thread_local! {
    static FIELD_CACHE: RefCell<FieldCache> = RefCell::new(FieldCache::new());
}

/// Runs `work` with this thread's field cache, or with a fresh one when the
/// thread's cache is already in use further up the stack.
pub fn with_field_cache<R>(work: impl FnOnce(&mut FieldCache) -> R) -> R {
    FIELD_CACHE.with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => work(&mut cache),
        Err(_) => work(&mut FieldCache::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_key_distinguishes_every_byte() {
        for length in 1..=CACHE_KEY_LEN {
            let key: Vec<u8> = (0..length as u8).map(|index| b'a' + index).collect();
            let packed = pack_key(&key);
            for position in 0..length {
                let mut changed = key.clone();
                changed[position] = b'Z';
                assert_ne!(
                    pack_key(&changed),
                    packed,
                    "length {length}, byte {position} changed"
                );
            }
        }
    }

    #[test]
    fn cache_returns_uncached_classification() {
        let custom = CustomFieldNames::default();
        let mut cache = FieldCache::new();
        let keys: [&[u8]; 6] = [
            b"id",
            b"email",
            b"first_name",
            b"billingAddressLine1",
            b"a_very_long_key_name_of_33_bytes_",
            b"name",
        ];
        let person = FieldInfo {
            kinds: FieldKinds::PERSON_CONTEXT,
            custom: 0,
        };
        for parent in [FieldInfo::default(), person] {
            for _ in 0..2 {
                for key in keys {
                    assert_eq!(
                        cache.classify(key, &parent, &custom),
                        classify_field_uncached(key, &parent, &custom),
                        "key {:?}",
                        String::from_utf8_lossy(key)
                    );
                }
            }
        }
    }
}
