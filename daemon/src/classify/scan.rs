//! Dispatch of bodies by content type (JSON, form, multipart, plain text,
//! binary) and the two consumers of detections: findings for a scan, byte
//! ranges for masking.

use std::{borrow::Cow, ops::Range};

use super::finding::{FindingSet, Part, SectionRef};
use super::fingerprint::Fingerprinter;
use super::fingerprint_cache::FingerprintCache;
use super::form::walk_form;
use super::json::{walk_json, JsonError, PathCache};
use super::multipart;
use super::registry::{builtin, Registry, TypeId};
use super::text::scan_text;
use super::Engine;

/// Consumer of detections.
pub trait Sink {
    type Checkpoint;

    /// Takes a detection of `data_type` in `value[range]` at `section`.
    /// `raw` is the range of body bytes that hold the detected value, or
    /// `None` outside the body.
    fn hit(
        &mut self,
        data_type: TypeId,
        section: &SectionRef<'_>,
        value: &[u8],
        range: Range<usize>,
        raw: Option<Range<usize>>,
    );

    fn checkpoint(&self) -> Self::Checkpoint;

    /// Forgets the detections made since `checkpoint`, when a JSON body
    /// turned out not to be JSON and is scanned again as text.
    fn rollback(&mut self, checkpoint: Self::Checkpoint);
}

/// Aggregates detections into findings with fingerprints.
pub struct FindingSink<'a> {
    pub findings: FindingSet,
    pub part: Part,
    pub registry: &'a Registry,
    pub fingerprinter: &'a Fingerprinter,
    /// Fingerprints of values seen in earlier calls.
    pub cache: &'a mut FingerprintCache,
    /// Buffer for the canonical form of each fingerprinted value.
    pub canonical: Vec<u8>,
}

impl<'a> FindingSink<'a> {
    pub fn new(
        registry: &'a Registry,
        fingerprinter: &'a Fingerprinter,
        cache: &'a mut FingerprintCache,
    ) -> Self {
        Self {
            findings: FindingSet::default(),
            part: Part::Request,
            registry,
            fingerprinter,
            cache,
            canonical: Vec::new(),
        }
    }
}

impl Sink for FindingSink<'_> {
    type Checkpoint = FindingSet;

    fn hit(
        &mut self,
        data_type: TypeId,
        section: &SectionRef<'_>,
        value: &[u8],
        range: Range<usize>,
        _raw: Option<Range<usize>>,
    ) {
        let label = self.registry.label(data_type);
        let fingerprinter = self.fingerprinter;
        let cache = &mut *self.cache;
        let canonical = &mut self.canonical;
        let detected = &value[range];
        self.findings
            .record(data_type, &label, self.part, section, detected, || {
                let form = fingerprint_form(data_type, detected, canonical);
                cache.get_or_compute(data_type, form, || {
                    fingerprinter.fingerprint_bytes(label.name, form)
                })
            });
    }

    fn checkpoint(&self) -> FindingSet {
        self.findings.clone()
    }

    fn rollback(&mut self, checkpoint: FindingSet) {
        self.findings = checkpoint;
    }
}

/// Returns the canonical form of a value for fingerprinting, so that one
/// card, SSN, phone number, IBAN or e-mail address has one fingerprint
/// however it is punctuated or capitalised. Forms that differ from the value
/// are built in `buffer`.
pub fn fingerprint_form<'v>(
    data_type: TypeId,
    value: &'v [u8],
    buffer: &'v mut Vec<u8>,
) -> &'v [u8] {
    buffer.clear();
    match data_type {
        builtin::CARD_NUMBER | builtin::US_SSN | builtin::PHONE_NUMBER => {
            buffer.extend(value.iter().copied().filter(u8::is_ascii_digit));
        }
        builtin::IBAN => buffer.extend(
            value
                .iter()
                .filter(|b| b.is_ascii_alphanumeric())
                .map(u8::to_ascii_uppercase),
        ),
        builtin::EMAIL => buffer.extend(value.iter().map(u8::to_ascii_lowercase)),
        _ => return value.trim_ascii(),
    }
    buffer
}

