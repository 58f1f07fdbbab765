//! One direction of an HTTP/2 connection cut into frames: checks the client
//! preface, reads frame headers, streams DATA payloads out as they arrive,
//! keeps other payloads whole, and resynchronises after garbage, a capture
//! gap or a mid-connection attach.
//!
//! Only an incomplete frame header or the bytes being scanned for a frame
//! start stay in the buffer between pushes, so the buffer never grows past
//! the resync window. Payloads of HEADERS, CONTINUATION and PUSH_PROMISE
//! frames are kept up to the header list limit, and control frame payloads
//! up to [`MAX_CONTROL_PAYLOAD_KEPT`].

use super::frame::{
    check_header, flag, kind, FrameHeader, Strictness, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN,
};
use super::{Http2Limits, Side, PREFACE};

/// Maximum payload kept for SETTINGS, GOAWAY and other non-header frames.
/// Only the first bytes of a GOAWAY (its debug data is not needed) and of
/// the rare SETTINGS frame with more than 680 settings are lost.
const MAX_CONTROL_PAYLOAD_KEPT: usize = 4096;

/// Largest frame payload the resync scan can lock onto: a candidate is
/// confirmed by the frame header after it, so the window holds the
/// candidate, its payload and the next header.
const MAX_RESYNC_FRAME_LEN: u32 = 64 * 1024;

/// How far above the highest stream id seen a resync candidate's stream id
/// may be. Streams open in increasing order, so a much larger id is more
/// likely garbage than streams opened during a gap.
const MAX_RESYNC_STREAM_ID_JUMP: u32 = 1 << 16;

/// Receiver of what a reader parses, implemented by the connection state.
pub(super) trait FrameSink {
    /// Returns the SETTINGS_MAX_FRAME_SIZE that bounds frames sent by
    /// `sender`, or `None` while it is unknown (mid-connection attach).
    fn max_frame_size(&self, sender: Side) -> Option<u32>;
    /// Returns the highest stream id seen so far, 0 before any.
    fn highest_stream_id(&self) -> u32;
    /// Receives DATA payload bytes, without padding.
    fn data(&mut self, side: Side, header: &FrameHeader, chunk: &[u8]);
    /// Records that `len` DATA payload bytes were lost to a capture gap.
    fn data_missing(&mut self, side: Side, header: &FrameHeader, len: u64);
    /// Receives a complete frame. DATA frames come here after their
    /// payload went to [`data`](Self::data), with an empty payload.
    fn frame(&mut self, side: Side, frame: CompletedFrame<'_>, timestamp_ns: u64);
    /// Records that bytes of `side` were lost or skipped, so frames may be
    /// missing. `cut` is the frame that was in progress, if any.
    fn sync_lost(&mut self, side: Side, cut: Option<&FrameHeader>, timestamp_ns: u64);
}

/// A frame whose payload is complete, as passed to [`FrameSink::frame`].
#[derive(Debug)]
pub(super) struct CompletedFrame<'a> {
    pub(super) header: FrameHeader,
    /// The kept payload: empty for DATA and unknown types, possibly cut for
    /// the others (see `truncated`).
    pub(super) payload: &'a [u8],
    /// The payload was longer than what is kept for its type.
    pub(super) truncated: bool,
    /// Payload bytes were lost to a capture gap or invalid padding.
    pub(super) damaged: bool,
    /// Timestamp of the push that carried the frame's first byte.
    pub(super) started_ns: u64,
}

/// Faults seen on one side.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ReaderCounters {
    pub(super) frames: u64,
    pub(super) frame_errors: u64,
    pub(super) resyncs: u64,
    pub(super) skipped_bytes: u64,
}

/// Progress through a DATA payload (RFC 9113 section 6.1).
#[derive(Debug)]
enum DataProgress {
    /// The PADDED flag is set and the pad length byte has not arrived.
    AwaitingPadLength,
    /// `data` payload bytes, then `padding` bytes, remain.
    Body { data: usize, padding: usize },
}

