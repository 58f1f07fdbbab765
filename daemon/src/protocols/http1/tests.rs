//! Unit tests for the HTTP/1 parser, on conversations built here.

use std::io::Write;

use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::{Compression, GzBuilder};

use super::*;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("gzip test data");
    encoder.finish().expect("gzip test data")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("zlib test data");
    encoder.finish().expect("zlib test data")
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).expect("deflate test data");
    encoder.finish().expect("deflate test data")
}

/// Builds a message from a head without its final empty line, adding a
/// Content-Length for `body`.
fn with_body(head: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{head}\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    message.extend_from_slice(body);
    message
}

fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value.as_slice())
}

fn response_of(exchange: &Exchange) -> &Response {
    exchange.response.as_ref().expect("exchange has a response")
}

/// One push of a feed plan: a side and a byte range of that side's stream.
/// Push `i` of a plan is stamped with timestamp `i + 1`.
#[derive(Clone, Copy, Debug)]
struct Push {
    side: Side,
    start: usize,
    end: usize,
}

struct Outcome {
    exchanges: Vec<Exchange>,
    /// Exchanges emitted before `close()` was called.
    before_close: usize,
    counters: Http1Counters,
    close_ns: u64,
}

fn feed(client: &[u8], server: &[u8], plan: &[Push], limits: Http1Limits) -> Outcome {
    let mut connection = Http1Connection::new(limits);
    let mut exchanges = Vec::new();

    for (index, push) in plan.iter().enumerate() {
        let stream = match push.side {
            Side::Client => client,
            Side::Server => server,
        };
        connection.push(push.side, &stream[push.start..push.end], index as u64 + 1);
        exchanges.extend(connection.take_exchanges());
    }
    let before_close = exchanges.len();

    let close_ns = plan.len() as u64 + 1;
    connection.close(close_ns);
    exchanges.extend(connection.take_exchanges());

    Outcome {
        exchanges,
        before_close,
        counters: connection.counters(),
        close_ns,
    }
}

fn whole_plan(client_len: usize, server_len: usize) -> Vec<Push> {
    vec![
        Push {
            side: Side::Client,
            start: 0,
            end: client_len,
        },
        Push {
            side: Side::Server,
            start: 0,
            end: server_len,
        },
    ]
}

/// Builds a plan that pushes each stream in two pieces, split at byte
/// `split` (or at the stream's end if it is shorter).
fn split_plan(client_len: usize, server_len: usize, split: usize) -> Vec<Push> {
    let mut plan = Vec::new();
    for (side, len) in [(Side::Client, client_len), (Side::Server, server_len)] {
        let middle = split.min(len);
        plan.push(Push {
            side,
            start: 0,
            end: middle,
        });
        plan.push(Push {
            side,
            start: middle,
            end: len,
        });
    }
    plan
}

fn byte_plan(client_len: usize, server_len: usize) -> Vec<Push> {
    let client = (0..client_len).map(|index| Push {
        side: Side::Client,
        start: index,
        end: index + 1,
    });
    let server = (0..server_len).map(|index| Push {
        side: Side::Server,
        start: index,
        end: index + 1,
    });
    client.chain(server).collect()
}

/// Timestamp of the push in `plan` that carries byte `offset` of `side`.
fn push_time_of_byte(plan: &[Push], side: Side, offset: usize) -> u64 {
    let index = plan
        .iter()
        .position(|push| push.side == side && push.start <= offset && offset < push.end)
        .expect("plan covers the byte");
    index as u64 + 1
}

fn without_timestamps(exchanges: &[Exchange]) -> Vec<Exchange> {
    let mut exchanges = exchanges.to_vec();
    for exchange in &mut exchanges {
        exchange.request.first_byte_ns = 0;
        exchange.request.last_byte_ns = 0;
        if let Some(response) = exchange.response.as_mut() {
            response.first_byte_ns = 0;
            response.last_byte_ns = 0;
        }
    }
    exchanges
}

/// A conversation with known message boundaries.
struct Fixture {
    /// Requests, one per exchange.
    client: Vec<Vec<u8>>,
    /// Responses in the order sent, 1xx responses included.
    server: Vec<Vec<u8>>,
    /// For each exchange, the index in `server` of its final response.
    final_responses: Vec<usize>,
    /// The last response is close-delimited and ends at `close()`.
    ends_at_close: bool,
}

impl Fixture {
    fn range(messages: &[Vec<u8>], index: usize) -> (usize, usize) {
        let start: usize = messages[..index].iter().map(Vec::len).sum();
        (start, start + messages[index].len())
    }

    fn check_timestamps(&self, plan: &[Push], outcome: &Outcome, label: &str) {
        for (index, exchange) in outcome.exchanges.iter().enumerate() {
            let (start, end) = Self::range(&self.client, index);
            assert_eq!(
                exchange.request.first_byte_ns,
                push_time_of_byte(plan, Side::Client, start),
                "request {index} first_byte_ns, {label}"
            );
            assert_eq!(
                exchange.request.last_byte_ns,
                push_time_of_byte(plan, Side::Client, end - 1),
                "request {index} last_byte_ns, {label}"
            );

            let server_index = self.final_responses[index];
            let response = response_of(exchange);
            let (start, end) = Self::range(&self.server, server_index);
            let is_last = server_index + 1 == self.server.len();
            let expected_last = if self.ends_at_close && is_last {
                outcome.close_ns
            } else {
                push_time_of_byte(plan, Side::Server, end - 1)
            };
            assert_eq!(
                response.first_byte_ns,
                push_time_of_byte(plan, Side::Server, start),
                "response {index} first_byte_ns, {label}"
            );
            assert_eq!(
                response.last_byte_ns, expected_last,
                "response {index} last_byte_ns, {label}"
            );
        }
    }

    fn check_outcome(&self, plan: &[Push], outcome: &Outcome, reference: &[Exchange], label: &str) {
        assert_eq!(
            without_timestamps(&outcome.exchanges),
            reference,
            "exchanges differ from a single push, {label}"
        );
        assert_eq!(
            outcome.counters,
            Http1Counters::default(),
            "faults counted, {label}"
        );

        let expected_before_close = if self.ends_at_close {
            self.final_responses.len() - 1
        } else {
            self.final_responses.len()
        };
        assert_eq!(
            outcome.before_close, expected_before_close,
            "exchanges emitted before close, {label}"
        );

        self.check_timestamps(plan, outcome, label);
    }

