//! Capped decompression for message bodies and gRPC messages: undoes the
//! gzip or deflate coding as bytes stream in, and keeps at most a cap of
//! output.
//!
//! The HTTP/1 parser's body capture is private to its module, so this is a
//! small equivalent built on flate2's streaming write decoders. The output
//! buffer rejects writes once full, which stops the decoder there, so a
//! small compressed body never expands past the cap.

use std::io::{self, Write};

use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

use super::super::http1::{Body, Header};

/// A compression coding named by `content-encoding` or `grpc-encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coding {
    Identity,
    Gzip,
    /// The HTTP `deflate` coding: zlib per RFC 9110, or raw deflate as some
    /// servers send it.
    Deflate,
    /// A coding this module cannot decode, or more than one coding.
    Unsupported,
}

impl Coding {
    /// Picks the coding from a comma-separated coding list, ignoring
    /// `identity` elements.
    pub(super) fn from_list(values: &[&[u8]]) -> Self {
        let mut codings = values
            .iter()
            .flat_map(|value| value.split(|&byte| byte == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity"));

        let Some(coding) = codings.next() else {
            return Coding::Identity;
        };
        if codings.next().is_some() {
            return Coding::Unsupported;
        }

        if coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip") {
            Coding::Gzip
        } else if coding.eq_ignore_ascii_case(b"deflate") {
            Coding::Deflate
        } else {
            Coding::Unsupported
        }
    }

    /// Returns the coding named by the `content-encoding` fields of
    /// `headers`.
    pub(super) fn from_content_encoding(headers: &[Header]) -> Self {
        let values: Vec<&[u8]> = headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case("content-encoding"))
            .map(|header| header.value.as_slice())
            .collect();
        Self::from_list(&values)
    }
}

/// Output buffer that accepts at most `cap` bytes, then fails writes so the
/// decoder writing into it stops.
#[derive(Debug, Default)]
struct CappedOutput {
    data: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let room = self.cap.saturating_sub(self.data.len());
        if room == 0 {
            self.overflowed = true;
            return Err(io::Error::other("capture cap reached"));
        }
        let copied_len = room.min(buf.len());
        self.data.extend_from_slice(&buf[..copied_len]);
        Ok(copied_len)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
enum Decoder {
    Identity,
    Gzip(Box<MultiGzDecoder<CappedOutput>>),
    /// The first bytes of a deflate body, kept until two tell zlib from raw
    /// deflate.
    DeflatePrefix(Vec<u8>),
    Zlib(Box<ZlibDecoder<CappedOutput>>),
    RawDeflate(Box<DeflateDecoder<CappedOutput>>),
    Unsupported,
    /// Decoding gave up (cap, error or gap); the capture is incomplete.
    Stopped,
}

/// Decoded bytes of one body or message while its bytes stream in.
#[derive(Debug)]
pub(super) struct CappedDecoder {
    wire_len: u64,
    /// Output of the identity coding and of a stopped decoder. A running
    /// flate2 decoder keeps its output in its own writer.
    output: Vec<u8>,
    cap: usize,
    complete: bool,
    decoder: Decoder,
}

impl CappedDecoder {
    /// Creates a decoder for `coding` that keeps at most `cap` output
    /// bytes.
    pub(super) fn new(coding: Coding, cap: usize) -> Self {
        let output = || CappedOutput {
            data: Vec::new(),
            cap,
            overflowed: false,
        };
        let decoder = match coding {
            Coding::Identity => Decoder::Identity,
            Coding::Gzip => Decoder::Gzip(Box::new(MultiGzDecoder::new(output()))),
            Coding::Deflate => Decoder::DeflatePrefix(Vec::new()),
            Coding::Unsupported => Decoder::Unsupported,
        };

        Self {
            wire_len: 0,
            output: Vec::new(),
            cap,
            complete: true,
            decoder,
        }
    }