#[derive(Debug)]
enum PayloadKind {
    Data(DataProgress),
    Kept { bytes: Vec<u8>, limit: usize },
    Skipped,
}

/// A frame whose header was read and whose payload is arriving.
#[derive(Debug)]
struct PayloadInProgress {
    header: FrameHeader,
    started_ns: u64,
    remaining: usize,
    kind: PayloadKind,
    truncated: bool,
    damaged: bool,
}

#[derive(Debug)]
enum ReaderState {
    /// Matching the client connection preface; `matched` bytes matched.
    Preface {
        matched: usize,
    },
    /// Waiting for a complete frame header at the front of the buffer.
    Header,
    Payload(Box<PayloadInProgress>),
    /// Scanning for a plausible frame header.
    Resync,
    /// The connection closed: every byte is counted as skipped.
    Closed,
}

/// Result of scanning the buffer for a frame start.
enum ScanOutcome {
    /// A confirmed frame header starts at this offset.
    Found(usize),
    /// The candidate at this offset needs more bytes to be confirmed, or
    /// fewer than a header's bytes remain from it.
    NeedMore(usize),
}

/// One direction of an HTTP/2 connection.
#[derive(Debug)]
pub(super) struct FrameReader {
    side: Side,
    limits: Http2Limits,
    buffer: Vec<u8>,
    buffer_limit: usize,
    /// How many bytes at the front of `buffer` came from earlier pushes, and
    /// the timestamp of the push that brought the oldest of them.
    carried_len: usize,
    carried_ns: u64,
    state: ReaderState,
    counters: ReaderCounters,
}

impl FrameReader {
    /// Creates the reader for `side`. `preface_expected` makes the client
    /// side match the connection preface first. Without it, both sides
    /// start by scanning for a frame header.
    pub(super) fn new(side: Side, limits: Http2Limits, preface_expected: bool) -> Self {
        let state = match (preface_expected, side) {
            (true, Side::Client) => ReaderState::Preface { matched: 0 },
            (true, Side::Server) => ReaderState::Header,
            (false, _) => ReaderState::Resync,
        };

        Self {
            side,
            limits,
            buffer: Vec::new(),
            buffer_limit: 2 * FRAME_HEADER_LEN + MAX_RESYNC_FRAME_LEN as usize,
            carried_len: 0,
            carried_ns: 0,
            state,
            counters: ReaderCounters::default(),
        }
    }

    pub(super) fn counters(&self) -> ReaderCounters {
        self.counters
    }

    pub(super) fn buffered_bytes(&self) -> usize {
        let kept = match &self.state {
            ReaderState::Payload(payload) => match &payload.kind {
                PayloadKind::Kept { bytes, .. } => bytes.len(),
                _ => 0,
            },
            _ => 0,
        };
        self.buffer.len() + kept
    }

    /// Parses `data`, which arrived at `timestamp_ns`. The input is copied
    /// into the buffer at most `buffer_limit` bytes at a time, so one large
    /// push cannot grow it past the limit.
    pub(super) fn push(&mut self, data: &[u8], timestamp_ns: u64, sink: &mut impl FrameSink) {
        if matches!(self.state, ReaderState::Closed) {
            self.counters.skipped_bytes += data.len() as u64;
            return;
        }
        let mut input = data;

        loop {
            let room = self.buffer_limit.saturating_sub(self.buffer.len());
            let copied_len = room.min(input.len());
            self.buffer.extend_from_slice(&input[..copied_len]);
            input = &input[copied_len..];

            self.process(timestamp_ns, sink, false);

            if input.is_empty() {
                break;
            }
            if self.buffer.len() >= self.buffer_limit {
                // Every state consumes bytes from a full buffer, so this is
                // a defect here rather than bad input. Dropping the buffer
                // keeps the loop finite either way.
                self.counters.skipped_bytes += self.buffer.len() as u64;
                self.buffer.clear();
                self.carried_len = 0;
                self.start_resync(None, timestamp_ns, sink);
            }
        }

        if self.carried_len == 0 {
            self.carried_ns = timestamp_ns;
        }
        self.carried_len = self.buffer.len();
    }

