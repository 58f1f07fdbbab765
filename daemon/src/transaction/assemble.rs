//! Building a [`Transaction`] from a parsed exchange: addresses by role,
//! wall-clock times, the authentication scheme, and withholding credential
//! header values before anything is stored.

use crate::{
    protocols::http1::Header,
    streams::{ConnectionExchange, Role},
};

use super::{AuthScheme, GrpcSummary, Peer, Protocol, StoredHeader, Transaction, TransactionFlags};

/// Headers whose values are credentials or session secrets. Their values are
/// never stored; the names are kept, because which credential a call used
/// matters for the inventory.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "x-csrf-token",
    "x-xsrf-token",
];

/// Name fragments that mark a header as carrying a secret even when it is not
/// in the list above (`x-vendor-token`, `x-client-secret`, ...).
const CREDENTIAL_NAME_PARTS: &[&str] = &[
    "token", "secret", "password", "api-key", "apikey", "session",
];

/// Header names up to this length are lowercased on the stack; longer ones
/// (rare, and bounded by the parser) are compared without it.
const SHORT_NAME: usize = 64;

/// The first five bytes of each of [`CREDENTIAL_NAME_PARTS`], whose shortest
/// entry is five bytes long. One comparison per position rules most names
/// out.
const PART_PREFIXES: [&[u8; 5]; 6] = [b"token", b"secre", b"passw", b"api-k", b"apike", b"sessi"];

/// Whether the value of header `name` must be withheld. Runs for every
/// header of every call, so it compares without allocating: the name is
/// lowercased once on the stack, and a fragment is compared in full only
/// where its first five bytes occur.
pub fn is_credential_header(name: &str) -> bool {
    if name.len() > SHORT_NAME {
        return CREDENTIAL_HEADERS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(name))
            || CREDENTIAL_NAME_PARTS
                .iter()
                .any(|part| contains_ignore_case(name.as_bytes(), part.as_bytes()));
    }
    let mut buffer = [0u8; SHORT_NAME];
    let lowered = &mut buffer[..name.len()];
    lowered.copy_from_slice(name.as_bytes());
    lowered.make_ascii_lowercase();

    // Every other name of CREDENTIAL_HEADERS contains a fragment.
    if matches!(
        &*lowered,
        b"authorization" | b"proxy-authorization" | b"cookie" | b"set-cookie"
    ) {
        return true;
    }
    lowered.windows(5).enumerate().any(|(start, window)| {
        PART_PREFIXES.iter().any(|prefix| window == *prefix)
            && CREDENTIAL_NAME_PARTS
                .iter()
                .any(|part| lowered[start..].starts_with(part.as_bytes()))
    })
}

/// Whether `haystack` contains `needle` (lowercase), ignoring ASCII case.
fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len()
        && haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

/// Headers as stored: credential values replaced by `None`.
pub fn stored_headers(headers: &[Header]) -> Vec<StoredHeader> {
    headers
        .iter()
        .map(|header| StoredHeader {
            name: header.name.to_ascii_lowercase(),
            value: if is_credential_header(&header.name) {
                None
            } else {
                Some(String::from_utf8_lossy(&header.value).into_owned())
            },
        })
        .collect()
}

/// The authentication scheme a request presents, strongest evidence first.
pub fn auth_scheme(headers: &[Header]) -> AuthScheme {
    let mut cookie = false;
    let mut api_key = false;
    for header in headers {
        let name = header.name.as_str();
        if name.eq_ignore_ascii_case("authorization") {
            let value = String::from_utf8_lossy(&header.value);
            let scheme = value
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            return match scheme.as_str() {
                "basic" => AuthScheme::Basic,
                "bearer" => AuthScheme::Bearer,
                "apikey" | "api-key" | "key" => AuthScheme::ApiKey,
                _ => AuthScheme::Other,
            };
        }
        if name.eq_ignore_ascii_case("cookie") {
            cookie = true;
        } else if contains_ignore_case(name.as_bytes(), b"key") && is_credential_header(name) {
            api_key = true;
        }
    }
    if api_key {
        AuthScheme::ApiKey
    } else if cookie {
        AuthScheme::Cookie
    } else {
        AuthScheme::None
    }
}