    /// Adds encoded bytes.
    pub(super) fn feed(&mut self, input: &[u8]) {
        self.wire_len += input.len() as u64;

        let result = match &mut self.decoder {
            Decoder::Identity => {
                let room = self.cap.saturating_sub(self.output.len());
                let copied_len = room.min(input.len());
                self.output.extend_from_slice(&input[..copied_len]);
                if copied_len < input.len() {
                    self.stop();
                }
                return;
            }
            Decoder::Gzip(decoder) => decoder.write_all(input),
            Decoder::DeflatePrefix(prefix) => {
                prefix.extend_from_slice(input);
                if prefix.len() < 2 {
                    return;
                }
                let buffered = std::mem::take(prefix);
                let output = CappedOutput {
                    data: Vec::new(),
                    cap: self.cap,
                    overflowed: false,
                };
                if is_zlib_header(buffered[0], buffered[1]) {
                    let mut decoder = Box::new(ZlibDecoder::new(output));
                    let result = decoder.write_all(&buffered);
                    self.decoder = Decoder::Zlib(decoder);
                    result
                } else {
                    let mut decoder = Box::new(DeflateDecoder::new(output));
                    let result = decoder.write_all(&buffered);
                    self.decoder = Decoder::RawDeflate(decoder);
                    result
                }
            }
            Decoder::Zlib(decoder) => decoder.write_all(input),
            Decoder::RawDeflate(decoder) => decoder.write_all(input),
            Decoder::Unsupported => {
                if !input.is_empty() {
                    self.complete = false;
                }
                return;
            }
            Decoder::Stopped => return,
        };

        if let Err(error) = result {
            if !self.output_overflowed() {
                tracing::debug!(%error, "HTTP/2 body decoding failed; keeping the bytes decoded so far");
            }
            self.stop();
        }
    }

    /// Accounts for `len` encoded bytes lost to a capture gap. Decoding
    /// stops there, because the bytes after a hole cannot be decoded.
    pub(super) fn mark_missing(&mut self, len: u64) {
        self.wire_len += len;
        self.stop();
    }

    /// Ends the capture and returns the body.
    pub(super) fn finish(mut self) -> Body {
        let finished = match &mut self.decoder {
            Decoder::Gzip(decoder) => Some(decoder.try_finish()),
            Decoder::Zlib(decoder) => Some(decoder.try_finish()),
            Decoder::RawDeflate(decoder) => Some(decoder.try_finish()),
            Decoder::DeflatePrefix(prefix) => {
                (!prefix.is_empty()).then(|| Err(io::ErrorKind::UnexpectedEof.into()))
            }
            _ => None,
        };
        // An empty body is complete whatever its declared coding, as for a
        // response to HEAD.
        if let Some(Err(_)) = finished {
            if self.wire_len > 0 {
                self.complete = false;
            }
        }
        if self.output_overflowed() {
            self.complete = false;
        }
        let decoded = self.take_output();

        Body {
            wire_len: self.wire_len,
            decoded,
            complete_capture: self.complete,
        }
    }

    fn output_overflowed(&self) -> bool {
        match &self.decoder {
            Decoder::Gzip(decoder) => decoder.get_ref().overflowed,
            Decoder::Zlib(decoder) => decoder.get_ref().overflowed,
            Decoder::RawDeflate(decoder) => decoder.get_ref().overflowed,
            _ => false,
        }
    }

    /// Moves the output out of a running flate2 decoder, and closes its
    /// buffer so that the flush flate2 runs on drop cannot decode more.
    fn take_output(&mut self) -> Vec<u8> {
        let output = match &mut self.decoder {
            Decoder::Gzip(decoder) => Some(decoder.get_mut()),
            Decoder::Zlib(decoder) => Some(decoder.get_mut()),
            Decoder::RawDeflate(decoder) => Some(decoder.get_mut()),
            _ => None,
        };
        match output {
            Some(output) => {
                output.cap = 0;
                std::mem::take(&mut output.data)
            }
            None => std::mem::take(&mut self.output),
        }
    }

    fn stop(&mut self) {
        let output = self.take_output();
        if self.output.is_empty() {
            self.output = output;
        }
        self.complete = false;
        self.decoder = Decoder::Stopped;
    }
}

/// Tests the two-byte zlib header of RFC 1950: method 8 (deflate), a window
/// of at most 32 KiB, and a check value that makes the pair a multiple of 31.
fn is_zlib_header(method_byte: u8, flag_byte: u8) -> bool {
    let is_deflate = method_byte & 0x0f == 8 && method_byte >> 4 <= 7;
    let check = ((u16::from(method_byte) << 8) | u16::from(flag_byte)) % 31 == 0;
    is_deflate && check
}
