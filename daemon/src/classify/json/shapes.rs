//! A memo of the keys met at each place of one JSON document.
//!
//! The elements of an array of objects repeat the same keys in the same
//! order. The walker records, for each place, the last key seen there with
//! its classification, and the next element compares its bytes with it
//! instead of searching for the closing quote and looking the key up in the
//! field cache.
//!
//! A place is a slot: the n-th key of an object, or the elements of an
//! array. Each slot can lead to the node of the container that is its
//! value, so the slots form a tree that follows the document's nesting, and
//! the `customer` object of every order in a list shares one node. Every
//! reuse is checked against the current bytes and the parent's evidence, so
//! the memo changes how fast a body is walked, never what is found.

use std::cell::RefCell;

use crate::classify::field_names::{FieldInfo, FieldKinds};

/// Maximum number of slots in one document's memo. Keys beyond it are
/// classified through the field cache as usual. The bound keeps the memo
/// of a body with thousands of distinct keys small.
const MAX_SLOTS: usize = 2048;

/// Node index of the top level, whose slot 0 is the place of top-level values.
pub const ROOT: u32 = 0;

/// `key_len` of a slot without a remembered key.
const NONE: usize = usize::MAX;

/// The memory of one place in the document. Ranges are offsets in the body
/// being walked.
#[derive(Clone, Copy)]
pub struct Slot {
    /// Start of the last key seen here, which had no escapes.
    key_start: usize,
    /// Length of that key, or [`NONE`].
    key_len: usize,
    /// Evidence of the enclosing container when the key was classified.
    context: FieldInfo,
    /// The key's classification under `context`.
    pub info: FieldInfo,
    /// Node of the container that was last the value here, or [`ROOT`] for
    /// none (the top level is never a child).
    child: u32,
}

const NO_FIELD: FieldInfo = FieldInfo {
    kinds: FieldKinds::empty(),
    custom: 0,
};

const EMPTY_SLOT: Slot = Slot {
    key_start: 0,
    key_len: NONE,
    context: NO_FIELD,
    info: NO_FIELD,
    child: ROOT,
};

/// The memo of one document: nodes, each with the slots of one container.
pub struct Shapes {
    /// Nodes in use are `nodes[..used]`. Nodes past it keep their slot
    /// buffers from earlier documents, so a walk allocates only while the
    /// memo grows beyond what earlier walks needed.
    nodes: Vec<Vec<Slot>>,
    used: usize,
    slot_count: usize,
}

impl Shapes {
    fn new() -> Self {
        let mut shapes = Self {
            nodes: Vec::new(),
            used: 0,
            slot_count: 0,
        };
        shapes.reset();
        shapes
    }

    /// Forgets the previous document, whose offsets mean nothing in the
    /// next one, and leaves the root node with its one slot.
    pub fn reset(&mut self) {
        for node in &mut self.nodes[..self.used] {
            node.clear();
        }
        if self.nodes.is_empty() {
            self.nodes.push(Vec::new());
        }
        self.nodes[ROOT as usize].push(EMPTY_SLOT);
        self.used = 1;
        self.slot_count = 1;
    }

    /// Returns slot `index` of `node`, adding it when it is the next one and
    /// the memo has room. Returns `None` past the end or when full.
    #[inline(always)]
    pub fn slot(&mut self, node: u32, index: u32) -> Option<&mut Slot> {
        let slots = &mut self.nodes[node as usize];
        let index = index as usize;
        if index == slots.len() && self.slot_count < MAX_SLOTS {
            slots.push(EMPTY_SLOT);
            self.slot_count += 1;
        }
        slots.get_mut(index)
    }