    /// Feeds the conversation whole, split in two at every byte, and byte by
    /// byte. Checks the single-push result with `expect`, and that every
    /// other feed gives the same exchanges with the right timestamps.
    fn check_every_split(&self, expect: impl Fn(&[Exchange])) {
        let client = self.client.concat();
        let server = self.server.concat();

        let plan = whole_plan(client.len(), server.len());
        let outcome = feed(&client, &server, &plan, Http1Limits::default());
        assert_eq!(
            outcome.exchanges.len(),
            self.final_responses.len(),
            "exchange count from a single push"
        );
        expect(&outcome.exchanges);
        let reference = without_timestamps(&outcome.exchanges);
        self.check_outcome(&plan, &outcome, &reference, "single push");

        for split in 0..=client.len().max(server.len()) {
            let plan = split_plan(client.len(), server.len(), split);
            let outcome = feed(&client, &server, &plan, Http1Limits::default());
            self.check_outcome(
                &plan,
                &outcome,
                &reference,
                &format!("split at byte {split}"),
            );
        }

        let plan = byte_plan(client.len(), server.len());
        let outcome = feed(&client, &server, &plan, Http1Limits::default());
        self.check_outcome(&plan, &outcome, &reference, "byte by byte");
    }
}

/// Feeds whole client and server streams, then closes.
fn run(client: &[u8], server: &[u8], limits: Http1Limits) -> Outcome {
    feed(
        client,
        server,
        &whole_plan(client.len(), server.len()),
        limits,
    )
}

// ---------------------------------------------------------------------------
// Realistic exchanges at every byte boundary
// ---------------------------------------------------------------------------

#[test]
fn get_with_query_every_split() {
    let body = br#"{"hits":[{"id":1,"name":"rust"}],"page":2}"#;
    let fixture = Fixture {
        client: vec![
            b"GET /search?q=rust&page=2 HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\n\r\n"
                .to_vec(),
        ],
        server: vec![with_body(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json",
            body,
        )],
        final_responses: vec![0],
        ends_at_close: false,
    };

    fixture.check_every_split(|exchanges| {
        let request = &exchanges[0].request;
        assert_eq!(request.method, "GET", "method");
        assert_eq!(
            request.target, "/search?q=rust&page=2",
            "target keeps the query"
        );
        assert_eq!(request.version_minor, 1, "version");
        assert_eq!(request.headers.len(), 2, "request header count");
        assert_eq!(
            header(&request.headers, "host"),
            Some(&b"api.example.com"[..]),
            "Host value"
        );
        assert_eq!(
            request.body,
            Body {
                wire_len: 0,
                decoded: Vec::new(),
                complete_capture: true
            },
            "no request body"
        );
        assert_eq!(
            request.wire_size,
            fixture.client[0].len() as u64,
            "request wire size"
        );
        assert!(!request.gap, "request has no gap");

        let response = response_of(&exchanges[0]);
        assert_eq!(response.status, 200, "status");
        assert_eq!(response.reason, "OK", "reason");
        assert_eq!(response.body.decoded, body, "response body");
        assert_eq!(
            response.body.wire_len,
            body.len() as u64,
            "response body wire length"
        );
        assert!(
            response.body.complete_capture,
            "response body captured whole"
        );
        assert_eq!(
            response.wire_size,
            fixture.server[0].len() as u64,
            "response wire size"
        );
        assert!(response.informational.is_empty(), "no 1xx responses");
    });
}

#[test]
fn post_json_every_split() {
    let request_body = br#"{"item":"book","quantity":2}"#;
    let response_body = br#"{"id":"ord_17"}"#;
    let fixture = Fixture {
        client: vec![with_body(
            "POST /v1/orders HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json",
            request_body,
        )],
        server: vec![with_body(
            "HTTP/1.1 201 Created\r\nLocation: /v1/orders/ord_17\r\nContent-Type: application/json",
            response_body,
        )],
        final_responses: vec![0],
        ends_at_close: false,
    };

    fixture.check_every_split(|exchanges| {
        let request = &exchanges[0].request;
        assert_eq!(request.method, "POST", "method");
        assert_eq!(request.body.decoded, request_body, "request body");
        assert_eq!(
            request.body.wire_len,
            request_body.len() as u64,
            "request body wire length"
        );
        assert!(request.body.complete_capture, "request body captured whole");
        assert_eq!(
            request.wire_size,
            fixture.client[0].len() as u64,
            "request wire size"
        );

        let response = response_of(&exchanges[0]);
        assert_eq!(response.status, 201, "status");
        assert_eq!(response.body.decoded, response_body, "response body");
    });
}

#[test]
fn chunked_trailers_every_split() {
    let fixture = Fixture {
        client: vec![b"GET /stream HTTP/1.1\r\nHost: example.com\r\nTE: trailers\r\n\r\n".to_vec()],
        server: vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n\
              5;name=value\r\nhello\r\n6 ; last\r\n world\r\n0\r\nX-Checksum: abc123\r\nX-Count: 2\r\n\r\n"
            .to_vec()],
        final_responses: vec![0],
        ends_at_close: false,
    };

    fixture.check_every_split(|exchanges| {
        let response = response_of(&exchanges[0]);
        assert_eq!(response.body.decoded, b"hello world", "de-chunked body");
        assert_eq!(
            response.body.wire_len, 11,
            "body wire length excludes chunk framing"
        );
        assert!(response.body.complete_capture, "body captured whole");
        assert_eq!(response.trailers.len(), 2, "trailer count");
        assert_eq!(
            header(&response.trailers, "x-checksum"),
            Some(&b"abc123"[..]),
            "trailer value"
        );
        assert_eq!(
            response.wire_size,
            fixture.server[0].len() as u64,
            "wire size includes chunk framing"
        );
    });
}

#[test]
fn gzip_response_every_split() {
    let original = br#"{"items":[{"id":1},{"id":2},{"id":3}],"note":"compressed with gzip, compressed with gzip"}"#;
    let compressed = gzip(original);
    let fixture = Fixture {
        client: vec![b"GET /items HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n".to_vec()],
        server: vec![with_body(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip",
            &compressed,
        )],
        final_responses: vec![0],
        ends_at_close: false,
    };

    fixture.check_every_split(|exchanges| {
        let response = response_of(&exchanges[0]);
        assert_eq!(response.body.decoded, original, "gzip body decoded");
        assert_eq!(
            response.body.wire_len,
            compressed.len() as u64,
            "wire length is the compressed size"
        );
        assert!(response.body.complete_capture, "body captured whole");
    });
}

#[test]
fn head_response_every_split() {
    let fixture = Fixture {
        client: vec![
            b"HEAD /files/report.pdf HTTP/1.1\r\nHost: files.example\r\n\r\n".to_vec(),
            b"GET /files/small.txt HTTP/1.1\r\nHost: files.example\r\n\r\n".to_vec(),
        ],
        server: vec![
            b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 1234\r\n\r\n"
                .to_vec(),
            with_body("HTTP/1.1 200 OK\r\nContent-Type: text/plain", b"hello"),
        ],
        final_responses: vec![0, 1],
        ends_at_close: false,
    };

    fixture.check_every_split(|exchanges| {
        let head_response = response_of(&exchanges[0]);
        assert_eq!(exchanges[0].request.method, "HEAD", "first request is HEAD");
        assert_eq!(head_response.body.wire_len, 0, "HEAD response has no body");
        assert_eq!(
            header(&head_response.headers, "content-length"),
            Some(&b"1234"[..]),
            "Content-Length kept"
        );

        let next = response_of(&exchanges[1]);
        assert_eq!(
            exchanges[1].request.target, "/files/small.txt",
            "second request target"
        );
        assert_eq!(
            next.body.decoded, b"hello",
            "next response parsed after the HEAD response"
        );
    });
}

