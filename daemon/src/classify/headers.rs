//! Header fields: credentials in `Authorization` and cookies, and every other
//! value through the field-name rules and pattern detectors.
//!
//! Mapping of credential headers:
//! - `Authorization` and `Proxy-Authorization` with `Bearer` (or no scheme):
//!   `jwt` when the token is a JWT, `api_key` when it has a known key prefix
//!   (GitHub, Stripe, ...), `credentials` otherwise.
//! - The same headers with any other scheme (`Basic`, `Digest`,
//!   `AWS4-HMAC-SHA256`, ...): `credentials`.
//! - `Cookie` and `Set-Cookie`: a cookie whose name says session, token,
//!   auth or jwt is `jwt` when its value is a JWT and `credentials`
//!   otherwise (values of 8 bytes or more). Other cookies are classified like
//!   any field, by name and value.
//! - Headers that carry protocol metadata (`Host`, `Date`, `User-Agent`,
//!   `ETag`, ...) are not scanned: their values are never personal data, and
//!   version strings in them would be noise.

use std::ops::Range;

use super::detect::{Claimed, Emit};
use super::form::classify_nested_name;
use super::registry::{builtin, TypeId};
use super::validators;
use super::Engine;

/// Minimum length of a session cookie value reported as credentials; shorter
/// values are flags such as `1` or `yes`.
const MIN_SESSION_COOKIE_LEN: usize = 8;

/// Returns whether the lowercase header `name` is scanned at all. The
/// headers listed carry protocol metadata and are never scanned; a `match`
/// compares the name's length before any bytes.
pub fn header_scanned(name: &str) -> bool {
    !matches!(
        name,
        "accept"
            | "accept-encoding"
            | "accept-language"
            | "accept-ranges"
            | "age"
            | "cache-control"
            | "connection"
            | "content-encoding"
            | "content-length"
            | "content-range"
            | "content-type"
            | "date"
            | "etag"
            | "expires"
            | "host"
            | "if-match"
            | "if-modified-since"
            | "if-none-match"
            | "if-unmodified-since"
            | "keep-alive"
            | "last-modified"
            | "range"
            | "server"
            | "traceparent"
            | "tracestate"
            | "transfer-encoding"
            | "upgrade"
            | "user-agent"
            | "vary"
            | "via"
    )
}

/// Classifies one header value. `name` is lowercase.
pub fn classify_header(engine: &Engine, name: &str, value: &[u8], emit: &mut impl Emit) {
    match name {
        "authorization" | "proxy-authorization" => classify_authorization(engine, value, emit),
        "cookie" => {
            for range in split_ranges(value, b';') {
                classify_cookie(engine, value, range, emit);
            }
        }
        "set-cookie" => {
            // Attributes (`Path`, `Expires`, ...) follow the first `;`.
            let end = memchr::memchr(b';', value).unwrap_or(value.len());
            classify_cookie(engine, value, 0..end, emit);
        }
        _ => {
            let field = classify_nested_name(name, engine.custom_fields());
            engine.classify_value(value, &field, emit);
        }
    }
}

fn classify_authorization(engine: &Engine, value: &[u8], emit: &mut impl Emit) {
    let (start, end) = trim_range(value, 0..value.len());
    let trimmed = &value[start..end];
    if trimmed.is_empty() {
        return;
    }

    let (scheme, credentials_start) = match memchr::memchr(b' ', trimmed) {
        Some(space) => (&trimmed[..space], start + space + 1),
        None => (&b""[..], start),
    };
    let (credentials_start, credentials_end) = trim_range(value, credentials_start..end);
    if credentials_start == credentials_end {
        return;
    }
    let credentials = credentials_start..credentials_end;

    if scheme.is_empty() || scheme.eq_ignore_ascii_case(b"bearer") {
        let token = &value[credentials.clone()];
        if validators::jwt_valid(token) {
            emit_enabled(engine, builtin::JWT, credentials, emit);
            return;
        }
        let mut claimed = Claimed::default();
        if engine
            .detectors()
            .scan_prefixed_tokens(
                token,
                &mut claimed,
                &mut |data_type, range: Range<usize>| {
                    emit.emit(
                        data_type,
                        credentials.start + range.start..credentials.start + range.end,
                    )
                },
            )
        {
            return;
        }
    }
    emit_enabled(engine, builtin::CREDENTIALS, credentials, emit);
}

fn classify_cookie(engine: &Engine, header: &[u8], pair: Range<usize>, emit: &mut impl Emit) {
    let pair_bytes = &header[pair.clone()];
    let Some(equals) = memchr::memchr(b'=', pair_bytes) else {
        return;
    };
    let name = String::from_utf8_lossy(pair_bytes[..equals].trim_ascii());
    let (value_start, value_end) = trim_range(header, pair.start + equals + 1..pair.end);
    let value = &header[value_start..value_end];
    if value.is_empty() {
        return;
    }

    if session_cookie_name(&name) {
        if validators::jwt_valid(value) {
            emit_enabled(engine, builtin::JWT, value_start..value_end, emit);
        } else if value.len() >= MIN_SESSION_COOKIE_LEN {
            emit_enabled(engine, builtin::CREDENTIALS, value_start..value_end, emit);
        }
        return;
    }

    let field = classify_nested_name(&name, engine.custom_fields());
    engine.classify_value(value, &field, &mut |data_type, range: Range<usize>| {
        emit.emit(
            data_type,
            value_start + range.start..value_start + range.end,
        )
    });
}

/// Returns whether a cookie name says it carries a session or token, such as
/// `session`, `JSESSIONID`, `connect.sid`, `auth_token` or `jwt`.
fn session_cookie_name(name: &str) -> bool {
    const MARKERS: [&str; 6] = ["session", "sess", "sid", "token", "auth", "jwt"];
    let lower = name.to_ascii_lowercase();
    MARKERS.iter().any(|marker| lower.contains(marker))
}

fn emit_enabled(engine: &Engine, data_type: TypeId, range: Range<usize>, emit: &mut impl Emit) {
    if engine.detectors().enabled(data_type) {
        emit.emit(data_type, range);
    }
}

/// Splits `value` at `separator` into ranges.
fn split_ranges(value: &[u8], separator: u8) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start > value.len() {
            return None;
        }
        let end =
            memchr::memchr(separator, &value[start..]).map_or(value.len(), |offset| start + offset);
        let range = start..end;
        start = end + 1;
        Some(range)
    })
}

/// Returns `range` without leading and trailing ASCII whitespace, as bounds.
fn trim_range(value: &[u8], range: Range<usize>) -> (usize, usize) {
    let mut start = range.start;
    let mut end = range.end;
    while start < end && value[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && value[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    (start, end)
}