    /// Returns the node of the container that is the value at slot `index`
    /// of `node`, creating it when the slot has none. Returns `None` when the
    /// slot does not exist or the memo is full, and the container then goes
    /// without a memo.
    pub fn child(&mut self, node: Option<u32>, index: u32) -> Option<u32> {
        let node = node?;
        let existing = self.slot(node, index)?.child;
        if existing != ROOT {
            return Some(existing);
        }
        if self.slot_count >= MAX_SLOTS {
            return None;
        }

        let created = self.used;
        if created == self.nodes.len() {
            self.nodes.push(Vec::new());
        }
        self.used += 1;
        let created = created as u32;
        self.slot(node, index)?.child = created;
        Some(created)
    }
}

impl Slot {
    /// Returns the length of the remembered key when `body[start..]` begins
    /// with that key and its closing quote, and the key's container has the
    /// same evidence as when it was classified. The remembered key had no
    /// escapes, so equal bytes contain none either.
    #[inline(always)]
    pub fn matching_key(&self, body: &[u8], start: usize, context: &FieldInfo) -> Option<usize> {
        let length = self.key_len;
        if length == NONE || self.context != *context {
            return None;
        }
        if body.get(start + length) != Some(&b'"') {
            return None;
        }
        equal_ranges(body, self.key_start, start, length).then_some(length)
    }

    /// Remembers the key at `body[start..start + length]`, classified as
    /// `info` under `context`. `None` clears the key, as for a key with
    /// escapes, which is never matched.
    pub fn remember_key(
        &mut self,
        key: Option<(usize, usize)>,
        context: FieldInfo,
        info: FieldInfo,
    ) {
        (self.key_start, self.key_len) = key.unwrap_or((0, NONE));
        self.context = context;
        self.info = info;
    }
}

/// Compares `body[a..a + length]` with `body[b..b + length]`, both in
/// bounds. Most keys fit in one or two words, which are compared inline
/// rather than through a `memcmp` call.
#[inline(always)]
fn equal_ranges(body: &[u8], a: usize, b: usize, length: usize) -> bool {
    let left = &body[a..a + length];
    let right = &body[b..b + length];
    let u64_at = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8-byte slice"))
    };
    let u32_at = |bytes: &[u8], at: usize| {
        u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4-byte slice"))
    };

    match length {
        0..=3 => left == right,
        4..=8 => {
            // Overlapping head and tail loads cover every byte.
            u32_at(left, 0) == u32_at(right, 0)
                && u32_at(left, length - 4) == u32_at(right, length - 4)
        }
        9..=16 => {
            u64_at(left, 0) == u64_at(right, 0)
                && u64_at(left, length - 8) == u64_at(right, length - 8)
        }
        _ => left == right,
    }
}

thread_local! {
    static SHAPES: RefCell<Shapes> = RefCell::new(Shapes::new());
}

/// Runs `work` with this thread's memo, reset for a new document, or with a
/// fresh one when the thread's memo is already in use further up the stack.
pub fn with_shapes<R>(work: impl FnOnce(&mut Shapes) -> R) -> R {
    SHAPES.with(|shapes| match shapes.try_borrow_mut() {
        Ok(mut shapes) => {
            shapes.reset();
            work(&mut shapes)
        }
        Err(_) => work(&mut Shapes::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_ranges_checks_every_byte() {
        for length in 0..=40 {
            let mut body: Vec<u8> = (0..length as u8).map(|index| b'a' + index % 26).collect();
            body.extend_from_within(..);
            for position in 0..length {
                let mut changed = body.clone();
                changed[length + position] = b'#';
                assert!(
                    !equal_ranges(&changed, 0, length, length),
                    "length {length}, byte {position} changed"
                );
            }
            assert!(equal_ranges(&body, 0, length, length), "length {length}");
        }
    }

    #[test]
    fn memo_is_bounded() {
        let mut shapes = Shapes::new();
        let mut added = 0;
        while shapes.slot(ROOT, added + 1).is_some() {
            added += 1;
        }
        assert_eq!(shapes.slot_count, MAX_SLOTS);
        assert!(shapes.child(Some(ROOT), 0).is_none());
        shapes.reset();
        assert_eq!(shapes.slot_count, 1);
        assert!(shapes.child(Some(ROOT), 0).is_some());
    }
}
