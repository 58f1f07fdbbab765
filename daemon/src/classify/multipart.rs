//! `multipart/form-data` bodies (RFC 7578 on the RFC 2046 multipart
//! syntax): split into parts, each with its field name, file name, content
//! type and position in the body.

use std::ops::Range;

use memchr::memmem;

/// Maximum boundary length allowed by RFC 2046, section 5.1.1.
const MAX_BOUNDARY_LEN: usize = 70;

/// Maximum number of parts read from one body; the rest is not scanned.
const MAX_PARTS: usize = 1024;

/// One part of a multipart body.
#[derive(Debug, PartialEq, Eq)]
pub struct MultipartPart {
    /// The `name` parameter of `Content-Disposition`.
    pub name: Option<String>,
    /// The `filename` parameter of `Content-Disposition`.
    pub filename: Option<String>,
    /// The part's `Content-Type` header value.
    pub content_type: Option<String>,
    /// Range of the part's content in the body.
    pub content: Range<usize>,
}

/// Returns the `boundary` parameter of a `multipart/*` content type, or
/// `None` when it is missing or invalid.
pub fn boundary(content_type: &str) -> Option<&str> {
    let boundary = parameter(content_type, "boundary")?;
    (!boundary.is_empty() && boundary.len() <= MAX_BOUNDARY_LEN).then_some(boundary)
}

/// Splits `body` into its parts. A body cut off inside a part yields that
/// part up to the end of the body.
pub fn parts(body: &[u8], boundary: &str) -> Vec<MultipartPart> {
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary.as_bytes());
    let finder = memmem::Finder::new(&delimiter);

    let mut parts = Vec::new();
    let Some(first) = first_delimiter(body, &finder) else {
        return parts;
    };
    let mut position = first + delimiter.len();

    while parts.len() < MAX_PARTS {
        // `--` after a delimiter closes the body.
        if body[position..].starts_with(b"--") {
            break;
        }
        let Some(line_end) = memchr::memchr(b'\n', &body[position..]) else {
            break;
        };
        let headers_start = position + line_end + 1;

        let Some((headers, content_start)) = split_headers(body, headers_start) else {
            break;
        };
        let (content_end, next) = match find_next_delimiter(body, content_start, &finder) {
            Some((end, next)) => (end, Some(next)),
            None => (body.len(), None),
        };

        let mut part = MultipartPart {
            name: None,
            filename: None,
            content_type: None,
            content: content_start..content_end,
        };
        for line in headers.split(|&b| b == b'\n') {
            read_header(line, &mut part);
        }
        parts.push(part);

        match next {
            Some(next) => position = next + delimiter.len(),
            None => break,
        }
    }
    parts
}

/// Returns the offset of the first delimiter, at the start of the body or of
/// a line (text before it is the preamble).
fn first_delimiter(body: &[u8], finder: &memmem::Finder<'_>) -> Option<usize> {
    finder
        .find_iter(body)
        .find(|&offset| offset == 0 || body[offset - 1] == b'\n')
}

/// Finds the next delimiter line after `from`. Returns the content end (the
/// line break before the delimiter) and the delimiter's offset.
fn find_next_delimiter(
    body: &[u8],
    from: usize,
    finder: &memmem::Finder<'_>,
) -> Option<(usize, usize)> {
    finder.find_iter(&body[from..]).find_map(|offset| {
        let delimiter = from + offset;
        if delimiter == from {
            return Some((from, delimiter));
        }
        if body[delimiter - 1] != b'\n' {
            return None;
        }
        let mut end = delimiter - 1;
        if end > from && body[end - 1] == b'\r' {
            end -= 1;
        }
        Some((end, delimiter))
    })
}

/// Splits a part's header block, which ends at an empty line, from its
/// content. Returns the headers without the empty line and the content's
/// start.
fn split_headers(body: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rest = &body[start..];
    if rest.starts_with(b"\r\n") {
        return Some((&rest[..0], start + 2));
    }
    if rest.starts_with(b"\n") {
        return Some((&rest[..0], start + 1));
    }
    if let Some(end) = memmem::find(rest, b"\r\n\r\n") {
        return Some((&rest[..end], start + end + 4));
    }
    memmem::find(rest, b"\n\n").map(|end| (&rest[..end], start + end + 2))
}

fn read_header(line: &[u8], part: &mut MultipartPart) {
    let line = String::from_utf8_lossy(line);
    let Some((name, value)) = line.split_once(':') else {
        return;
    };
    let value = value.trim();
    if name.trim().eq_ignore_ascii_case("content-disposition") {
        part.name = parameter(value, "name").map(str::to_string);
        part.filename = parameter(value, "filename").map(str::to_string);
    } else if name.trim().eq_ignore_ascii_case("content-type") {
        part.content_type = Some(value.to_string());
    }
}

/// Returns the value of parameter `name` in a header value such as
/// `form-data; name="field"`, without quotes.
fn parameter<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').skip(1).find_map(|parameter| {
        let (key, value) = parameter.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case(name) {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
            .unwrap_or(value);
        Some(value)
    })
}
