//! Path templating: turns a concrete request path into the template that
//! names its endpoint, so `/api/users/123` and `/api/users/456` count as one
//! endpoint, `/api/users/{id}`.
//!
//! Each segment is percent-decoded and then either recognised as a value
//! (see the placeholder constants below for the rules) or kept as a
//! literal. Literals are written back in one canonical form, so `%7e` and `~`
//! give the same template. Values that no format reveals are found later, by
//! the inventory's learned rule, which counts values over many requests.

mod classify;

pub use classify::{DATE, EMAIL, HEX, ID, MIN_HEX_LEN, MIN_TOKEN_LEN, TOKEN, UUID};

/// Placeholder for a segment known to be a value without a recognisable
/// format: a literal longer than [`MAX_LITERAL_LEN`], or a position where the
/// inventory learned that the values vary too much to be fixed names.
pub const PARAM: &str = "{param}";

/// Placeholder that replaces every segment after the first
/// [`MAX_SEGMENTS`].
pub const REST: &str = "{rest}";

/// Template of the asterisk-form request target (`OPTIONS *`), which names
/// the server, not a path.
pub const ASTERISK_FORM: &str = "*";

/// Maximum number of segments kept in a template. Deeper paths end in
/// [`REST`], which bounds the size of a template whatever the request.
pub const MAX_SEGMENTS: usize = 64;

/// Maximum length, in bytes after percent-decoding, of a segment kept as a
/// literal. Fixed names in APIs are far shorter, and a longer segment is
/// almost always data, so it becomes [`PARAM`].
pub const MAX_LITERAL_LEN: usize = 256;

/// Turns a concrete request path into its template:
/// `"/api/users/123"` -> `"/api/users/{id}"`.
///
/// Accepts origin-form (`/a/b?q`), absolute-form (`http://host/a/b`) and the
/// asterisk form (`*`). The query string and fragment are dropped, empty
/// segments and a trailing slash are removed, and an empty path becomes `/`.
/// Never panics.
pub fn template_path(path: &str) -> String {
    if is_asterisk_form(path) {
        return ASTERISK_FORM.to_string();
    }
    join_segments(&template_segments(path))
}

/// Returns whether `path` is the asterisk-form request target `*`.
pub fn is_asterisk_form(path: &str) -> bool {
    path.trim() == ASTERISK_FORM
}

/// Returns the template segments of `path`, each a canonical literal or a
/// placeholder, without the separating slashes. `/` and `*` both give an
/// empty list, so check [`is_asterisk_form`] first.
pub fn template_segments(path: &str) -> Vec<String> {
    let path = path_component(path.trim());
    let mut segments = Vec::new();

    for raw in path.split('/').filter(|raw| !raw.is_empty()) {
        if segments.len() == MAX_SEGMENTS {
            segments.push(REST.to_string());
            break;
        }
        segments.push(template_segment(raw));
    }
    segments
}

/// Joins template segments into a template: `["a", "{id}"]` -> `"/a/{id}"`,
/// and no segments -> `"/"`.
pub fn join_segments<S: AsRef<str>>(segments: &[S]) -> String {
    if segments.is_empty() {
        return "/".to_string();
    }
    let mut template = String::new();
    for segment in segments {
        template.push('/');
        template.push_str(segment.as_ref());
    }
    template
}

/// Splits a template made by this module back into its segments. Splitting
/// on `/` is exact because a literal `/` inside a segment is kept encoded as
/// `%2F`.
pub fn split_template(template: &str) -> Vec<&str> {
    template.split('/').filter(|s| !s.is_empty()).collect()
}

/// Returns whether a template segment is a placeholder such as `{id}`. A
/// literal never starts with `{`, because literals keep `{` encoded.
pub fn is_placeholder(segment: &str) -> bool {
    segment.starts_with('{')
}

