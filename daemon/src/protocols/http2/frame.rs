//! HTTP/2 frame headers and payload layouts (RFC 9113 sections 4 and 6):
//! parsing the 9-byte header, deciding whether a header is plausible, and
//! removing padding and priority fields from a payload.

use thiserror::Error;

use super::Side;

/// Length of the fixed frame header (RFC 9113 section 4.1).
pub(super) const FRAME_HEADER_LEN: usize = 9;

/// SETTINGS_MAX_FRAME_SIZE before any SETTINGS frame, and its minimum
/// (RFC 9113 section 6.5.2).
pub(super) const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// Largest value SETTINGS_MAX_FRAME_SIZE may take, the largest 24-bit
/// length.
pub(super) const LARGEST_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// Frame type codes (RFC 9113 section 6).
pub(super) mod kind {
    pub(in super::super) const DATA: u8 = 0x0;
    pub(in super::super) const HEADERS: u8 = 0x1;
    pub(in super::super) const PRIORITY: u8 = 0x2;
    pub(in super::super) const RST_STREAM: u8 = 0x3;
    pub(in super::super) const SETTINGS: u8 = 0x4;
    pub(in super::super) const PUSH_PROMISE: u8 = 0x5;
    pub(in super::super) const PING: u8 = 0x6;
    pub(in super::super) const GOAWAY: u8 = 0x7;
    pub(in super::super) const WINDOW_UPDATE: u8 = 0x8;
    pub(in super::super) const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113 section 6). ACK shares its bit with END_STREAM.
pub(super) mod flag {
    pub(in super::super) const END_STREAM: u8 = 0x01;
    pub(in super::super) const ACK: u8 = 0x01;
    pub(in super::super) const END_HEADERS: u8 = 0x04;
    pub(in super::super) const PADDED: u8 = 0x08;
    pub(in super::super) const PRIORITY: u8 = 0x20;
}

/// Extension frame types accepted while resynchronising, besides the types
/// of RFC 9113: ALTSVC (RFC 7838), ORIGIN (RFC 8336) and PRIORITY_UPDATE
/// (RFC 9218).
const KNOWN_EXTENSION_KINDS: [u8; 3] = [0x0a, 0x0c, 0x10];

/// Errors in a frame header or payload layout.
#[derive(Debug, Error, PartialEq, Eq)]
pub(super) enum FrameError {
    #[error("frame length {length} exceeds the maximum frame size {max}")]
    TooLong { length: u32, max: u32 },
    #[error("frame type {kind:#x} is not allowed on stream {stream_id}")]
    WrongStream { kind: u8, stream_id: u32 },
    #[error("frame type {kind:#x} has invalid length {length}")]
    WrongLength { kind: u8, length: u32 },
    #[error("frame type {kind:#x} has undefined flags {flags:#x}")]
    UndefinedFlags { kind: u8, flags: u8 },
    #[error("frame header has the reserved stream identifier bit set")]
    ReservedBit,
    #[error("frame type {0:#x} is unknown")]
    UnknownKind(u8),
    #[error("frame type {kind:#x} cannot be sent by the {side:?}")]
    WrongSender { kind: u8, side: Side },
    #[error("padding length {padding} does not fit the {length}-byte payload")]
    InvalidPadding { padding: usize, length: usize },
}

/// A parsed 9-byte frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FrameHeader {
    /// Payload length in bytes.
    pub(super) length: u32,
    pub(super) kind: u8,
    pub(super) flags: u8,
    /// The stream identifier without the reserved bit.
    pub(super) stream_id: u32,
    /// The reserved bit, which receivers must ignore but which is a sign of
    /// garbage while resynchronising.
    pub(super) reserved_bit: bool,
}

impl FrameHeader {
    /// Parses the 9 bytes at the start of `bytes`, or returns `None` when
    /// fewer are given.
    pub(super) fn parse(bytes: &[u8]) -> Option<Self> {
        let header: &[u8; FRAME_HEADER_LEN] = bytes.get(..FRAME_HEADER_LEN)?.try_into().ok()?;
        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
        let stream_word = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);

        Some(Self {
            length,
            kind: header[3],
            flags: header[4],
            stream_id: stream_word & 0x7fff_ffff,
            reserved_bit: stream_word & 0x8000_0000 != 0,
        })
    }

    pub(super) fn has_flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Returns the frame's size on the wire, header included.
    pub(super) fn wire_len(&self) -> u64 {
        FRAME_HEADER_LEN as u64 + u64::from(self.length)
    }
}

/// Strictness level of [`check_header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Strictness {
    /// The reader is in sync: it enforces the rules whose violation means
    /// the length cannot be trusted, and accepts unknown types and flags as
    /// RFC 9113 section 4.1 requires.
    InSync,
    /// The reader is scanning garbage for a frame start: it also rejects
    /// unknown types, undefined flags, the reserved bit and impossible
    /// senders, because a false match costs more than a missed one.
    Resync,
}

