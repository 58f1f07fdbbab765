//! Recognition of the first bytes of an HTTP/1.x message: protocol detection
//! for a new stream, the cheap check before a head is parsed, and the stricter
//! check that picks where to resume after garbage.

use super::{Detection, Side};

/// Methods recognised by [`detect`] and by resynchronisation: those of
/// RFC 9110, PATCH (RFC 5789) and the WebDAV methods of RFC 4918.
const KNOWN_METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
];

const STATUS_LINE_PREFIX: &[u8] = b"HTTP/1.";

/// Maximum length of the method token at the start of a request head. Any
/// token is a valid method, but a long run of token bytes with no space is
/// far more likely garbage than a request.
const MAX_METHOD_LEN: usize = 32;

/// Result of comparing bytes with a message start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum StartMatch {
    NoMatch,
    /// The bytes end before a decision: they are a strict prefix of a start.
    Prefix,
    Match,
}

/// Classifies the first bytes of a stream as a request, a response, or
/// neither. A request is a known method followed by a space, a response
/// begins with `HTTP/1.`.
pub fn detect(data: &[u8]) -> Detection {
    let request = match_known_method(data, false);
    let response = match_literal(data, STATUS_LINE_PREFIX);

    if request == StartMatch::Match {
        Detection::Request
    } else if response == StartMatch::Match {
        Detection::Response
    } else if request == StartMatch::Prefix || response == StartMatch::Prefix {
        Detection::NeedMore
    } else {
        Detection::NotHttp
    }
}

/// Checks whether `data` can begin a head for `side` before `httparse`
/// parses it: a token and a space for a request, `HTTP/1.` for a response. This
/// rejects most garbage at once instead of after `max_head_bytes`.
pub(super) fn match_head_start(side: Side, data: &[u8]) -> StartMatch {
    match side {
        Side::Client => match_any_method(data),
        Side::Server => match_literal(data, STATUS_LINE_PREFIX),
    }
}

/// Checks whether `data` begins a plausible message for `side`, strictly
/// enough to resume after garbage: a known method, a space and a target that
/// starts with `/`, `*` or `http` for a request, `HTTP/1.` for a response.
pub(super) fn match_resync_start(side: Side, data: &[u8]) -> StartMatch {
    match side {
        Side::Client => match_known_method(data, true),
        Side::Server => match_literal(data, STATUS_LINE_PREFIX),
    }
}

/// Finds the first position in `data` where a resync start for `side` matches
/// or may match once more bytes arrive. Returns `data.len()` when there is
/// none.
pub(super) fn find_resync_start(side: Side, data: &[u8]) -> usize {
    (0..data.len())
        .find(|&position| match_resync_start(side, &data[position..]) != StartMatch::NoMatch)
        .unwrap_or(data.len())
}

fn match_known_method(data: &[u8], require_target: bool) -> StartMatch {
    let mut best = StartMatch::NoMatch;

    for method in KNOWN_METHODS {
        let mut result = match_method_and_space(data, method);
        if result == StartMatch::Match && require_target {
            result = match_target_start(&data[method.len() + 1..]);
        }
        best = best.max(result);
    }

    best
}

fn match_method_and_space(data: &[u8], method: &[u8]) -> StartMatch {
    if data.len() <= method.len() {
        return if method.starts_with(data) {
            StartMatch::Prefix
        } else {
            StartMatch::NoMatch
        };
    }

    if data.starts_with(method) && data[method.len()] == b' ' {
        StartMatch::Match
    } else {
        StartMatch::NoMatch
    }
}

/// Origin form starts with `/`, asterisk form is `*`, and absolute form
/// starts with a scheme, which for HTTP is `http` or `https` in any case.
fn match_target_start(data: &[u8]) -> StartMatch {
    match data.first() {
        None => StartMatch::Prefix,
        Some(b'/') | Some(b'*') => StartMatch::Match,
        Some(_) => {
            let scheme = b"http";
            let compared = data.len().min(scheme.len());
            if !data[..compared].eq_ignore_ascii_case(&scheme[..compared]) {
                StartMatch::NoMatch
            } else if compared < scheme.len() {
                StartMatch::Prefix
            } else {
                StartMatch::Match
            }
        }
    }
}

fn match_any_method(data: &[u8]) -> StartMatch {
    for (position, &byte) in data.iter().enumerate().take(MAX_METHOD_LEN + 1) {
        if byte == b' ' && position > 0 {
            return StartMatch::Match;
        }
        if !is_token_byte(byte) {
            return StartMatch::NoMatch;
        }
    }

    if data.len() > MAX_METHOD_LEN {
        StartMatch::NoMatch
    } else {
        StartMatch::Prefix
    }
}

/// `tchar` of RFC 9110 section 5.6.2.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn match_literal(data: &[u8], literal: &[u8]) -> StartMatch {
    if data.len() >= literal.len() {
        if data.starts_with(literal) {
            StartMatch::Match
        } else {
            StartMatch::NoMatch
        }
    } else if literal.starts_with(data) {
        StartMatch::Prefix
    } else {
        StartMatch::NoMatch
    }
}