#[test]
fn continue_then_ok_every_split() {
    let fixture = Fixture {
        client: vec![with_body(
            "PUT /upload/notes.txt HTTP/1.1\r\nHost: files.example\r\nExpect: 100-continue",
            b"hello world",
        )],
        server: vec![
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
            with_body("HTTP/1.1 200 OK", b"ok"),
        ],
        final_responses: vec![1],
        ends_at_close: false,
    };

    fixture.check_every_split(|exchanges| {
        let response = response_of(&exchanges[0]);
        assert_eq!(response.status, 200, "final status");
        assert_eq!(response.informational, vec![100], "100 Continue recorded");
        assert_eq!(response.body.decoded, b"ok", "final body");
        assert_eq!(
            response.wire_size,
            fixture.server[1].len() as u64,
            "wire size excludes the 1xx response"
        );
        assert_eq!(
            exchanges[0].request.body.decoded, b"hello world",
            "request body"
        );
    });
}

#[test]
fn no_content_every_split() {
    let fixture = Fixture {
        client: vec![
            b"DELETE /v1/orders/7 HTTP/1.1\r\nHost: shop.example\r\n\r\n".to_vec(),
            b"GET /v1/orders HTTP/1.1\r\nHost: shop.example\r\n\r\n".to_vec(),
        ],
        server: vec![
            b"HTTP/1.1 204 No Content\r\nX-Request-Id: 42\r\n\r\n".to_vec(),
            with_body("HTTP/1.1 200 OK", b"[]"),
        ],
        final_responses: vec![0, 1],
        ends_at_close: false,
    };

    fixture.check_every_split(|exchanges| {
        assert_eq!(response_of(&exchanges[0]).status, 204, "first status");
        assert_eq!(
            response_of(&exchanges[0]).body.wire_len,
            0,
            "204 has no body"
        );
        assert_eq!(
            response_of(&exchanges[1]).body.decoded,
            b"[]",
            "next response body"
        );
    });
}

#[test]
fn not_modified_every_split() {
    let fixture = Fixture {
        client: vec![
            b"GET /logo.png HTTP/1.1\r\nIf-None-Match: \"v1\"\r\n\r\n".to_vec(),
            b"GET /index.html HTTP/1.1\r\n\r\n".to_vec(),
        ],
        server: vec![
            // A 304 may carry the Content-Length of the unchanged
            // representation, which must not be read as a body.
            b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 500\r\n\r\n".to_vec(),
            with_body(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html",
                b"<html></html>",
            ),
        ],
        final_responses: vec![0, 1],
        ends_at_close: false,
    };

    fixture.check_every_split(|exchanges| {
        assert_eq!(response_of(&exchanges[0]).status, 304, "first status");
        assert_eq!(
            response_of(&exchanges[0]).body.wire_len,
            0,
            "304 has no body"
        );
        assert_eq!(
            response_of(&exchanges[1]).body.decoded,
            b"<html></html>",
            "next response body"
        );
    });
}

#[test]
fn close_delimited_every_split() {
    let fixture = Fixture {
        client: vec![b"GET /export.csv HTTP/1.1\r\nHost: reports.example\r\n\r\n".to_vec()],
        server: vec![b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nConnection: close\r\n\r\nid,name\n1,alpha\n2,beta\n"
            .to_vec()],
        final_responses: vec![0],
        ends_at_close: true,
    };

    fixture.check_every_split(|exchanges| {
        let response = response_of(&exchanges[0]);
        assert_eq!(
            response.body.decoded, b"id,name\n1,alpha\n2,beta\n",
            "body read until close"
        );
        assert!(response.body.complete_capture, "body captured whole");
        assert!(!response.gap, "close ends the body normally");
        assert_eq!(
            response.wire_size,
            fixture.server[0].len() as u64,
            "wire size"
        );
    });
}

// ---------------------------------------------------------------------------
// Pipelining and pairing
// ---------------------------------------------------------------------------

#[test]
fn pipelined_three_pair_in_order() {
    let client = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    let server = [
        with_body("HTTP/1.1 200 OK", b"body a"),
        with_body("HTTP/1.1 200 OK", b"body b"),
        with_body("HTTP/1.1 200 OK", b"body c"),
    ]
    .concat();

    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(Side::Client, client, 1);
    assert!(
        connection.take_exchanges().is_empty(),
        "no exchange before responses"
    );
    connection.push(Side::Server, &server, 2);
    let exchanges = connection.take_exchanges();

    assert_eq!(exchanges.len(), 3, "three exchanges");
    for (exchange, name) in exchanges.iter().zip(["a", "b", "c"]) {
        assert_eq!(exchange.request.target, format!("/{name}"), "request order");
        assert_eq!(
            response_of(exchange).body.decoded,
            format!("body {name}").into_bytes(),
            "response paired with /{name}"
        );
    }
    assert_eq!(connection.counters(), Http1Counters::default(), "no faults");
}

#[test]
fn pipelined_interleaved_pushes() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(
        Side::Client,
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        1,
    );
    connection.push(Side::Server, &with_body("HTTP/1.1 200 OK", b"a"), 2);
    let first = connection.take_exchanges();
    connection.push(Side::Client, b"GET /c HTTP/1.1\r\n\r\n", 3);
    connection.push(Side::Server, &with_body("HTTP/1.1 200 OK", b"b"), 4);
    connection.push(Side::Server, &with_body("HTTP/1.1 200 OK", b"c"), 5);
    let rest = connection.take_exchanges();

    assert_eq!(
        first.len(),
        1,
        "first exchange emitted as soon as it completes"
    );
    assert_eq!(first[0].request.target, "/a", "first exchange target");
    assert_eq!(rest.len(), 2, "remaining exchanges");
    assert_eq!(rest[0].request.target, "/b", "second target");
    assert_eq!(response_of(&rest[0]).body.decoded, b"b", "second paired");
    assert_eq!(rest[1].request.target, "/c", "third target");
    assert_eq!(response_of(&rest[1]).body.decoded, b"c", "third paired");
}

#[test]
fn early_response_waits_for_request() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(
        Side::Client,
        b"POST /upload HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
        1,
    );
    connection.push(
        Side::Server,
        &with_body("HTTP/1.1 413 Content Too Large", b""),
        2,
    );
    let before = connection.take_exchanges();
    connection.push(Side::Client, b"defghij", 3);
    let after = connection.take_exchanges();

    assert!(before.is_empty(), "exchange waits for the request body");
    assert_eq!(
        after.len(),
        1,
        "exchange emitted when the request completes"
    );
    assert_eq!(response_of(&after[0]).status, 413, "early response paired");
    assert_eq!(after[0].request.body.decoded, b"abcdefghij", "request body");
}

