//! gRPC over HTTP/2: the length-prefixed messages carried in DATA frames,
//! and the call details taken from pseudo-headers and trailers, as the gRPC
//! "PROTOCOL-HTTP2" specification defines them.

use super::super::http1::Header;
use super::decoding::{CappedDecoder, Coding};

/// Length of the message prefix: a compressed flag byte and a 4-byte
/// big-endian length.
const MESSAGE_PREFIX_LEN: usize = 5;

/// Returns whether a `content-type` value names gRPC.
pub(super) fn is_grpc_content_type(value: &[u8]) -> bool {
    value.len() >= 16 && value[..16].eq_ignore_ascii_case(b"application/grpc")
}

/// Returns whether the message framing of a gRPC `content-type` can be
/// read. gRPC-Web text mode base64-encodes the whole body, so its frames
/// are not visible.
pub(super) fn has_binary_framing(content_type: &[u8]) -> bool {
    let text_mode = b"application/grpc-web-text";
    !(content_type.len() >= text_mode.len()
        && content_type[..text_mode.len()].eq_ignore_ascii_case(text_mode))
}

/// Splits a gRPC `:path` of the form `/package.Service/Method` into the
/// service and the method. Other forms give empty strings.
pub(super) fn split_path(path: &str) -> (String, String) {
    let Some(rest) = path.strip_prefix('/') else {
        return (String::new(), String::new());
    };
    match rest.split_once('/') {
        Some((service, method)) if !service.is_empty() && !method.contains('/') => {
            (service.to_owned(), method.to_owned())
        }
        _ => (String::new(), String::new()),
    }
}

/// Parses a `grpc-status` value, a decimal code.
pub(super) fn parse_status(value: &[u8]) -> Option<u32> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// Decodes a `grpc-message` value, which senders percent-encode. A `%` not
/// followed by two hex digits is kept as it is, and invalid UTF-8 is
/// replaced.
pub(super) fn decode_message(value: &[u8]) -> String {
    let mut decoded = Vec::with_capacity(value.len());
    let mut index = 0;

    while index < value.len() {
        let byte = value[index];
        let escaped = (byte == b'%')
            .then(|| value.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());

        match escaped {
            Some(unescaped) => {
                decoded.push(unescaped);
                index += 3;
            }
            None => {
                decoded.push(byte);
                index += 1;
            }
        }
    }

    String::from_utf8_lossy(&decoded).into_owned()
}

/// Returns the coding named by the `grpc-encoding` fields of `headers`.
pub(super) fn message_coding(headers: &[Header]) -> Coding {
    let values: Vec<&[u8]> = headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("grpc-encoding"))
        .map(|header| header.value.as_slice())
        .collect();
    Coding::from_list(&values)
}

#[derive(Debug)]
enum ReaderState {
    /// Reading the 5-byte prefix; `filled` bytes of it arrived.
    Prefix {
        prefix: [u8; MESSAGE_PREFIX_LEN],
        filled: usize,
    },
    /// Reading a message payload.
    Payload {
        remaining: u64,
        /// False for a gRPC-Web trailer frame, which is not a message.
        is_message: bool,
        /// The decoder keeping this payload, or `None` when it is not kept.
        capture: Option<CappedDecoder>,
    },
    /// Bytes were lost where a prefix was, so message boundaries are
    /// unknown for the rest of the stream.
    Lost,
}

/// The gRPC messages of one direction of a call.
#[derive(Debug)]
pub(super) struct MessageReader {
    state: ReaderState,
    coding: Coding,
    max_kept: usize,
    /// Payload bytes that may still be kept in this direction.
    budget: usize,
    pub(super) messages: u64,
    pub(super) compressed: bool,
    pub(super) payloads: Vec<Vec<u8>>,
    /// A message was cut by a gap or by the end of the stream.
    pub(super) incomplete: bool,
}

