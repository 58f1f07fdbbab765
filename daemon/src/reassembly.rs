//! TCP stream reassembly: one direction of a connection, rebuilt in order
//! from captured segments by sequence number.
//!
//! The sensor captures segments as the kernel passes them, so one segment
//! can arrive twice (the sender's egress and the receiver's ingress on one
//! node), again as a retransmission, out of order, overlapping other
//! segments, or never (capture loss). [`DirectionReassembler`] turns them
//! into a sequence of [`Delivery`] items: in-order bytes, and gaps where
//! bytes are known to be missing so the protocol parser can resynchronise.
//!
//! Positions are kept as 64-bit offsets from the start of the stream (the
//! first segment seen, unless `start_at` set it), so the out-of-order buffer
//! sorts correctly across the 2^32 wraparound of TCP sequence numbers. Memory is bounded by [`ReassemblyLimits`]: when the
//! buffer is full, the hole before its earliest segment is given up as a
//! gap instead of dropping newer data.
//!
//! Rule for segments far from the expected sequence number: RFC 7323
//! section 2.3 caps the TCP window at 2^30 bytes, so a segment whose first
//! byte is more than [`MAX_WINDOW`] bytes ahead of or behind the next
//! expected byte is neither a retransmission nor within the receiver's
//! window. One such segment is held aside as a candidate. If the next
//! segment is also that far from the expected position but within
//! [`MAX_WINDOW`] of the candidate, the stream has moved, through large
//! capture loss or a new connection on the same address pair whose handshake
//! was missed. Then the buffer is flushed, a gap is delivered, and
//! reassembly continues from the candidate. Otherwise the candidate is discarded and
//! counted in [`ReassemblyCounters::dropped_segments`].

use std::collections::BTreeMap;

#[cfg(test)]
mod tests;

/// Largest distance, in bytes, between a segment's first byte and the next
/// expected byte that is still taken as part of the current stream: the
/// maximum TCP window with window scaling (RFC 7323 section 2.3).
pub const MAX_WINDOW: u32 = 1 << 30;

/// Bounds on what one direction buffers while waiting for missing segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Maximum out-of-order payload bytes buffered. A pending jump candidate,
    /// one segment at most, comes on top of this.
    pub max_buffered_bytes: usize,
    /// Maximum number of buffered ranges (data and known-missing ranges).
    pub max_segments: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        Self {
            max_buffered_bytes: 256 * 1024,
            max_segments: 64,
        }
    }
}

/// Item for the protocol parser, which must consume them in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Payload bytes that follow the previous delivery directly.
    Data(Vec<u8>),
    /// Number of bytes known to be missing between the previous delivery and
    /// the next one. After a stream jump this is a lower bound (see the
    /// module documentation).
    Gap(u64),
}

/// Running totals for one direction.
#[derive(Default, Clone, Copy, Debug)]
pub struct ReassemblyCounters {
    /// Segments pushed that carry payload (`wire_len` above zero).
    pub segments: u64,
    /// Payload bytes dropped because they had already been delivered or
    /// buffered, including bytes before the first segment seen.
    pub duplicate_bytes: u64,
    /// Segments that started after the next expected byte.
    pub out_of_order_segments: u64,
    /// `Delivery::Gap` items delivered.
    pub gaps: u64,
    /// Sum of the lengths of those gaps.
    pub gap_bytes: u64,
    /// Segments discarded without delivery: far-away candidates that no
    /// following segment confirmed (see the module documentation). The
    /// buffer limits never drop a segment, because they declare gaps.
    pub dropped_segments: u64,
}

/// A buffered range of the stream: captured bytes, or bytes known to exist
/// on the wire that the capture cut off.
#[derive(Debug)]
enum Range {
    Data(Vec<u8>),
    Missing(u64),
}

impl Range {
    fn len(&self) -> u64 {
        match self {
            Range::Data(bytes) => bytes.len() as u64,
            Range::Missing(len) => *len,
        }
    }
}

/// A segment far from the expected position, kept until the next segment
/// confirms or refutes a stream jump.
#[derive(Debug)]
struct JumpCandidate {
    seq: u32,
    payload: Vec<u8>,
    wire_len: u32,
}

