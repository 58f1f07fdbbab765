//! The per-side state machine: buffers one direction's bytes, parses heads,
//! reads bodies, and resynchronises after garbage or capture loss.
//!
//! Only an incomplete head, chunk-size line, chunk terminator, trailer
//! section or candidate message start stays in the buffer between pushes.
//! Body bytes are handed to the capture as they arrive, so the buffer never
//! grows past the larger of `max_head_bytes` and the chunk-size line limit.

use std::fmt::Display;

use super::decoding::BodyCapture;
use super::framing::{
    request_framing, response_framing, BodyFraming, BodyReader, GapEffect, RequestMethodKind,
    MAX_CHUNK_LINE_BYTES,
};
use super::head::{find_section_end, parse_head, HeadError, MessageHead};
use super::start_line::{find_resync_start, match_head_start, match_resync_start, StartMatch};
use super::{Http1Limits, Request, Response, Side};

/// Most 1xx status codes kept for one final response. A server may send any
/// number of them, and the rest are parsed but not recorded.
const MAX_INFORMATIONAL_RESPONSES: usize = 16;

/// Receiver of what a stream parses, implemented by the connection, which
/// pairs requests with responses.
pub(super) trait MessageSink {
    /// Returns the method kind of the oldest request still waiting for a
    /// response, or `None` when no request is waiting.
    fn method_awaiting_response(&self) -> Option<RequestMethodKind>;
    /// Records that a request head was parsed, before its body arrives.
    fn request_started(&mut self, method: RequestMethodKind);
    fn request_finished(&mut self, request: Request);
    fn response_finished(&mut self, response: Response);
    /// Records that the connection stops carrying HTTP/1 after the response
    /// just finished.
    fn protocol_switched(&mut self);
}

/// Faults seen on one side.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StreamCounters {
    pub(super) parse_errors: u64,
    pub(super) resyncs: u64,
    pub(super) skipped_bytes: u64,
}

/// A message whose head was parsed and whose body is still arriving.
#[derive(Debug)]
struct MessageInProgress {
    head: MessageHead,
    reader: BodyReader,
    capture: BodyCapture,
    wire_size: u64,
    first_byte_ns: u64,
    gap: bool,
}

#[derive(Debug)]
enum StreamState {
    /// Waiting for the next message head. `scanned` bytes at the front of
    /// the buffer were already searched for the end of the head.
    Head {
        scanned: usize,
    },
    Body(Box<MessageInProgress>),
    /// Skipping bytes until something that looks like a message start.
    Resync,
    /// Counting and dropping every byte: the connection switched protocols
    /// or closed.
    Ignoring,
}

/// Progress of one state handler on the front of the buffer.
struct Step {
    used: usize,
    /// Whether the handler can make more progress on the remaining bytes.
    again: bool,
}

/// One direction of an HTTP/1 connection.
#[derive(Debug)]
pub(super) struct MessageStream {
    side: Side,
    limits: Http1Limits,
    buffer: Vec<u8>,
    buffer_limit: usize,
    /// How many bytes at the front of `buffer` came from earlier pushes, and
    /// the timestamp of the push that brought the oldest of them.
    carried_len: usize,
    carried_ns: u64,
    state: StreamState,
    /// 1xx status codes received since the last final response.
    informational: Vec<u16>,
    counters: StreamCounters,
}

impl MessageStream {
    pub(super) fn new(side: Side, limits: Http1Limits) -> Self {
        Self {
            side,
            limits,
            buffer: Vec::new(),
            buffer_limit: limits.max_head_bytes.max(MAX_CHUNK_LINE_BYTES),
            carried_len: 0,
            carried_ns: 0,
            state: StreamState::Head { scanned: 0 },
            informational: Vec::new(),
            counters: StreamCounters::default(),
        }
    }

    pub(super) fn counters(&self) -> StreamCounters {
        self.counters
    }

    pub(super) fn buffered_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// Parses `data`, which arrived at `timestamp_ns`, reporting messages to
    /// `sink`. The input is copied into the buffer at most `buffer_limit`
    /// bytes at a time, so one large push cannot grow it past the limit.
    pub(super) fn push(&mut self, data: &[u8], timestamp_ns: u64, sink: &mut impl MessageSink) {
        let mut input = data;

        loop {
            let room = self.buffer_limit.saturating_sub(self.buffer.len());
            let copied_len = room.min(input.len());
            self.buffer.extend_from_slice(&input[..copied_len]);
            input = &input[copied_len..];

            self.process(timestamp_ns, sink);

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
                self.start_resync("parser made no progress on a full buffer");
            }
        }

