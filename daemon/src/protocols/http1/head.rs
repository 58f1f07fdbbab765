//! Message head parsing with `httparse`: the start line and header section of
//! a request or response, and the trailer section of a chunked body, each
//! bounded by the head size and header count limits.

use thiserror::Error;

use super::{Header, Http1Limits, Side};

/// Errors in a message head or trailer section.
#[derive(Debug, Error, PartialEq, Eq)]
pub(super) enum HeadError {
    #[error("bytes do not begin an HTTP/1.x {0:?} message")]
    NotAMessageStart(Side),
    #[error("header section is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("header section has more than {limit} fields")]
    TooManyHeaders { limit: usize },
    #[error("invalid header section: {0}")]
    Invalid(httparse::Error),
    #[error("header section ends before its start line or a field is complete")]
    Unterminated,
}

/// The start line and header fields of a request.
#[derive(Debug)]
pub(super) struct RequestHead {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) version_minor: u8,
    pub(super) headers: Vec<Header>,
}

/// The status line and header fields of a response.
#[derive(Debug)]
pub(super) struct ResponseHead {
    pub(super) status: u16,
    pub(super) reason: String,
    pub(super) version_minor: u8,
    pub(super) headers: Vec<Header>,
}

/// A parsed head of either kind.
#[derive(Debug)]
pub(super) enum MessageHead {
    Request(RequestHead),
    Response(ResponseHead),
}

impl MessageHead {
    pub(super) fn headers(&self) -> &[Header] {
        match self {
            MessageHead::Request(head) => &head.headers,
            MessageHead::Response(head) => &head.headers,
        }
    }
}

/// Finds the end of a header section that begins with a non-empty line:
/// returns the index just past the empty line that ends it. Bare LF line
/// endings are accepted, as `httparse` accepts them.
///
/// `scan_from` lets a caller that already scanned a prefix without success
/// skip it. The scan backs up two bytes, because the terminator may straddle
/// the old end.
pub(super) fn find_section_end(data: &[u8], scan_from: usize) -> Option<usize> {
    let start = scan_from.saturating_sub(2);

    for index in start..data.len() {
        if data[index] != b'\n' {
            continue;
        }
        match (data.get(index + 1), data.get(index + 2)) {
            (Some(b'\n'), _) => return Some(index + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(index + 3),
            _ => {}
        }
    }

    None
}

/// Parses the head of a message sent by `side`. `data` must start at the
/// message's first byte and end with the empty line found by
/// [`find_section_end`]. Returns the head and its length in bytes.
pub(super) fn parse_head(
    side: Side,
    data: &[u8],
    limits: &Http1Limits,
) -> Result<(MessageHead, usize), HeadError> {
    if data.len() > limits.max_head_bytes {
        return Err(HeadError::TooLarge {
            limit: limits.max_head_bytes,
        });
    }

    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let to_head_error = |error| match error {
        httparse::Error::TooManyHeaders => HeadError::TooManyHeaders {
            limit: limits.max_headers,
        },
        other => HeadError::Invalid(other),
    };

    match side {
        Side::Client => {
            let mut request = httparse::Request::new(&mut slots);
            let length = match request.parse(data).map_err(to_head_error)? {
                httparse::Status::Complete(length) => length,
                httparse::Status::Partial => return Err(HeadError::Unterminated),
            };

            let head = RequestHead {
                method: request.method.unwrap_or_default().to_owned(),
                target: request.path.unwrap_or_default().to_owned(),
                version_minor: request.version.unwrap_or_default(),
                headers: copy_headers(request.headers),
            };
            Ok((MessageHead::Request(head), length))
        }
        Side::Server => {
            let mut response = httparse::Response::new(&mut slots);
            let length = match response.parse(data).map_err(to_head_error)? {
                httparse::Status::Complete(length) => length,
                httparse::Status::Partial => return Err(HeadError::Unterminated),
            };

            let head = ResponseHead {
                status: response.code.unwrap_or_default(),
                reason: response.reason.unwrap_or_default().to_owned(),
                version_minor: response.version.unwrap_or_default(),
                headers: copy_headers(response.headers),
            };
            Ok((MessageHead::Response(head), length))
        }
    }
}

/// Parses a chunked body's trailer section, which must end with the empty
/// line found by [`find_section_end`].
pub(super) fn parse_trailers(data: &[u8], limits: &Http1Limits) -> Result<Vec<Header>, HeadError> {
    if data.len() > limits.max_head_bytes {
        return Err(HeadError::TooLarge {
            limit: limits.max_head_bytes,
        });
    }

    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    match httparse::parse_headers(data, &mut slots) {
        Ok(httparse::Status::Complete((_, fields))) => Ok(copy_headers(fields)),
        Ok(httparse::Status::Partial) => Err(HeadError::Unterminated),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooManyHeaders {
            limit: limits.max_headers,
        }),
        Err(other) => Err(HeadError::Invalid(other)),
    }
}

/// Returns the values of every field named `name` (case-insensitive).
pub(super) fn header_values<'a>(
    headers: &'a [Header],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value.as_slice())
}

/// Splits the values of every field named `name` into comma-separated list
/// elements, trimmed and without empty elements (RFC 9110 section 5.6.1).
pub(super) fn header_list<'a>(
    headers: &'a [Header],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    header_values(headers, name)
        .flat_map(|value| value.split(|&byte| byte == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|element| !element.is_empty())
}

fn copy_headers(fields: &[httparse::Header<'_>]) -> Vec<Header> {
    fields
        .iter()
        .map(|field| Header {
            name: field.name.to_owned(),
            value: field.value.to_vec(),
        })
        .collect()
}