impl MessageReader {
    /// Creates a reader whose compressed messages use `coding`, keeping at
    /// most `max_kept` payloads and `budget` payload bytes in total.
    pub(super) fn new(coding: Coding, max_kept: usize, budget: usize) -> Self {
        Self {
            state: ReaderState::Prefix {
                prefix: [0; MESSAGE_PREFIX_LEN],
                filled: 0,
            },
            coding,
            max_kept,
            budget,
            messages: 0,
            compressed: false,
            payloads: Vec::new(),
            incomplete: false,
        }
    }

    /// Reads DATA payload bytes of this direction.
    pub(super) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.state {
                ReaderState::Prefix { prefix, filled } => {
                    let copied_len = (MESSAGE_PREFIX_LEN - *filled).min(data.len());
                    prefix[*filled..*filled + copied_len].copy_from_slice(&data[..copied_len]);
                    *filled += copied_len;
                    data = &data[copied_len..];
                    if *filled == MESSAGE_PREFIX_LEN {
                        let prefix = *prefix;
                        self.start_message(prefix);
                    }
                }
                ReaderState::Payload {
                    remaining, capture, ..
                } => {
                    let taken_len = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    if let Some(capture) = capture {
                        capture.feed(&data[..taken_len]);
                    }
                    *remaining -= taken_len as u64;
                    data = &data[taken_len..];
                    if *remaining == 0 {
                        self.finish_message();
                    }
                }
                ReaderState::Lost => return,
            }
        }
    }

    /// Accounts for `len` DATA bytes lost to a capture gap. A gap inside a
    /// payload keeps the framing; anywhere else it is lost.
    pub(super) fn skip_missing(&mut self, len: u64) {
        if len == 0 {
            return;
        }
        self.incomplete = true;

        match &mut self.state {
            ReaderState::Payload {
                remaining, capture, ..
            } if len <= *remaining => {
                if let Some(capture) = capture {
                    capture.mark_missing(len);
                }
                *remaining -= len;
                if *remaining == 0 {
                    self.finish_message();
                }
            }
            _ => self.state = ReaderState::Lost,
        }
    }

    /// Ends the direction: a message cut short is kept as far as it came
    /// but not counted.
    pub(super) fn finish(&mut self) {
        match std::mem::replace(&mut self.state, ReaderState::Lost) {
            ReaderState::Prefix { filled: 0, .. } | ReaderState::Lost => {}
            ReaderState::Prefix { .. } => self.incomplete = true,
            ReaderState::Payload { capture, .. } => {
                self.incomplete = true;
                if let Some(capture) = capture {
                    self.keep_payload(capture);
                }
            }
        }
    }

    fn start_message(&mut self, prefix: [u8; MESSAGE_PREFIX_LEN]) {
        let compressed = prefix[0] & 0x01 != 0;
        // gRPC-Web sends its trailers in the body as a frame with the most
        // significant flag bit set.
        let is_message = prefix[0] & 0x80 == 0;
        let length = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
        self.compressed |= compressed && is_message;

        let coding = if compressed {
            // A compressed message in an encoding this module cannot decode
            // is kept as sent.
            match self.coding {
                Coding::Gzip | Coding::Deflate => self.coding,
                Coding::Identity | Coding::Unsupported => Coding::Identity,
            }
        } else {
            Coding::Identity
        };
        let capture = (is_message && self.payloads.len() < self.max_kept && self.budget > 0)
            .then(|| CappedDecoder::new(coding, self.budget));

        self.state = ReaderState::Payload {
            remaining: u64::from(length),
            is_message,
            capture,
        };
        if length == 0 {
            self.finish_message();
        }
    }

    fn finish_message(&mut self) {
        let state = std::mem::replace(
            &mut self.state,
            ReaderState::Prefix {
                prefix: [0; MESSAGE_PREFIX_LEN],
                filled: 0,
            },
        );
        if let ReaderState::Payload {
            is_message,
            capture,
            ..
        } = state
        {
            if is_message {
                self.messages += 1;
            }
            if let Some(capture) = capture {
                self.keep_payload(capture);
            }
        }
    }

    fn keep_payload(&mut self, capture: CappedDecoder) {
        let body = capture.finish();
        self.budget = self.budget.saturating_sub(body.decoded.len());
        self.payloads.push(body.decoded);
    }
}