/// Converts the sensor's `CLOCK_MONOTONIC` timestamps to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Unix milliseconds minus monotonic milliseconds, taken once at start.
    offset_ms: i128,
}

impl Clock {
    pub fn new() -> Self {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let monotonic_ms = now.tv_sec as i128 * 1000 + now.tv_nsec as i128 / 1_000_000;
        let wall_ms = crate::capture::sensor::unix_ms() as i128;
        Self {
            offset_ms: wall_ms - monotonic_ms,
        }
    }

    /// Unix milliseconds of a monotonic timestamp.
    pub fn unix_ms(&self, monotonic_ns: u64) -> u64 {
        (monotonic_ns as i128 / 1_000_000 + self.offset_ms).max(0) as u64
    }

    /// Monotonic nanoseconds now, on the sensor's clock.
    pub fn monotonic_ns() -> u64 {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Path recorded for a request whose path could not be decoded.
pub const UNDECODED_PATH: &str = "/(undecoded)";

/// Builds the transaction for one exchange. `endpoint_id` is left empty for
/// the inventory to fill in.
pub fn assemble(item: &ConnectionExchange, id: u64, clock: &Clock) -> Transaction {
    let request = &item.exchange.request;
    let response = item.exchange.response.as_ref();
    let info = &item.info;

    let local = Peer::from_endpoint(&info.local);
    let remote = Peer::from_endpoint(&info.remote);
    let (client, server) = match info.role {
        Some(Role::Server) => (remote, local),
        _ => (local, remote),
    };

    let host_header = request
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("host"))
        .map(|header| {
            String::from_utf8_lossy(&header.value)
                .trim()
                .to_ascii_lowercase()
        });
    let host = host_header
        .filter(|host| !host.is_empty())
        .or_else(|| server.address.map(|address| address.to_string()))
        .unwrap_or_else(|| "unknown".to_owned());

    // An HTTP/2 stream whose request headers could not be decoded (capture
    // started after the connection's header table was built) has no path.
    let (path, query) = if request.target.is_empty() {
        (UNDECODED_PATH.to_owned(), None)
    } else {
        split_target(&request.target)
    };
    let finished_ns = response.map_or(request.last_byte_ns, |response| response.last_byte_ns);
    let body_not_analysed = !request.body.complete_capture
        || response.is_some_and(|response| !response.body.complete_capture);

    Transaction {
        id,
        started_at_ms: clock.unix_ms(request.first_byte_ns),
        latency_us: finished_ns.saturating_sub(request.first_byte_ns) / 1000,
        protocol: match &item.http2 {
            None => Protocol::Http1,
            Some(details) if details.grpc.is_some() => Protocol::Grpc,
            Some(_) => Protocol::Http2,
        },
        encrypted: info.encrypted,
        method: request.method.clone(),
        host,
        path,
        query,
        status: response.map(|response| response.status),
        request_headers: stored_headers(&request.headers),
        response_headers: response
            .map(|response| stored_headers(&response.headers))
            .unwrap_or_default(),
        request_size: request.wire_size,
        response_size: response.map_or(0, |response| response.wire_size),
        auth: auth_scheme(&request.headers),
        client,
        server,
        direction: None,
        stream_id: item.http2.as_ref().map(|details| details.stream_id),
        reset_code: item.http2.as_ref().and_then(|details| details.reset),
        grpc: item
            .http2
            .as_ref()
            .and_then(|details| details.grpc.as_ref())
            .map(|call| GrpcSummary {
                service: call.service.clone(),
                method: call.method.clone(),
                status: call.status,
                message: call.message.clone(),
                request_messages: call.request_messages,
                response_messages: call.response_messages,
                compressed: call.compressed,
            }),
        endpoint_id: String::new(),
        flags: TransactionFlags {
            truncated: item.lost_bytes
                || request.gap
                || response.is_some_and(|response| response.gap),
            no_response: response.is_none(),
            body_not_analysed,
            bytes_not_scanned: 0,
        },
        findings: Vec::new(),
        request_body: None,
        response_body: None,
    }
}

/// Splits a request target into path and query. Absolute-form targets
/// (`http://host/path`, sent to proxies) keep only their path.
fn split_target(target: &str) -> (String, Option<String>) {
    let without_scheme = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .map(|rest| rest.find('/').map_or("/", |slash| &rest[slash..]))
        .unwrap_or(target);
    match without_scheme.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (without_scheme.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> Header {
        Header {
            name: name.to_owned(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn every_listed_credential_header_withheld() {
        for name in CREDENTIAL_HEADERS {
            assert!(is_credential_header(name), "{name}");
            assert!(is_credential_header(&name.to_ascii_uppercase()), "{name}");
        }
        for part in CREDENTIAL_NAME_PARTS {
            assert!(
                PART_PREFIXES
                    .iter()
                    .any(|prefix| part.as_bytes().starts_with(*prefix)),
                "{part} needs its prefix in PART_PREFIXES"
            );
        }
    }

    #[test]
    fn credential_fragments_any_case_and_place() {
        for name in [
            "X-Client-SECRET",
            "my-PassWord-hdr",
            "Session",
            "x-ApiKey-v2",
        ] {
            assert!(is_credential_header(name), "{name} must be withheld");
        }
        for name in ["Accept", "X-Request-Id", "Content-Type", "tok", ""] {
            assert!(!is_credential_header(name), "{name} is not a credential");
        }
    }

    #[test]
    fn credential_values_withheld() {
        let headers = [
            header("Authorization", "Bearer abc.def.ghi"),
            header("Cookie", "session=s3cr3t"),
            header("X-Vendor-Token", "tok_123"),
            header("Accept", "application/json"),
        ];
        let stored = stored_headers(&headers);
        assert_eq!(stored[0].value, None, "authorization must be withheld");
        assert_eq!(stored[1].value, None, "cookie must be withheld");
        assert_eq!(
            stored[2].value, None,
            "token-named headers must be withheld"
        );
        assert_eq!(stored[3].value.as_deref(), Some("application/json"));
        assert_eq!(
            stored[0].name, "authorization",
            "names are kept, lowercased"
        );
    }

    #[test]
    fn auth_scheme_detected() {
        let cases = [
            (
                vec![header("Authorization", "Basic dXNlcjpwYXNz")],
                AuthScheme::Basic,
            ),
            (
                vec![header("authorization", "bearer x")],
                AuthScheme::Bearer,
            ),
            (vec![header("X-API-Key", "k")], AuthScheme::ApiKey),
            (vec![header("Cookie", "a=b")], AuthScheme::Cookie),
            (vec![header("Authorization", "Digest x")], AuthScheme::Other),
            (vec![header("Accept", "*/*")], AuthScheme::None),
        ];
        for (headers, expected) in cases {
            assert_eq!(
                auth_scheme(&headers),
                expected,
                "headers {:?}",
                headers[0].name
            );
        }
    }

    #[test]
    fn target_split_into_path_and_query() {
        assert_eq!(
            split_target("/a/b?x=1&y=2"),
            ("/a/b".to_owned(), Some("x=1&y=2".to_owned()))
        );
        assert_eq!(split_target("/a"), ("/a".to_owned(), None));
        assert_eq!(
            split_target("http://example.test/p?q"),
            ("/p".to_owned(), Some("q".to_owned()))
        );
        assert_eq!(split_target("http://example.test"), ("/".to_owned(), None));
        assert_eq!(split_target("*"), ("*".to_owned(), None));
    }
}