    /// Accounts for `len` bytes that were sent but not captured. A gap that
    /// ends inside the current frame's payload keeps the reader in sync.
    pub(super) fn push_gap(&mut self, len: u64, timestamp_ns: u64, sink: &mut impl FrameSink) {
        if len == 0 {
            return;
        }

        match std::mem::replace(&mut self.state, ReaderState::Header) {
            ReaderState::Closed => self.state = ReaderState::Closed,
            ReaderState::Payload(mut payload) if self.buffer.is_empty() => {
                let lost_in_frame = usize::try_from(len)
                    .ok()
                    .filter(|&lost| lost <= payload.remaining);
                let Some(lost) = lost_in_frame else {
                    let cut = payload.header;
                    self.state = ReaderState::Payload(payload);
                    self.drop_buffer();
                    self.start_resync(Some(&cut), timestamp_ns, sink);
                    return;
                };

                self.skip_payload_bytes(&mut payload, lost, sink);
                if payload.remaining == 0 {
                    self.finish_payload(*payload, timestamp_ns, sink);
                } else {
                    self.state = ReaderState::Payload(payload);
                }
            }
            other => {
                let cut = match &other {
                    ReaderState::Payload(payload) => Some(payload.header),
                    _ => None,
                };
                self.state = other;
                self.drop_buffer();
                // A gap while already scanning adds no resync, but frames may
                // still be hidden in it.
                self.start_resync(cut.as_ref(), timestamp_ns, sink);
            }
        }
    }

    /// Ends the stream: a candidate frame that is wholly buffered is still
    /// parsed, then a frame cut short is reported, and the rest is counted
    /// as skipped, like every byte pushed later.
    pub(super) fn close(&mut self, timestamp_ns: u64, sink: &mut impl FrameSink) {
        if matches!(self.state, ReaderState::Closed) {
            return;
        }
        self.process(timestamp_ns, sink, true);

        if let ReaderState::Payload(payload) = &self.state {
            let header = payload.header;
            sink.sync_lost(self.side, Some(&header), timestamp_ns);
        }
        self.drop_buffer();
        self.state = ReaderState::Closed;
    }

    fn start_resync(
        &mut self,
        cut: Option<&FrameHeader>,
        timestamp_ns: u64,
        sink: &mut impl FrameSink,
    ) {
        if !matches!(self.state, ReaderState::Resync | ReaderState::Closed) {
            self.counters.resyncs += 1;
        }
        self.state = ReaderState::Resync;
        sink.sync_lost(self.side, cut, timestamp_ns);
    }

    fn drop_buffer(&mut self) {
        self.counters.skipped_bytes += self.buffer.len() as u64;
        self.buffer.clear();
        self.carried_len = 0;
    }

    /// Consumes as much of the buffer as the states allow. `closing`
    /// accepts resync candidates that can no longer be confirmed.
    fn process(&mut self, timestamp_ns: u64, sink: &mut impl FrameSink, closing: bool) {
        let mut position = 0;

        loop {
            let started_ns = if position < self.carried_len {
                self.carried_ns
            } else {
                timestamp_ns
            };
            let available_len = self.buffer.len() - position;

            // Each handler sets the next state. The current one is put back
            // first, so that entering a resync can tell it was in sync.
            let step = match std::mem::replace(&mut self.state, ReaderState::Header) {
                ReaderState::Preface { matched } => {
                    self.state = ReaderState::Preface { matched };
                    self.read_preface(matched, position, timestamp_ns, sink)
                }
                ReaderState::Header => self.read_header(position, started_ns, timestamp_ns, sink),
                ReaderState::Payload(payload) => {
                    self.read_payload(payload, position, timestamp_ns, sink)
                }
                ReaderState::Resync => {
                    self.state = ReaderState::Resync;
                    self.scan(position, closing, sink)
                }
                ReaderState::Closed => {
                    self.state = ReaderState::Closed;
                    Step::wait(0)
                }
            };

            position += step.used.min(available_len);
            if !step.again {
                break;
            }
        }

        self.buffer.drain(..position);
        self.carried_len = self.carried_len.saturating_sub(position);
    }

