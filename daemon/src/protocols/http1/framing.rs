//! Body framing per RFC 9112 section 6: deciding from a head how its body is
//! delimited, and a streaming reader that finds the body's end in bytes that
//! arrive in arbitrary pieces.

use thiserror::Error;

use super::head::{find_section_end, header_list, header_values, parse_trailers, HeadError};
use super::{Header, Http1Limits};

/// Maximum length of a chunk-size line, with its extensions and line
/// ending. RFC 9112 sets no limit, and real extensions are a few dozen bytes.
pub(super) const MAX_CHUNK_LINE_BYTES: usize = 8 * 1024;

/// Errors in a message's body framing.
#[derive(Debug, Error, PartialEq, Eq)]
pub(super) enum FramingError {
    #[error("Content-Length fields disagree")]
    ConflictingContentLength,
    #[error("Content-Length is not a decimal number of at most 64 bits")]
    InvalidContentLength,
    #[error("request Transfer-Encoding does not end with chunked")]
    RequestNotChunked,
    #[error("chunk size is not a hexadecimal number of at most 64 bits")]
    InvalidChunkSize,
    #[error("chunk-size line is longer than {MAX_CHUNK_LINE_BYTES} bytes")]
    ChunkLineTooLong,
    #[error("chunk data is not followed by CRLF")]
    MissingChunkTerminator,
    #[error("invalid trailer section: {0}")]
    Trailers(HeadError),
}

/// Rule that delimits a message body (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyFraming {
    /// No body: the message ends with its head.
    Empty,
    Length(u64),
    Chunked,
    /// The body runs until the connection closes.
    UntilClose,
    /// No body, and the connection stops carrying HTTP/1 after this message:
    /// `101 Switching Protocols` or a 2xx response to CONNECT.
    Tunnel,
}

/// The property of a request that its response's framing depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RequestMethodKind {
    Head,
    Connect,
    Other,
}

impl RequestMethodKind {
    pub(super) fn of(method: &str) -> Self {
        match method {
            "HEAD" => RequestMethodKind::Head,
            "CONNECT" => RequestMethodKind::Connect,
            _ => RequestMethodKind::Other,
        }
    }
}

/// Decides how a request body is framed: chunked, Content-Length, or none.
pub(super) fn request_framing(headers: &[Header]) -> Result<BodyFraming, FramingError> {
    if let Some(chunked) = transfer_encoding_is_chunked(headers) {
        // A request has no close-delimited form, so another final coding
        // leaves the body length unknown (RFC 9112 section 6.3, rule 4).
        return if chunked {
            Ok(BodyFraming::Chunked)
        } else {
            Err(FramingError::RequestNotChunked)
        };
    }

    match content_length(headers)? {
        Some(0) | None => Ok(BodyFraming::Empty),
        Some(length) => Ok(BodyFraming::Length(length)),
    }
}

/// Decides how a response body is framed. `request_method` is the method
/// kind of the request the response belongs to, or `None` when no request is
/// waiting for one.
pub(super) fn response_framing(
    status: u16,
    request_method: Option<RequestMethodKind>,
    headers: &[Header],
) -> Result<BodyFraming, FramingError> {
    let is_connect_success =
        request_method == Some(RequestMethodKind::Connect) && (200..300).contains(&status);
    if status == 101 || is_connect_success {
        return Ok(BodyFraming::Tunnel);
    }

    let is_head_response = request_method == Some(RequestMethodKind::Head);
    if is_head_response || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(BodyFraming::Empty);
    }

    // Transfer-Encoding overrides Content-Length, and a final coding other
    // than chunked makes the body close-delimited.
    if let Some(chunked) = transfer_encoding_is_chunked(headers) {
        return Ok(if chunked {
            BodyFraming::Chunked
        } else {
            BodyFraming::UntilClose
        });
    }

    match content_length(headers)? {
        Some(0) => Ok(BodyFraming::Empty),
        Some(length) => Ok(BodyFraming::Length(length)),
        None => Ok(BodyFraming::UntilClose),
    }
}

/// Returns `None` without a Transfer-Encoding field, otherwise whether its
/// final coding is chunked.
fn transfer_encoding_is_chunked(headers: &[Header]) -> Option<bool> {
    header_values(headers, "transfer-encoding").next()?;

    let last_coding = header_list(headers, "transfer-encoding").last();
    Some(last_coding.is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked")))
}

/// Returns the Content-Length, accepting repeated fields or list elements
/// only when they all carry the same value (RFC 9110 section 8.6).
fn content_length(headers: &[Header]) -> Result<Option<u64>, FramingError> {
    if header_values(headers, "content-length").next().is_none() {
        return Ok(None);
    }

    let mut length = None;
    for element in header_list(headers, "content-length") {
        let value = parse_decimal(element).ok_or(FramingError::InvalidContentLength)?;
        match length {
            Some(previous) if previous != value => {
                return Err(FramingError::ConflictingContentLength)
            }
            _ => length = Some(value),
        }
    }

    // A field whose value is empty carries no length at all.
    length.map(Some).ok_or(FramingError::InvalidContentLength)
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &byte| {
        if !byte.is_ascii_digit() {
            return None;
        }
        value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
    })
}

