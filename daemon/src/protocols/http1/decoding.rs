//! Body capture for analysis: undoes the gzip or deflate content coding as
//! payload bytes stream in, and keeps at most the capture cap of output.
//!
//! Inflation writes into the capture buffer directly and stops once it is
//! full, so a small compressed body never expands past the cap (a zip bomb
//! costs one cap of output and one probe byte).

use flate2::{Crc, Decompress, FlushDecompress, Status};
use thiserror::Error;

use super::head::header_list;
use super::{Body, Header};

/// Maximum length of a gzip member header. RFC 1952 leaves the optional
/// file name and comment fields unbounded, but HTTP senders leave them out.
const MAX_GZIP_HEADER_BYTES: usize = 4 * 1024;

/// Output written per inflate call, so the capture grows in steps instead of
/// reserving the whole cap for a small body.
const INFLATE_STEP_BYTES: usize = 16 * 1024;

const GZIP_FLAG_HEADER_CRC: u8 = 0x02;
const GZIP_FLAG_EXTRA: u8 = 0x04;
const GZIP_FLAG_NAME: u8 = 0x08;
const GZIP_FLAG_COMMENT: u8 = 0x10;
const GZIP_RESERVED_FLAGS: u8 = 0xE0;

/// Errors in a content-coded body.
#[derive(Debug, Error)]
enum DecodeError {
    #[error("invalid gzip member header")]
    InvalidGzipHeader,
    #[error("gzip member header is longer than {MAX_GZIP_HEADER_BYTES} bytes")]
    GzipHeaderTooLong,
    #[error("gzip member checksum or length does not match its data")]
    GzipTrailerMismatch,
    #[error("invalid deflate data: {0}")]
    Inflate(#[from] flate2::DecompressError),
}

/// Result of feeding bytes to a compressed-body decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FeedOutcome {
    /// All input was used, and the decoder expects more.
    NeedsMore,
    /// The compressed stream ended; any further input is ignored.
    StreamEnded,
    /// The output reached the cap with more data still to come.
    CapReached,
}

#[derive(Debug)]
enum ContentDecoder {
    Identity,
    Gzip(Box<GzipDecoder>),
    Deflate(Box<DeflateDecoder>),
    /// A coding this module cannot decode, or more than one coding.
    Unsupported,
    /// The compressed stream ended; trailing bytes are ignored.
    Ended,
    /// Decoding gave up (cap, error or gap); the capture is incomplete.
    Stopped,
}

/// The captured body of one message while its payload streams in.
#[derive(Debug)]
pub(super) struct BodyCapture {
    wire_len: u64,
    decoded: Vec<u8>,
    cap: usize,
    complete: bool,
    decoder: ContentDecoder,
}

impl BodyCapture {
    /// Creates a capture that decodes the codings named by `headers`
    /// (Content-Encoding and any Transfer-Encoding besides chunked) and keeps
    /// at most `cap` decoded bytes.
    pub(super) fn new(headers: &[Header], cap: usize) -> Self {
        Self {
            wire_len: 0,
            decoded: Vec::new(),
            cap,
            complete: true,
            decoder: select_decoder(headers),
        }
    }

    /// Adds payload bytes, after chunked framing is removed.
    pub(super) fn feed(&mut self, payload: &[u8]) {
        self.wire_len += payload.len() as u64;

        let outcome = match &mut self.decoder {
            ContentDecoder::Identity => {
                let room = self.cap.saturating_sub(self.decoded.len());
                let copied_len = room.min(payload.len());
                self.decoded.extend_from_slice(&payload[..copied_len]);
                if copied_len < payload.len() {
                    Ok(FeedOutcome::CapReached)
                } else {
                    Ok(FeedOutcome::NeedsMore)
                }
            }
            ContentDecoder::Gzip(decoder) => decoder.feed(payload, &mut self.decoded, self.cap),
            ContentDecoder::Deflate(decoder) => decoder.feed(payload, &mut self.decoded, self.cap),
            ContentDecoder::Unsupported => {
                if !payload.is_empty() {
                    self.complete = false;
                }
                Ok(FeedOutcome::NeedsMore)
            }
            ContentDecoder::Ended | ContentDecoder::Stopped => Ok(FeedOutcome::NeedsMore),
        };

        match outcome {
            Ok(FeedOutcome::NeedsMore) => {}
            Ok(FeedOutcome::StreamEnded) => self.decoder = ContentDecoder::Ended,
            Ok(FeedOutcome::CapReached) => self.stop(),
            Err(error) => {
                tracing::debug!(%error, "HTTP/1 body decoding failed; keeping the bytes decoded so far");
                self.stop();
            }
        }
    }