/// Checks that `header`, sent by `sender`, is plausible: its length is at
/// most `max_length`, and its stream identifier and length fit its type
/// (RFC 9113 section 6).
pub(super) fn check_header(
    header: &FrameHeader,
    sender: Side,
    max_length: u32,
    strictness: Strictness,
) -> Result<(), FrameError> {
    if header.length > max_length {
        return Err(FrameError::TooLong {
            length: header.length,
            max: max_length,
        });
    }

    let strict = strictness == Strictness::Resync;
    if strict && header.reserved_bit {
        return Err(FrameError::ReservedBit);
    }

    let length = header.length;
    let on_stream = header.stream_id != 0;
    let wrong_stream = || FrameError::WrongStream {
        kind: header.kind,
        stream_id: header.stream_id,
    };
    let wrong_length = || FrameError::WrongLength {
        kind: header.kind,
        length,
    };

    // Flags each type defines, checked only while resynchronising.
    let defined_flags = match header.kind {
        kind::DATA => {
            if !on_stream {
                return Err(wrong_stream());
            }
            // An empty DATA frame without END_STREAM carries nothing, and
            // runs of zero bytes look like one.
            if strict && length == 0 && !header.has_flag(flag::END_STREAM) {
                return Err(wrong_length());
            }
            flag::END_STREAM | flag::PADDED
        }
        kind::HEADERS => {
            if !on_stream {
                return Err(wrong_stream());
            }
            // Clients open only odd-numbered streams (RFC 9113 section
            // 5.1.1), so a client HEADERS on an even stream is garbage.
            if strict && sender == Side::Client && header.stream_id.is_multiple_of(2) {
                return Err(wrong_stream());
            }
            flag::END_STREAM | flag::END_HEADERS | flag::PADDED | flag::PRIORITY
        }
        kind::PRIORITY => {
            if !on_stream {
                return Err(wrong_stream());
            }
            if length != 5 {
                return Err(wrong_length());
            }
            0
        }
        kind::RST_STREAM => {
            if !on_stream {
                return Err(wrong_stream());
            }
            if length != 4 {
                return Err(wrong_length());
            }
            0
        }
        kind::SETTINGS => {
            if on_stream {
                return Err(wrong_stream());
            }
            if !length.is_multiple_of(6) || (header.has_flag(flag::ACK) && length != 0) {
                return Err(wrong_length());
            }
            flag::ACK
        }
        kind::PUSH_PROMISE => {
            if !on_stream {
                return Err(wrong_stream());
            }
            if length < 4 {
                return Err(wrong_length());
            }
            if strict && sender == Side::Client {
                return Err(FrameError::WrongSender {
                    kind: header.kind,
                    side: sender,
                });
            }
            flag::END_HEADERS | flag::PADDED
        }
        kind::PING => {
            if on_stream {
                return Err(wrong_stream());
            }
            if length != 8 {
                return Err(wrong_length());
            }
            flag::ACK
        }
        kind::GOAWAY => {
            if on_stream {
                return Err(wrong_stream());
            }
            if length < 8 {
                return Err(wrong_length());
            }
            0
        }
        kind::WINDOW_UPDATE => {
            if length != 4 {
                return Err(wrong_length());
            }
            0
        }
        kind::CONTINUATION => {
            if !on_stream {
                return Err(wrong_stream());
            }
            flag::END_HEADERS
        }
        other => {
            if strict && !KNOWN_EXTENSION_KINDS.contains(&other) {
                return Err(FrameError::UnknownKind(other));
            }
            0
        }
    };

    if strict && header.flags & !defined_flags != 0 {
        return Err(FrameError::UndefinedFlags {
            kind: header.kind,
            flags: header.flags,
        });
    }

    Ok(())
}

/// Returns the header block fragment of a HEADERS payload, without the
/// padding and priority fields that the PADDED and PRIORITY flags announce
/// (RFC 9113 section 6.2).
pub(super) fn headers_fragment<'a>(
    header: &FrameHeader,
    payload: &'a [u8],
) -> Result<&'a [u8], FrameError> {
    let unpadded = strip_padding(header, payload)?;

    if header.has_flag(flag::PRIORITY) {
        // Stream dependency (4 bytes) and weight (1 byte).
        unpadded.get(5..).ok_or(FrameError::WrongLength {
            kind: header.kind,
            length: header.length,
        })
    } else {
        Ok(unpadded)
    }
}

/// Splits a PUSH_PROMISE payload into the promised stream identifier and
/// the header block fragment (RFC 9113 section 6.6).
pub(super) fn push_promise_parts<'a>(
    header: &FrameHeader,
    payload: &'a [u8],
) -> Result<(u32, &'a [u8]), FrameError> {
    let unpadded = strip_padding(header, payload)?;

    let Some(id_bytes) = unpadded.get(..4) else {
        return Err(FrameError::WrongLength {
            kind: header.kind,
            length: header.length,
        });
    };
    let promised = u32::from_be_bytes([id_bytes[0], id_bytes[1], id_bytes[2], id_bytes[3]]);

    Ok((promised & 0x7fff_ffff, &unpadded[4..]))
}

/// Removes the pad length byte and the trailing padding from a HEADERS or
/// PUSH_PROMISE payload when the PADDED flag is set.
fn strip_padding<'a>(header: &FrameHeader, payload: &'a [u8]) -> Result<&'a [u8], FrameError> {
    if !header.has_flag(flag::PADDED) {
        return Ok(payload);
    }

    let Some((&pad_length, rest)) = payload.split_first() else {
        return Err(FrameError::InvalidPadding {
            padding: 0,
            length: 0,
        });
    };
    let padding = usize::from(pad_length);
    if padding > rest.len() {
        return Err(FrameError::InvalidPadding {
            padding,
            length: payload.len(),
        });
    }

    Ok(&rest[..rest.len() - padding])
}

/// Reads a big-endian 32-bit word at `offset`, or `None` when the payload
/// is too short.
pub(super) fn read_u32(payload: &[u8], offset: usize) -> Option<u32> {
    let bytes = payload.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}
