//! Plain-text bodies, and JSON that failed to parse: `key: value` and
//! `key=value` pairs get the field-name rules, then the pattern detectors
//! scan the whole text.
//!
//! The pair pass recovers what a structured walk would have found in logs,
//! YAML-like text and truncated JSON (`password=hunter2`,
//! `"ssn": "123456789"`), which the patterns alone cannot recognise.

use std::ops::Range;

use super::detect::{Claimed, Emit};
use super::field_names::{classify_field, FieldInfo, FieldKinds};
use super::field_rules::classify_by_field;
use super::Engine;

/// Maximum key length looked at before a separator.
const MAX_PAIR_KEY: usize = 64;

/// Maximum length of an unquoted or quoted value after a separator.
const MAX_PAIR_VALUE: usize = 256;

/// Classifies a plain-text value: pairs first, then patterns.
pub fn scan_text(engine: &Engine, text: &[u8], emit: &mut impl Emit) {
    let mut claimed = Claimed::default();
    scan_pairs(engine, text, &mut claimed, emit);
    engine
        .detectors()
        .scan_patterns(text, &FieldInfo::default(), &mut claimed, emit);
}

fn scan_pairs(engine: &Engine, text: &[u8], claimed: &mut Claimed, emit: &mut impl Emit) {
    for separator in memchr::memchr2_iter(b':', b'=', text) {
        let Some(key) = key_before(text, separator) else {
            continue;
        };
        let field = classify_field(&text[key], &FieldInfo::default(), engine.custom_fields());
        if !field.kinds.intersects(FieldKinds::VALUE_RULES) && field.custom == 0 {
            continue;
        }
        let Some(value) = value_after(text, separator + 1) else {
            continue;
        };
        if claimed.covers(value.start) {
            continue;
        }

        let offset = value.start;
        let mut hits: Vec<(u16, Range<usize>)> = Vec::new();
        classify_by_field(
            engine.detectors(),
            &text[value.clone()],
            &field,
            &mut |data_type, range: Range<usize>| {
                hits.push((data_type, offset + range.start..offset + range.end));
            },
        );
        for (data_type, range) in hits {
            claimed.push(range.clone());
            emit.emit(data_type, range);
        }
    }
}

/// Returns the key that ends right before `separator`: letters, digits,
/// `_`, `-` and `.`, optionally in double quotes, with spaces allowed before
/// the separator.
fn key_before(text: &[u8], separator: usize) -> Option<Range<usize>> {
    let mut end = separator;
    while end > 0 && text[end - 1] == b' ' {
        end -= 1;
    }
    if end > 0 && text[end - 1] == b'"' {
        end -= 1;
    }

    let mut start = end;
    let key_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    while start > 0 && end - start < MAX_PAIR_KEY && key_byte(text[start - 1]) {
        start -= 1;
    }
    let starts_with_letter = text.get(start).is_some_and(u8::is_ascii_alphabetic);
    (start < end && starts_with_letter).then_some(start..end)
}

/// Returns the value that starts after a separator at `from`: a double-quoted
/// string's content, or the bytes up to whitespace or one of `&,;}]"'`.
fn value_after(text: &[u8], from: usize) -> Option<Range<usize>> {
    let mut start = from;
    while start < text.len() && text[start] == b' ' {
        start += 1;
    }
    let limit = text.len().min(start + 1 + MAX_PAIR_VALUE);

    if text.get(start) == Some(&b'"') {
        let content = start + 1;
        let end =
            memchr::memchr2(b'"', b'\n', &text[content..limit]).map(|offset| content + offset)?;
        return (end > content).then_some(content..end);
    }

    let end = text[start..limit]
        .iter()
        .position(|&b| {
            b.is_ascii_whitespace() || matches!(b, b'&' | b',' | b';' | b'}' | b']' | b'"' | b'\'')
        })
        .map_or(limit, |offset| start + offset);
    (end > start).then_some(start..end)
}
