//! One HTTP/2 stream: collects the request and response header blocks, body
//! bytes and trailers of each side (RFC 9113 section 8.1), and turns them
//! into a [`StreamExchange`] once the stream ends.

use super::super::http1::{Body, Exchange, Header, Request, Response};
use super::decoding::{CappedDecoder, Coding};
use super::grpc::{self, MessageReader};
use super::hpack::HeaderField;
use super::{GrpcCall, Http2Limits, Side, StreamExchange};

/// Most 1xx status codes kept for one final response.
const MAX_INFORMATIONAL_RESPONSES: usize = 16;

/// The pseudo-header fields of a request or response (RFC 9113 section
/// 8.3).
#[derive(Debug, Default)]
struct PseudoHeaders {
    method: Option<String>,
    path: Option<String>,
    authority: Option<String>,
    status: Option<u16>,
}

/// A header block split into pseudo-header fields and regular fields.
#[derive(Debug, Default)]
struct HeaderBlock {
    pseudo: PseudoHeaders,
    fields: Vec<Header>,
}

impl HeaderBlock {
    fn from_fields(decoded: Vec<HeaderField>) -> Self {
        let mut block = HeaderBlock::default();

        for field in decoded {
            let text = || String::from_utf8_lossy(&field.value).into_owned();
            match field.name.as_slice() {
                b":method" => block.pseudo.method = Some(text()),
                b":path" => block.pseudo.path = Some(text()),
                b":authority" => block.pseudo.authority = Some(text()),
                b":status" => {
                    block.pseudo.status = std::str::from_utf8(&field.value)
                        .ok()
                        .and_then(|status| status.parse().ok());
                }
                // `:scheme`, `:protocol` and unknown pseudo-headers have no
                // place in the HTTP/1 types.
                name if name.starts_with(b":") => {}
                name => block.fields.push(Header {
                    name: String::from_utf8_lossy(name).into_owned(),
                    value: field.value,
                }),
            }
        }

        block
    }

    fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.as_slice())
    }
}

/// One side of a stream: a request or a response.
#[derive(Debug, Default)]
struct MessageState {
    /// The request headers, or the final response headers.
    head: Option<HeaderBlock>,
    trailers: Vec<Header>,
    body: Option<CappedDecoder>,
    grpc: Option<MessageReader>,
    wire_size: u64,
    first_byte_ns: Option<u64>,
    last_byte_ns: u64,
    ended: bool,
    gap: bool,
}

impl MessageState {
    fn note_frame(&mut self, wire_len: u64, started_ns: u64, timestamp_ns: u64) {
        self.wire_size += wire_len;
        self.first_byte_ns.get_or_insert(started_ns);
        self.last_byte_ns = timestamp_ns;
    }

    fn mark_gap(&mut self) {
        self.gap = true;
        if let Some(body) = &mut self.body {
            body.mark_missing(0);
        }
        if let Some(reader) = &mut self.grpc {
            reader.skip_missing(u64::MAX);
        }
    }

    fn grpc_trailer(&self, name: &str) -> Option<&[u8]> {
        self.trailers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.as_slice())
            .or_else(|| self.head.as_ref().and_then(|head| head.field(name)))
    }
}

/// A header block addressed to a stream, as decoded by the connection.
#[derive(Debug)]
pub(super) struct DecodedHeaders {
    pub(super) fields: Vec<HeaderField>,
    pub(super) end_stream: bool,
    /// Fields were lost: an HPACK error, an oversized or damaged block.
    pub(super) incomplete: bool,
    pub(super) wire_len: u64,
    pub(super) started_ns: u64,
}

/// The state of one stream until it ends.
#[derive(Debug)]
pub(super) struct StreamState {
    id: u32,
    /// Creation order, which picks the stream to evict.
    pub(super) created_seq: u64,
    limits: Http2Limits,
    request: MessageState,
    response: MessageState,
    informational: Vec<u16>,
    reset: Option<u32>,
    partial: bool,
    /// No request headers were seen yet on a stream that the server's
    /// frames opened. Request headers parsed later, out of order, clear it.
    start_missing: bool,
    is_grpc: bool,
    created_ns: u64,
}