#[test]
fn orphan_response_dropped() {
    let server = [
        with_body("HTTP/1.1 200 OK", b"one"),
        with_body("HTTP/1.1 200 OK", b"two"),
    ]
    .concat();
    let outcome = run(
        b"GET /one HTTP/1.1\r\n\r\n",
        &server,
        Http1Limits::default(),
    );

    assert_eq!(outcome.exchanges.len(), 1, "one exchange");
    assert_eq!(
        response_of(&outcome.exchanges[0]).body.decoded,
        b"one",
        "first response paired"
    );
    assert_eq!(
        outcome.counters.orphan_responses, 1,
        "second response is an orphan"
    );
}

#[test]
fn unanswered_request_at_close() {
    let client = b"GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n";
    let outcome = run(
        client,
        &with_body("HTTP/1.1 200 OK", b"one"),
        Http1Limits::default(),
    );

    assert_eq!(
        outcome.before_close, 1,
        "answered exchange emitted before close"
    );
    assert_eq!(outcome.exchanges.len(), 2, "both requests emitted");
    assert_eq!(
        outcome.exchanges[1].request.target, "/two",
        "unanswered request"
    );
    assert!(outcome.exchanges[1].response.is_none(), "no response");
    assert_eq!(outcome.counters.unanswered_requests, 1, "unanswered count");
}

#[test]
fn pending_limit_emits_oldest() {
    let limits = Http1Limits {
        max_pending_requests: 2,
        ..Http1Limits::default()
    };
    let mut connection = Http1Connection::new(limits);
    connection.push(
        Side::Client,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
        1,
    );
    let exchanges = connection.take_exchanges();

    assert_eq!(exchanges.len(), 1, "oldest request emitted");
    assert_eq!(
        exchanges[0].request.target, "/1",
        "emitted request is the oldest"
    );
    assert!(
        exchanges[0].response.is_none(),
        "emitted without a response"
    );
    assert_eq!(
        connection.counters().unanswered_requests,
        1,
        "unanswered count"
    );
}

// ---------------------------------------------------------------------------
// Protocol switches
// ---------------------------------------------------------------------------

#[test]
fn switching_protocols_skips_rest() {
    let client_head = b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let server_head =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let server_frame = b"\x81\x05hello";
    let client_frame = b"\x81\x85\x01\x02\x03\x04iaohn";

    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(Side::Client, client_head, 1);
    connection.push(Side::Server, &[&server_head[..], server_frame].concat(), 2);
    connection.push(Side::Client, client_frame, 3);
    connection.push(Side::Server, b"GET / HTTP/1.1\r\n\r\n", 4);
    connection.close(5);
    let exchanges = connection.take_exchanges();
    let counters = connection.counters();

    assert_eq!(exchanges.len(), 1, "one exchange");
    assert_eq!(
        response_of(&exchanges[0]).status,
        101,
        "101 is the final response"
    );
    assert!(
        response_of(&exchanges[0]).informational.is_empty(),
        "101 is not listed as informational"
    );
    assert_eq!(
        counters.skipped_bytes,
        (server_frame.len() + client_frame.len() + 18) as u64,
        "bytes after the switch are skipped"
    );
    assert_eq!(counters.parse_errors, 0, "no parse errors after the switch");
}

#[test]
fn connect_success_skips_tunnel() {
    let tunnel_bytes = b"\x16\x03\x01\x00\x05hello";
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(
        Side::Client,
        b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n",
        1,
    );
    connection.push(
        Side::Server,
        b"HTTP/1.1 200 Connection Established\r\n\r\n",
        2,
    );
    connection.push(Side::Client, tunnel_bytes, 3);
    connection.push(Side::Server, tunnel_bytes, 4);
    connection.close(5);
    let exchanges = connection.take_exchanges();
    let counters = connection.counters();

    assert_eq!(exchanges.len(), 1, "one exchange");
    assert_eq!(
        exchanges[0].request.target, "api.example.com:443",
        "authority-form target"
    );
    assert_eq!(response_of(&exchanges[0]).status, 200, "CONNECT answered");
    assert_eq!(
        counters.skipped_bytes,
        2 * tunnel_bytes.len() as u64,
        "tunnel bytes skipped"
    );
    assert_eq!(
        counters.parse_errors, 0,
        "tunnel bytes are not parse errors"
    );
}

// ---------------------------------------------------------------------------
// Garbage and resynchronisation
// ---------------------------------------------------------------------------