/// Collects the body ranges to mask.
#[derive(Default)]
pub struct MaskSink {
    pub ranges: Vec<Range<usize>>,
}

impl Sink for MaskSink {
    type Checkpoint = usize;

    fn hit(
        &mut self,
        _data_type: TypeId,
        _section: &SectionRef<'_>,
        _value: &[u8],
        _range: Range<usize>,
        raw: Option<Range<usize>>,
    ) {
        if let Some(raw) = raw {
            self.ranges.push(raw);
        }
    }

    fn checkpoint(&self) -> usize {
        self.ranges.len()
    }

    fn rollback(&mut self, checkpoint: usize) {
        self.ranges.truncate(checkpoint);
    }
}

/// How a body is read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyKind<'a> {
    Json,
    Form,
    Multipart {
        boundary: &'a str,
    },
    Text,
    /// Images, media, archives, protobuf and other binary formats, where
    /// text detectors find only noise.
    Binary,
}

/// Media types that are binary although their names do not say so.
const BINARY_MEDIA_TYPES: &[&str] = &[
    "application/octet-stream",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/x-7z-compressed",
    "application/pdf",
    "application/wasm",
    "application/protobuf",
    "application/x-protobuf",
    "application/vnd.google.protobuf",
    "application/grpc",
    "application/grpc+proto",
    "application/msgpack",
    "application/x-msgpack",
    "application/cbor",
    "application/avro",
];

/// Number of leading bytes sniffed for a NUL, the mark of binary content.
const SNIFF_LEN: usize = 1024;

/// Decides how to read a body from its content type and, when the type does
/// not say, from its first bytes.
pub fn body_kind<'a>(content_type: Option<&'a str>, body: &[u8]) -> BodyKind<'a> {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(|media| {
            // Media types are nearly always lowercase already.
            let media = media.trim();
            if media.bytes().any(|byte| byte.is_ascii_uppercase()) {
                Cow::Owned(media.to_ascii_lowercase())
            } else {
                Cow::Borrowed(media)
            }
        })
        .unwrap_or_default();

    if media_type == "application/json"
        || media_type == "text/json"
        || media_type.ends_with("+json")
        || media_type == "application/x-ndjson"
        || media_type == "application/jsonl"
    {
        return BodyKind::Json;
    }
    if media_type == "application/x-www-form-urlencoded" {
        return BodyKind::Form;
    }
    if media_type.starts_with("multipart/") {
        return match content_type.and_then(multipart::boundary) {
            Some(boundary) => BodyKind::Multipart { boundary },
            None => BodyKind::Text,
        };
    }
    let binary_family = ["image/", "audio/", "video/", "font/"]
        .iter()
        .any(|family| media_type.starts_with(family));
    if binary_family || BINARY_MEDIA_TYPES.contains(&media_type.as_ref()) {
        return BodyKind::Binary;
    }

    // Unknown, missing or generic text types: look at the bytes.
    if body[..body.len().min(SNIFF_LEN)].contains(&0) {
        return BodyKind::Binary;
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => BodyKind::Json,
        _ => BodyKind::Text,
    }
}

/// Scans a body and returns the number of bytes skipped as binary.
pub fn scan_body(
    engine: &Engine,
    content_type: Option<&str>,
    body: &[u8],
    sink: &mut impl Sink,
) -> u64 {
    scan_body_at(engine, content_type, body, 0, None, sink)
}