    /// Matches the client connection preface (RFC 9113 section 3.4). A
    /// mismatch means the capture did not start at the connection start,
    /// so the reader scans for a frame header instead.
    fn read_preface(
        &mut self,
        matched: usize,
        position: usize,
        timestamp_ns: u64,
        sink: &mut impl FrameSink,
    ) -> Step {
        let available = &self.buffer[position..];
        let expected = &PREFACE[matched..];
        let compared_len = expected.len().min(available.len());

        if available[..compared_len] != expected[..compared_len] {
            tracing::debug!(side = ?self.side, "HTTP/2 client stream does not start with the connection preface; resynchronising");
            self.counters.frame_errors += 1;
            self.start_resync(None, timestamp_ns, sink);
            return Step::again(0);
        }

        if compared_len == expected.len() {
            self.state = ReaderState::Header;
            Step::again(compared_len)
        } else {
            self.state = ReaderState::Preface {
                matched: matched + compared_len,
            };
            Step::wait(compared_len)
        }
    }

    /// Reads the frame header at `position`, once 9 bytes are buffered.
    fn read_header(
        &mut self,
        position: usize,
        started_ns: u64,
        timestamp_ns: u64,
        sink: &mut impl FrameSink,
    ) -> Step {
        let Some(header) = FrameHeader::parse(&self.buffer[position..]) else {
            self.state = ReaderState::Header;
            return Step::wait(0);
        };

        let max_length = self.in_sync_max_length(sink);
        if let Err(error) = check_header(&header, self.side, max_length, Strictness::InSync) {
            // An implausible header means the bytes are not where a frame
            // starts, so its length cannot be used to skip it.
            tracing::debug!(side = ?self.side, %error, "invalid HTTP/2 frame header; resynchronising");
            self.counters.frame_errors += 1;
            self.start_resync(None, timestamp_ns, sink);
            return Step::again(0);
        }
        self.counters.frames += 1;

        let length = header.length as usize;
        let kind = match header.kind {
            kind::DATA if header.has_flag(flag::PADDED) => {
                PayloadKind::Data(DataProgress::AwaitingPadLength)
            }
            kind::DATA => PayloadKind::Data(DataProgress::Body {
                data: length,
                padding: 0,
            }),
            kind::HEADERS | kind::CONTINUATION | kind::PUSH_PROMISE => PayloadKind::Kept {
                bytes: Vec::new(),
                limit: self.limits.max_header_list_bytes,
            },
            kind::PRIORITY
            | kind::RST_STREAM
            | kind::SETTINGS
            | kind::PING
            | kind::GOAWAY
            | kind::WINDOW_UPDATE => PayloadKind::Kept {
                bytes: Vec::new(),
                limit: MAX_CONTROL_PAYLOAD_KEPT,
            },
            _ => PayloadKind::Skipped,
        };

        let payload = PayloadInProgress {
            header,
            started_ns,
            remaining: length,
            kind,
            truncated: false,
            damaged: false,
        };
        if length == 0 {
            self.finish_payload(payload, timestamp_ns, sink);
            self.state = ReaderState::Header;
        } else {
            self.state = ReaderState::Payload(Box::new(payload));
        }
        Step::again(FRAME_HEADER_LEN)
    }