/// One direction of a TCP connection, reassembled from captured segments.
#[derive(Debug)]
pub struct DirectionReassembler {
    limits: ReassemblyLimits,
    /// Sequence number at stream offset 0, or `None` before the first
    /// segment with payload.
    base_seq: Option<u32>,
    /// Stream offset of the next byte to deliver: bytes delivered plus gap
    /// bytes declared.
    next_offset: u64,
    /// Out-of-order ranges by stream offset. They never overlap, and all
    /// start after `next_offset`.
    buffer: BTreeMap<u64, Range>,
    /// Payload bytes held in `buffer`.
    buffer_bytes: usize,
    jump_candidate: Option<JumpCandidate>,
    counters: ReassemblyCounters,
}

impl DirectionReassembler {
    /// Creates a reassembler that has seen no segment yet.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Self {
            limits,
            base_seq: None,
            next_offset: 0,
            buffer: BTreeMap::new(),
            buffer_bytes: 0,
            jump_candidate: None,
            counters: ReassemblyCounters::default(),
        }
    }

    /// Adds a captured segment and appends whatever it makes deliverable to
    /// `out`.
    ///
    /// `seq` is the TCP sequence number of the first payload byte and
    /// `wire_len` the payload length on the wire. When the sensor cut the
    /// packet, `payload` is shorter than `wire_len` and the remaining
    /// `wire_len - payload.len()` bytes become a gap after the captured
    /// part. A `wire_len` below `payload.len()` is taken as `payload.len()`.
    /// Segments without payload are ignored, so pure ACKs never set the
    /// starting position.
    pub fn push(&mut self, seq: u32, payload: &[u8], wire_len: u32, out: &mut Vec<Delivery>) {
        // Sequence arithmetic is 32-bit, so a longer payload (a caller bug)
        // is cut rather than trusted.
        let payload = &payload[..payload.len().min(u32::MAX as usize)];
        let wire_len = wire_len.max(payload.len() as u32);
        if wire_len == 0 {
            return;
        }
        self.counters.segments += 1;

        let first_output = out.len();
        let Some(next_seq) = self.next_seq() else {
            // Capture may start mid-stream: unless `start_at` set it, the
            // first segment seen defines offset 0.
            self.base_seq = Some(seq);
            self.place(seq, payload, wire_len, first_output, out);
            return;
        };

        if is_within_window(seq.wrapping_sub(next_seq)) {
            if self.jump_candidate.take().is_some() {
                self.counters.dropped_segments += 1;
            }
            self.place(seq, payload, wire_len, first_output, out);
            return;
        }

        self.handle_far_segment(seq, payload, wire_len, first_output, out);
    }

    /// Sets the sequence number of the first payload byte before any segment
    /// arrives, such as ISN + 1 from a captured SYN, so that segments
    /// reordered at the start of the connection are not taken as old.
    ///
    /// Ignored once a segment with payload has been pushed.
    pub fn start_at(&mut self, seq: u32) {
        if self.base_seq.is_none() {
            self.base_seq = Some(seq);
        }
    }

    /// Ends the direction (FIN seen or connection closed): delivers every
    /// buffered range in order, with gaps for the holes between them.
    ///
    /// The position is kept, so retransmissions pushed afterwards are
    /// recognised as duplicates. An unconfirmed jump candidate is discarded.
    pub fn finish(&mut self, out: &mut Vec<Delivery>) {
        let first_output = out.len();
        if self.jump_candidate.take().is_some() {
            self.counters.dropped_segments += 1;
        }
        self.flush_buffer(first_output, out);
    }

    /// Returns the running totals.
    pub fn counters(&self) -> ReassemblyCounters {
        self.counters
    }

    /// Returns the payload bytes held while waiting for earlier segments,
    /// including a pending jump candidate.
    pub fn buffered_bytes(&self) -> usize {
        let candidate_bytes = self
            .jump_candidate
            .as_ref()
            .map_or(0, |candidate| candidate.payload.len());
        self.buffer_bytes + candidate_bytes
    }

    /// Sequence number of the next byte to deliver.
    fn next_seq(&self) -> Option<u32> {
        // Offsets grow by whole bytes and sequence numbers wrap at 2^32, so
        // truncating the offset gives the sequence distance from the base.
        self.base_seq
            .map(|base| base.wrapping_add(self.next_offset as u32))
    }

    /// Handles a segment more than [`MAX_WINDOW`] away from the expected
    /// position, following the jump rule in the module documentation.
    fn handle_far_segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        first_output: usize,
        out: &mut Vec<Delivery>,
    ) {
        let candidate = JumpCandidate {
            seq,
            payload: payload.to_vec(),
            wire_len,
        };
        let Some(previous) = self.jump_candidate.replace(candidate) else {
            return;
        };
        if !is_within_window(seq.wrapping_sub(previous.seq)) {
            // The two far segments disagree, so the older one was a stray.
            self.counters.dropped_segments += 1;
            return;
        }

        // Two far segments agree: the stream moved to the earlier one.
        self.jump_candidate = None;
        self.jump_to(previous.seq, first_output, out);
        self.place(
            previous.seq,
            &previous.payload,
            previous.wire_len,
            first_output,
            out,
        );
        self.place(seq, payload, wire_len, first_output, out);
    }

    /// Delivers everything buffered, then declares the bytes up to `seq` a
    /// gap and continues from there.
    fn jump_to(&mut self, seq: u32, first_output: usize, out: &mut Vec<Delivery>) {
        self.flush_buffer(first_output, out);

        // The sender sent at least the forward distance modulo 2^32 in
        // between, so that is the gap length reported (a lower bound).
        let Some(next_seq) = self.next_seq() else {
            return;
        };
        let skipped = u64::from(seq.wrapping_sub(next_seq));
        self.emit_gap(skipped, first_output, out);
    }

    /// Places a segment that lies within the window of the expected
    /// position: trims bytes already delivered, then delivers or buffers the
    /// rest.
    fn place(
        &mut self,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        first_output: usize,
        out: &mut Vec<Delivery>,
    ) {
        let Some(next_seq) = self.next_seq() else {
            return;
        };

        // RFC 9293 section 3.4 does sequence arithmetic modulo 2^32, so the
        // signed 32-bit difference orders two numbers less than 2^31 apart.
        // The caller has checked that this one is within the window.
        let distance = seq.wrapping_sub(next_seq) as i32;
        let wire_len = u64::from(wire_len);
        let already_delivered = u64::from(distance.min(0).unsigned_abs());
        if already_delivered >= wire_len {
            self.counters.duplicate_bytes += wire_len;
            return;
        }
        self.counters.duplicate_bytes += already_delivered;

        let start = self.next_offset + u64::from(distance.max(0).unsigned_abs());
        let captured_from = (already_delivered as usize).min(payload.len());
        let captured = &payload[captured_from..];
        let data_end = start + captured.len() as u64;
        let segment_end = self.next_offset.max(start) + (wire_len - already_delivered);

        if start > self.next_offset {
            self.counters.out_of_order_segments += 1;
        }

        if start == self.next_offset && self.buffer.is_empty() {
            // The common case: in-order data with nothing waiting.
            self.emit_data(captured, first_output, out);
            self.emit_gap(segment_end - data_end, first_output, out);
            return;
        }

        self.insert_data(start, captured);
        self.insert_missing(data_end, segment_end);
        self.drain(first_output, out);
        self.enforce_limits(first_output, out);
    }

    /// Inserts captured bytes starting at stream offset `start`, keeping
    /// bytes already buffered where the two overlap.
    fn insert_data(&mut self, start: u64, bytes: &[u8]) {
        let end = start + bytes.len() as u64;
        for (free_start, free_end) in self.uncovered(start, end) {
            let from = (free_start - start) as usize;
            let to = (free_end - start) as usize;
            self.buffer_bytes += to - from;
            self.buffer
                .insert(free_start, Range::Data(bytes[from..to].to_vec()));
        }
    }

    /// Marks the stream offsets `start..end` as known to be missing, except
    /// where bytes are already buffered.
    fn insert_missing(&mut self, start: u64, end: u64) {
        for (free_start, free_end) in self.uncovered(start, end) {
            self.buffer
                .insert(free_start, Range::Missing(free_end - free_start));
        }
    }

    /// Returns the sub-ranges of `start..end` that neither the buffer nor
    /// earlier deliveries cover, and counts the covered bytes as duplicates.
    fn uncovered(&mut self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut cursor = start.max(self.next_offset);
        if let Some((&before_start, before)) = self.buffer.range(..cursor).next_back() {
            cursor = cursor.max(before_start + before.len());
        }

        let mut free = Vec::new();
        if cursor >= end {
            self.counters.duplicate_bytes += end.saturating_sub(start);
            return free;
        }
        let overlapping: Vec<(u64, u64)> = self
            .buffer
            .range(cursor..end)
            .map(|(&range_start, range)| (range_start, range_start + range.len()))
            .collect();
        for (range_start, range_end) in overlapping {
            if range_start > cursor {
                free.push((cursor, range_start));
            }
            cursor = cursor.max(range_end);
        }
        if cursor < end {
            free.push((cursor, end));
        }

        let free_bytes: u64 = free.iter().map(|(from, to)| to - from).sum();
        self.counters.duplicate_bytes += end.saturating_sub(start) - free_bytes;
        free
    }

    /// Delivers buffered ranges while the earliest one starts at the next
    /// expected offset.
    fn drain(&mut self, first_output: usize, out: &mut Vec<Delivery>) {
        while let Some(entry) = self.buffer.first_entry() {
            if *entry.key() != self.next_offset {
                break;
            }
            let range = entry.remove();
            self.emit_range(range, first_output, out);
        }
    }

    /// Gives up the hole before the earliest buffered range while the buffer
    /// is over its limits, so the parser can resynchronise on newer data.
    fn enforce_limits(&mut self, first_output: usize, out: &mut Vec<Delivery>) {
        while self.buffer_bytes > self.limits.max_buffered_bytes
            || self.buffer.len() > self.limits.max_segments
        {
            let Some((&earliest, _)) = self.buffer.first_key_value() else {
                break;
            };
            self.emit_gap(earliest - self.next_offset, first_output, out);
            self.drain(first_output, out);
        }
    }

    /// Delivers every buffered range in order, with gaps for the holes.
    fn flush_buffer(&mut self, first_output: usize, out: &mut Vec<Delivery>) {
        while let Some((&earliest, _)) = self.buffer.first_key_value() {
            self.emit_gap(earliest - self.next_offset, first_output, out);
            self.drain(first_output, out);
        }
    }

    fn emit_range(&mut self, range: Range, first_output: usize, out: &mut Vec<Delivery>) {
        match range {
            Range::Data(bytes) => {
                self.buffer_bytes -= bytes.len();
                self.emit_data(&bytes, first_output, out);
            }
            Range::Missing(len) => self.emit_gap(len, first_output, out),
        }
    }

    /// Delivers in-order bytes, appending to the previous item when this
    /// call already produced a `Data` item, so the parser gets fewer pieces.
    fn emit_data(&mut self, bytes: &[u8], first_output: usize, out: &mut Vec<Delivery>) {
        if bytes.is_empty() {
            return;
        }
        self.next_offset += bytes.len() as u64;
        if out.len() > first_output {
            if let Some(Delivery::Data(previous)) = out.last_mut() {
                previous.extend_from_slice(bytes);
                return;
            }
        }
        out.push(Delivery::Data(bytes.to_vec()));
    }

    /// Declares `len` bytes missing, merging with a gap this call already
    /// produced.
    fn emit_gap(&mut self, len: u64, first_output: usize, out: &mut Vec<Delivery>) {
        if len == 0 {
            return;
        }
        self.next_offset += len;
        self.counters.gap_bytes += len;
        if out.len() > first_output {
            if let Some(Delivery::Gap(previous)) = out.last_mut() {
                *previous += len;
                return;
            }
        }
        self.counters.gaps += 1;
        out.push(Delivery::Gap(len));
    }
}

/// Tells whether a sequence distance (`seq - expected`, modulo 2^32) is at
/// most [`MAX_WINDOW`] ahead or behind.
fn is_within_window(distance: u32) -> bool {
    (distance as i32).unsigned_abs() <= MAX_WINDOW
}