#[test]
fn garbage_before_request() {
    let garbage = b"\x16\x03\x01\x02\x00not http at all ";
    let client = [&garbage[..], b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n"].concat();
    let outcome = run(
        &client,
        &with_body("HTTP/1.1 200 OK", b"ok"),
        Http1Limits::default(),
    );

    assert_eq!(outcome.exchanges.len(), 1, "valid exchange kept");
    assert_eq!(
        outcome.exchanges[0].request.target, "/after",
        "request after garbage"
    );
    assert_eq!(
        response_of(&outcome.exchanges[0]).body.decoded,
        b"ok",
        "response paired"
    );
    assert_eq!(outcome.counters.parse_errors, 1, "one parse error");
    assert_eq!(outcome.counters.resyncs, 1, "one resync");
    assert_eq!(
        outcome.counters.skipped_bytes,
        garbage.len() as u64,
        "garbage skipped"
    );
}

#[test]
fn garbage_between_keepalive_requests() {
    let garbage = b"\x00\x01junk line\r\n\r\n";
    let client = [
        &b"GET /a HTTP/1.1\r\n\r\n"[..],
        garbage,
        b"GET /b HTTP/1.1\r\n\r\n",
    ]
    .concat();
    let server = [
        with_body("HTTP/1.1 200 OK", b"a"),
        with_body("HTTP/1.1 200 OK", b"b"),
    ]
    .concat();

    // Split between the first request and the garbage, and inside the
    // garbage, to cover resync across pushes.
    for split in [0, 19, 23, client.len()] {
        let plan = [
            Push {
                side: Side::Client,
                start: 0,
                end: split,
            },
            Push {
                side: Side::Client,
                start: split,
                end: client.len(),
            },
            Push {
                side: Side::Server,
                start: 0,
                end: server.len(),
            },
        ];
        let outcome = feed(&client, &server, &plan, Http1Limits::default());

        assert_eq!(
            outcome.exchanges.len(),
            2,
            "both exchanges kept, split {split}"
        );
        assert_eq!(
            outcome.exchanges[1].request.target, "/b",
            "request after garbage, split {split}"
        );
        assert_eq!(
            response_of(&outcome.exchanges[1]).body.decoded,
            b"b",
            "pairing kept, split {split}"
        );
        assert_eq!(
            outcome.counters.parse_errors, 1,
            "one parse error, split {split}"
        );
        assert_eq!(outcome.counters.resyncs, 1, "one resync, split {split}");
        assert_eq!(
            outcome.counters.skipped_bytes,
            garbage.len() as u64,
            "garbage skipped, split {split}"
        );
    }
}

#[test]
fn garbage_between_responses() {
    let garbage = b"\x00garbage from the server\r\n";
    let server = [
        with_body("HTTP/1.1 200 OK", b"a"),
        garbage.to_vec(),
        with_body("HTTP/1.1 200 OK", b"b"),
    ]
    .concat();
    let outcome = run(
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        &server,
        Http1Limits::default(),
    );

    assert_eq!(outcome.exchanges.len(), 2, "both exchanges kept");
    assert_eq!(
        response_of(&outcome.exchanges[1]).body.decoded,
        b"b",
        "second response paired"
    );
    assert_eq!(outcome.counters.parse_errors, 1, "one parse error");
    assert_eq!(
        outcome.counters.skipped_bytes,
        garbage.len() as u64,
        "garbage skipped"
    );
}

#[test]
fn pure_garbage_bounded() {
    // Lowercase text, digits and binary bytes: nothing here starts a
    // request (methods are uppercase) or a response.
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 \r\n\x00\xfe;:/*";
    let garbage: Vec<u8> = (0..1 << 20)
        .map(|index| alphabet[index * 7 % alphabet.len()])
        .collect();
    let limits = Http1Limits::default();
    let mut connection = Http1Connection::new(limits);

    for (index, piece) in garbage.chunks(4096).enumerate() {
        connection.push(Side::Client, piece, index as u64);
        connection.push(Side::Server, piece, index as u64);
        assert!(
            connection.buffered_bytes() <= 2 * limits.max_head_bytes,
            "buffer grew to {} bytes after push {index}",
            connection.buffered_bytes()
        );
    }
    connection.close(u64::MAX);
    let counters = connection.counters();

    assert!(
        connection.take_exchanges().is_empty(),
        "no exchanges from garbage"
    );
    assert_eq!(counters.parse_errors, 2, "one parse error per side");
    assert_eq!(counters.resyncs, 2, "one resync per side");
    assert_eq!(
        counters.skipped_bytes,
        2 * garbage.len() as u64,
        "every byte skipped"
    );
    assert_eq!(
        connection.buffered_bytes(),
        0,
        "nothing buffered after close"
    );
}

#[test]
fn long_token_run_rejected_early() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(Side::Client, &[b'a'; 100], 1);

    assert_eq!(
        connection.counters().parse_errors,
        1,
        "token run without a space is not a method"
    );
    assert_eq!(
        connection.buffered_bytes(),
        0,
        "rejected bytes not buffered"
    );
}

#[test]
fn invalid_chunk_size_resyncs() {
    let client =
        b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /b HTTP/1.1\r\n\r\n";
    let server = [
        with_body("HTTP/1.1 400 Bad Request", b""),
        with_body("HTTP/1.1 200 OK", b"b"),
    ]
    .concat();
    let outcome = run(client, &server, Http1Limits::default());

    assert_eq!(outcome.exchanges.len(), 2, "both exchanges kept");
    assert!(
        !outcome.exchanges[0].request.body.complete_capture,
        "bad body marked incomplete"
    );
    assert_eq!(
        outcome.exchanges[1].request.target, "/b",
        "request after bad chunk"
    );
    assert_eq!(outcome.counters.parse_errors, 1, "one parse error");
    assert_eq!(outcome.counters.skipped_bytes, 4, "bad chunk line skipped");
}

#[test]
fn empty_lines_between_requests() {
    let client = b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    let server = [
        with_body("HTTP/1.1 200 OK", b"a"),
        with_body("HTTP/1.1 200 OK", b"b"),
    ]
    .concat();
    let outcome = run(client, &server, Http1Limits::default());

    assert_eq!(outcome.exchanges.len(), 2, "both exchanges");
    assert_eq!(
        outcome.counters,
        Http1Counters::default(),
        "empty lines are not faults"
    );
}

// ---------------------------------------------------------------------------
// Capture gaps
// ---------------------------------------------------------------------------

#[test]
fn gap_inside_body_keeps_framing() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(
        Side::Client,
        b"POST /upload HTTP/1.1\r\nContent-Length: 100\r\n\r\n",
        1,
    );
    connection.push(Side::Client, &[b'a'; 40], 2);
    connection.push_gap(Side::Client, 30, 3);
    connection.push(Side::Client, &[b'b'; 30], 4);
    connection.push(Side::Client, b"GET /next HTTP/1.1\r\n\r\n", 5);
    let server = [
        with_body("HTTP/1.1 200 OK", b"one"),
        with_body("HTTP/1.1 200 OK", b"two"),
    ]
    .concat();
    connection.push(Side::Server, &server, 6);
    let exchanges = connection.take_exchanges();
    let counters = connection.counters();

    assert_eq!(exchanges.len(), 2, "both exchanges");
    let upload = &exchanges[0].request;
    assert!(upload.gap, "message with the hole is flagged");
    assert_eq!(
        upload.body.wire_len, 100,
        "lost bytes count in the wire length"
    );
    assert!(!upload.body.complete_capture, "capture incomplete");
    assert_eq!(
        upload.body.decoded,
        vec![b'a'; 40],
        "bytes before the hole kept"
    );
    assert_eq!(
        upload.last_byte_ns, 4,
        "completed by the push after the gap"
    );
    assert_eq!(exchanges[1].request.target, "/next", "next request parsed");
    assert!(!exchanges[1].request.gap, "next request has no gap");
    assert_eq!(
        response_of(&exchanges[1]).body.decoded,
        b"two",
        "pairing kept"
    );
    assert_eq!(counters.resyncs, 0, "no resync needed");
    assert_eq!(counters.parse_errors, 0, "a gap is not a parse error");
}

#[test]
fn gap_inside_chunk_keeps_framing() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(Side::Client, b"GET /stream HTTP/1.1\r\n\r\n", 1);
    connection.push(
        Side::Server,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123",
        2,
    );
    connection.push_gap(Side::Server, 3, 3);
    connection.push(Side::Server, b"789\r\n0\r\n\r\n", 4);
    let exchanges = connection.take_exchanges();

    assert_eq!(exchanges.len(), 1, "exchange completes after the gap");
    let response = response_of(&exchanges[0]);
    assert!(response.gap, "response flagged");
    assert_eq!(response.body.wire_len, 10, "chunk length kept");
    assert_eq!(connection.counters().resyncs, 0, "no resync needed");
}

#[test]
fn gap_past_body_resyncs() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(
        Side::Client,
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        1,
    );
    connection.push(
        Side::Server,
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n0123456789",
        2,
    );
    // The hole covers the last 40 body bytes and 10 bytes beyond, so the
    // next message start is unknown.
    connection.push_gap(Side::Server, 50, 3);
    connection.push(Side::Server, b"tail of lost data", 4);
    connection.push(Side::Server, &with_body("HTTP/1.1 200 OK", b"b"), 5);
    let exchanges = connection.take_exchanges();
    let counters = connection.counters();

    assert_eq!(exchanges.len(), 2, "both exchanges");
    let first = response_of(&exchanges[0]);
    assert!(first.gap, "first response flagged");
    assert_eq!(
        first.body.wire_len, 50,
        "only the body's share of the hole counts"
    );
    assert_eq!(first.last_byte_ns, 3, "completed by the gap");
    assert_eq!(
        response_of(&exchanges[1]).body.decoded,
        b"b",
        "next response parsed"
    );
    assert_eq!(counters.resyncs, 1, "one resync");
    assert_eq!(counters.parse_errors, 0, "a gap is not a parse error");
    assert_eq!(counters.skipped_bytes, 17, "bytes after the hole skipped");
}

#[test]
fn truncated_body_at_close() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(
        Side::Client,
        b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
        1,
    );
    connection.close(2);
    let exchanges = connection.take_exchanges();

    assert_eq!(exchanges.len(), 1, "cut request emitted");
    assert!(exchanges[0].request.gap, "cut request flagged");
    assert!(
        !exchanges[0].request.body.complete_capture,
        "capture incomplete"
    );
    assert_eq!(
        exchanges[0].request.body.decoded, b"abc",
        "received bytes kept"
    );
    assert_eq!(exchanges[0].request.last_byte_ns, 2, "completed by close");
}

// ---------------------------------------------------------------------------
// Invalid and oversized heads
// ---------------------------------------------------------------------------

#[test]
fn conflicting_content_length_rejected() {
    let client = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!GET /b HTTP/1.1\r\n\r\n";
    let server = [
        with_body("HTTP/1.1 400 Bad Request", b""),
        with_body("HTTP/1.1 200 OK", b"b"),
    ]
    .concat();
    let outcome = run(client, &server, Http1Limits::default());

    assert_eq!(
        outcome.counters.parse_errors, 1,
        "conflict is a parse error"
    );
    assert_eq!(outcome.exchanges.len(), 2, "both exchanges kept");
    assert!(
        !outcome.exchanges[0].request.body.complete_capture,
        "body of unknown length not captured"
    );
    assert_eq!(
        response_of(&outcome.exchanges[0]).status,
        400,
        "rejection paired"
    );
    assert_eq!(
        outcome.exchanges[1].request.target, "/b",
        "next request parsed"
    );
    assert_eq!(outcome.counters.skipped_bytes, 6, "body skipped by resync");
}

#[test]
fn repeated_equal_content_length_accepted() {
    let client = b"POST /a HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello";
    let outcome = run(
        client,
        &with_body("HTTP/1.1 200 OK", b""),
        Http1Limits::default(),
    );

    assert_eq!(outcome.counters.parse_errors, 0, "equal values accepted");
    assert_eq!(
        outcome.exchanges[0].request.body.decoded, b"hello",
        "body read"
    );
}

#[test]
fn invalid_content_length_rejected() {
    let outcome = run(
        b"POST /a HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n",
        b"",
        Http1Limits::default(),
    );

    assert_eq!(
        outcome.counters.parse_errors, 1,
        "non-numeric length is a parse error"
    );
}

#[test]
fn oversized_head_rejected() {
    let limits = Http1Limits {
        max_head_bytes: 1024,
        ..Http1Limits::default()
    };
    let big = format!(
        "GET /big HTTP/1.1\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(2000)
    );
    let client = [big.as_bytes(), b"GET /ok HTTP/1.1\r\n\r\n"].concat();
    let server = with_body("HTTP/1.1 200 OK", b"ok");

    for piece_len in [1, 7, 512, client.len()] {
        let mut connection = Http1Connection::new(limits);
        for (index, piece) in client.chunks(piece_len).enumerate() {
            connection.push(Side::Client, piece, index as u64);
            assert!(
                connection.buffered_bytes() <= 8 * 1024,
                "buffer grew to {} bytes, pieces of {piece_len}",
                connection.buffered_bytes()
            );
        }
        connection.push(Side::Server, &server, 1000);
        let exchanges = connection.take_exchanges();
        let counters = connection.counters();

        assert_eq!(
            counters.parse_errors, 1,
            "oversized head is one parse error, pieces of {piece_len}"
        );
        assert_eq!(
            exchanges.len(),
            1,
            "only the valid request kept, pieces of {piece_len}"
        );
        assert_eq!(
            exchanges[0].request.target, "/ok",
            "valid request parsed, pieces of {piece_len}"
        );
        assert_eq!(
            counters.skipped_bytes,
            big.len() as u64,
            "oversized head skipped, pieces of {piece_len}"
        );
    }
}

#[test]
fn head_at_limit_accepted() {
    let head = b"GET /exact HTTP/1.1\r\nHost: x\r\n\r\n";
    let limits = Http1Limits {
        max_head_bytes: head.len(),
        ..Http1Limits::default()
    };
    let outcome = run(head, b"HTTP/1.1 204 No Content\r\n\r\n", limits);

    assert_eq!(
        outcome.counters.parse_errors, 0,
        "head of exactly the limit accepted"
    );
    assert_eq!(outcome.exchanges.len(), 1, "exchange parsed");
}

#[test]
fn too_many_headers_rejected() {
    let limits = Http1Limits {
        max_headers: 4,
        ..Http1Limits::default()
    };
    let client = b"GET /many HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n\r\nGET /few HTTP/1.1\r\nA: 1\r\n\r\n";
    let outcome = run(client, &with_body("HTTP/1.1 200 OK", b""), limits);

    assert_eq!(
        outcome.counters.parse_errors, 1,
        "too many headers is a parse error"
    );
    assert_eq!(outcome.exchanges.len(), 1, "only the valid request kept");
    assert_eq!(
        outcome.exchanges[0].request.target, "/few",
        "valid request parsed"
    );
}

#[test]
fn too_many_trailers_rejected() {
    let limits = Http1Limits {
        max_headers: 2,
        ..Http1Limits::default()
    };
    let server = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let outcome = run(b"GET / HTTP/1.1\r\n\r\n", server, limits);

    assert_eq!(
        outcome.counters.parse_errors, 1,
        "too many trailers is a parse error"
    );
    assert!(
        !response_of(&outcome.exchanges[0]).body.complete_capture,
        "response marked incomplete"
    );
}

// ---------------------------------------------------------------------------
// Content decoding
// ---------------------------------------------------------------------------

/// Parses a response made of `head` and `body`, fed whole and byte by byte,
/// checks that both feeds agree, and returns it.
fn decoded_response(head: &str, body: &[u8], limits: Http1Limits) -> Response {
    let client = b"GET / HTTP/1.1\r\n\r\n";
    let server = with_body(head, body);
    let whole = feed(
        client,
        &server,
        &whole_plan(client.len(), server.len()),
        limits,
    );
    let bytewise = feed(
        client,
        &server,
        &byte_plan(client.len(), server.len()),
        limits,
    );

    assert_eq!(
        whole.counters.parse_errors, 0,
        "response parsed without errors"
    );
    assert_eq!(whole.exchanges.len(), 1, "one exchange");
    assert_eq!(
        without_timestamps(&bytewise.exchanges),
        without_timestamps(&whole.exchanges),
        "byte-by-byte feed gives the same response"
    );
    response_of(&whole.exchanges[0]).clone()
}

#[test]
fn gzip_bomb_stops_at_cap() {
    let compressed = gzip(&vec![0u8; 10 * 1024 * 1024]);
    let limits = Http1Limits::default();
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip",
        &compressed,
        limits,
    );

    assert_eq!(
        response.body.decoded.len(),
        limits.max_body_capture,
        "decoded cut at the cap"
    );
    assert!(
        response.body.decoded.iter().all(|&byte| byte == 0),
        "decoded bytes are the zeros"
    );
    assert!(!response.body.complete_capture, "capture marked incomplete");
    assert_eq!(
        response.body.wire_len,
        compressed.len() as u64,
        "wire length is the compressed size"
    );
}

#[test]
fn deflate_bomb_stops_at_cap() {
    let compressed = zlib(&vec![b'x'; 4 * 1024 * 1024]);
    let limits = Http1Limits {
        max_body_capture: 1000,
        ..Http1Limits::default()
    };
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: deflate",
        &compressed,
        limits,
    );

    assert_eq!(response.body.decoded.len(), 1000, "decoded cut at the cap");
    assert!(!response.body.complete_capture, "capture marked incomplete");
}

#[test]
fn gzip_exactly_at_cap_complete() {
    let original: Vec<u8> = (0..1000u32).map(|value| (value % 251) as u8).collect();
    let compressed = gzip(&original);
    let at_cap = Http1Limits {
        max_body_capture: 1000,
        ..Http1Limits::default()
    };
    let below_cap = Http1Limits {
        max_body_capture: 999,
        ..Http1Limits::default()
    };

    let whole = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip",
        &compressed,
        at_cap,
    );
    let cut = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip",
        &compressed,
        below_cap,
    );

    assert_eq!(
        whole.body.decoded, original,
        "body of exactly the cap decoded"
    );
    assert!(
        whole.body.complete_capture,
        "body of exactly the cap is complete"
    );
    assert_eq!(cut.body.decoded.len(), 999, "one byte over the cap is cut");
    assert!(
        !cut.body.complete_capture,
        "one byte over the cap is incomplete"
    );
}

#[test]
fn gzip_two_members_decoded() {
    let compressed = [gzip(b"first "), gzip(b"second")].concat();
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip",
        &compressed,
        Http1Limits::default(),
    );

    assert_eq!(
        response.body.decoded, b"first second",
        "both members decoded"
    );
    assert!(response.body.complete_capture, "capture complete");
}

#[test]
fn gzip_optional_header_fields() {
    let original = b"body behind a gzip header with every optional field";
    let mut encoder = GzBuilder::new()
        .filename("report.json")
        .comment("nightly export")
        .extra(vec![1, 2, 3, 4])
        .write(Vec::new(), Compression::default());
    encoder.write_all(original).expect("gzip test data");
    let compressed = encoder.finish().expect("gzip test data");
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip",
        &compressed,
        Http1Limits::default(),
    );

    assert_eq!(
        response.body.decoded, original,
        "body decoded past the optional fields"
    );
    assert!(response.body.complete_capture, "capture complete");
}

#[test]
fn gzip_corrupt_checksum_incomplete() {
    let mut compressed = gzip(b"some text that will be checked");
    let crc_index = compressed.len() - 8;
    compressed[crc_index] ^= 0xff;
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip",
        &compressed,
        Http1Limits::default(),
    );

    assert!(
        !response.body.complete_capture,
        "checksum mismatch marks the capture incomplete"
    );
}

#[test]
fn gzip_truncated_incomplete() {
    let compressed = gzip(b"a body that is cut before the end of its compressed stream");
    let cut = &compressed[..compressed.len() - 12];
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip",
        cut,
        Http1Limits::default(),
    );

    assert!(
        !response.body.complete_capture,
        "truncated stream is incomplete"
    );
}

#[test]
fn deflate_zlib_decoded() {
    let original = b"zlib-wrapped deflate, as RFC 9110 defines the deflate coding";
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: deflate",
        &zlib(original),
        Http1Limits::default(),
    );

    assert_eq!(response.body.decoded, original, "zlib body decoded");
    assert!(response.body.complete_capture, "capture complete");
}

#[test]
fn deflate_raw_decoded() {
    let original = b"raw deflate without the zlib wrapper, as some servers send it";
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: deflate",
        &raw_deflate(original),
        Http1Limits::default(),
    );

    assert_eq!(response.body.decoded, original, "raw deflate body decoded");
    assert!(response.body.complete_capture, "capture complete");
}

#[test]
fn identity_body_capped() {
    let limits = Http1Limits {
        max_body_capture: 10,
        ..Http1Limits::default()
    };
    let response = decoded_response("HTTP/1.1 200 OK", &[b'z'; 100], limits);

    assert_eq!(
        response.body.decoded,
        vec![b'z'; 10],
        "decoded cut at the cap"
    );
    assert_eq!(response.body.wire_len, 100, "wire length is the whole body");
    assert!(!response.body.complete_capture, "capture incomplete");
}

#[test]
fn unsupported_coding_not_captured() {
    let response = decoded_response(
        "HTTP/1.1 200 OK\r\nContent-Encoding: br",
        b"\x0b\x02\x80hello\x03",
        Http1Limits::default(),
    );

    assert!(
        response.body.decoded.is_empty(),
        "undecodable body not kept"
    );
    assert!(!response.body.complete_capture, "capture incomplete");
}

#[test]
fn chunked_gzip_request_decoded() {
    let original = br#"{"event":"signup","plan":"pro"}"#;
    let compressed = gzip(original);
    let (first, second) = compressed.split_at(compressed.len() / 2);
    let mut client =
        b"POST /events HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
            .to_vec();
    for chunk in [first, second] {
        client.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        client.extend_from_slice(chunk);
        client.extend_from_slice(b"\r\n");
    }
    client.extend_from_slice(b"0\r\n\r\n");
    let outcome = run(
        &client,
        &with_body("HTTP/1.1 202 Accepted", b""),
        Http1Limits::default(),
    );

    let request = &outcome.exchanges[0].request;
    assert_eq!(
        request.body.decoded, original,
        "chunked gzip request decoded"
    );
    assert_eq!(
        request.body.wire_len,
        compressed.len() as u64,
        "wire length after de-chunking"
    );
    assert_eq!(
        request.wire_size,
        client.len() as u64,
        "wire size includes chunk framing"
    );
}

// ---------------------------------------------------------------------------
// Other framing cases
// ---------------------------------------------------------------------------

#[test]
fn http10_response_until_close() {
    let outcome = run(
        b"GET /old HTTP/1.0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold style body",
        Http1Limits::default(),
    );

    assert_eq!(outcome.before_close, 0, "body runs until close");
    assert_eq!(
        outcome.exchanges[0].request.version_minor, 0,
        "request version"
    );
    assert_eq!(
        response_of(&outcome.exchanges[0]).version_minor,
        0,
        "response version"
    );
    assert_eq!(
        response_of(&outcome.exchanges[0]).body.decoded,
        b"old style body",
        "body read at close"
    );
}

#[test]
fn bare_line_feeds_accepted() {
    let outcome = run(
        b"GET /lf HTTP/1.1\nHost: x\n\n",
        b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
        Http1Limits::default(),
    );

    assert_eq!(outcome.counters.parse_errors, 0, "LF-only lines parsed");
    assert_eq!(
        response_of(&outcome.exchanges[0]).body.decoded,
        b"ok",
        "body read"
    );
}

#[test]
fn request_timestamps_from_pushes() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(Side::Client, b"\r\n", 5);
    connection.push(Side::Client, b"POST /a HTTP/1.1\r\nContent-", 10);
    connection.push(Side::Client, b"Length: 4\r\n\r\nab", 20);
    connection.push(Side::Client, b"cd", 30);
    connection.push(
        Side::Server,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        40,
    );
    let exchanges = connection.take_exchanges();

    assert_eq!(
        exchanges[0].request.first_byte_ns, 10,
        "first byte after the empty line"
    );
    assert_eq!(exchanges[0].request.last_byte_ns, 30, "last body byte");
    assert_eq!(
        response_of(&exchanges[0]).first_byte_ns,
        40,
        "response first byte"
    );
}

#[test]
fn buffered_bytes_counts_partial_head() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.push(Side::Client, b"GET /partial HTT", 1);
    connection.push(Side::Server, b"HTTP/1.", 1);

    assert_eq!(connection.buffered_bytes(), 23, "partial heads buffered");
}

#[test]
fn push_after_close_skipped() {
    let mut connection = Http1Connection::new(Http1Limits::default());
    connection.close(1);
    connection.push(Side::Client, b"GET / HTTP/1.1\r\n\r\n", 2);

    assert!(
        connection.take_exchanges().is_empty(),
        "no exchange after close"
    );
    assert_eq!(
        connection.counters().skipped_bytes,
        18,
        "bytes after close skipped"
    );
}

// ---------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------

#[test]
fn detect_classifies_starts() {
    let cases: &[(&[u8], Detection)] = &[
        (b"GET /x HTTP/1.1", Detection::Request),
        (b"PATCH /v1/users/7 HTTP/1.1", Detection::Request),
        (b"OPTIONS * HTTP/1.1", Detection::Request),
        (b"HTTP/1.1 200 OK", Detection::Response),
        (b"HTTP/1.0 404", Detection::Response),
        (b"", Detection::NeedMore),
        (b"GE", Detection::NeedMore),
        (b"GET", Detection::NeedMore),
        (b"HTTP/", Detection::NeedMore),
        (b"PRI * HTTP/2.0", Detection::NotHttp),
        (b"HTTP/2 200", Detection::NotHttp),
        (b"GETX /", Detection::NotHttp),
        (b"get / HTTP/1.1", Detection::NotHttp),
        (b"\x16\x03\x01\x02\x00", Detection::NotHttp),
    ];

    for (data, expected) in cases {
        assert_eq!(
            detect(data),
            *expected,
            "detect({:?})",
            String::from_utf8_lossy(data)
        );
    }
}

// ---------------------------------------------------------------------------
// Damaged input
// ---------------------------------------------------------------------------

/// Xorshift generator, so the damaged streams are the same on every run.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

#[test]
fn damaged_streams_stay_bounded() {
    let requests: [&[u8]; 4] = [
        b"GET /a?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n",
        b"HEAD /d HTTP/1.1\r\n\r\n",
    ];
    let gzip_response = with_body(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip",
        &gzip(&[b'a'; 100_000]),
    );
    let responses: [&[u8]; 5] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        &gzip_response,
        b"HTTP/1.0 200 OK\r\n\r\nuntil close",
    ];
    let limits = Http1Limits {
        max_head_bytes: 256,
        max_headers: 4,
        max_body_capture: 1000,
        max_pending_requests: 3,
    };
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);

    for round in 0..300 {
        // Concatenate a few messages per side, then flip, drop, insert or
        // cut bytes.
        let mut client: Vec<u8> = (0..random.below(5))
            .flat_map(|_| requests[random.below(requests.len())].to_vec())
            .collect();
        let mut server: Vec<u8> = (0..random.below(5))
            .flat_map(|_| responses[random.below(responses.len())].to_vec())
            .collect();
        for stream in [&mut client, &mut server] {
            for _ in 0..random.below(6) {
                if stream.is_empty() {
                    break;
                }
                let index = random.below(stream.len());
                match random.below(4) {
                    0 => stream[index] = random.next() as u8,
                    1 => {
                        stream.remove(index);
                    }
                    2 => stream.insert(index, random.next() as u8),
                    _ => stream.truncate(index),
                }
            }
        }

        let mut connection = Http1Connection::new(limits);
        let mut positions = [0usize; 2];
        let mut timestamp = 0;
        while positions[0] < client.len() || positions[1] < server.len() {
            timestamp += 1;
            let which = random.below(2);
            let (side, stream) = if which == 0 {
                (Side::Client, &client)
            } else {
                (Side::Server, &server)
            };
            if random.below(30) == 0 {
                connection.push_gap(side, random.below(100) as u64, timestamp);
            }
            let end = (positions[which] + 1 + random.below(64)).min(stream.len());
            connection.push(side, &stream[positions[which]..end], timestamp);
            positions[which] = end;

            assert!(
                connection.buffered_bytes() <= 2 * 8 * 1024,
                "buffer grew to {} bytes, round {round}",
                connection.buffered_bytes()
            );
            for exchange in connection.take_exchanges() {
                assert!(
                    exchange.request.body.decoded.len() <= limits.max_body_capture,
                    "request capture over the cap, round {round}"
                );
                let response_capture = exchange
                    .response
                    .map_or(0, |response| response.body.decoded.len());
                assert!(
                    response_capture <= limits.max_body_capture,
                    "response capture over the cap, round {round}"
                );
            }
        }
        connection.close(timestamp + 1);

        assert!(
            connection.counters().skipped_bytes <= (client.len() + server.len()) as u64,
            "more bytes skipped than pushed, round {round}"
        );
    }
}