/// Progress of one [`BodyReader::advance`] call.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Advance {
    /// Input bytes that belong to the body framing and were used, up to the
    /// error if there is one.
    pub(super) consumed: usize,
    /// The body is complete, and the bytes after `consumed` belong to the
    /// next message.
    pub(super) finished: bool,
    /// The framing became invalid at `consumed`.
    pub(super) error: Option<FramingError>,
}

/// Effect of a capture gap on a body being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GapEffect {
    /// The gap fell inside body data, and framing continues after it.
    InsideBody,
    /// The gap covered exactly the rest of the body.
    EndsBody,
    /// The body's end lies somewhere in or before the gap, so where the next
    /// message starts is unknown.
    LostFraming,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReaderState {
    Length { remaining: u64 },
    UntilClose,
    ChunkSizeLine,
    ChunkData { remaining: u64 },
    ChunkDataEnd,
    Trailers { scanned: usize },
    Done,
}

/// Streaming reader that delimits one message body and hands its payload
/// (without chunk framing) to a callback.
#[derive(Debug)]
pub(super) struct BodyReader {
    state: ReaderState,
    trailers: Vec<Header>,
}

impl BodyReader {
    /// Creates a reader for a body framed as `framing`. An empty or tunnel
    /// body is finished from the start.
    pub(super) fn new(framing: BodyFraming) -> Self {
        let state = match framing {
            BodyFraming::Empty | BodyFraming::Tunnel | BodyFraming::Length(0) => ReaderState::Done,
            BodyFraming::Length(remaining) => ReaderState::Length { remaining },
            BodyFraming::Chunked => ReaderState::ChunkSizeLine,
            BodyFraming::UntilClose => ReaderState::UntilClose,
        };
        Self {
            state,
            trailers: Vec::new(),
        }
    }

    pub(super) fn is_finished(&self) -> bool {
        self.state == ReaderState::Done
    }

    /// Returns whether the body ends only when the connection closes.
    pub(super) fn is_close_delimited(&self) -> bool {
        self.state == ReaderState::UntilClose
    }

    /// Takes the trailer fields parsed from the end of a chunked body.
    pub(super) fn take_trailers(&mut self) -> Vec<Header> {
        std::mem::take(&mut self.trailers)
    }

    /// Reads as much of the body from `input` as is there, passing payload
    /// bytes to `payload`. Stops at the body's end, or where an incomplete
    /// chunk-size line, chunk terminator or trailer section needs more bytes.
    pub(super) fn advance(
        &mut self,
        input: &[u8],
        limits: &Http1Limits,
        payload: &mut impl FnMut(&[u8]),
    ) -> Advance {
        let mut consumed = 0;
        let mut error = None;

        loop {
            let rest = &input[consumed..];
            let step = match self.state {
                ReaderState::Done => break,
                ReaderState::Length { remaining } => {
                    let used = take_data(rest, remaining, payload);
                    self.state = match remaining - used as u64 {
                        0 => ReaderState::Done,
                        remaining => ReaderState::Length { remaining },
                    };
                    Ok(used)
                }
                ReaderState::UntilClose => {
                    if !rest.is_empty() {
                        payload(rest);
                    }
                    Ok(rest.len())
                }
                ReaderState::ChunkData { remaining } => {
                    let used = take_data(rest, remaining, payload);
                    self.state = match remaining - used as u64 {
                        0 => ReaderState::ChunkDataEnd,
                        remaining => ReaderState::ChunkData { remaining },
                    };
                    Ok(used)
                }
                ReaderState::ChunkSizeLine => self.read_chunk_size_line(rest),
                ReaderState::ChunkDataEnd => self.read_chunk_data_end(rest),
                ReaderState::Trailers { scanned } => self.read_trailers(rest, scanned, limits),
            };

            match step {
                Ok(0) => break,
                Ok(used) => consumed += used,
                Err(framing_error) => {
                    error = Some(framing_error);
                    break;
                }
            }
        }

        Advance {
            consumed,
            finished: self.is_finished(),
            error,
        }
    }

