//! One HTTP/2 connection: the two frame readers, the HPACK decoder of each
//! direction, the SETTINGS each side announced, and the table of tracked
//! streams with its eviction.

use std::collections::{HashMap, VecDeque};

use super::frame::{
    flag, headers_fragment, kind, push_promise_parts, read_u32, FrameHeader,
    DEFAULT_MAX_FRAME_SIZE, LARGEST_MAX_FRAME_SIZE,
};
use super::hpack::HpackDecoder;
use super::reader::{CompletedFrame, FrameReader, FrameSink};
use super::stream::{DecodedHeaders, StreamState};
use super::{Http2Counters, Http2Limits, Side, StreamExchange};

/// The RST_STREAM error code reported for streams that a GOAWAY left
/// unprocessed: RFC 9113 section 8.7 treats them like streams refused with
/// REFUSED_STREAM.
const REFUSED_STREAM: u32 = 0x7;

/// SETTINGS parameter identifiers (RFC 9113 section 6.5.2).
const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// Length of one SETTINGS parameter: a 16-bit identifier and a 32-bit
/// value.
const SETTING_LEN: usize = 6;

/// Ids of recently ended streams that are remembered, so that late frames
/// for them (an RST_STREAM after END_STREAM, DATA in flight) are ignored
/// instead of counted or opening a new stream.
const MAX_RECENTLY_CLOSED: usize = 256;

