//! The HPACK static table (RFC 7541 Appendix A) and a dynamic table
//! (section 4) that tolerates entries it never saw.
//!
//! A decoder attached mid-connection, or one that missed a header block,
//! does not know the encoder's older entries. The dynamic table therefore
//! contains a list of slots, newest first, in which each slot is exactly
//! one entry whose content may be unknown, followed by an unknown tail: any number of older unknown entries with an upper bound on their
//! total size. Indexes into the slot list stay exact, because each slot is
//! one entry. Evictions (section 4.4) remove the oldest entries first, and
//! a slot whose eviction depends on sizes the table does not know moves to
//! the tail. Once insertions have pushed the whole tail out, the table
//! matches the encoder's again.

use std::collections::VecDeque;

/// Per-entry overhead added to the name and value lengths (RFC 7541
/// section 4.1).
pub(super) const ENTRY_OVERHEAD: usize = 32;

/// Number of entries in the static table.
pub(super) const STATIC_TABLE_LEN: usize = 61;

/// The static table, indexes 1 to 61 (RFC 7541 Appendix A).
const STATIC_TABLE: [(&str, &str); STATIC_TABLE_LEN] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// A decoded header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in super::super) struct HeaderField {
    pub(in super::super) name: Vec<u8>,
    pub(in super::super) value: Vec<u8>,
}

impl HeaderField {
    /// Returns the entry size of RFC 7541 section 4.1.
    pub(super) fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

/// Result of looking up a table index.
#[derive(Debug)]
pub(super) enum Lookup {
    Found(HeaderField),
    /// The index names an entry that exists but whose content the table
    /// never saw.
    Unknown,
    /// No entry can have this index, even counting unknown ones.
    Invalid,
}

/// One dynamic table entry, or a placeholder for one unknown entry.
#[derive(Debug)]
struct Slot {
    field: Option<HeaderField>,
    /// Bounds on the entry size; equal when the field is known.
    min_size: usize,
    max_size: usize,
}

/// A dynamic table that may not know some of its entries.
#[derive(Debug)]
pub(super) struct DynamicTable {
    /// Newest first.
    slots: VecDeque<Slot>,
    min_size_sum: usize,
    max_size_sum: usize,
    /// Stored name and value bytes of known slots.
    stored_bytes: usize,
    /// Upper bound on the total size of unknown entries older than every
    /// slot; 0 when there are none.
    tail_max_size: usize,
    /// The maximum table size the encoder uses, from the last dynamic table
    /// size update.
    capacity: usize,
    /// Bound on `stored_bytes`: beyond it, the oldest known slots move to
    /// the tail.
    storage_limit: usize,
}

impl DynamicTable {
    /// Creates a table with maximum size `capacity`. An `unknown_content`
    /// table starts with a tail that may fill all of it.
    pub(super) fn new(capacity: usize, storage_limit: usize, unknown_content: bool) -> Self {
        Self {
            slots: VecDeque::new(),
            min_size_sum: 0,
            max_size_sum: 0,
            stored_bytes: 0,
            tail_max_size: if unknown_content { capacity } else { 0 },
            capacity,
            storage_limit,
        }
    }

    /// Returns whether the table may hold entries it does not know.
    #[cfg(test)]
    pub(super) fn has_unknown_entries(&self) -> bool {
        self.tail_max_size > 0 || self.slots.iter().any(|slot| slot.field.is_none())
    }

    /// Looks up a combined index: 1 to 61 is the static table, and 62 on
    /// is the dynamic table, newest first (RFC 7541 section 2.3.3).
    pub(super) fn get(&self, index: usize) -> Lookup {
        if index == 0 {
            return Lookup::Invalid;
        }
        if let Some(&(name, value)) = STATIC_TABLE.get(index - 1) {
            return Lookup::Found(HeaderField {
                name: name.as_bytes().to_vec(),
                value: value.as_bytes().to_vec(),
            });
        }

        let dynamic_index = index - STATIC_TABLE_LEN - 1;
        match self.slots.get(dynamic_index) {
            Some(Slot {
                field: Some(field), ..
            }) => Lookup::Found(field.clone()),
            Some(Slot { field: None, .. }) => Lookup::Unknown,
            None if self.tail_max_size > 0 => Lookup::Unknown,
            None => Lookup::Invalid,
        }
    }

    /// Inserts a known field as the newest entry, evicting old ones.
    pub(super) fn insert(&mut self, field: HeaderField) {
        let size = field.size();
        self.stored_bytes += field.name.len() + field.value.len();
        self.push_slot(Slot {
            field: Some(field),
            min_size: size,
            max_size: size,
        });
    }

    /// Inserts an entry whose name is unknown but whose value has
    /// `value_len` bytes, so only bounds on its size are known.
    pub(super) fn insert_unknown(&mut self, value_len: usize) {
        let min_size = ENTRY_OVERHEAD + value_len;
        self.push_slot(Slot {
            field: None,
            min_size,
            max_size: self.capacity.max(min_size),
        });
    }

    /// Applies a dynamic table size update (RFC 7541 section 6.3).
    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.evict();
    }

    /// Forgets every entry: after a lost header block, the encoder may have
    /// inserted entries this table never saw, so no index can be trusted.
    pub(super) fn forget_all(&mut self) {
        self.slots.clear();
        self.min_size_sum = 0;
        self.max_size_sum = 0;
        self.stored_bytes = 0;
        self.tail_max_size = self.capacity;
    }

    fn push_slot(&mut self, slot: Slot) {
        self.min_size_sum += slot.min_size;
        self.max_size_sum = self.max_size_sum.saturating_add(slot.max_size);
        self.slots.push_front(slot);
        self.evict();
    }

    /// Evicts the oldest entries until the table fits its capacity. Adding
    /// first and evicting after gives the result of section 4.4, where an
    /// entry larger than the table empties it and is not kept.
    fn evict(&mut self) {
        loop {
            // Whatever of the tail survives must fit beside the slots.
            self.tail_max_size = self
                .tail_max_size
                .min(self.capacity.saturating_sub(self.min_size_sum));
            if self.tail_max_size < ENTRY_OVERHEAD {
                self.tail_max_size = 0;
            }

            if self.min_size_sum > self.capacity {
                // Even at their smallest the slots overflow: the tail is gone
                // and the oldest slot is evicted for certain.
                self.pop_oldest();
            } else if self.max_size_sum > self.capacity {
                // Whether the oldest slot survives depends on sizes the table
                // does not know.
                let Some(slot) = self.pop_oldest() else {
                    break;
                };
                self.tail_max_size = self.tail_max_size.saturating_add(slot.max_size);
            } else {
                break;
            }
        }

        while self.stored_bytes > self.storage_limit {
            let Some(slot) = self.pop_oldest() else {
                break;
            };
            self.tail_max_size = self.tail_max_size.saturating_add(slot.max_size);
        }
    }

    fn pop_oldest(&mut self) -> Option<Slot> {
        let slot = self.slots.pop_back()?;
        self.min_size_sum -= slot.min_size;
        self.max_size_sum = self.max_size_sum.saturating_sub(slot.max_size);
        if let Some(field) = &slot.field {
            self.stored_bytes -= field.name.len() + field.value.len();
        }
        if self.slots.is_empty() {
            // Resets the saturating sum, which may have stuck at its bound.
            self.max_size_sum = 0;
        }
        Some(slot)
    }
}