        // Whatever is left waits for the next push. Its first byte arrived
        // with an earlier push if some carried bytes are still at the front.
        if self.carried_len == 0 {
            self.carried_ns = timestamp_ns;
        }
        self.carried_len = self.buffer.len();
    }

    /// Accounts for `len` bytes that were sent but not captured.
    pub(super) fn push_gap(&mut self, len: u64, timestamp_ns: u64, sink: &mut impl MessageSink) {
        if len == 0 {
            return;
        }

        match std::mem::replace(&mut self.state, StreamState::Resync) {
            StreamState::Ignoring => self.state = StreamState::Ignoring,
            StreamState::Resync => self.discard_buffer(),
            StreamState::Head { .. } => {
                // The lost bytes begin a message, so the next message start
                // is unknown.
                // NOTE: a request lost whole on the client side leaves its
                // response to pair with the following request.
                self.discard_buffer();
                self.counters.resyncs += 1;
            }
            StreamState::Body(mut message) => {
                // Bytes left in the buffer in the body state are an
                // incomplete chunk-size line, terminator or trailer, so the
                // gap hides framing.
                let (effect, body_bytes) = if self.buffer.is_empty() {
                    message.reader.skip_missing(len)
                } else {
                    (GapEffect::LostFraming, 0)
                };

                message.gap = true;
                message.wire_size += body_bytes;
                message.capture.mark_missing(body_bytes);

                match effect {
                    GapEffect::InsideBody => self.state = StreamState::Body(message),
                    GapEffect::EndsBody => {
                        self.finish_message(message, timestamp_ns, sink);
                        self.state = StreamState::Head { scanned: 0 };
                    }
                    GapEffect::LostFraming => {
                        self.finish_message(message, timestamp_ns, sink);
                        self.discard_buffer();
                        self.counters.resyncs += 1;
                    }
                }
            }
        }
    }

    /// Ends the stream: finishes a message still in progress (a
    /// close-delimited body normally, any other as cut short), discards
    /// unparsed bytes, and ignores all later bytes.
    pub(super) fn close(&mut self, timestamp_ns: u64, sink: &mut impl MessageSink) {
        if let StreamState::Body(mut message) =
            std::mem::replace(&mut self.state, StreamState::Ignoring)
        {
            if !message.reader.is_close_delimited() {
                message.gap = true;
                message.capture.mark_incomplete();
            }
            self.finish_message(message, timestamp_ns, sink);
        }
        self.discard_buffer();
    }

    fn discard_buffer(&mut self) {
        self.counters.skipped_bytes += self.buffer.len() as u64;
        self.buffer.clear();
        self.carried_len = 0;
    }

    /// Runs the state machine over the buffer until it needs more bytes,
    /// then drops the bytes it used.
    fn process(&mut self, timestamp_ns: u64, sink: &mut impl MessageSink) {
        let buffer = std::mem::take(&mut self.buffer);
        let mut offset = 0;

        loop {
            let rest = &buffer[offset..];
            let first_byte_ns = if offset < self.carried_len {
                self.carried_ns
            } else {
                timestamp_ns
            };

            let step = match self.state {
                StreamState::Head { scanned } => {
                    self.read_head(rest, scanned, first_byte_ns, timestamp_ns, sink)
                }
                StreamState::Body(_) => self.read_body(rest, timestamp_ns, sink),
                StreamState::Resync => self.resync(rest),
                StreamState::Ignoring => {
                    self.counters.skipped_bytes += rest.len() as u64;
                    Step {
                        used: rest.len(),
                        again: false,
                    }
                }
            };

            offset = (offset + step.used).min(buffer.len());
            if !step.again {
                break;
            }
        }

        self.buffer = buffer;
        self.buffer.drain(..offset);
        self.carried_len = self.carried_len.saturating_sub(offset);
    }

    fn read_head(
        &mut self,
        rest: &[u8],
        scanned: usize,
        first_byte_ns: u64,
        timestamp_ns: u64,
        sink: &mut impl MessageSink,
    ) -> Step {
        // RFC 9112 section 2.2 lets a recipient ignore empty lines before a
        // message, which some clients send after a body.
        let empty_lines = rest
            .iter()
            .take_while(|&&byte| byte == b'\r' || byte == b'\n')
            .count();
        if empty_lines > 0 {
            self.state = StreamState::Head { scanned: 0 };
            return Step {
                used: empty_lines,
                again: true,
            };
        }

        match match_head_start(self.side, rest) {
            StartMatch::Prefix => {
                return Step {
                    used: 0,
                    again: false,
                }
            }
            StartMatch::NoMatch => return self.reject_head(HeadError::NotAMessageStart(self.side)),
            StartMatch::Match => {}
        }

        let Some(head_end) = find_section_end(rest, scanned) else {
            if rest.len() >= self.limits.max_head_bytes {
                return self.reject_head(HeadError::TooLarge {
                    limit: self.limits.max_head_bytes,
                });
            }
            self.state = StreamState::Head {
                scanned: rest.len(),
            };
            return Step {
                used: 0,
                again: false,
            };
        };

        match parse_head(self.side, &rest[..head_end], &self.limits) {
            Ok((head, head_len)) => {
                self.start_message(head, head_len, first_byte_ns, timestamp_ns, sink);
                Step {
                    used: head_len,
                    again: true,
                }
            }
            Err(error) => self.reject_head(error),
        }
    }

    /// Counts a head that cannot be parsed and skips its first byte, so the
    /// resync scan starts past it.
    fn reject_head(&mut self, error: impl Display) -> Step {
        self.start_resync(error);
        self.counters.skipped_bytes += 1;
        Step {
            used: 1,
            again: true,
        }
    }

    fn start_resync(&mut self, error: impl Display) {
        tracing::debug!(side = ?self.side, %error, "HTTP/1 parse error; resynchronising");
        self.counters.parse_errors += 1;
        self.counters.resyncs += 1;
        self.state = StreamState::Resync;
    }

    /// Sets up the body of a message whose head was just parsed, or finishes
    /// the message at once when it has no body.
    fn start_message(
        &mut self,
        head: MessageHead,
        head_len: usize,
        first_byte_ns: u64,
        timestamp_ns: u64,
        sink: &mut impl MessageSink,
    ) {
        let framing = match &head {
            MessageHead::Request(request) => {
                sink.request_started(RequestMethodKind::of(&request.method));
                request_framing(&request.headers)
            }
            MessageHead::Response(response) => {
                let request_method = sink.method_awaiting_response();
                let framing = response_framing(response.status, request_method, &response.headers);

                // Interim responses carry no body and do not complete the
                // exchange, so only their status is kept.
                let is_interim = (100..200).contains(&response.status) && response.status != 101;
                if is_interim && framing.is_ok() {
                    if self.informational.len() < MAX_INFORMATIONAL_RESPONSES {
                        self.informational.push(response.status);
                    }
                    self.state = StreamState::Head { scanned: 0 };
                    return;
                }
                framing
            }
        };

        let mut message = Box::new(MessageInProgress {
            capture: BodyCapture::new(head.headers(), self.limits.max_body_capture),
            head,
            reader: BodyReader::new(framing.as_ref().copied().unwrap_or(BodyFraming::Empty)),
            wire_size: head_len as u64,
            first_byte_ns,
            gap: false,
        });

        match framing {
            Err(error) => {
                // The head is valid, so the message is kept, but where its
                // body ends is unknown.
                message.capture.mark_incomplete();
                self.finish_message(message, timestamp_ns, sink);
                self.start_resync(error);
            }
            Ok(BodyFraming::Tunnel) => {
                self.finish_message(message, timestamp_ns, sink);
                sink.protocol_switched();
                self.state = StreamState::Ignoring;
            }
            Ok(_) if message.reader.is_finished() => {
                self.finish_message(message, timestamp_ns, sink);
                self.state = StreamState::Head { scanned: 0 };
            }
            Ok(_) => self.state = StreamState::Body(message),
        }
    }

    fn read_body(&mut self, rest: &[u8], timestamp_ns: u64, sink: &mut impl MessageSink) -> Step {
        let state = std::mem::replace(&mut self.state, StreamState::Ignoring);
        let StreamState::Body(mut message) = state else {
            self.state = state;
            return Step {
                used: 0,
                again: false,
            };
        };

        let capture = &mut message.capture;
        let advance = message
            .reader
            .advance(rest, &self.limits, &mut |payload| capture.feed(payload));
        message.wire_size += advance.consumed as u64;

        if let Some(error) = advance.error {
            message.capture.mark_incomplete();
            self.finish_message(message, timestamp_ns, sink);

            // The resync scan starts at the bad framing itself, because a
            // body cut short is often followed directly by the next message.
            self.start_resync(error);
            return Step {
                used: advance.consumed,
                again: true,
            };
        }

        if !advance.finished {
            self.state = StreamState::Body(message);
            return Step {
                used: advance.consumed,
                again: false,
            };
        }

        self.finish_message(message, timestamp_ns, sink);
        self.state = StreamState::Head { scanned: 0 };
        Step {
            used: advance.consumed,
            again: true,
        }
    }

    fn resync(&mut self, rest: &[u8]) -> Step {
        let start = find_resync_start(self.side, rest);
        self.counters.skipped_bytes += start as u64;

        let found = match_resync_start(self.side, &rest[start..]) == StartMatch::Match;
        if found {
            self.state = StreamState::Head { scanned: 0 };
        }
        Step {
            used: start,
            again: found,
        }
    }

    fn finish_message(
        &mut self,
        message: Box<MessageInProgress>,
        timestamp_ns: u64,
        sink: &mut impl MessageSink,
    ) {
        let MessageInProgress {
            head,
            mut reader,
            capture,
            wire_size,
            first_byte_ns,
            gap,
        } = *message;
        let trailers = reader.take_trailers();
        let body = capture.finish();

        match head {
            MessageHead::Request(head) => sink.request_finished(Request {
                method: head.method,
                target: head.target,
                version_minor: head.version_minor,
                headers: head.headers,
                trailers,
                body,
                wire_size,
                first_byte_ns,
                last_byte_ns: timestamp_ns,
                gap,
            }),
            MessageHead::Response(head) => sink.response_finished(Response {
                status: head.status,
                reason: head.reason,
                version_minor: head.version_minor,
                headers: head.headers,
                trailers,
                body,
                wire_size,
                first_byte_ns,
                last_byte_ns: timestamp_ns,
                gap,
                informational: std::mem::take(&mut self.informational),
            }),
        }
    }
}
