//! `application/x-www-form-urlencoded` bodies and query strings: split into
//! name-value pairs and percent-decoded (WHATWG URL standard, section 5.1),
//! with the parameter name as field evidence.
//!
//! Bracketed and dotted names (`customer[email]`, `user.name`) are read as
//! nested fields, so `customer[name]` is a person's name like
//! `{"customer": {"name": ...}}` in JSON.

use std::borrow::Cow;
use std::ops::Range;

use super::field_names::{classify_field, CustomFieldNames, FieldInfo};

/// One name-value pair.
pub struct FormPair<'a> {
    /// The decoded parameter name.
    pub name: Cow<'a, str>,
    /// The decoded value.
    pub value: Cow<'a, [u8]>,
    pub field: FieldInfo,
    /// Range of the encoded value in the input.
    pub raw: Range<usize>,
    /// Whether `value` equals the input at `raw` (no `%` or `+` in it).
    pub verbatim: bool,
}

/// Calls `visit` for each pair of `input`. Pairs are separated by `&` (and
/// `;`, which older servers accept), and a pair without `=` has an empty
/// value.
pub fn walk_form(
    input: &[u8],
    custom_fields: &CustomFieldNames,
    mut visit: impl FnMut(&FormPair<'_>),
) {
    let mut start = 0;
    while start <= input.len() {
        let end = memchr::memchr2(b'&', b';', &input[start..])
            .map_or(input.len(), |offset| start + offset);
        let pair = &input[start..end];

        if !pair.is_empty() {
            let (name, raw) = match memchr::memchr(b'=', pair) {
                Some(equals) => (&pair[..equals], start + equals + 1..end),
                None => (pair, end..end),
            };
            let decoded_name = percent_decode(name);
            let name = match decoded_name {
                Cow::Borrowed(bytes) => String::from_utf8_lossy(bytes),
                Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
            };
            let value = percent_decode(&input[raw.clone()]);
            let verbatim = matches!(value, Cow::Borrowed(_));
            let field = classify_nested_name(&name, custom_fields);
            visit(&FormPair {
                name,
                value,
                field,
                raw,
                verbatim,
            });
        }
        start = end + 1;
    }
}

/// Classifies a parameter name, reading `a[b][c]` and `a.b.c` as nested
/// fields. Numeric segments (`items[0]`) and empty ones (`tags[]`) are
/// skipped, as array indices are in JSON paths.
pub fn classify_nested_name(name: &str, custom_fields: &CustomFieldNames) -> FieldInfo {
    if !name.contains(['[', '.']) {
        return classify_field(name.as_bytes(), &FieldInfo::default(), custom_fields);
    }

    let segments = name
        .split(['[', ']', '.'])
        .filter(|segment| !segment.is_empty() && !segment.bytes().all(|b| b.is_ascii_digit()));

    let mut info = FieldInfo::default();
    for segment in segments {
        info = classify_field(segment.as_bytes(), &info, custom_fields);
    }

    // The whole name may be one of the operator's field names even when it
    // contains brackets or dots.
    let whole = classify_field(name.as_bytes(), &FieldInfo::default(), custom_fields);
    info.custom |= whole.custom;
    info
}

/// Decodes `%XX` escapes and `+` (a space in form encoding). Invalid escapes
/// are kept as they are. Borrows when there is nothing to decode.
pub fn percent_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(input);
    }

    let mut output = Vec::with_capacity(input.len());
    let mut index = 0;
    while index < input.len() {
        let byte = input[index];
        if byte == b'+' {
            output.push(b' ');
            index += 1;
            continue;
        }
        if byte == b'%' {
            let high = input.get(index + 1).and_then(|&b| (b as char).to_digit(16));
            let low = input.get(index + 2).and_then(|&b| (b as char).to_digit(16));
            if let (Some(high), Some(low)) = (high, low) {
                output.push((high * 16 + low) as u8);
                index += 3;
                continue;
            }
        }
        output.push(byte);
        index += 1;
    }
    Cow::Owned(output)
}