    /// Consumes payload bytes at `position`, streaming DATA out and keeping
    /// other payloads up to their limit.
    fn read_payload(
        &mut self,
        mut payload: Box<PayloadInProgress>,
        position: usize,
        timestamp_ns: u64,
        sink: &mut impl FrameSink,
    ) -> Step {
        let available_len = (self.buffer.len() - position).min(payload.remaining);
        let mut used = 0;

        while used < available_len {
            let rest = &self.buffer[position + used..position + available_len];
            let consumed = match &mut payload.kind {
                PayloadKind::Data(DataProgress::AwaitingPadLength) => {
                    let padding = usize::from(rest[0]);
                    // The pad length byte itself is part of the payload.
                    let body_len = payload.remaining - 1;
                    if padding > body_len {
                        tracing::debug!(side = ?self.side, padding, body_len, "HTTP/2 DATA padding longer than its payload");
                        self.counters.frame_errors += 1;
                        payload.damaged = true;
                        payload.kind = PayloadKind::Skipped;
                    } else {
                        payload.kind = PayloadKind::Data(DataProgress::Body {
                            data: body_len - padding,
                            padding,
                        });
                    }
                    1
                }
                PayloadKind::Data(DataProgress::Body { data, .. }) if *data > 0 => {
                    let chunk_len = (*data).min(rest.len());
                    *data -= chunk_len;
                    sink.data(self.side, &payload.header, &rest[..chunk_len]);
                    chunk_len
                }
                PayloadKind::Data(DataProgress::Body { padding, .. }) => {
                    let skipped = (*padding).min(rest.len());
                    *padding -= skipped;
                    skipped
                }
                PayloadKind::Kept { bytes, limit } => {
                    let room = limit.saturating_sub(bytes.len());
                    let kept_len = room.min(rest.len());
                    bytes.extend_from_slice(&rest[..kept_len]);
                    if kept_len < rest.len() {
                        payload.truncated = true;
                    }
                    rest.len()
                }
                PayloadKind::Skipped => rest.len(),
            };
            // Every arm consumes a byte of a non-empty rest, because a DATA
            // body's data and padding add up to `remaining`. The clamp
            // guarantees progress all the same.
            let consumed = consumed.max(1).min(rest.len());
            used += consumed;
            payload.remaining -= consumed;
        }

        if payload.remaining == 0 {
            self.finish_payload(*payload, timestamp_ns, sink);
            self.state = ReaderState::Header;
        } else {
            self.state = ReaderState::Payload(payload);
        }
        Step {
            used,
            again: used > 0,
        }
    }

    /// Accounts for `lost` payload bytes of the current frame that a gap
    /// hid, keeping the reader at the right place in the frame.
    fn skip_payload_bytes(
        &mut self,
        payload: &mut PayloadInProgress,
        lost: usize,
        sink: &mut impl FrameSink,
    ) {
        payload.remaining -= lost;
        payload.damaged = true;

        match &mut payload.kind {
            PayloadKind::Data(DataProgress::Body { data, padding }) => {
                let lost_data = lost.min(*data);
                *data -= lost_data;
                *padding = padding.saturating_sub(lost - lost_data);
                sink.data_missing(self.side, &payload.header, lost_data as u64);
            }
            PayloadKind::Data(DataProgress::AwaitingPadLength) => {
                // Without the pad length, data and padding cannot be
                // distinguished, so the rest of the frame is skipped.
                sink.data_missing(self.side, &payload.header, lost as u64);
                payload.kind = PayloadKind::Skipped;
            }
            PayloadKind::Kept { .. } | PayloadKind::Skipped => {}
        }
    }

    fn finish_payload(
        &mut self,
        payload: PayloadInProgress,
        timestamp_ns: u64,
        sink: &mut impl FrameSink,
    ) {
        let kept = match &payload.kind {
            PayloadKind::Kept { bytes, .. } => bytes.as_slice(),
            _ => &[],
        };
        let frame = CompletedFrame {
            header: payload.header,
            payload: kept,
            truncated: payload.truncated,
            damaged: payload.damaged,
            started_ns: payload.started_ns,
        };
        sink.frame(self.side, frame, timestamp_ns);
    }

    /// Returns the largest payload length accepted while in sync: what the
    /// receiver advertised, or the absolute cap while that is unknown. An
    /// advertised value below the protocol minimum is raised to it.
    fn in_sync_max_length(&self, sink: &impl FrameSink) -> u32 {
        let cap = u32::try_from(self.limits.max_frame_size_cap).unwrap_or(u32::MAX);
        match sink.max_frame_size(self.side) {
            Some(advertised) => advertised.max(DEFAULT_MAX_FRAME_SIZE).min(cap),
            None => cap,
        }
    }

