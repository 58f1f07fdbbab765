//! HTTP/1.x parser: turns the two reassembled byte streams of one TCP
//! connection into request/response exchanges.
//!
//! The stream stage pushes each side's bytes in whatever chunks it received
//! them. [`Http1Connection`] parses message heads with `httparse`, frames
//! bodies per RFC 9112 section 6, decodes gzip and deflate content up to a
//! cap, pairs responses with pipelined requests in order, and resynchronises
//! after garbage or capture loss. Bad input is counted in [`Http1Counters`],
//! never a panic, and every buffer is bounded by [`Http1Limits`].
//!
//! The submodules each hold one step: `start_line` recognises message starts,
//! `head` parses heads, `framing` delimits bodies, `decoding` undoes the
//! content coding, `stream` runs the per-side state machine and `connection`
//! pairs the two sides.

mod connection;
mod decoding;
mod framing;
mod head;
mod start_line;
mod stream;

#[cfg(test)]
mod tests;

pub use connection::Http1Connection;
pub use start_line::detect;

/// End of the connection that sent some bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The end that sends requests.
    Client,
    /// The end that sends responses.
    Server,
}

/// Classification of the first bytes of a stream, as returned by
/// [`detect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// A known method followed by a space.
    Request,
    /// The `HTTP/1.` prefix of a status line.
    Response,
    /// Neither a request nor a response start.
    NotHttp,
    /// Too few bytes to decide: the data is a strict prefix of a request or
    /// response start.
    NeedMore,
}

/// Bounds on what one connection may buffer and keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http1Limits {
    /// Maximum size of a message head (start line and header fields, with the
    /// empty line that ends them), and of a chunked body's trailer section.
    pub max_head_bytes: usize,
    /// Maximum number of header fields in a head or trailer section.
    pub max_headers: usize,
    /// Maximum number of decoded body bytes kept per message for analysis.
    pub max_body_capture: usize,
    /// Maximum number of requests waiting for their responses. When a new
    /// request would exceed it, the oldest waiting request is emitted without
    /// a response.
    pub max_pending_requests: usize,
}

impl Default for Http1Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 64 * 1024,
            max_headers: 128,
            max_body_capture: 64 * 1024,
            max_pending_requests: 64,
        }
    }
}

/// One header or trailer field, in the order and case it was received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    /// The raw field value, which HTTP does not require to be UTF-8.
    pub value: Vec<u8>,
}

/// A message body as framed on the wire and as captured for analysis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// Body bytes as framed on the wire: after removing the chunked transfer
    /// coding, before content decoding. Bytes lost to a capture gap count.
    pub wire_len: u64,
    /// The body after gzip or deflate content decoding (or as is for the
    /// identity coding), at most `max_body_capture` bytes.
    pub decoded: Vec<u8>,
    /// False when `decoded` was cut at the cap, the coding was unsupported or
    /// failed to decode, the framing was invalid, or body bytes were missing.
    pub complete_capture: bool,
}

/// A parsed HTTP/1.x request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent: origin form (`/path?query`), absolute
    /// form, authority form (CONNECT) or `*`.
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    pub headers: Vec<Header>,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<Header>,
    pub body: Body,
    /// Bytes on the wire: start line, header section and framed body,
    /// including chunk-size lines and trailers.
    pub wire_size: u64,
    /// Timestamp of the push that carried the first byte of the message.
    pub first_byte_ns: u64,
    /// Timestamp of the push (or close) that completed the message.
    pub last_byte_ns: u64,
    /// Bytes were missing inside this message: a capture gap, or the
    /// connection closed before the message was complete.
    pub gap: bool,
}

/// A parsed final (non-1xx, or 101) HTTP/1.x response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    pub headers: Vec<Header>,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<Header>,
    pub body: Body,
    /// Bytes on the wire: status line, header section and framed body,
    /// including chunk-size lines and trailers.
    pub wire_size: u64,
    /// Timestamp of the push that carried the first byte of the message.
    pub first_byte_ns: u64,
    /// Timestamp of the push (or close) that completed the message.
    pub last_byte_ns: u64,
    /// Bytes were missing inside this message: a capture gap, or the
    /// connection closed before the message was complete.
    pub gap: bool,
    /// Status codes of the 1xx responses that preceded this one, in order.
    pub informational: Vec<u16>,
}

/// A request paired with its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub request: Request,
    /// `None` when the connection closed, or the pending-request limit was
    /// reached, before a response arrived.
    pub response: Option<Response>,
}

/// Faults seen on one connection.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http1Counters {
    /// Heads or bodies that could not be parsed.
    pub parse_errors: u64,
    /// Times the parser started skipping bytes to find the next message
    /// start, after a parse error or a capture gap.
    pub resyncs: u64,
    /// Bytes discarded without being parsed: garbage skipped while
    /// resynchronising, unparsed bytes dropped at a gap or at close, and
    /// every byte pushed after a protocol switch or close.
    pub skipped_bytes: u64,
    /// Requests emitted without a response.
    pub unanswered_requests: u64,
    /// Responses that arrived while no request was waiting, and were
    /// dropped.
    pub orphan_responses: u64,
}