    /// Accounts for `len` payload bytes lost to a capture gap. Decoding stops
    /// there, because the bytes after a hole cannot be decoded or placed.
    pub(super) fn mark_missing(&mut self, len: u64) {
        self.wire_len += len;
        self.stop();
    }

    /// Marks the capture incomplete, for a body whose framing failed or was
    /// cut short.
    pub(super) fn mark_incomplete(&mut self) {
        self.stop();
    }

    /// Ends the capture and returns the body.
    pub(super) fn finish(self) -> Body {
        let stream_unfinished = match &self.decoder {
            ContentDecoder::Gzip(decoder) => !decoder.is_at_member_end(),
            ContentDecoder::Deflate(_) => true,
            _ => false,
        };
        let complete = self.complete && !(stream_unfinished && self.wire_len > 0);

        Body {
            wire_len: self.wire_len,
            decoded: self.decoded,
            complete_capture: complete,
        }
    }

    fn stop(&mut self) {
        self.complete = false;
        self.decoder = ContentDecoder::Stopped;
    }
}

/// Chooses the decoder for the codings applied to a body. Senders apply
/// Content-Encoding first and transfer codings after it; only a single gzip
/// or deflate coding is decoded.
fn select_decoder(headers: &[Header]) -> ContentDecoder {
    let content_codings = header_list(headers, "content-encoding");
    let transfer_codings = header_list(headers, "transfer-encoding")
        .filter(|coding| !coding.eq_ignore_ascii_case(b"chunked"));
    let mut codings = content_codings
        .chain(transfer_codings)
        .filter(|coding| !coding.eq_ignore_ascii_case(b"identity"));

    let Some(coding) = codings.next() else {
        return ContentDecoder::Identity;
    };
    if codings.next().is_some() {
        return ContentDecoder::Unsupported;
    }

    if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
        ContentDecoder::Gzip(Box::default())
    } else if coding.eq_ignore_ascii_case(b"deflate") {
        ContentDecoder::Deflate(Box::default())
    } else {
        ContentDecoder::Unsupported
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GzipStage {
    Header,
    Deflate,
    Trailer,
}

/// Streaming decoder for gzip (RFC 1952), including multi-member streams.
/// flate2's `Decompress` handles only zlib and raw deflate with the default
/// Rust backend, so the member header and trailer are parsed here.
#[derive(Debug)]
struct GzipDecoder {
    stage: GzipStage,
    /// Bytes of a member header that is not yet complete.
    header: Vec<u8>,
    inflater: Decompress,
    /// CRC-32 and length of the current member's output, which the trailer
    /// must match.
    crc: Crc,
    trailer: Vec<u8>,
    members_done: u32,
}

impl Default for GzipDecoder {
    fn default() -> Self {
        Self {
            stage: GzipStage::Header,
            header: Vec::new(),
            inflater: Decompress::new(false),
            crc: Crc::new(),
            trailer: Vec::new(),
            members_done: 0,
        }
    }
}

impl GzipDecoder {
    fn is_at_member_end(&self) -> bool {
        self.stage == GzipStage::Header && self.header.is_empty() && self.members_done > 0
    }

    fn feed(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
        cap: usize,
    ) -> Result<FeedOutcome, DecodeError> {
        let mut rest = input;

        while !rest.is_empty() {
            match self.stage {
                GzipStage::Header => {
                    // Bytes after a complete member that do not start another
                    // one are padding or junk that decoders conventionally
                    // ignore.
                    if self.is_at_member_end() && rest[0] != 0x1f {
                        return Ok(FeedOutcome::StreamEnded);
                    }

                    let buffered_len = self.header.len();
                    let appended_len = rest.len().min(MAX_GZIP_HEADER_BYTES - buffered_len);
                    self.header.extend_from_slice(&rest[..appended_len]);
                    match gzip_header_len(&self.header)? {
                        Some(header_len) => {
                            // The header ends within the appended bytes, since
                            // the bytes buffered before did not complete it.
                            let header_part =
                                header_len.saturating_sub(buffered_len).min(appended_len);
                            rest = &rest[header_part..];
                            self.header.clear();
                            self.inflater = Decompress::new(false);
                            self.crc = Crc::new();
                            self.stage = GzipStage::Deflate;
                        }
                        None if self.header.len() >= MAX_GZIP_HEADER_BYTES => {
                            return Err(DecodeError::GzipHeaderTooLong);
                        }
                        None => rest = &rest[appended_len..],
                    }
                }
                GzipStage::Deflate => {
                    let output_start = output.len();
                    let step = inflate_capped(&mut self.inflater, rest, output, cap);
                    self.crc.update(&output[output_start..]);
                    let step = step?;
                    rest = &rest[step.consumed..];

                    if step.stream_end {
                        self.stage = GzipStage::Trailer;
                    } else if step.cap_reached {
                        return Ok(FeedOutcome::CapReached);
                    } else {
                        return Ok(FeedOutcome::NeedsMore);
                    }
                }
                GzipStage::Trailer => {
                    let appended_len = rest.len().min(8 - self.trailer.len());
                    self.trailer.extend_from_slice(&rest[..appended_len]);
                    rest = &rest[appended_len..];
                    if self.trailer.len() == 8 {
                        self.check_trailer()?;
                        self.trailer.clear();
                        self.members_done += 1;
                        self.stage = GzipStage::Header;
                    }
                }
            }
        }

        Ok(FeedOutcome::NeedsMore)
    }

    fn check_trailer(&self) -> Result<(), DecodeError> {
        let expected_crc = u32::from_le_bytes([
            self.trailer[0],
            self.trailer[1],
            self.trailer[2],
            self.trailer[3],
        ]);
        let expected_len = u32::from_le_bytes([
            self.trailer[4],
            self.trailer[5],
            self.trailer[6],
            self.trailer[7],
        ]);

        if self.crc.sum() == expected_crc && self.crc.amount() == expected_len {
            Ok(())
        } else {
            Err(DecodeError::GzipTrailerMismatch)
        }
    }
}

/// Returns the length of the gzip member header at the start of `header`, or
/// `None` when more bytes are needed to find its end.
fn gzip_header_len(header: &[u8]) -> Result<Option<usize>, DecodeError> {
    // ID1, ID2 and CM (8 = deflate), checked as soon as they arrive so junk
    // is rejected early.
    let magic = [0x1f, 0x8b, 0x08];
    let compared = header.len().min(magic.len());
    if header[..compared] != magic[..compared] {
        return Err(DecodeError::InvalidGzipHeader);
    }

    // The fixed part: magic, FLG, MTIME (4), XFL and OS.
    if header.len() < 10 {
        return Ok(None);
    }
    let flags = header[3];
    if flags & GZIP_RESERVED_FLAGS != 0 {
        return Err(DecodeError::InvalidGzipHeader);
    }
    let mut end = 10;

    if flags & GZIP_FLAG_EXTRA != 0 {
        let Some(length_bytes) = header.get(end..end + 2) else {
            return Ok(None);
        };
        end += 2 + usize::from(u16::from_le_bytes([length_bytes[0], length_bytes[1]]));
    }

    for flag in [GZIP_FLAG_NAME, GZIP_FLAG_COMMENT] {
        if flags & flag == 0 {
            continue;
        }
        // Zero-terminated strings.
        let Some(field) = header.get(end..) else {
            return Ok(None);
        };
        let Some(terminator) = field.iter().position(|&byte| byte == 0) else {
            return Ok(None);
        };
        end += terminator + 1;
    }

    if flags & GZIP_FLAG_HEADER_CRC != 0 {
        end += 2;
    }

    Ok((header.len() >= end).then_some(end))
}

/// Streaming decoder for the HTTP `deflate` coding. RFC 9110 defines it as
/// zlib, but some servers send raw deflate, so the first two bytes pick the
/// format as browsers do.
#[derive(Debug, Default)]
struct DeflateDecoder {
    /// The first bytes, kept until there are two to test for a zlib header.
    prefix: Vec<u8>,
    inflater: Option<Decompress>,
}

impl DeflateDecoder {
    fn feed(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
        cap: usize,
    ) -> Result<FeedOutcome, DecodeError> {
        let mut rest = input;

        if self.inflater.is_none() {
            let appended_len = rest.len().min(2 - self.prefix.len());
            self.prefix.extend_from_slice(&rest[..appended_len]);
            rest = &rest[appended_len..];
            if self.prefix.len() < 2 {
                return Ok(FeedOutcome::NeedsMore);
            }

            let mut inflater = Decompress::new(is_zlib_header(self.prefix[0], self.prefix[1]));
            let prefix = std::mem::take(&mut self.prefix);
            let step = inflate_capped(&mut inflater, &prefix, output, cap)?;
            self.inflater = Some(inflater);
            if let Some(outcome) = step.outcome() {
                return Ok(outcome);
            }
        }

        let Some(inflater) = self.inflater.as_mut() else {
            return Ok(FeedOutcome::NeedsMore);
        };
        let step = inflate_capped(inflater, rest, output, cap)?;
        Ok(step.outcome().unwrap_or(FeedOutcome::NeedsMore))
    }
}

/// Tests the two-byte zlib header of RFC 1950: method 8 (deflate), a window
/// of at most 32 KiB, and a check value that makes the pair a multiple of 31.
fn is_zlib_header(method_byte: u8, flag_byte: u8) -> bool {
    let is_deflate = method_byte & 0x0f == 8 && method_byte >> 4 <= 7;
    let check = ((u16::from(method_byte) << 8) | u16::from(flag_byte)) % 31 == 0;
    is_deflate && check
}

#[derive(Clone, Copy, Debug, Default)]
struct InflateStep {
    consumed: usize,
    stream_end: bool,
    cap_reached: bool,
}

impl InflateStep {
    /// Returns the outcome when the step ended the stream or hit the cap, and
    /// `None` when the inflater used all its input.
    fn outcome(self) -> Option<FeedOutcome> {
        if self.stream_end {
            Some(FeedOutcome::StreamEnded)
        } else if self.cap_reached {
            Some(FeedOutcome::CapReached)
        } else {
            None
        }
    }
}

/// Inflates `input` into `output` without letting `output` grow past `cap`.
/// At the cap it inflates one more byte into a scratch buffer to tell a
/// stream that ends exactly at the cap from one that would go on.
fn inflate_capped(
    inflater: &mut Decompress,
    input: &[u8],
    output: &mut Vec<u8>,
    cap: usize,
) -> Result<InflateStep, flate2::DecompressError> {
    let mut step = InflateStep::default();

    loop {
        let remaining_input = &input[step.consumed..];
        let room = cap.saturating_sub(output.len());
        let in_before = inflater.total_in();
        let out_before = inflater.total_out();

        let status = if room == 0 {
            let mut probe = [0u8; 1];
            inflater.decompress(remaining_input, &mut probe, FlushDecompress::None)
        } else {
            let start = output.len();
            output.resize(start + room.min(INFLATE_STEP_BYTES), 0);
            let status =
                inflater.decompress(remaining_input, &mut output[start..], FlushDecompress::None);
            let produced = (inflater.total_out() - out_before) as usize;
            output.truncate(start + produced);
            status
        }?;

        let used = (inflater.total_in() - in_before) as usize;
        let produced = inflater.total_out() - out_before;
        step.consumed += used;

        // The probe byte is checked first: a stream that ends one byte past
        // the cap is still cut.
        if room == 0 && produced > 0 {
            step.cap_reached = true;
            return Ok(step);
        }
        if status == Status::StreamEnd {
            step.stream_end = true;
            return Ok(step);
        }
        if used == 0 && produced == 0 {
            return Ok(step);
        }
    }
}