    /// Returns the largest payload length a resync candidate may have:
    /// what the receiver advertised (the protocol default while unknown),
    /// within what the window can confirm.
    fn resync_max_length(&self, sink: &impl FrameSink) -> u32 {
        let advertised = sink
            .max_frame_size(self.side)
            .unwrap_or(DEFAULT_MAX_FRAME_SIZE)
            .max(DEFAULT_MAX_FRAME_SIZE);
        advertised
            .min(MAX_RESYNC_FRAME_LEN)
            .min(u32::try_from(self.limits.max_frame_size_cap).unwrap_or(u32::MAX))
    }

    /// Scans the buffer from `position` for a frame header that passes the
    /// strict check and is confirmed by a plausible header right after its
    /// payload. When closing, a candidate whose frame ends exactly at the
    /// end of the buffer is accepted too, because no next header will come.
    fn scan(&mut self, position: usize, closing: bool, sink: &mut impl FrameSink) -> Step {
        let bounds = ResyncBounds {
            max_length: self.resync_max_length(sink),
            max_stream_id: match sink.highest_stream_id() {
                0 => u32::MAX,
                highest => highest.saturating_add(MAX_RESYNC_STREAM_ID_JUMP),
            },
            window_limit: self.buffer_limit,
        };
        let window = &self.buffer[position..];

        let outcome = find_frame_start(window, self.side, &bounds, closing);
        match outcome {
            ScanOutcome::Found(offset) => {
                self.counters.skipped_bytes += offset as u64;
                self.state = ReaderState::Header;
                Step::again(offset)
            }
            ScanOutcome::NeedMore(offset) => {
                self.counters.skipped_bytes += offset as u64;
                self.state = ReaderState::Resync;
                Step::wait(offset)
            }
        }
    }
}

/// Limits a resync candidate must meet.
struct ResyncBounds {
    max_length: u32,
    max_stream_id: u32,
    /// Largest span a candidate and its confirming header may cover.
    window_limit: usize,
}

/// Finds the first confirmed frame start in `window`. See
/// [`FrameReader::scan`].
fn find_frame_start(
    window: &[u8],
    side: Side,
    bounds: &ResyncBounds,
    closing: bool,
) -> ScanOutcome {
    let is_plausible = |offset: usize| {
        FrameHeader::parse(&window[offset..]).filter(|header| {
            header.stream_id <= bounds.max_stream_id
                && check_header(header, side, bounds.max_length, Strictness::Resync).is_ok()
        })
    };

    for offset in 0..window.len() {
        if window.len() - offset < FRAME_HEADER_LEN {
            return if closing {
                ScanOutcome::NeedMore(window.len())
            } else {
                ScanOutcome::NeedMore(offset)
            };
        }

        let Some(candidate) = is_plausible(offset) else {
            continue;
        };
        let next_offset = offset + FRAME_HEADER_LEN + candidate.length as usize;
        let confirm_end = next_offset + FRAME_HEADER_LEN;

        if confirm_end <= window.len() {
            if is_plausible(next_offset).is_some() {
                return ScanOutcome::Found(offset);
            }
        } else if closing {
            if next_offset == window.len() {
                return ScanOutcome::Found(offset);
            }
        } else if confirm_end - offset <= bounds.window_limit {
            return ScanOutcome::NeedMore(offset);
        }
    }

    ScanOutcome::NeedMore(window.len())
}

/// Progress of one state handler on the buffer.
struct Step {
    used: usize,
    /// Whether the handler can make more progress on the remaining bytes.
    again: bool,
}

impl Step {
    fn again(used: usize) -> Self {
        Self { used, again: true }
    }

    fn wait(used: usize) -> Self {
        Self { used, again: false }
    }
}