    /// Accounts for `len` body bytes lost to a capture gap. Returns what the
    /// gap did to the framing, and how many of the lost bytes are known to
    /// belong to this body.
    pub(super) fn skip_missing(&mut self, len: u64) -> (GapEffect, u64) {
        match self.state {
            ReaderState::UntilClose => (GapEffect::InsideBody, len),
            ReaderState::Length { remaining } if len < remaining => {
                self.state = ReaderState::Length {
                    remaining: remaining - len,
                };
                (GapEffect::InsideBody, len)
            }
            ReaderState::Length { remaining } if len == remaining => {
                self.state = ReaderState::Done;
                (GapEffect::EndsBody, len)
            }
            ReaderState::Length { remaining } => (GapEffect::LostFraming, remaining),
            ReaderState::ChunkData { remaining } if len < remaining => {
                self.state = ReaderState::ChunkData {
                    remaining: remaining - len,
                };
                (GapEffect::InsideBody, len)
            }
            ReaderState::ChunkData { remaining } if len == remaining => {
                self.state = ReaderState::ChunkDataEnd;
                (GapEffect::InsideBody, len)
            }
            ReaderState::ChunkData { remaining } => (GapEffect::LostFraming, remaining),
            ReaderState::ChunkSizeLine
            | ReaderState::ChunkDataEnd
            | ReaderState::Trailers { .. } => (GapEffect::LostFraming, 0),
            ReaderState::Done => (GapEffect::LostFraming, 0),
        }
    }

    fn read_chunk_size_line(&mut self, rest: &[u8]) -> Result<usize, FramingError> {
        let searched = &rest[..rest.len().min(MAX_CHUNK_LINE_BYTES)];
        let Some(line_feed) = searched.iter().position(|&byte| byte == b'\n') else {
            if rest.len() >= MAX_CHUNK_LINE_BYTES {
                return Err(FramingError::ChunkLineTooLong);
            }
            return Ok(0);
        };

        let size = parse_chunk_size(&rest[..line_feed])?;
        self.state = if size == 0 {
            ReaderState::Trailers { scanned: 0 }
        } else {
            ReaderState::ChunkData { remaining: size }
        };
        Ok(line_feed + 1)
    }

    fn read_chunk_data_end(&mut self, rest: &[u8]) -> Result<usize, FramingError> {
        let used = match rest {
            [] | [b'\r'] => return Ok(0),
            [b'\r', b'\n', ..] => 2,
            [b'\n', ..] => 1,
            _ => return Err(FramingError::MissingChunkTerminator),
        };
        self.state = ReaderState::ChunkSizeLine;
        Ok(used)
    }

    fn read_trailers(
        &mut self,
        rest: &[u8],
        scanned: usize,
        limits: &Http1Limits,
    ) -> Result<usize, FramingError> {
        // An empty line right after the last chunk means no trailer fields.
        let used = match rest {
            [] | [b'\r'] => return Ok(0),
            [b'\r', b'\n', ..] => 2,
            [b'\n', ..] => 1,
            _ => match find_section_end(rest, scanned) {
                Some(end) => {
                    self.trailers =
                        parse_trailers(&rest[..end], limits).map_err(FramingError::Trailers)?;
                    end
                }
                None if rest.len() >= limits.max_head_bytes => {
                    return Err(FramingError::Trailers(HeadError::TooLarge {
                        limit: limits.max_head_bytes,
                    }));
                }
                None => {
                    self.state = ReaderState::Trailers {
                        scanned: rest.len(),
                    };
                    return Ok(0);
                }
            },
        };
        self.state = ReaderState::Done;
        Ok(used)
    }
}

/// Passes up to `remaining` bytes of `rest` to `payload` and returns how many.
fn take_data(rest: &[u8], remaining: u64, payload: &mut impl FnMut(&[u8])) -> usize {
    let used = usize::try_from(remaining).map_or(rest.len(), |remaining| remaining.min(rest.len()));
    if used > 0 {
        payload(&rest[..used]);
    }
    used
}

/// Parses `chunk-size [ BWS ; chunk-ext ] [CR]` from a line without its LF.
/// Extensions are accepted without being interpreted.
fn parse_chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digit_count = line
        .iter()
        .take_while(|byte| byte.is_ascii_hexdigit())
        .count();
    if digit_count == 0 {
        return Err(FramingError::InvalidChunkSize);
    }

    let mut size: u64 = 0;
    for &byte in &line[..digit_count] {
        let digit = char::from(byte).to_digit(16).map(u64::from);
        size = digit
            .and_then(|digit| size.checked_mul(16)?.checked_add(digit))
            .ok_or(FramingError::InvalidChunkSize)?;
    }

    let after_digits = &line[digit_count..];
    let extensions = after_digits.trim_ascii_start();
    if !extensions.is_empty() && extensions[0] != b';' {
        return Err(FramingError::InvalidChunkSize);
    }

    Ok(size)
}