/// Scans `body`, which starts at offset `base` of the message body, inside
/// the multipart field `prefix` if any.
fn scan_body_at(
    engine: &Engine,
    content_type: Option<&str>,
    body: &[u8],
    base: usize,
    prefix: Option<&str>,
    sink: &mut impl Sink,
) -> u64 {
    match body_kind(content_type, body) {
        BodyKind::Json => scan_json(engine, body, base, prefix, sink),
        BodyKind::Form => scan_form(engine, body, base, prefix, sink),
        // A multipart body nested in a multipart part is read as text, which
        // bounds the recursion.
        BodyKind::Multipart { boundary } if prefix.is_none() => {
            return scan_multipart(engine, body, boundary, base, sink);
        }
        BodyKind::Multipart { .. } | BodyKind::Text => scan_plain(engine, body, base, prefix, sink),
        BodyKind::Binary => return body.len() as u64,
    }
    0
}

fn scan_json(
    engine: &Engine,
    body: &[u8],
    base: usize,
    prefix: Option<&str>,
    sink: &mut impl Sink,
) {
    let checkpoint = sink.checkpoint();
    // One buffer for the rendered paths of every value with a detection.
    let mut path = PathCache::default();
    let walked = walk_json(body, engine.custom_fields(), |value| {
        if value.is_number && !engine.number_can_match(value.bytes, value.field) {
            return;
        }

        let raw_start = base + value.raw.start;
        let raw_whole = raw_start..base + value.raw.end;
        // The path is rendered once, at the value's first detection.
        let mut rendered = false;
        engine.classify_value(
            value.bytes,
            value.field,
            &mut |data_type, range: Range<usize>| {
                if !rendered {
                    value.path.render_cached(&mut path);
                    rendered = true;
                }
                let section = SectionRef::Body {
                    prefix,
                    path: Some(path.as_str()),
                };
                let raw = if value.verbatim {
                    raw_start + range.start..raw_start + range.end
                } else {
                    raw_whole.clone()
                };
                sink.hit(data_type, &section, value.bytes, range, Some(raw));
            },
        );
    });

    match walked {
        Ok(()) => {}
        // The body was cut inside a value: what was walked stands, and the
        // unfinished tail is scanned as text so its visible part is still
        // found and masked.
        Err(JsonError::Truncated { offset }) => {
            scan_plain(engine, &body[offset..], base + offset, prefix, sink);
        }
        Err(JsonError::Syntax { .. }) => {
            sink.rollback(checkpoint);
            scan_plain(engine, body, base, prefix, sink);
        }
    }
}

fn scan_form(
    engine: &Engine,
    body: &[u8],
    base: usize,
    prefix: Option<&str>,
    sink: &mut impl Sink,
) {
    walk_form(body, engine.custom_fields(), |pair| {
        let section = SectionRef::Body {
            prefix,
            path: Some(&pair.name),
        };
        let raw_start = base + pair.raw.start;
        let raw_whole = raw_start..base + pair.raw.end;
        engine.classify_value(
            &pair.value,
            &pair.field,
            &mut |data_type, range: Range<usize>| {
                let raw = if pair.verbatim {
                    raw_start + range.start..raw_start + range.end
                } else {
                    raw_whole.clone()
                };
                sink.hit(data_type, &section, &pair.value, range, Some(raw));
            },
        );
    });
}

fn scan_multipart(
    engine: &Engine,
    body: &[u8],
    boundary: &str,
    base: usize,
    sink: &mut impl Sink,
) -> u64 {
    let mut skipped = 0;
    for part in multipart::parts(body, boundary) {
        let label = part
            .name
            .as_deref()
            .or(part.filename.as_deref())
            .unwrap_or("part");
        let content = &body[part.content.clone()];
        skipped += scan_body_at(
            engine,
            part.content_type.as_deref(),
            content,
            base + part.content.start,
            Some(label),
            sink,
        );
    }
    skipped
}

fn scan_plain(
    engine: &Engine,
    text: &[u8],
    base: usize,
    prefix: Option<&str>,
    sink: &mut impl Sink,
) {
    let section = SectionRef::Body { prefix, path: None };
    scan_text(engine, text, &mut |data_type, range: Range<usize>| {
        let raw = base + range.start..base + range.end;
        sink.hit(data_type, &section, text, range, Some(raw));
    });
}