/// Returns the path part of a request target: without scheme and authority
/// in absolute form, and without query and fragment.
fn path_component(target: &str) -> &str {
    let path = strip_scheme_and_authority(target);
    match path.find(['?', '#']) {
        Some(end) => &path[..end],
        None => path,
    }
}

/// Strips `scheme://authority` from an absolute-form target. A target whose
/// text before `://` is not a valid scheme (such as `/r?to=http://x`) is an
/// origin-form path and is returned unchanged.
fn strip_scheme_and_authority(target: &str) -> &str {
    let Some(scheme_end) = target.find("://") else {
        return target;
    };
    if !is_scheme(&target[..scheme_end]) {
        return target;
    }

    let after_scheme = &target[scheme_end + 3..];
    match after_scheme.find(['/', '?', '#']) {
        Some(authority_end) => &after_scheme[authority_end..],
        None => "",
    }
}

/// Returns whether `text` is a URI scheme: a letter, then letters, digits,
/// `+`, `-` or `.` (RFC 3986, section 3.1).
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    starts_with_letter && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Templates one non-empty raw segment.
fn template_segment(raw: &str) -> String {
    // Most segments are plain ASCII words or numbers: they decode to
    // themselves and are their own canonical literal, so the copies below
    // are skipped.
    if raw.len() <= MAX_LITERAL_LEN && raw.bytes().all(is_plain_literal_byte) {
        return match classify::classify(raw) {
            Some(placeholder) => placeholder.to_string(),
            None => raw.to_owned(),
        };
    }
    decoded_template_segment(raw)
}

/// [`template_segment`] for any segment: decoded, classified, and written
/// back in canonical form.
fn decoded_template_segment(raw: &str) -> String {
    let decoded = percent_decode(raw);

    if let Ok(text) = std::str::from_utf8(&decoded) {
        if let Some(placeholder) = classify::classify(text) {
            return placeholder.to_string();
        }
    }

    if decoded.len() > MAX_LITERAL_LEN {
        return PARAM.to_string();
    }
    encode_literal(&decoded)
}

/// Decodes `%XX` escapes into bytes. A `%` not followed by two hex digits is
/// kept as a plain `%`, as browsers and most servers do.
fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;

    while index < bytes.len() {
        let escaped = match (bytes[index], bytes.get(index + 1), bytes.get(index + 2)) {
            (b'%', Some(&high), Some(&low)) => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                decoded.push(high << 4 | low);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    decoded
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|value| value as u8)
}

/// Writes decoded segment bytes in canonical form. Printable characters stay
/// as they are, so templates stay readable. Bytes that would change the
/// template's structure (`/`, `{`, `}`), that would read as an escape or a
/// query (`%`, `?`, `#`), whitespace, control characters and invalid UTF-8 are
/// written as `%XX` with uppercase hex digits.
fn encode_literal(decoded: &[u8]) -> String {
    let mut literal = String::with_capacity(decoded.len());

    for chunk in decoded.utf8_chunks() {
        for c in chunk.valid().chars() {
            if must_stay_encoded(c) {
                let mut utf8 = [0; 4];
                for &byte in c.encode_utf8(&mut utf8).as_bytes() {
                    push_escape(&mut literal, byte);
                }
            } else {
                literal.push(c);
            }
        }
        for &byte in chunk.invalid() {
            push_escape(&mut literal, byte);
        }
    }
    literal
}

/// Bytes that decode and encode to themselves: printable ASCII other than
/// the ones [`must_stay_encoded`] escapes.
fn is_plain_literal_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b'%' | b'/' | b'?' | b'#' | b'{' | b'}')
}

fn must_stay_encoded(c: char) -> bool {
    matches!(c, '%' | '/' | '?' | '#' | '{' | '}') || c.is_control() || c.is_whitespace()
}

fn push_escape(literal: &mut String, byte: u8) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    literal.push('%');
    literal.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
    literal.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
}

#[cfg(test)]
mod tests;
