//! HTTP/2 parser: turns the two reassembled byte streams of one TCP
//! connection into per-stream request/response exchanges, with gRPC calls
//! recognised on top.
//!
//! The stream stage pushes each side's bytes in whatever chunks it received
//! them. [`Http2Connection`] splits them into frames (RFC 9113 section 4)
//! and decodes header blocks with HPACK (RFC 7541). It follows each stream
//! from its request HEADERS to the end of its response, decodes gzip and
//! deflate content up to a cap, and reads the length-prefixed messages of
//! gRPC calls.
//! It can attach to a connection mid-way or lose bytes to a capture gap: it
//! then scans for the next plausible frame header, and its HPACK decoders
//! track which dynamic table entries they never saw, so later header blocks
//! decode exactly again. Bad input is counted in [`Http2Counters`], never a
//! panic, and every buffer is bounded by [`Http2Limits`].
//!
//! The submodules each hold one step: `frame` parses and checks frame
//! headers, `reader` cuts one side's bytes into frames and resynchronises,
//! `hpack` decodes header blocks, `decoding` undoes the content coding,
//! `grpc` reads gRPC messages, `stream` collects one stream's messages, and
//! `connection` dispatches frames to streams.

mod connection;
mod decoding;
mod frame;
mod grpc;
mod hpack;
mod reader;
mod stream;

#[cfg(test)]
mod tests;

pub use connection::Http2Connection;

use super::http1::{Exchange, Side};

/// The connection preface every HTTP/2 client sends first (RFC 9113 section
/// 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Classification of the first bytes of a client stream, as returned by
/// [`detect_preface`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefaceDetection {
    /// The bytes begin with the whole connection preface.
    Preface,
    /// The bytes differ from the preface.
    NotPreface,
    /// Too few bytes to decide: the data is a strict prefix of the preface,
    /// or empty.
    NeedMore,
}

/// Classifies the first bytes of the client side of a connection: whether
/// they begin with the HTTP/2 connection [`PREFACE`].
pub fn detect_preface(data: &[u8]) -> PrefaceDetection {
    if data.len() >= PREFACE.len() {
        if data.starts_with(PREFACE) {
            PrefaceDetection::Preface
        } else {
            PrefaceDetection::NotPreface
        }
    } else if PREFACE.starts_with(data) {
        PrefaceDetection::NeedMore
    } else {
        PrefaceDetection::NotPreface
    }
}

/// Bounds on what one connection may buffer and keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http2Limits {
    /// Absolute maximum frame payload length accepted, whatever the peers
    /// advertise in SETTINGS_MAX_FRAME_SIZE. The 24-bit length field allows
    /// at most 16 MiB - 1.
    pub max_frame_size_cap: usize,
    /// Maximum size of one header block: its encoded bytes across HEADERS
    /// and CONTINUATION frames, and its decoded fields counted as in
    /// SETTINGS_MAX_HEADER_LIST_SIZE (name, value and 32 bytes each).
    pub max_header_list_bytes: usize,
    /// Maximum number of streams tracked at once per connection. When a new
    /// stream would exceed it, the oldest tracked stream is emitted as
    /// partial.
    pub max_streams: usize,
    /// Maximum number of decoded body bytes kept per message. For a gRPC
    /// call it also bounds the payload bytes kept per direction.
    pub max_body_capture: usize,
    /// Maximum number of gRPC message payloads kept per direction of a call.
    /// Messages past it are counted but not kept.
    pub max_grpc_messages_kept: usize,
    /// Maximum bytes of HPACK dynamic table content stored per direction.
    /// A peer may allow a larger table: the oldest entries past this bound
    /// are then forgotten, and a header field that references one is
    /// counted as an HPACK error instead of being decoded.
    pub max_header_table_bytes: usize,
}

impl Default for Http2Limits {
    fn default() -> Self {
        Self {
            max_frame_size_cap: 16 * 1024 * 1024,
            max_header_list_bytes: 64 * 1024,
            max_streams: 1024,
            max_body_capture: 64 * 1024,
            max_grpc_messages_kept: 16,
            max_header_table_bytes: 64 * 1024,
        }
    }
}

/// Details of a gRPC call carried by one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrpcCall {
    /// The fully qualified service from `:path` `/package.Service/Method`,
    /// here `package.Service`. Empty when the path has another form.
    pub service: String,
    /// The method from `:path`, here `Method`.
    pub method: String,
    /// `grpc-status` from the trailers, or from the response headers of a
    /// trailers-only response.
    pub status: Option<u32>,
    /// `grpc-message`, percent-decoded as the gRPC HTTP/2 protocol
    /// specifies.
    pub message: Option<String>,
    /// Complete length-prefixed messages the client sent.
    pub request_messages: u64,
    /// Complete length-prefixed messages the server sent.
    pub response_messages: u64,
    /// Whether any message in either direction had its compressed flag set.
    pub compressed: bool,
    /// Payloads of the first request messages, at most
    /// `max_grpc_messages_kept` of them and `max_body_capture` bytes in
    /// total. Payloads compressed with `grpc-encoding` gzip or deflate are
    /// decompressed. Those in another encoding are kept as sent.
    pub request_payloads: Vec<Vec<u8>>,
    /// Payloads of the first response messages, bounded and decompressed
    /// like `request_payloads`.
    pub response_payloads: Vec<Vec<u8>>,
}

/// One HTTP/2 stream as a request/response exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamExchange {
    pub stream_id: u32,
    /// The request and response in HTTP/1 terms. The request method and
    /// target come from `:method` and `:path` (`:authority` for CONNECT).
    /// `:authority` is added as a leading `host` header when there is no
    /// `host` field. The response status comes from `:status`, and its
    /// reason is empty. `version_minor` is 0 for HTTP/2.0, and other
    /// pseudo-header fields are dropped. A request whose headers were never
    /// seen has an empty method and target.
    pub exchange: Exchange,
    /// The RST_STREAM error code, when either end reset the stream. A stream
    /// that a GOAWAY frame left unprocessed gets REFUSED_STREAM (0x7).
    pub reset: Option<u32>,
    /// A header block could not be fully decoded, or data is missing: the
    /// stream began before the capture, bytes were lost, the stream was
    /// evicted, or the connection closed first.
    pub partial: bool,
    /// The gRPC call, when either message has a `content-type` starting with
    /// `application/grpc`.
    pub grpc: Option<GrpcCall>,
}

/// Faults and events seen on one connection.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http2Counters {
    /// Frames whose header was read, of every type.
    pub frames: u64,
    /// Frames that break RFC 9113 rules: an implausible header, invalid
    /// padding, a wrong payload length, a CONTINUATION out of place, or an
    /// invalid setting.
    pub frame_errors: u64,
    /// Times a side started scanning for the next plausible frame header,
    /// after a frame error, a capture gap or a missing preface. Attaching
    /// mid-connection is not counted.
    pub resyncs: u64,
    /// Bytes discarded without being parsed: those skipped while scanning
    /// for a frame header, and unparsed bytes dropped at a gap or at close.
    pub skipped_bytes: u64,
    /// Header blocks that could not be fully decoded.
    pub hpack_errors: u64,
    /// Exchanges emitted with `partial` set.
    pub partial_streams: u64,
    /// Exchanges emitted with `reset` set.
    pub reset_streams: u64,
    /// Streams emitted early because `max_streams` streams were tracked.
    pub evicted_streams: u64,
    /// GOAWAY frames received from either side.
    pub goaways: u64,
    /// DATA frames and server header blocks for streams that are not
    /// tracked: streams that began before the capture or the last gap, or
    /// that were evicted.
    pub untracked_stream_frames: u64,
}