fn side_index(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

fn peer(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

/// The frame that started a header block.
#[derive(Clone, Copy, Debug)]
enum BlockKind {
    Headers { end_stream: bool },
    PushPromise { promised_id: u32 },
}

/// A header block whose HEADERS or PUSH_PROMISE frame arrived and whose
/// CONTINUATION frames may still be coming (RFC 9113 section 6.10).
#[derive(Debug)]
struct PendingBlock {
    kind: BlockKind,
    stream_id: u32,
    fragments: Vec<u8>,
    started_ns: u64,
    wire_len: u64,
    /// The encoded block is longer than `max_header_list_bytes`, so its
    /// fragments were dropped.
    oversized: bool,
    /// Bytes of the block were lost, or its layout was invalid.
    damaged: bool,
}

/// Counts kept by the connection state; the readers keep their own.
#[derive(Clone, Copy, Debug, Default)]
struct SessionCounters {
    frame_errors: u64,
    hpack_errors: u64,
    partial_streams: u64,
    reset_streams: u64,
    evicted_streams: u64,
    goaways: u64,
    untracked_stream_frames: u64,
}

/// Everything about the connection except the readers, which call into it
/// as their [`FrameSink`].
#[derive(Debug)]
struct Session {
    limits: Http2Limits,
    /// Decoders for the header blocks each side sends, by [`side_index`].
    decoders: [HpackDecoder; 2],
    /// SETTINGS_MAX_FRAME_SIZE bounding the frames each side sends: the
    /// value the other side announced. `None` while unknown.
    max_frame_size: [Option<u32>; 2],
    pending_blocks: [Option<PendingBlock>; 2],
    streams: HashMap<u32, StreamState>,
    highest_stream_id: u32,
    next_seq: u64,
    recently_closed: VecDeque<u32>,
    ready: Vec<StreamExchange>,
    counters: SessionCounters,
}

/// HTTP/2 parser state for one TCP connection.
///
/// Feed each side's bytes with [`push`](Self::push) in the order they were
/// captured, and collect finished streams with
/// [`take_exchanges`](Self::take_exchanges).
#[derive(Debug)]
pub struct Http2Connection {
    client: FrameReader,
    server: FrameReader,
    session: Session,
}

impl Http2Connection {
    /// Creates the parser for one connection. Set `preface_expected` when
    /// the capture starts at the connection start, so the client sends the
    /// preface first. Without it, the parser attaches mid-connection and
    /// finds frame boundaries and HPACK state by itself.
    pub fn new(limits: Http2Limits, preface_expected: bool) -> Self {
        let decoder = || HpackDecoder::new(limits.max_header_table_bytes, preface_expected);
        // Before SETTINGS, frames are bounded by the protocol default,
        // which is known only at the connection start.
        let initial_frame_size = preface_expected.then_some(DEFAULT_MAX_FRAME_SIZE);

        Self {
            client: FrameReader::new(Side::Client, limits, preface_expected),
            server: FrameReader::new(Side::Server, limits, preface_expected),
            session: Session {
                limits,
                decoders: [decoder(), decoder()],
                max_frame_size: [initial_frame_size; 2],
                pending_blocks: [None, None],
                streams: HashMap::new(),
                highest_stream_id: 0,
                next_seq: 0,
                recently_closed: VecDeque::new(),
                ready: Vec::new(),
                counters: SessionCounters::default(),
            },
        }
    }

    /// Parses bytes sent by `side`, captured at monotonic time
    /// `timestamp_ns`. A frame may be split across pushes at any byte.
    pub fn push(&mut self, side: Side, data: &[u8], timestamp_ns: u64) {
        match side {
            Side::Client => self.client.push(data, timestamp_ns, &mut self.session),
            Side::Server => self.server.push(data, timestamp_ns, &mut self.session),
        }
    }

    /// Records that `len` bytes sent by `side` were lost (capture loss).
    /// A gap inside a DATA payload only marks its stream as missing data.
    /// A gap that hides a frame boundary makes the reader scan for the next
    /// frame header, and marks that side's HPACK table as unknown.
    pub fn push_gap(&mut self, side: Side, len: u64, timestamp_ns: u64) {
        match side {
            Side::Client => self.client.push_gap(len, timestamp_ns, &mut self.session),
            Side::Server => self.server.push_gap(len, timestamp_ns, &mut self.session),
        }
    }

    /// Ends the connection: parses what can still be parsed, then emits
    /// every tracked stream, those not complete as partial. Later pushes are
    /// counted as skipped bytes.
    pub fn close(&mut self, timestamp_ns: u64) {
        self.client.close(timestamp_ns, &mut self.session);
        self.server.close(timestamp_ns, &mut self.session);
        self.session.emit_all_at_close();
    }

    /// Returns the streams completed since the last call, in the order
    /// they ended.
    pub fn take_exchanges(&mut self) -> Vec<StreamExchange> {
        std::mem::take(&mut self.session.ready)
    }

    /// Returns the counters since the connection began, summed over both
    /// sides.
    pub fn counters(&self) -> Http2Counters {
        let client = self.client.counters();
        let server = self.server.counters();
        let session = self.session.counters;

        Http2Counters {
            frames: client.frames + server.frames,
            frame_errors: client.frame_errors + server.frame_errors + session.frame_errors,
            resyncs: client.resyncs + server.resyncs,
            skipped_bytes: client.skipped_bytes + server.skipped_bytes,
            hpack_errors: session.hpack_errors,
            partial_streams: session.partial_streams,
            reset_streams: session.reset_streams,
            evicted_streams: session.evicted_streams,
            goaways: session.goaways,
            untracked_stream_frames: session.untracked_stream_frames,
        }
    }

    /// Returns the bytes received but not yet parsed, including header
    /// block fragments waiting for their last CONTINUATION, for the
    /// caller's memory accounting. Tracked streams hold more: decoded
    /// bodies up to `max_body_capture` and parsed headers.
    pub fn buffered_bytes(&self) -> usize {
        let pending: usize = self
            .session
            .pending_blocks
            .iter()
            .flatten()
            .map(|block| block.fragments.len())
            .sum();
        self.client.buffered_bytes() + self.server.buffered_bytes() + pending
    }
}

impl FrameSink for Session {
    fn max_frame_size(&self, sender: Side) -> Option<u32> {
        self.max_frame_size[side_index(sender)]
    }

    fn highest_stream_id(&self) -> u32 {
        self.highest_stream_id
    }

    fn data(&mut self, side: Side, header: &FrameHeader, chunk: &[u8]) {
        if let Some(stream) = self.streams.get_mut(&header.stream_id) {
            stream.data(side, chunk);
        }
    }

    fn data_missing(&mut self, side: Side, header: &FrameHeader, len: u64) {
        if let Some(stream) = self.streams.get_mut(&header.stream_id) {
            stream.data_missing(side, len);
        }
    }

    fn frame(&mut self, side: Side, frame: CompletedFrame<'_>, timestamp_ns: u64) {
        if frame.header.kind != kind::CONTINUATION {
            if let Some(mut pending) = self.pending_blocks[side_index(side)].take() {
                // RFC 9113 section 6.10: nothing may come between a header
                // block's frames. The block is incomplete.
                tracing::debug!(side = ?side, stream_id = pending.stream_id, "HTTP/2 header block interrupted before END_HEADERS");
                self.counters.frame_errors += 1;
                pending.damaged = true;
                self.complete_block(side, pending, timestamp_ns);
            }
        }

        match frame.header.kind {
            kind::DATA => self.on_data_end(side, &frame, timestamp_ns),
            kind::HEADERS => self.on_headers(side, &frame, timestamp_ns),
            kind::CONTINUATION => self.on_continuation(side, &frame, timestamp_ns),
            kind::PUSH_PROMISE => self.on_push_promise(side, &frame, timestamp_ns),
            kind::RST_STREAM => self.on_rst_stream(&frame),
            kind::SETTINGS => self.on_settings(side, &frame),
            kind::GOAWAY => self.on_goaway(side, &frame),
            // PRIORITY, PING, WINDOW_UPDATE and extension frames carry
            // nothing this parser records.
            _ => {}
        }
    }

    fn sync_lost(&mut self, side: Side, _cut: Option<&FrameHeader>, _timestamp_ns: u64) {
        // Lost bytes may have held header blocks whose insertions the
        // decoder missed.
        self.decoders[side_index(side)].forget();

        if let Some(pending) = self.pending_blocks[side_index(side)].take() {
            if let Some(stream) = self.streams.get_mut(&pending.stream_id) {
                stream.mark_partial();
            }
        }
        // The lost bytes may belong to any stream whose message from this
        // side was still open, including the frame that was cut.
        for stream in self.streams.values_mut() {
            stream.mark_gap(side);
        }
    }
}

impl Session {
    fn on_data_end(&mut self, side: Side, frame: &CompletedFrame<'_>, timestamp_ns: u64) {
        let header = &frame.header;
        let Some(stream) = self.streams.get_mut(&header.stream_id) else {
            if !self.recently_closed.contains(&header.stream_id) {
                self.counters.untracked_stream_frames += 1;
            }
            return;
        };

        if frame.damaged {
            stream.data_missing(side, 0);
        }
        stream.data_frame_end(
            side,
            header.wire_len(),
            header.has_flag(flag::END_STREAM),
            frame.started_ns,
            timestamp_ns,
        );
        self.finish_if_complete(header.stream_id);
    }

    fn on_headers(&mut self, side: Side, frame: &CompletedFrame<'_>, timestamp_ns: u64) {
        let header = &frame.header;
        let mut block = PendingBlock {
            kind: BlockKind::Headers {
                end_stream: header.has_flag(flag::END_STREAM),
            },
            stream_id: header.stream_id,
            fragments: Vec::new(),
            started_ns: frame.started_ns,
            wire_len: header.wire_len(),
            oversized: frame.truncated,
            damaged: frame.damaged,
        };

        if !block.oversized && !block.damaged {
            match headers_fragment(header, frame.payload) {
                Ok(fragment) => block.fragments.extend_from_slice(fragment),
                Err(error) => {
                    tracing::debug!(side = ?side, %error, "invalid HTTP/2 HEADERS frame");
                    self.counters.frame_errors += 1;
                    block.damaged = true;
                }
            }
        }

        self.continue_block(
            side,
            block,
            header.has_flag(flag::END_HEADERS),
            timestamp_ns,
        );
    }

    fn on_push_promise(&mut self, side: Side, frame: &CompletedFrame<'_>, timestamp_ns: u64) {
        let header = &frame.header;
        let mut block = PendingBlock {
            kind: BlockKind::PushPromise { promised_id: 0 },
            stream_id: header.stream_id,
            fragments: Vec::new(),
            started_ns: frame.started_ns,
            wire_len: header.wire_len(),
            oversized: frame.truncated,
            damaged: frame.damaged,
        };

        if side == Side::Client {
            // Only servers push (RFC 9113 section 8.4). The block is still
            // decoded, because it changes the client's HPACK table.
            self.counters.frame_errors += 1;
        }
        match push_promise_parts(header, frame.payload) {
            Ok((promised_id, fragment)) => {
                block.kind = BlockKind::PushPromise { promised_id };
                if !block.oversized && !block.damaged {
                    block.fragments.extend_from_slice(fragment);
                }
            }
            Err(error) => {
                tracing::debug!(side = ?side, %error, "invalid HTTP/2 PUSH_PROMISE frame");
                self.counters.frame_errors += 1;
                block.damaged = true;
            }
        }

        self.continue_block(
            side,
            block,
            header.has_flag(flag::END_HEADERS),
            timestamp_ns,
        );
    }

    fn on_continuation(&mut self, side: Side, frame: &CompletedFrame<'_>, timestamp_ns: u64) {
        let header = &frame.header;
        let Some(mut block) = self.pending_blocks[side_index(side)].take() else {
            tracing::debug!(side = ?side, stream_id = header.stream_id, "HTTP/2 CONTINUATION without a header block");
            self.counters.frame_errors += 1;
            return;
        };

        if block.stream_id != header.stream_id {
            tracing::debug!(side = ?side, expected = block.stream_id, received = header.stream_id, "HTTP/2 CONTINUATION on another stream");
            self.counters.frame_errors += 1;
            block.damaged = true;
            self.complete_block(side, block, timestamp_ns);
            return;
        }

        block.wire_len += header.wire_len();
        block.damaged |= frame.damaged;
        let total_len = block.fragments.len().saturating_add(frame.payload.len());
        if frame.truncated || total_len > self.limits.max_header_list_bytes {
            block.oversized = true;
        }
        if block.oversized {
            block.fragments = Vec::new();
        } else {
            block.fragments.extend_from_slice(frame.payload);
        }

        self.continue_block(
            side,
            block,
            header.has_flag(flag::END_HEADERS),
            timestamp_ns,
        );
    }

    fn continue_block(
        &mut self,
        side: Side,
        block: PendingBlock,
        end_headers: bool,
        timestamp_ns: u64,
    ) {
        if end_headers {
            self.complete_block(side, block, timestamp_ns);
        } else {
            self.pending_blocks[side_index(side)] = Some(block);
        }
    }

    /// Decodes a finished header block and hands it to its stream.
    fn complete_block(&mut self, side: Side, block: PendingBlock, timestamp_ns: u64) {
        let decoder = &mut self.decoders[side_index(side)];
        let mut incomplete = false;

        let fields = if block.oversized || block.damaged {
            // The block's insertions into the dynamic table are unknown.
            if block.oversized {
                tracing::debug!(side = ?side, stream_id = block.stream_id, limit = self.limits.max_header_list_bytes, "HTTP/2 header block over the size limit; dropped");
            }
            decoder.forget();
            incomplete = true;
            Vec::new()
        } else {
            let decoded = decoder.decode(&block.fragments, self.limits.max_header_list_bytes);
            if let Some(error) = &decoded.error {
                tracing::debug!(side = ?side, stream_id = block.stream_id, %error, "HTTP/2 header block not fully decoded");
                self.counters.hpack_errors += 1;
                incomplete = true;
            }
            decoded.fields
        };

        let end_stream = matches!(block.kind, BlockKind::Headers { end_stream: true });
        let headers = DecodedHeaders {
            fields,
            end_stream,
            incomplete,
            wire_len: block.wire_len,
            started_ns: block.started_ns,
        };

        match block.kind {
            BlockKind::Headers { .. } => {
                self.deliver_headers(side, block.stream_id, headers, timestamp_ns)
            }
            BlockKind::PushPromise { promised_id } => {
                self.deliver_push_promise(side, promised_id, headers, timestamp_ns)
            }
        }
    }

    fn deliver_headers(
        &mut self,
        side: Side,
        stream_id: u32,
        headers: DecodedHeaders,
        timestamp_ns: u64,
    ) {
        if !self.streams.contains_key(&stream_id) {
            if self.recently_closed.contains(&stream_id) {
                return;
            }
            // A stream whose first block comes from the server began
            // before the capture or the last gap.
            let start_seen = side == Side::Client;
            if !start_seen {
                self.counters.untracked_stream_frames += 1;
            }
            self.open_stream(stream_id, start_seen, headers.started_ns);
        }

        if let Some(stream) = self.streams.get_mut(&stream_id) {
            stream.apply_headers(side, headers, timestamp_ns);
        }
        self.finish_if_complete(stream_id);
    }

    fn deliver_push_promise(
        &mut self,
        side: Side,
        promised_id: u32,
        headers: DecodedHeaders,
        timestamp_ns: u64,
    ) {
        if side == Side::Client
            || promised_id == 0
            || self.streams.contains_key(&promised_id)
            || self.recently_closed.contains(&promised_id)
        {
            return;
        }

        self.open_stream(promised_id, true, headers.started_ns);
        if let Some(stream) = self.streams.get_mut(&promised_id) {
            stream.apply_headers(Side::Client, headers, timestamp_ns);
            stream.end_request();
        }
    }

    fn on_rst_stream(&mut self, frame: &CompletedFrame<'_>) {
        let stream_id = frame.header.stream_id;
        let Some(error_code) = read_u32(frame.payload, 0) else {
            return;
        };
        if let Some(mut stream) = self.streams.remove(&stream_id) {
            stream.reset(error_code);
            self.emit(stream);
        }
    }

    /// Applies a SETTINGS frame sent by `side`. Its values bound what the
    /// other side sends (RFC 9113 section 6.5).
    // NOTE: a setting takes effect here when its frame is parsed, not when
    // the peer acknowledges it, because the two directions are parsed
    // independently. A lowered SETTINGS_MAX_FRAME_SIZE is therefore not
    // applied, so frames in flight under the old value still parse.
    fn on_settings(&mut self, side: Side, frame: &CompletedFrame<'_>) {
        if frame.header.has_flag(flag::ACK) {
            return;
        }
        let receiver = peer(side);

        for setting in frame.payload.chunks_exact(SETTING_LEN) {
            let identifier = u16::from_be_bytes([setting[0], setting[1]]);
            let value = u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);

            match identifier {
                SETTINGS_HEADER_TABLE_SIZE => {
                    self.decoders[side_index(receiver)].set_allowed_size(value as usize);
                }
                SETTINGS_MAX_FRAME_SIZE => {
                    if !(DEFAULT_MAX_FRAME_SIZE..=LARGEST_MAX_FRAME_SIZE).contains(&value) {
                        tracing::debug!(side = ?side, value, "invalid HTTP/2 SETTINGS_MAX_FRAME_SIZE; ignored");
                        self.counters.frame_errors += 1;
                        continue;
                    }
                    let limit = &mut self.max_frame_size[side_index(receiver)];
                    *limit = Some(limit.map_or(value, |current| current.max(value)));
                }
                _ => {}
            }
        }
    }

    /// Applies a GOAWAY sent by `side`: streams that the other side opened
    /// above the last stream id were not processed (RFC 9113 section 6.8).
    fn on_goaway(&mut self, side: Side, frame: &CompletedFrame<'_>) {
        self.counters.goaways += 1;
        let Some(last_stream_id) = read_u32(frame.payload, 0).map(|word| word & 0x7fff_ffff) else {
            return;
        };

        // Clients open odd-numbered streams, servers even-numbered ones.
        let opened_by_client = peer(side) == Side::Client;
        let mut refused: Vec<(u64, u32)> = self
            .streams
            .values()
            .filter(|stream| stream.id() > last_stream_id)
            .filter(|stream| (stream.id() % 2 == 1) == opened_by_client)
            .map(|stream| (stream.created_seq, stream.id()))
            .collect();
        refused.sort_unstable();

        for (_, stream_id) in refused {
            if let Some(mut stream) = self.streams.remove(&stream_id) {
                stream.reset(REFUSED_STREAM);
                self.emit(stream);
            }
        }
    }

    /// Starts tracking a stream, evicting the oldest tracked streams while
    /// `max_streams` are tracked.
    fn open_stream(&mut self, stream_id: u32, start_seen: bool, started_ns: u64) {
        let max_streams = self.limits.max_streams.max(1);

        while self.streams.len() >= max_streams {
            let Some(oldest_id) = self
                .streams
                .values()
                .min_by_key(|stream| stream.created_seq)
                .map(StreamState::id)
            else {
                break;
            };
            let Some(mut oldest) = self.streams.remove(&oldest_id) else {
                break;
            };
            tracing::debug!(
                max_streams,
                stream_id = oldest_id,
                "HTTP/2 stream limit reached; emitting the oldest stream as partial"
            );
            oldest.mark_partial();
            self.counters.evicted_streams += 1;
            self.emit(oldest);
        }

        self.highest_stream_id = self.highest_stream_id.max(stream_id);
        let stream = StreamState::new(
            stream_id,
            self.next_seq,
            self.limits,
            start_seen,
            started_ns,
        );
        self.next_seq += 1;
        self.streams.insert(stream_id, stream);
    }

    fn finish_if_complete(&mut self, stream_id: u32) {
        let complete = self
            .streams
            .get(&stream_id)
            .is_some_and(StreamState::is_complete);
        if !complete {
            return;
        }
        if let Some(stream) = self.streams.remove(&stream_id) {
            self.emit(stream);
        }
    }

    fn emit(&mut self, stream: StreamState) {
        let stream_id = stream.id();
        let exchange = stream.into_exchange();

        if exchange.partial {
            self.counters.partial_streams += 1;
        }
        if exchange.reset.is_some() {
            self.counters.reset_streams += 1;
        }

        if self.recently_closed.len() >= MAX_RECENTLY_CLOSED {
            self.recently_closed.pop_front();
        }
        self.recently_closed.push_back(stream_id);
        self.ready.push(exchange);
    }

    /// Emits every tracked stream in creation order, after both sides
    /// closed.
    fn emit_all_at_close(&mut self) {
        for side in [Side::Client, Side::Server] {
            if let Some(block) = self.pending_blocks[side_index(side)].take() {
                if let Some(stream) = self.streams.get_mut(&block.stream_id) {
                    stream.mark_partial();
                }
            }
        }

        let mut remaining: Vec<StreamState> =
            self.streams.drain().map(|(_, stream)| stream).collect();
        remaining.sort_unstable_by_key(|stream| stream.created_seq);
        for stream in remaining {
            self.emit(stream);
        }
    }
}