impl StreamState {
    /// Creates a stream. `start_seen` is false when its first frame is not
    /// the request headers, so the start of the stream was missed.
    pub(super) fn new(
        id: u32,
        created_seq: u64,
        limits: Http2Limits,
        start_seen: bool,
        created_ns: u64,
    ) -> Self {
        Self {
            id,
            created_seq,
            limits,
            request: MessageState::default(),
            response: MessageState::default(),
            informational: Vec::new(),
            reset: None,
            partial: false,
            start_missing: !start_seen,
            is_grpc: false,
            created_ns,
        }
    }

    pub(super) fn id(&self) -> u32 {
        self.id
    }

    fn message(&mut self, side: Side) -> &mut MessageState {
        match side {
            Side::Client => &mut self.request,
            Side::Server => &mut self.response,
        }
    }

    /// Applies a header block sent by `side`: the request headers, a 1xx or
    /// final response head, or trailers, depending on what came before.
    pub(super) fn apply_headers(&mut self, side: Side, block: DecodedHeaders, timestamp_ns: u64) {
        if block.incomplete {
            self.partial = true;
        }
        let headers = HeaderBlock::from_fields(block.fields);
        if side == Side::Client && headers.pseudo.method.is_some() {
            self.start_missing = false;
        }
        let limits = self.limits;
        let mut is_grpc = self.is_grpc;

        let message = self.message(side);
        message.note_frame(block.wire_len, block.started_ns, timestamp_ns);

        if message.head.is_some() {
            message.trailers.extend(headers.fields);
        } else if side == Side::Server
            && headers
                .pseudo
                .status
                .is_some_and(|status| (100..200).contains(&status))
            && !block.end_stream
        {
            if self.informational.len() < MAX_INFORMATIONAL_RESPONSES {
                self.informational.extend(headers.pseudo.status);
            }
            return;
        } else {
            if let Some(content_type) = headers.field("content-type") {
                is_grpc |= grpc::is_grpc_content_type(content_type);
            }
            let binary_framing = headers
                .field("content-type")
                .is_none_or(grpc::has_binary_framing);
            if is_grpc && binary_framing && message.grpc.is_none() {
                message.grpc = Some(MessageReader::new(
                    grpc::message_coding(&headers.fields),
                    limits.max_grpc_messages_kept,
                    limits.max_body_capture,
                ));
            }
            if message.body.is_none() {
                message.body = Some(CappedDecoder::new(
                    Coding::from_content_encoding(&headers.fields),
                    limits.max_body_capture,
                ));
            }
            message.head = Some(headers);
        }

        if block.end_stream {
            message.ended = true;
        }
        self.is_grpc = is_grpc;
    }

    /// Marks the request as complete without a body, for a request that a
    /// PUSH_PROMISE carried (RFC 9113 section 8.4).
    pub(super) fn end_request(&mut self) {
        self.request.ended = true;
    }

    /// Adds DATA payload bytes sent by `side`.
    pub(super) fn data(&mut self, side: Side, chunk: &[u8]) {
        let capture_limit = self.limits.max_body_capture;
        let message = self.message(side);

        if message.head.is_none() {
            // DATA before headers breaks RFC 9113 section 8.1, or the
            // headers were lost.
            message.gap = true;
        }
        message
            .body
            .get_or_insert_with(|| CappedDecoder::new(Coding::Identity, capture_limit))
            .feed(chunk);
        if let Some(reader) = &mut message.grpc {
            reader.feed(chunk);
        }
    }

    /// Accounts for `len` DATA payload bytes of `side` lost to a gap.
    pub(super) fn data_missing(&mut self, side: Side, len: u64) {
        let message = self.message(side);
        message.gap = true;
        if let Some(body) = &mut message.body {
            body.mark_missing(len);
        }
        if let Some(reader) = &mut message.grpc {
            reader.skip_missing(len);
        }
    }

    /// Records the end of a DATA frame sent by `side`.
    pub(super) fn data_frame_end(
        &mut self,
        side: Side,
        wire_len: u64,
        end_stream: bool,
        started_ns: u64,
        timestamp_ns: u64,
    ) {
        let message = self.message(side);
        message.note_frame(wire_len, started_ns, timestamp_ns);
        if end_stream {
            message.ended = true;
        }
    }

    /// Records that bytes of `side` may be missing from this stream, when
    /// its message from that side has started and not ended. A message
    /// whose start was lost shows up later as DATA without headers, or as
    /// a stream still open at close.
    pub(super) fn mark_gap(&mut self, side: Side) {
        let message = self.message(side);
        if message.first_byte_ns.is_some() && !message.ended {
            message.mark_gap();
        }
    }

    pub(super) fn mark_partial(&mut self) {
        self.partial = true;
    }

    pub(super) fn reset(&mut self, error_code: u32) {
        self.reset = Some(error_code);
    }

    /// Returns whether both sides sent END_STREAM after a final response.
    pub(super) fn is_complete(&self) -> bool {
        self.request.ended && self.response.ended && self.response.head.is_some()
    }

    /// Builds the exchange. A stream that did not complete and was not
    /// reset is partial.
    pub(super) fn into_exchange(self) -> StreamExchange {
        let ended_normally = self.is_complete();
        let mut request = self.request;
        let mut response = self.response;

        for message in [&mut request, &mut response] {
            if let Some(reader) = &mut message.grpc {
                reader.finish();
            }
        }

        let grpc_incomplete = [&request, &response].iter().any(|message| {
            message
                .grpc
                .as_ref()
                .is_some_and(|reader| reader.incomplete)
        });
        let partial = self.partial
            || self.start_missing
            || request.gap
            || response.gap
            || grpc_incomplete
            || (!ended_normally && self.reset.is_none());

        let grpc = self
            .is_grpc
            .then(|| build_grpc_call(&mut request, &mut response));
        let exchange = Exchange {
            request: build_request(request, self.created_ns),
            response: build_response(response, self.informational),
        };

        StreamExchange {
            stream_id: self.id,
            exchange,
            reset: self.reset,
            partial,
            grpc,
        }
    }
}

fn finish_body(body: Option<CappedDecoder>) -> Body {
    match body {
        Some(body) => body.finish(),
        None => Body {
            wire_len: 0,
            decoded: Vec::new(),
            complete_capture: true,
        },
    }
}

fn build_request(message: MessageState, created_ns: u64) -> Request {
    let head = message.head.unwrap_or_default();
    let PseudoHeaders {
        method,
        path,
        authority,
        ..
    } = head.pseudo;
    let method = method.unwrap_or_default();

    // CONNECT names its target in `:authority` (RFC 9113 section 8.5).
    let target = if method.eq_ignore_ascii_case("CONNECT") {
        authority.clone().unwrap_or_default()
    } else {
        path.unwrap_or_default()
    };

    let mut headers = head.fields;
    let has_host = headers
        .iter()
        .any(|header| header.name.eq_ignore_ascii_case("host"));
    if let Some(authority) = authority.filter(|_| !has_host) {
        headers.insert(
            0,
            Header {
                name: "host".to_owned(),
                value: authority.into_bytes(),
            },
        );
    }

    let first_byte_ns = message.first_byte_ns.unwrap_or(created_ns);
    Request {
        method,
        target,
        version_minor: 0,
        headers,
        trailers: message.trailers,
        body: finish_body(message.body),
        wire_size: message.wire_size,
        first_byte_ns,
        last_byte_ns: message.last_byte_ns.max(first_byte_ns),
        gap: message.gap,
    }
}

fn build_response(message: MessageState, informational: Vec<u16>) -> Option<Response> {
    let head = message.head?;
    let first_byte_ns = message.first_byte_ns.unwrap_or_default();

    Some(Response {
        status: head.pseudo.status.unwrap_or_default(),
        reason: String::new(),
        version_minor: 0,
        headers: head.fields,
        trailers: message.trailers,
        body: finish_body(message.body),
        wire_size: message.wire_size,
        first_byte_ns,
        last_byte_ns: message.last_byte_ns.max(first_byte_ns),
        gap: message.gap,
        informational,
    })
}

fn build_grpc_call(request: &mut MessageState, response: &mut MessageState) -> GrpcCall {
    let (service, method) = request
        .head
        .as_ref()
        .and_then(|head| head.pseudo.path.as_deref())
        .map(grpc::split_path)
        .unwrap_or_default();
    let status = response
        .grpc_trailer("grpc-status")
        .and_then(grpc::parse_status);
    let message = response
        .grpc_trailer("grpc-message")
        .map(grpc::decode_message);

    let mut call = GrpcCall {
        service,
        method,
        status,
        message,
        ..GrpcCall::default()
    };
    if let Some(reader) = request.grpc.take() {
        call.request_messages = reader.messages;
        call.compressed |= reader.compressed;
        call.request_payloads = reader.payloads;
    }
    if let Some(reader) = response.grpc.take() {
        call.response_messages = reader.messages;
        call.compressed |= reader.compressed;
        call.response_payloads = reader.payloads;
    }
    call
}
