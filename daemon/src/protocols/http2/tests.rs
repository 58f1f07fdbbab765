//! Unit tests for the HTTP/2 parser, on conversations built here: frames
//! and HPACK blocks encoded by hand in the helpers below, and one recorded
//! from a real `h2` client and server talking over an in-memory pipe.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::super::http1::{Header, Response};
use super::frame::{flag, kind};
use super::hpack::{huffman_encode_for_test, HeaderField, HpackDecoder, HpackError};
use super::*;

// ---------------------------------------------------------------------------
// Frame and HPACK helpers
// ---------------------------------------------------------------------------

fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut bytes = length.to_be_bytes()[1..].to_vec();
    bytes.push(kind);
    bytes.push(flags);
    bytes.extend_from_slice(&stream_id.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

fn settings(parameters: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (identifier, value) in parameters {
        payload.extend_from_slice(&identifier.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(kind::SETTINGS, 0, 0, &payload)
}

fn settings_ack() -> Vec<u8> {
    frame(kind::SETTINGS, flag::ACK, 0, &[])
}

fn headers(stream_id: u32, block: &[u8], end_stream: bool) -> Vec<u8> {
    let mut flags = flag::END_HEADERS;
    if end_stream {
        flags |= flag::END_STREAM;
    }
    frame(kind::HEADERS, flags, stream_id, block)
}

fn data(stream_id: u32, payload: &[u8], end_stream: bool) -> Vec<u8> {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    frame(kind::DATA, flags, stream_id, payload)
}

fn rst_stream(stream_id: u32, error_code: u32) -> Vec<u8> {
    frame(kind::RST_STREAM, 0, stream_id, &error_code.to_be_bytes())
}

fn goaway(last_stream_id: u32, error_code: u32) -> Vec<u8> {
    let mut payload = last_stream_id.to_be_bytes().to_vec();
    payload.extend_from_slice(&error_code.to_be_bytes());
    frame(kind::GOAWAY, 0, 0, &payload)
}

fn ping() -> Vec<u8> {
    frame(kind::PING, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8])
}

fn window_update(stream_id: u32, increment: u32) -> Vec<u8> {
    frame(kind::WINDOW_UPDATE, 0, stream_id, &increment.to_be_bytes())
}

/// Appends an HPACK integer with a `prefix_bits` prefix (RFC 7541 section
/// 5.1), with `pattern` in the bits above the prefix.
fn put_integer(out: &mut Vec<u8>, pattern: u8, prefix_bits: u32, value: usize) {
    let max_prefix = (1usize << prefix_bits) - 1;
    if value < max_prefix {
        out.push(pattern | value as u8);
        return;
    }
    out.push(pattern | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

fn put_string(out: &mut Vec<u8>, text: &[u8]) {
    put_integer(out, 0x00, 7, text.len());
    out.extend_from_slice(text);
}

fn put_huffman_string(out: &mut Vec<u8>, text: &[u8]) {
    let encoded = huffman_encode_for_test(text);
    put_integer(out, 0x80, 7, encoded.len());
    out.extend_from_slice(&encoded);
}

// Static table indexes used below (RFC 7541 Appendix A).
const AUTHORITY: usize = 1;
const METHOD_GET: usize = 2;
const METHOD_POST: usize = 3;
const PATH: usize = 4;
const SCHEME_HTTPS: usize = 7;
const STATUS_200: usize = 8;
const STATUS: usize = 8;
const CONTENT_ENCODING: usize = 26;
const CONTENT_TYPE: usize = 31;

/// An HPACK header block built one representation at a time.
#[derive(Default)]
struct Block(Vec<u8>);

impl Block {
    fn new() -> Self {
        Self::default()
    }

    fn indexed(mut self, index: usize) -> Self {
        put_integer(&mut self.0, 0x80, 7, index);
        self
    }

    /// Literal with incremental indexing and a new name.
    fn insert(mut self, name: &str, value: &str) -> Self {
        self.0.push(0x40);
        put_string(&mut self.0, name.as_bytes());
        put_string(&mut self.0, value.as_bytes());
        self
    }

    /// Literal with incremental indexing and an indexed name.
    fn insert_with_name(mut self, name_index: usize, value: &str) -> Self {
        put_integer(&mut self.0, 0x40, 6, name_index);
        put_string(&mut self.0, value.as_bytes());
        self
    }

    /// Literal without indexing and a new name.
    fn literal(mut self, name: &str, value: &str) -> Self {
        self.0.push(0x00);
        put_string(&mut self.0, name.as_bytes());
        put_string(&mut self.0, value.as_bytes());
        self
    }

    /// Literal without indexing and an indexed name.
    fn literal_with_name(mut self, name_index: usize, value: &str) -> Self {
        put_integer(&mut self.0, 0x00, 4, name_index);
        put_string(&mut self.0, value.as_bytes());
        self
    }

    /// Never-indexed literal with Huffman-coded name and value.
    fn huffman_literal(mut self, name: &str, value: &str) -> Self {
        self.0.push(0x10);
        put_huffman_string(&mut self.0, name.as_bytes());
        put_huffman_string(&mut self.0, value.as_bytes());
        self
    }

    fn size_update(mut self, size: usize) -> Self {
        put_integer(&mut self.0, 0x20, 5, size);
        self
    }

    fn request(self, method_index: usize, path: &str, authority: &str) -> Self {
        self.indexed(method_index)
            .indexed(SCHEME_HTTPS)
            .literal_with_name(PATH, path)
            .literal_with_name(AUTHORITY, authority)
    }

    fn bytes(self) -> Vec<u8> {
        self.0
    }
}

fn grpc_message(payload: &[u8], compressed: bool) -> Vec<u8> {
    let mut message = vec![u8::from(compressed)];
    message.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    message.extend_from_slice(payload);
    message
}

fn gzip(payload: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(payload).expect("gzip test data");
    encoder.finish().expect("gzip test data")
}

fn client_start() -> Vec<u8> {
    let mut bytes = PREFACE.to_vec();
    bytes.extend(settings(&[(0x3, 100), (0x4, 65_535)]));
    bytes
}

fn server_start() -> Vec<u8> {
    let mut bytes = settings(&[(0x3, 250)]);
    bytes.extend(settings_ack());
    bytes
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

// ---------------------------------------------------------------------------
// Running the parser
// ---------------------------------------------------------------------------

struct Outcome {
    exchanges: Vec<StreamExchange>,
    counters: Http2Counters,
}

/// Pushes `pushes` in order, push `i` stamped `i + 1`, then closes.
fn run_with(limits: Http2Limits, preface_expected: bool, pushes: &[(Side, &[u8])]) -> Outcome {
    let mut connection = Http2Connection::new(limits, preface_expected);
    for (index, (side, bytes)) in pushes.iter().enumerate() {
        connection.push(*side, bytes, index as u64 + 1);
    }
    connection.close(1_000);

    Outcome {
        exchanges: connection.take_exchanges(),
        counters: connection.counters(),
    }
}

fn run(pushes: &[(Side, &[u8])]) -> Outcome {
    run_with(Http2Limits::default(), true, pushes)
}

/// Runs the client stream then the server stream, each cut at `cuts`,
/// every push stamped 7, so that results do not depend on the cuts.
fn run_cut(client: &[u8], client_cuts: &[usize], server: &[u8], server_cuts: &[usize]) -> Outcome {
    let mut connection = Http2Connection::new(Http2Limits::default(), true);
    for (side, bytes, cuts) in [
        (Side::Client, client, client_cuts),
        (Side::Server, server, server_cuts),
    ] {
        let mut start = 0;
        for &cut in cuts.iter().chain([bytes.len()].iter()) {
            connection.push(side, &bytes[start..cut], 7);
            start = cut;
        }
    }
    connection.close(7);

    Outcome {
        exchanges: connection.take_exchanges(),
        counters: connection.counters(),
    }
}

fn stream(outcome: &Outcome, stream_id: u32) -> &StreamExchange {
    outcome
        .exchanges
        .iter()
        .find(|exchange| exchange.stream_id == stream_id)
        .unwrap_or_else(|| panic!("no exchange for stream {stream_id}"))
}

fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|header| header.name == name)
        .map(|header| header.value.as_slice())
}

fn response(exchange: &StreamExchange) -> &Response {
    exchange
        .exchange
        .response
        .as_ref()
        .expect("exchange has a response")
}

fn grpc(exchange: &StreamExchange) -> &GrpcCall {
    exchange.grpc.as_ref().expect("exchange is a gRPC call")
}

fn field(name: &str, value: &str) -> HeaderField {
    HeaderField {
        name: name.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

// ---------------------------------------------------------------------------
// A conversation used by several tests: a POST with a body and trailers,
// and a GET that reuses a dynamic table entry.
// ---------------------------------------------------------------------------

fn sample_client() -> Vec<u8> {
    let post = Block::new()
        .request(METHOD_POST, "/upload?id=7", "api.example.com")
        .insert_with_name(CONTENT_TYPE, "application/json")
        .insert("x-request-id", "r-1")
        .bytes();
    let get = Block::new()
        .request(METHOD_GET, "/status", "api.example.com")
        .indexed(62)
        .bytes();

    concat(&[
        client_start(),
        window_update(0, 1 << 20),
        headers(1, &post, false),
        data(1, b"{\"a\":", false),
        data(1, b"1}", false),
        headers(
            1,
            &Block::new().literal("x-client-trailer", "t").bytes(),
            true,
        ),
        headers(3, &get, true),
    ])
}

fn sample_server() -> Vec<u8> {
    let ok = Block::new()
        .indexed(STATUS_200)
        .insert_with_name(CONTENT_TYPE, "text/plain")
        .bytes();
    let not_found = Block::new().literal_with_name(STATUS, "404").bytes();

    concat(&[
        server_start(),
        headers(1, &ok, false),
        data(1, b"hello ", false),
        ping(),
        data(1, b"world", false),
        headers(1, &Block::new().insert("x-trailer", "done").bytes(), true),
        headers(3, &not_found, true),
    ])
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn preface_detection() {
    assert_eq!(
        detect_preface(PREFACE),
        PrefaceDetection::Preface,
        "whole preface"
    );
    assert_eq!(
        detect_preface(&sample_client()),
        PrefaceDetection::Preface,
        "preface and frames"
    );
    assert_eq!(
        detect_preface(&PREFACE[..10]),
        PrefaceDetection::NeedMore,
        "prefix"
    );
    assert_eq!(detect_preface(b""), PrefaceDetection::NeedMore, "empty");
    assert_eq!(
        detect_preface(b"GET / HTTP/1.1\r\n"),
        PrefaceDetection::NotPreface,
        "HTTP/1"
    );
    assert_eq!(
        detect_preface(b"PRI * HTTP/1.1"),
        PrefaceDetection::NotPreface,
        "near miss"
    );
}

#[test]
fn sample_conversation_parsed() {
    let client = sample_client();
    let server = sample_server();
    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);

    assert_eq!(outcome.exchanges.len(), 2, "two streams");
    let post = stream(&outcome, 1);
    let request = &post.exchange.request;
    assert_eq!(request.method, "POST", "method");
    assert_eq!(request.target, "/upload?id=7", "target");
    assert_eq!(request.version_minor, 0, "HTTP/2.0");
    assert_eq!(request.headers[0].name, "host", "host first");
    assert_eq!(
        header(&request.headers, "host"),
        Some(&b"api.example.com"[..]),
        "host"
    );
    assert_eq!(
        header(&request.headers, "x-request-id"),
        Some(&b"r-1"[..]),
        "inserted field"
    );
    assert_eq!(header(&request.headers, ":path"), None, "no pseudo-headers");
    assert_eq!(request.body.decoded, b"{\"a\":1}", "request body");
    assert!(request.body.complete_capture, "request body complete");
    assert_eq!(request.body.wire_len, 7, "request body length");
    assert_eq!(
        header(&request.trailers, "x-client-trailer"),
        Some(&b"t"[..]),
        "request trailer"
    );
    assert!(!post.partial, "POST not partial");
    assert_eq!(post.reset, None, "POST not reset");
    assert!(post.grpc.is_none(), "not gRPC");

    let ok = response(post);
    assert_eq!(ok.status, 200, "status");
    assert_eq!(
        header(&ok.headers, "content-type"),
        Some(&b"text/plain"[..]),
        "content type"
    );
    assert_eq!(ok.body.decoded, b"hello world", "response body");
    assert_eq!(
        header(&ok.trailers, "x-trailer"),
        Some(&b"done"[..]),
        "response trailer"
    );

    let get = stream(&outcome, 3);
    assert_eq!(get.exchange.request.method, "GET", "second method");
    assert_eq!(
        header(&get.exchange.request.headers, "x-request-id"),
        Some(&b"r-1"[..]),
        "dynamic table reference"
    );
    assert_eq!(response(get).status, 404, "literal status");
    assert!(!get.partial, "GET not partial");

    let counters = outcome.counters;
    assert_eq!(counters.frames, 15, "frames");
    assert_eq!(counters.frame_errors, 0, "frame errors");
    assert_eq!(counters.hpack_errors, 0, "HPACK errors");
    assert_eq!(counters.skipped_bytes, 0, "skipped bytes");
    assert_eq!(counters.partial_streams, 0, "partial streams");
}

#[test]
fn splits_give_same_result() {
    let client = sample_client();
    let server = sample_server();
    let expected = run_cut(&client, &[], &server, &[]);
    assert_eq!(expected.exchanges.len(), 2, "baseline exchanges");

    for cut in 0..=client.len() {
        let outcome = run_cut(&client, &[cut], &server, &[]);
        assert_eq!(outcome.exchanges, expected.exchanges, "client cut at {cut}");
        assert_eq!(
            outcome.counters, expected.counters,
            "client cut at {cut} counters"
        );
    }
    for cut in 0..=server.len() {
        let outcome = run_cut(&client, &[], &server, &[cut]);
        assert_eq!(outcome.exchanges, expected.exchanges, "server cut at {cut}");
        assert_eq!(
            outcome.counters, expected.counters,
            "server cut at {cut} counters"
        );
    }

    let every_client_byte: Vec<usize> = (1..client.len()).collect();
    let every_server_byte: Vec<usize> = (1..server.len()).collect();
    let outcome = run_cut(&client, &every_client_byte, &server, &every_server_byte);
    assert_eq!(outcome.exchanges, expected.exchanges, "byte by byte");
    assert_eq!(outcome.counters, expected.counters, "byte by byte counters");
}

#[test]
fn byte_interleaving_same_result() {
    let client = sample_client();
    let server = sample_server();
    let expected = run_cut(&client, &[], &server, &[]);

    let mut connection = Http2Connection::new(Http2Limits::default(), true);
    for index in 0..client.len().max(server.len()) {
        if let Some(byte) = client.get(index) {
            connection.push(Side::Client, &[*byte], 7);
        }
        if let Some(byte) = server.get(index) {
            connection.push(Side::Server, &[*byte], 7);
        }
    }
    connection.close(7);
    let mut exchanges = connection.take_exchanges();
    exchanges.sort_by_key(|exchange| exchange.stream_id);
    let mut expected_exchanges = expected.exchanges;
    expected_exchanges.sort_by_key(|exchange| exchange.stream_id);

    assert_eq!(exchanges, expected_exchanges, "alternating single bytes");
}

#[test]
fn stream_timing_from_pushes() {
    let block = Block::new().request(METHOD_POST, "/t", "h").bytes();
    let request_head = concat(&[client_start(), headers(1, &block, false)]);
    let request_end = data(1, b"x", true);
    let response_all = concat(&[
        server_start(),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), false),
        data(1, b"y", true),
    ]);

    let outcome = run(&[
        (Side::Client, &request_head),
        (Side::Client, &request_end),
        (Side::Server, &response_all),
    ]);
    let exchange = &stream(&outcome, 1).exchange;

    assert_eq!(exchange.request.first_byte_ns, 1, "request first byte");
    assert_eq!(exchange.request.last_byte_ns, 2, "request last byte");
    assert_eq!(
        response(stream(&outcome, 1)).first_byte_ns,
        3,
        "response first byte"
    );
    assert_eq!(
        response(stream(&outcome, 1)).last_byte_ns,
        3,
        "response last byte"
    );
    assert_eq!(
        exchange.request.wire_size,
        9 + block.len() as u64 + 10,
        "request wire size"
    );
}

#[test]
fn continuation_sequences() {
    let block = Block::new()
        .request(METHOD_GET, "/continued", "c.example")
        .literal("x-long", &"v".repeat(40))
        .bytes();
    let (first, rest) = block.split_at(5);
    let (second, third) = rest.split_at(20);
    let client = concat(&[
        client_start(),
        frame(kind::HEADERS, flag::END_STREAM, 1, first),
        frame(kind::CONTINUATION, 0, 1, second),
        frame(kind::CONTINUATION, flag::END_HEADERS, 1, third),
    ]);
    let server = concat(&[
        server_start(),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);
    let exchange = stream(&outcome, 1);

    assert_eq!(exchange.exchange.request.target, "/continued", "target");
    assert_eq!(
        header(&exchange.exchange.request.headers, "x-long"),
        Some("v".repeat(40).as_bytes()),
        "field across frames"
    );
    assert!(!exchange.partial, "not partial");
    assert_eq!(outcome.counters.frame_errors, 0, "frame errors");
}

#[test]
fn continuation_interrupted() {
    let block = Block::new()
        .request(METHOD_GET, "/cut", "c.example")
        .bytes();
    let client = concat(&[
        client_start(),
        frame(kind::HEADERS, 0, 1, &block[..4]),
        data(1, b"", true),
    ]);

    let outcome = run(&[(Side::Client, &client)]);

    assert_eq!(outcome.counters.frame_errors, 1, "interruption counted");
    assert_eq!(outcome.exchanges.len(), 1, "stream still emitted");
    assert!(outcome.exchanges[0].partial, "stream partial");
}

#[test]
fn continuation_without_headers() {
    let client = concat(&[
        client_start(),
        frame(kind::CONTINUATION, flag::END_HEADERS, 1, &[0x82]),
    ]);

    let outcome = run(&[(Side::Client, &client)]);

    assert_eq!(
        outcome.counters.frame_errors, 1,
        "orphan CONTINUATION counted"
    );
    assert!(outcome.exchanges.is_empty(), "no stream");
}

#[test]
fn padded_data_and_headers() {
    let block = Block::new()
        .request(METHOD_POST, "/padded", "p.example")
        .bytes();
    let mut headers_payload = vec![7u8];
    headers_payload.extend_from_slice(&[0, 0, 0, 0, 15]);
    headers_payload.extend_from_slice(&block);
    headers_payload.extend_from_slice(&[0; 7]);
    let mut data_payload = vec![4u8];
    data_payload.extend_from_slice(b"body");
    data_payload.extend_from_slice(&[0; 4]);

    let client = concat(&[
        client_start(),
        frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::PADDED | flag::PRIORITY,
            1,
            &headers_payload,
        ),
        frame(
            kind::DATA,
            flag::END_STREAM | flag::PADDED,
            1,
            &data_payload,
        ),
    ]);
    let server = concat(&[
        server_start(),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);
    let exchange = stream(&outcome, 1);

    assert_eq!(
        exchange.exchange.request.target, "/padded",
        "headers without padding"
    );
    assert_eq!(
        exchange.exchange.request.body.decoded, b"body",
        "data without padding"
    );
    assert_eq!(
        exchange.exchange.request.body.wire_len, 4,
        "padding not counted as body"
    );
    assert!(!exchange.partial, "not partial");
    assert_eq!(outcome.counters.frame_errors, 0, "frame errors");
}

#[test]
fn invalid_padding_counted() {
    let block = Block::new()
        .request(METHOD_POST, "/bad-pad", "p.example")
        .bytes();
    let client = concat(&[
        client_start(),
        headers(1, &block, false),
        frame(kind::DATA, flag::PADDED, 1, &[9, b'a', b'b']),
        data(1, b"", true),
    ]);
    let server = concat(&[
        server_start(),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);
    let exchange = stream(&outcome, 1);

    assert_eq!(outcome.counters.frame_errors, 1, "invalid padding counted");
    assert!(exchange.exchange.request.gap, "request marked with a gap");
    assert!(exchange.partial, "stream partial");
    assert_eq!(response(exchange).status, 200, "later frames still parsed");
}

#[test]
fn dynamic_table_evictions() {
    // The sequence of RFC 7541 Appendix C.5, with the table resized to 256
    // bytes by a size update.
    let mut decoder = HpackDecoder::new(64 * 1024, true);
    let first = Block::new()
        .size_update(256)
        .insert_with_name(STATUS, "302")
        .insert_with_name(24, "private")
        .insert_with_name(33, "Mon, 21 Oct 2013 20:13:21 GMT")
        .insert_with_name(46, "https://www.example.com")
        .bytes();
    let decoded = decoder.decode(&first, 64 * 1024);
    assert_eq!(decoded.error, None, "first block");
    assert_eq!(decoded.fields.len(), 4, "first block fields");

    // Inserting `:status: 307` (42 bytes) into the full table evicts
    // `:status: 302`.
    let second = Block::new()
        .insert_with_name(STATUS, "307")
        .indexed(65)
        .indexed(64)
        .indexed(63)
        .bytes();
    let decoded = decoder.decode(&second, 64 * 1024);
    assert_eq!(decoded.error, None, "second block");
    assert_eq!(
        decoded.fields[1],
        field("cache-control", "private"),
        "index 65"
    );
    assert_eq!(
        decoded.fields[2],
        field("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        "index 64"
    );
    assert_eq!(
        decoded.fields[3],
        field("location", "https://www.example.com"),
        "index 63"
    );

    let evicted = Block::new().indexed(66).bytes();
    let decoded = decoder.decode(&evicted, 64 * 1024);
    assert_eq!(
        decoded.error,
        Some(HpackError::InvalidIndex(66)),
        "evicted entry"
    );
    assert!(decoded.fields.is_empty(), "no field for an evicted entry");
}

#[test]
fn size_update_shrinks_table() {
    let mut decoder = HpackDecoder::new(64 * 1024, true);
    let fill = Block::new()
        .insert("a", "1")
        .insert("b", "2")
        .insert("c", "3")
        .bytes();
    assert_eq!(decoder.decode(&fill, 1 << 16).error, None, "fill");

    // 68 bytes keep two 34-byte entries: `c` and `b`.
    let shrink = Block::new().size_update(68).indexed(62).indexed(63).bytes();
    let decoded = decoder.decode(&shrink, 1 << 16);
    assert_eq!(decoded.error, None, "shrink");
    assert_eq!(
        decoded.fields,
        vec![field("c", "3"), field("b", "2")],
        "kept entries"
    );

    let gone = decoder.decode(&Block::new().indexed(64).bytes(), 1 << 16);
    assert_eq!(
        gone.error,
        Some(HpackError::InvalidIndex(64)),
        "evicted by shrink"
    );

    let late = Block::new().literal("z", "1").size_update(100).bytes();
    let decoded = decoder.decode(&late, 1 << 16);
    assert_eq!(
        decoded.error,
        Some(HpackError::SizeUpdateNotAtStart),
        "late update"
    );

    let too_large = Block::new().size_update(8192).bytes();
    let decoded = decoder.decode(&too_large, 1 << 16);
    assert_eq!(
        decoded.error,
        Some(HpackError::SizeUpdateTooLarge {
            size: 8192,
            allowed: 4096
        }),
        "update above SETTINGS"
    );
}

#[test]
fn huffman_rfc_examples() {
    // Three Huffman-coded requests that share one dynamic table, the
    // request examples of RFC 7541 Appendix C.4.
    let mut decoder = HpackDecoder::new(64 * 1024, true);
    let first = [
        0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90,
        0xf4, 0xff,
    ];
    let second = [
        0x82, 0x86, 0x84, 0xbe, 0x58, 0x86, 0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf,
    ];
    let third = [
        0x82, 0x87, 0x85, 0xbf, 0x40, 0x88, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f, 0x89,
        0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf,
    ];

    let decoded = decoder.decode(&first, 1 << 16);
    assert_eq!(decoded.error, None, "first request");
    assert_eq!(
        decoded.fields[3],
        field(":authority", "www.example.com"),
        "authority"
    );

    let decoded = decoder.decode(&second, 1 << 16);
    assert_eq!(decoded.error, None, "second request");
    assert_eq!(
        decoded.fields[3],
        field(":authority", "www.example.com"),
        "indexed authority"
    );
    assert_eq!(
        decoded.fields[4],
        field("cache-control", "no-cache"),
        "cache-control"
    );

    let decoded = decoder.decode(&third, 1 << 16);
    assert_eq!(decoded.error, None, "third request");
    assert_eq!(decoded.fields[2], field(":path", "/index.html"), "path");
    assert_eq!(
        decoded.fields[4],
        field("custom-key", "custom-value"),
        "custom field"
    );
}

#[test]
fn huffman_padding_rejected() {
    let mut decoder = HpackDecoder::new(64 * 1024, true);
    // "a" is 00011; padding with zeros instead of ones is invalid.
    let zero_padded = [0x10, 0x81, 0x18, 0x81, 0x18];
    let decoded = decoder.decode(&zero_padded, 1 << 16);

    assert_eq!(
        decoded.error,
        Some(HpackError::InvalidHuffman),
        "zero padding"
    );

    let valid = Block::new()
        .huffman_literal("x-token", "Bearer abc/123+==")
        .bytes();
    let decoded = decoder.decode(&valid, 1 << 16);
    assert_eq!(decoded.error, None, "valid Huffman literal");
    assert_eq!(
        decoded.fields,
        vec![field("x-token", "Bearer abc/123+==")],
        "round trip"
    );
}

#[test]
fn header_list_limit_drops_fields() {
    let mut decoder = HpackDecoder::new(64 * 1024, true);
    let block = Block::new()
        .insert("x-first", "1")
        .insert("x-second", &"2".repeat(100))
        .indexed(63)
        .bytes();

    let decoded = decoder.decode(&block, 80);

    assert_eq!(
        decoded.fields,
        vec![field("x-first", "1")],
        "fields under the limit"
    );
    assert_eq!(
        decoded.error,
        Some(HpackError::ListTooLarge { limit: 80 }),
        "limit error"
    );
    let later = decoder.decode(&Block::new().indexed(62).bytes(), 1 << 16);
    assert_eq!(
        later.fields,
        vec![field("x-second", &"2".repeat(100))],
        "table still updated"
    );
}

#[test]
fn unknown_tail_clears_after_evictions() {
    let mut decoder = HpackDecoder::new(64 * 1024, false);
    assert!(
        decoder.has_unknown_entries(),
        "attached table starts unknown"
    );

    let unknown = decoder.decode(&Block::new().indexed(62).bytes(), 1 << 16);
    assert_eq!(
        unknown.error,
        Some(HpackError::UnknownEntry(62)),
        "unseen entry"
    );

    // Five 1001-byte entries overflow the 4096-byte table, so the oldest
    // one seen is evicted, and every older unseen entry before it.
    let value = "v".repeat(968);
    for round in 0..5 {
        let block = Block::new().insert("x", &value).bytes();
        assert_eq!(
            decoder.decode(&block, 1 << 16).error,
            None,
            "insert {round}"
        );
    }
    assert!(!decoder.has_unknown_entries(), "table exact again");

    let oldest = decoder.decode(&Block::new().indexed(65).bytes(), 1 << 16);
    assert_eq!(oldest.error, None, "oldest surviving entry");
    let beyond = decoder.decode(&Block::new().indexed(66).bytes(), 1 << 16);
    assert_eq!(
        beyond.error,
        Some(HpackError::InvalidIndex(66)),
        "beyond the table"
    );
}

#[test]
fn attach_with_missing_entry() {
    let first = Block::new()
        .request(METHOD_GET, "/a", "m.example")
        .insert("x-session", "s-1")
        .bytes();
    let second = Block::new()
        .request(METHOD_GET, "/b", "m.example")
        .indexed(62)
        .insert("x-trace", "t-3")
        .bytes();
    // The encoder's table is now [x-trace, x-session].
    let third = Block::new()
        .request(METHOD_GET, "/c", "m.example")
        .indexed(62)
        .bytes();

    let first_frame = headers(1, &first, true);
    let client = concat(&[
        first_frame.clone(),
        headers(3, &second, true),
        headers(5, &third, true),
    ]);
    // Attach 4 bytes before the end of the first HEADERS frame.
    let attach_at = first_frame.len() - 4;
    let ok = Block::new().indexed(STATUS_200).bytes();
    let server = concat(&[headers(3, &ok, true), headers(5, &ok, true)]);

    let outcome = run_with(
        Http2Limits::default(),
        false,
        &[
            (Side::Client, &client[attach_at..]),
            (Side::Server, &server),
        ],
    );

    let referencing = stream(&outcome, 3);
    assert!(referencing.partial, "referencing stream partial");
    assert_eq!(
        referencing.exchange.request.target, "/b",
        "static fields kept"
    );
    assert_eq!(
        header(&referencing.exchange.request.headers, "x-trace"),
        Some(&b"t-3"[..]),
        "literal field kept"
    );
    assert_eq!(
        header(&referencing.exchange.request.headers, "x-session"),
        None,
        "unknown entry left out"
    );
    assert_eq!(response(referencing).status, 200, "response kept");

    let recovered = stream(&outcome, 5);
    assert!(!recovered.partial, "later stream exact");
    assert_eq!(
        header(&recovered.exchange.request.headers, "x-trace"),
        Some(&b"t-3"[..]),
        "entry inserted after attach"
    );
    assert_eq!(outcome.exchanges.len(), 2, "only the attached streams");
    assert_eq!(outcome.counters.hpack_errors, 1, "one HPACK error");
    assert_eq!(
        outcome.counters.skipped_bytes, 4,
        "tail of the cut frame skipped"
    );
    assert_eq!(outcome.counters.resyncs, 0, "attaching is no resync");
}

#[test]
fn interleaved_streams() {
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_POST, "/one", "i").bytes(),
            false,
        ),
        headers(
            3,
            &Block::new().request(METHOD_POST, "/three", "i").bytes(),
            false,
        ),
        headers(
            5,
            &Block::new().request(METHOD_POST, "/five", "i").bytes(),
            false,
        ),
        data(3, b"3a", false),
        data(1, b"1a", false),
        data(5, b"5a", false),
        data(1, b"1b", true),
        data(5, b"5b", true),
        data(3, b"3b", true),
    ]);
    let status = Block::new().indexed(STATUS_200).bytes();
    let server = concat(&[
        server_start(),
        headers(5, &status, false),
        headers(1, &status, false),
        data(5, b"r5", false),
        headers(3, &status, false),
        data(1, b"r1", true),
        data(3, b"r3", true),
        data(5, b"!", true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);

    assert_eq!(outcome.exchanges.len(), 3, "three streams");
    for (stream_id, target, request_body, response_body) in [
        (1, "/one", "1a1b", "r1"),
        (3, "/three", "3a3b", "r3"),
        (5, "/five", "5a5b", "r5!"),
    ] {
        let exchange = stream(&outcome, stream_id);
        assert_eq!(
            exchange.exchange.request.target, target,
            "stream {stream_id} target"
        );
        assert_eq!(
            exchange.exchange.request.body.decoded,
            request_body.as_bytes(),
            "stream {stream_id} request body"
        );
        assert_eq!(
            response(exchange).body.decoded,
            response_body.as_bytes(),
            "stream {stream_id} response body"
        );
        assert!(!exchange.partial, "stream {stream_id} not partial");
    }
    let order: Vec<u32> = outcome.exchanges.iter().map(|e| e.stream_id).collect();
    assert_eq!(order, vec![1, 3, 5], "completion order");
}

#[test]
fn rst_stream_completes_stream() {
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_POST, "/upload", "r").bytes(),
            false,
        ),
        data(1, b"partial upload", false),
    ]);
    let server = concat(&[server_start(), rst_stream(1, 0x8)]);

    let mut connection = Http2Connection::new(Http2Limits::default(), true);
    connection.push(Side::Client, &client, 1);
    connection.push(Side::Server, &server, 2);
    let exchanges = connection.take_exchanges();

    assert_eq!(exchanges.len(), 1, "emitted before close");
    assert_eq!(exchanges[0].reset, Some(0x8), "CANCEL code");
    assert!(!exchanges[0].partial, "reset is not partial");
    assert!(exchanges[0].exchange.response.is_none(), "no response");
    assert_eq!(
        exchanges[0].exchange.request.body.decoded, b"partial upload",
        "body kept"
    );
    assert_eq!(connection.counters().reset_streams, 1, "reset counted");

    let late = data(1, b"more", false);
    connection.push(Side::Client, &late, 3);
    assert_eq!(
        connection.counters().untracked_stream_frames,
        0,
        "late DATA ignored quietly"
    );
}

#[test]
fn goaway_refuses_later_streams() {
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/1", "g").bytes(),
            true,
        ),
        headers(
            3,
            &Block::new().request(METHOD_GET, "/3", "g").bytes(),
            true,
        ),
        headers(
            5,
            &Block::new().request(METHOD_GET, "/5", "g").bytes(),
            true,
        ),
    ]);
    let server = concat(&[
        server_start(),
        goaway(1, 0),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);

    assert_eq!(outcome.counters.goaways, 1, "GOAWAY counted");
    assert_eq!(stream(&outcome, 3).reset, Some(0x7), "stream 3 refused");
    assert_eq!(stream(&outcome, 5).reset, Some(0x7), "stream 5 refused");
    assert_eq!(stream(&outcome, 1).reset, None, "stream 1 processed");
    assert_eq!(
        response(stream(&outcome, 1)).status,
        200,
        "stream 1 answered"
    );
    assert_eq!(outcome.counters.reset_streams, 2, "resets counted");
}

/// Builds the request block of a gRPC call to `/helloworld.Greeter/<method>`.
fn grpc_request_block(method: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Block::new()
        .request(
            METHOD_POST,
            &format!("/helloworld.Greeter/{method}"),
            "greeter.local",
        )
        .literal_with_name(CONTENT_TYPE, "application/grpc")
        .literal("te", "trailers");
    for (name, value) in extra {
        block = block.literal(name, value);
    }
    block.bytes()
}

fn grpc_response_block(extra: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Block::new()
        .indexed(STATUS_200)
        .literal_with_name(CONTENT_TYPE, "application/grpc+proto");
    for (name, value) in extra {
        block = block.literal(name, value);
    }
    block.bytes()
}

#[test]
fn grpc_unary_call() {
    let client = concat(&[
        client_start(),
        headers(1, &grpc_request_block("SayHello", &[]), false),
        data(1, &grpc_message(b"\x0a\x05world", false), true),
    ]);
    let trailers = Block::new()
        .literal("grpc-status", "0")
        .literal("grpc-message", "all%20good")
        .bytes();
    let server = concat(&[
        server_start(),
        headers(1, &grpc_response_block(&[]), false),
        data(1, &grpc_message(b"\x0a\x0bHello world", false), false),
        headers(1, &trailers, true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);
    let exchange = stream(&outcome, 1);
    let call = grpc(exchange);

    assert_eq!(call.service, "helloworld.Greeter", "service");
    assert_eq!(call.method, "SayHello", "method");
    assert_eq!(call.status, Some(0), "status");
    assert_eq!(
        call.message.as_deref(),
        Some("all good"),
        "percent-decoded message"
    );
    assert_eq!(call.request_messages, 1, "request messages");
    assert_eq!(call.response_messages, 1, "response messages");
    assert!(!call.compressed, "not compressed");
    assert_eq!(
        call.request_payloads,
        vec![b"\x0a\x05world".to_vec()],
        "request payload"
    );
    assert_eq!(
        call.response_payloads,
        vec![b"\x0a\x0bHello world".to_vec()],
        "response payload"
    );
    assert!(!exchange.partial, "not partial");
}

#[test]
fn grpc_server_streaming() {
    let messages: Vec<Vec<u8>> = (0..4)
        .map(|index| grpc_message(format!("item-{index}").as_bytes(), false))
        .collect();
    let mut body = messages.concat();
    // One frame boundary falls inside a message prefix, and one frame
    // carries several messages.
    let third = body.split_off(messages[0].len() + 3);
    let second = body.split_off(messages[0].len());
    let trailers = Block::new().literal("grpc-status", "0").bytes();

    let client = concat(&[
        client_start(),
        headers(1, &grpc_request_block("ListItems", &[]), false),
        data(1, &grpc_message(b"query", false), true),
    ]);
    let server = concat(&[
        server_start(),
        headers(1, &grpc_response_block(&[]), false),
        data(1, &body, false),
        data(1, &second, false),
        data(1, &third, false),
        headers(1, &trailers, true),
    ]);

    let limits = Http2Limits {
        max_grpc_messages_kept: 2,
        ..Http2Limits::default()
    };
    let outcome = run_with(
        limits,
        true,
        &[(Side::Client, &client), (Side::Server, &server)],
    );
    let call = grpc(stream(&outcome, 1));

    assert_eq!(call.method, "ListItems", "method");
    assert_eq!(call.request_messages, 1, "one request message");
    assert_eq!(call.response_messages, 4, "four response messages");
    assert_eq!(
        call.response_payloads.len(),
        2,
        "payloads kept up to the limit"
    );
    assert_eq!(call.response_payloads[1], b"item-1", "second payload");
    assert_eq!(call.status, Some(0), "status from trailers");
}

#[test]
fn grpc_gzip_message() {
    let payload = b"a compressible payload, a compressible payload".to_vec();
    let client = concat(&[
        client_start(),
        headers(
            1,
            &grpc_request_block("Upload", &[("grpc-encoding", "gzip")]),
            false,
        ),
        data(1, &grpc_message(&gzip(&payload), true), true),
    ]);
    let server = concat(&[
        server_start(),
        headers(1, &grpc_response_block(&[("grpc-encoding", "gzip")]), false),
        data(1, &grpc_message(&gzip(b"ok"), true), false),
        headers(1, &Block::new().literal("grpc-status", "0").bytes(), true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);
    let call = grpc(stream(&outcome, 1));

    assert!(call.compressed, "compressed flag seen");
    assert_eq!(call.request_payloads, vec![payload], "request decompressed");
    assert_eq!(
        call.response_payloads,
        vec![b"ok".to_vec()],
        "response decompressed"
    );
}

#[test]
fn grpc_trailers_only_response() {
    let client = concat(&[
        client_start(),
        headers(1, &grpc_request_block("Missing", &[]), false),
        data(1, &grpc_message(b"", false), true),
    ]);
    let block = grpc_response_block(&[("grpc-status", "12"), ("grpc-message", "unknown method")]);
    let server = concat(&[server_start(), headers(1, &block, true)]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);
    let call = grpc(stream(&outcome, 1));

    assert_eq!(call.status, Some(12), "status from headers");
    assert_eq!(
        call.message.as_deref(),
        Some("unknown method"),
        "message from headers"
    );
    assert_eq!(call.request_messages, 1, "empty message counted");
    assert_eq!(call.response_messages, 0, "no response messages");
}

#[test]
fn gzip_content_encoding_decoded() {
    let body = b"{\"items\":[1,2,3],\"more\":false}".repeat(20);
    let compressed = gzip(&body);
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/items", "z").bytes(),
            true,
        ),
    ]);
    let block = Block::new()
        .indexed(STATUS_200)
        .literal_with_name(CONTENT_ENCODING, "gzip")
        .bytes();
    let (first, second) = compressed.split_at(compressed.len() / 2);
    let server = concat(&[
        server_start(),
        headers(1, &block, false),
        data(1, first, false),
        data(1, second, true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);
    let ok = response(stream(&outcome, 1));

    assert_eq!(ok.body.decoded, body, "decoded body");
    assert!(ok.body.complete_capture, "complete");
    assert_eq!(ok.body.wire_len, compressed.len() as u64, "wire length");
}

#[test]
fn body_capture_capped() {
    let limits = Http2Limits {
        max_body_capture: 10,
        ..Http2Limits::default()
    };
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_POST, "/big", "b").bytes(),
            false,
        ),
        data(1, &[b'x'; 25], true),
    ]);
    let server = concat(&[
        server_start(),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), true),
    ]);

    let outcome = run_with(
        limits,
        true,
        &[(Side::Client, &client), (Side::Server, &server)],
    );
    let body = &stream(&outcome, 1).exchange.request.body;

    assert_eq!(body.decoded.len(), 10, "capped");
    assert_eq!(body.wire_len, 25, "wire length");
    assert!(!body.complete_capture, "marked incomplete");
}

#[test]
fn informational_and_push_promise() {
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/page", "p").bytes(),
            true,
        ),
    ]);
    let mut promise = 2u32.to_be_bytes().to_vec();
    promise.extend(Block::new().request(METHOD_GET, "/style.css", "p").bytes());
    let server = concat(&[
        server_start(),
        headers(
            1,
            &Block::new().literal_with_name(STATUS, "103").bytes(),
            false,
        ),
        frame(kind::PUSH_PROMISE, flag::END_HEADERS, 1, &promise),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), false),
        headers(2, &Block::new().indexed(STATUS_200).bytes(), false),
        data(2, b"body{}", true),
        data(1, b"<html>", true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);

    let page = response(stream(&outcome, 1));
    assert_eq!(page.informational, vec![103], "early hints");
    assert_eq!(page.status, 200, "final status");
    let pushed = stream(&outcome, 2);
    assert_eq!(
        pushed.exchange.request.target, "/style.css",
        "promised request"
    );
    assert_eq!(response(pushed).body.decoded, b"body{}", "pushed body");
    assert!(!pushed.partial, "pushed stream complete");
}

#[test]
fn gap_in_data_keeps_sync() {
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/g", "g").bytes(),
            true,
        ),
        headers(
            3,
            &Block::new().request(METHOD_GET, "/h", "g").bytes(),
            true,
        ),
    ]);
    let body_frame = data(1, b"0123456789abcdefghij", true);
    let server_head = concat(&[
        server_start(),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), false),
    ]);
    let server_tail = headers(3, &Block::new().indexed(STATUS_200).bytes(), true);

    let mut connection = Http2Connection::new(Http2Limits::default(), true);
    connection.push(Side::Client, &client, 1);
    connection.push(Side::Server, &server_head, 2);
    connection.push(Side::Server, &body_frame[..14], 3);
    connection.push_gap(Side::Server, 5, 4);
    connection.push(Side::Server, &body_frame[19..], 5);
    connection.push(Side::Server, &server_tail, 6);
    connection.close(7);
    let exchanges = connection.take_exchanges();
    let counters = connection.counters();

    let gapped = exchanges
        .iter()
        .find(|e| e.stream_id == 1)
        .expect("stream 1");
    let gapped_response = response(gapped);
    assert!(gapped_response.gap, "response has a gap");
    assert!(gapped.partial, "stream partial");
    assert_eq!(
        gapped_response.body.decoded, b"01234",
        "bytes before the gap"
    );
    assert_eq!(
        gapped_response.body.wire_len, 20,
        "wire length counts the gap"
    );
    assert!(!gapped_response.body.complete_capture, "capture incomplete");
    let next = exchanges
        .iter()
        .find(|e| e.stream_id == 3)
        .expect("stream 3");
    assert!(!next.partial, "next stream exact");
    assert_eq!(counters.resyncs, 0, "no resync");
}

#[test]
fn garbage_and_gap_recovery() {
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/one", "r").bytes(),
            true,
        ),
        headers(
            3,
            &Block::new().request(METHOD_GET, "/two", "r").bytes(),
            true,
        ),
        headers(
            5,
            &Block::new().request(METHOD_GET, "/three", "r").bytes(),
            true,
        ),
    ]);
    let status = Block::new().indexed(STATUS_200).bytes();
    let before_gap = concat(&[
        server_start(),
        headers(1, &status, false),
        data(1, b"first", true),
        headers(3, &status, false)[..5].to_vec(),
    ]);
    let garbage = [0xffu8; 13];
    let after_gap = concat(&[headers(5, &status, false), data(5, b"third", true)]);

    let mut connection = Http2Connection::new(Http2Limits::default(), true);
    connection.push(Side::Client, &client, 1);
    connection.push(Side::Server, &before_gap, 2);
    connection.push_gap(Side::Server, 20, 3);
    connection.push(Side::Server, &garbage, 4);
    connection.push(Side::Server, &after_gap, 5);
    let before_close = connection.take_exchanges();
    connection.close(6);
    let at_close = connection.take_exchanges();
    let counters = connection.counters();

    let ids: Vec<u32> = before_close.iter().map(|e| e.stream_id).collect();
    assert_eq!(ids, vec![1, 5], "streams around the gap complete");
    assert_eq!(
        response(&before_close[1]).body.decoded,
        b"third",
        "body after recovery"
    );
    assert!(!before_close[1].partial, "stream after the gap exact");
    assert_eq!(at_close.len(), 1, "lost stream emitted at close");
    assert!(at_close[0].partial, "lost stream partial");
    assert!(at_close[0].exchange.response.is_none(), "lost response");
    assert_eq!(counters.resyncs, 1, "one resync");
    assert_eq!(
        counters.skipped_bytes,
        5 + 13,
        "partial header and garbage skipped"
    );
}

#[test]
fn invalid_header_triggers_resync() {
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/x", "r").bytes(),
            true,
        ),
        headers(
            3,
            &Block::new().request(METHOD_GET, "/y", "r").bytes(),
            true,
        ),
    ]);
    let status = Block::new().indexed(STATUS_200).bytes();
    // A PING with a 3-byte payload cannot be a real frame header.
    let bad_ping = frame(kind::PING, 0, 0, &[0, 0, 0]);
    let server = concat(&[
        server_start(),
        headers(1, &status, true),
        bad_ping,
        headers(3, &status, false),
        data(3, b"ok", true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);

    assert_eq!(outcome.counters.frame_errors, 1, "bad header counted");
    assert_eq!(outcome.counters.resyncs, 1, "resync counted");
    assert_eq!(outcome.counters.skipped_bytes, 12, "bad frame skipped");
    assert_eq!(
        response(stream(&outcome, 3)).body.decoded,
        b"ok",
        "recovered"
    );
    assert!(!stream(&outcome, 3).partial, "recovered stream exact");
}

#[test]
fn missing_preface_resyncs() {
    let mut client = b"garbage!".to_vec();
    client.extend(settings(&[]));
    client.extend(headers(
        1,
        &Block::new().request(METHOD_GET, "/p", "p").bytes(),
        true,
    ));
    let server = concat(&[
        server_start(),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);

    assert_eq!(outcome.counters.resyncs, 1, "resync counted");
    assert_eq!(outcome.counters.skipped_bytes, 8, "garbage skipped");
    assert_eq!(
        stream(&outcome, 1).exchange.request.target,
        "/p",
        "request found"
    );
}

#[test]
fn unknown_frame_type_skipped() {
    let client = concat(&[
        client_start(),
        frame(0xfa, 0xff, 0, b"extension payload"),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/u", "u").bytes(),
            true,
        ),
    ]);
    let server = concat(&[
        server_start(),
        headers(1, &Block::new().indexed(STATUS_200).bytes(), true),
    ]);

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);

    assert_eq!(outcome.counters.frame_errors, 0, "no error");
    assert_eq!(outcome.counters.resyncs, 0, "no resync");
    assert!(!stream(&outcome, 1).partial, "stream exact");
}

#[test]
fn max_frame_size_from_settings() {
    let large = vec![b'd'; 20_000];
    let status = Block::new().indexed(STATUS_200).bytes();
    let client_allowing = concat(&[
        PREFACE.to_vec(),
        settings(&[(0x5, 32_768)]),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/l", "l").bytes(),
            true,
        ),
    ]);
    let server = concat(&[
        server_start(),
        headers(1, &status, false),
        data(1, &large, true),
    ]);

    let allowed = run(&[(Side::Client, &client_allowing), (Side::Server, &server)]);
    assert_eq!(
        allowed.counters.frame_errors, 0,
        "frame within advertised size"
    );
    assert_eq!(
        response(stream(&allowed, 1)).body.wire_len,
        20_000,
        "large body"
    );

    let client_default = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/l", "l").bytes(),
            true,
        ),
    ]);
    let refused = run(&[(Side::Client, &client_default), (Side::Server, &server)]);
    assert_eq!(
        refused.counters.frame_errors, 1,
        "frame over the default size"
    );
    assert!(stream(&refused, 1).partial, "stream partial");
}

#[test]
fn oversized_header_block_dropped() {
    let limits = Http2Limits {
        max_header_list_bytes: 200,
        ..Http2Limits::default()
    };
    let large = Block::new()
        .request(METHOD_GET, "/large", "o")
        .insert("x-big", &"b".repeat(300))
        .bytes();
    let client = concat(&[
        client_start(),
        headers(1, &large, true),
        headers(
            3,
            &Block::new().request(METHOD_GET, "/small", "o").bytes(),
            true,
        ),
    ]);
    let status = Block::new().indexed(STATUS_200).bytes();
    let server = concat(&[
        server_start(),
        headers(1, &status, true),
        headers(3, &status, true),
    ]);

    let outcome = run_with(
        limits,
        true,
        &[(Side::Client, &client), (Side::Server, &server)],
    );

    let dropped = stream(&outcome, 1);
    assert!(dropped.partial, "oversized stream partial");
    assert_eq!(dropped.exchange.request.method, "", "fields dropped");
    assert!(!stream(&outcome, 3).partial, "next stream exact");
    assert_eq!(
        stream(&outcome, 3).exchange.request.target,
        "/small",
        "next target"
    );
}

#[test]
fn max_streams_eviction() {
    let limits = Http2Limits {
        max_streams: 2,
        ..Http2Limits::default()
    };
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/1", "e").bytes(),
            true,
        ),
        headers(
            3,
            &Block::new().request(METHOD_GET, "/3", "e").bytes(),
            true,
        ),
        headers(
            5,
            &Block::new().request(METHOD_GET, "/5", "e").bytes(),
            true,
        ),
    ]);
    let server = concat(&[
        server_start(),
        headers(3, &Block::new().indexed(STATUS_200).bytes(), true),
        data(1, b"late", true),
    ]);

    let mut connection = Http2Connection::new(limits, true);
    connection.push(Side::Client, &client, 1);
    let evicted = connection.take_exchanges();
    connection.push(Side::Server, &server, 2);
    let answered = connection.take_exchanges();
    let counters = connection.counters();

    assert_eq!(evicted.len(), 1, "one stream evicted");
    assert_eq!(evicted[0].stream_id, 1, "oldest evicted");
    assert!(evicted[0].partial, "evicted stream partial");
    assert_eq!(counters.evicted_streams, 1, "eviction counted");
    assert_eq!(answered.len(), 1, "stream 3 answered");
    assert_eq!(answered[0].stream_id, 3, "stream 3");
    assert_eq!(
        counters.untracked_stream_frames, 0,
        "DATA for the evicted stream ignored"
    );
}

#[test]
fn closed_connection_skips_bytes() {
    let client = concat(&[
        client_start(),
        headers(
            1,
            &Block::new().request(METHOD_GET, "/c", "c").bytes(),
            true,
        ),
    ]);
    let mut connection = Http2Connection::new(Http2Limits::default(), true);
    connection.push(Side::Client, &client, 1);
    connection.close(2);
    let at_close = connection.take_exchanges();
    connection.push(Side::Server, b"after close", 3);

    assert_eq!(at_close.len(), 1, "open stream emitted");
    assert!(at_close[0].partial, "unanswered stream partial");
    assert_eq!(
        connection.counters().skipped_bytes,
        11,
        "bytes after close skipped"
    );
    assert!(
        connection.take_exchanges().is_empty(),
        "nothing after close"
    );
}

/// A xorshift generator, so that the garbage tests are repeatable.
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
fn mutated_input_bounded() {
    let client = sample_client();
    let server = sample_server();
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);

    for round in 0..300 {
        let mut sides = [client.clone(), server.clone()];
        for bytes in &mut sides {
            for _ in 0..random.below(6) {
                let index = random.below(bytes.len());
                bytes[index] = random.next() as u8;
            }
        }

        let mut connection = Http2Connection::new(Http2Limits::default(), round % 2 == 0);
        for (side, bytes) in [Side::Client, Side::Server].into_iter().zip(&sides) {
            let mut start = 0;
            while start < bytes.len() {
                let end = (start + 1 + random.below(40)).min(bytes.len());
                connection.push(side, &bytes[start..end], round);
                if random.below(10) == 0 {
                    connection.push_gap(side, random.below(30) as u64, round);
                }
                start = end;
            }
        }
        assert!(
            connection.buffered_bytes() <= 3 * 64 * 1024,
            "round {round} buffer bound"
        );
        connection.close(round);
        let exchanges = connection.take_exchanges();
        assert!(exchanges.len() <= 20, "round {round} exchange count");
    }
}

// ---------------------------------------------------------------------------
// A conversation recorded from the h2 crate's client and server
// ---------------------------------------------------------------------------

mod recorded {
    use std::io;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

    /// A pipe end that records every byte written through it.
    struct Recorder {
        inner: DuplexStream,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncRead for Recorder {
        fn poll_read(
            self: Pin<&mut Self>,
            context: &mut Context<'_>,
            buffer: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_read(context, buffer)
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            context: &mut Context<'_>,
            buffer: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let result = Pin::new(&mut this.inner).poll_write(context, buffer);
            if let Poll::Ready(Ok(written_len)) = result {
                if let Ok(mut written) = this.written.lock() {
                    written.extend_from_slice(&buffer[..written_len]);
                }
            }
            result
        }

        fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_flush(context)
        }

        fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
        }
    }

    async fn serve(io: Recorder) {
        let mut connection = h2::server::handshake(io).await.expect("server handshake");
        while let Some(accepted) = connection.accept().await {
            let (request, mut respond) = accepted.expect("accepted request");
            let mut body = request.into_body();
            let mut received = 0;
            while let Some(chunk) = body.data().await {
                let chunk = chunk.expect("request body chunk");
                received += chunk.len();
                let _ = body.flow_control().release_capacity(chunk.len());
            }

            let response = http::Response::builder()
                .status(200)
                .header("content-type", "text/plain")
                .header("server", "h2-test-server")
                .body(())
                .expect("response head");
            let mut send = respond
                .send_response(response, false)
                .expect("send response");
            send.send_data(Bytes::from(format!("received {received}")), false)
                .expect("send response body");
            let mut trailers = http::HeaderMap::new();
            trailers.insert("x-checksum", http::HeaderValue::from_static("abc123"));
            send.send_trailers(trailers).expect("send trailers");
        }
    }

    /// Runs three POST requests from an h2 client to an h2 server and
    /// returns the bytes each side wrote.
    pub(super) fn record_conversation() -> (Vec<u8>, Vec<u8>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test runtime");
        let client_written = Arc::new(Mutex::new(Vec::new()));
        let server_written = Arc::new(Mutex::new(Vec::new()));
        let (client_end, server_end) = tokio::io::duplex(1 << 20);
        let client_io = Recorder {
            inner: client_end,
            written: Arc::clone(&client_written),
        };
        let server_io = Recorder {
            inner: server_end,
            written: Arc::clone(&server_written),
        };

        runtime.block_on(async move {
            let server = tokio::spawn(serve(server_io));
            let (send_request, connection) = h2::client::handshake(client_io)
                .await
                .expect("client handshake");
            let driver = tokio::spawn(connection);

            for index in 0..3 {
                let request = http::Request::builder()
                    .method("POST")
                    .uri(format!("https://api.example.com/v1/items/{index}"))
                    .header("x-api-key", "k-123456")
                    .header("user-agent", "h2-test-client")
                    .body(())
                    .expect("request head");
                let mut ready = send_request.clone().ready().await.expect("client ready");
                let (response, mut stream) =
                    ready.send_request(request, false).expect("send request");
                stream
                    .send_data(Bytes::from_static(b"{\"name\":\"widget\"}"), true)
                    .expect("send request body");

                let mut body = response.await.expect("response").into_body();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.expect("response body chunk");
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                body.trailers().await.expect("response trailers");
            }

            drop(send_request);
            let limit = std::time::Duration::from_secs(10);
            let _ = tokio::time::timeout(limit, driver).await;
            let _ = tokio::time::timeout(limit, server).await;
        });

        let client = client_written.lock().expect("client bytes").clone();
        let server = server_written.lock().expect("server bytes").clone();
        (client, server)
    }
}

#[test]
fn h2_crate_conversation() {
    let (client, server) = recorded::record_conversation();
    assert_eq!(
        detect_preface(&client),
        PrefaceDetection::Preface,
        "h2 client preface"
    );

    let outcome = run(&[(Side::Client, &client), (Side::Server, &server)]);

    assert_eq!(outcome.exchanges.len(), 3, "three streams");
    for (index, exchange) in outcome.exchanges.iter().enumerate() {
        let request = &exchange.exchange.request;
        assert_eq!(
            exchange.stream_id,
            2 * index as u32 + 1,
            "stream {index} id"
        );
        assert_eq!(request.method, "POST", "stream {index} method");
        assert_eq!(
            request.target,
            format!("/v1/items/{index}"),
            "stream {index} target"
        );
        assert_eq!(
            header(&request.headers, "host"),
            Some(&b"api.example.com"[..]),
            "stream {index} host"
        );
        assert_eq!(
            header(&request.headers, "x-api-key"),
            Some(&b"k-123456"[..]),
            "stream {index} key"
        );
        assert_eq!(
            request.body.decoded, b"{\"name\":\"widget\"}",
            "stream {index} request body"
        );

        let answer = response(exchange);
        assert_eq!(answer.status, 200, "stream {index} status");
        assert_eq!(
            header(&answer.headers, "server"),
            Some(&b"h2-test-server"[..]),
            "stream {index} server"
        );
        assert_eq!(
            answer.body.decoded, b"received 17",
            "stream {index} response body"
        );
        assert_eq!(
            header(&answer.trailers, "x-checksum"),
            Some(&b"abc123"[..]),
            "stream {index} trailers"
        );
        assert!(!exchange.partial, "stream {index} not partial");
    }
    assert_eq!(outcome.counters.frame_errors, 0, "frame errors");
    assert_eq!(outcome.counters.hpack_errors, 0, "HPACK errors");
    assert_eq!(outcome.counters.skipped_bytes, 0, "skipped bytes");
}

#[test]
fn h2_crate_conversation_attached_late() {
    let (client, server) = recorded::record_conversation();
    // Attaching inside the client's SETTINGS frame and the server's loses
    // the settings but no header block, so every stream decodes.
    let outcome = run_with(
        Http2Limits::default(),
        false,
        &[(Side::Client, &client[30..]), (Side::Server, &server[3..])],
    );

    assert_eq!(outcome.exchanges.len(), 3, "three streams");
    for exchange in &outcome.exchanges {
        let stream_id = exchange.stream_id;
        assert_eq!(
            exchange.exchange.request.method, "POST",
            "stream {stream_id} method"
        );
        assert_eq!(
            response(exchange).body.decoded,
            b"received 17",
            "stream {stream_id} response body"
        );
        assert!(!exchange.partial, "stream {stream_id} not partial");
    }
}

/// Returns the offset of the first HEADERS frame on `stream_id` in a client
/// stream that starts with the preface.
fn headers_offset(client: &[u8], stream_id: u32) -> usize {
    let mut offset = PREFACE.len();
    while let Some(header) = super::frame::FrameHeader::parse(&client[offset..]) {
        if header.kind == kind::HEADERS && header.stream_id == stream_id {
            return offset;
        }
        offset += 9 + header.length as usize;
    }
    panic!("no HEADERS frame on stream {stream_id}");
}

#[test]
fn h2_crate_attach_misses_entries() {
    let (client, server) = recorded::record_conversation();
    // The first request's header block inserted `x-api-key` and
    // `user-agent` into h2's dynamic table, and later requests index them.
    let attach_at = headers_offset(&client, 3);

    let outcome = run_with(
        Http2Limits::default(),
        false,
        &[
            (Side::Client, &client[attach_at..]),
            (Side::Server, &server),
        ],
    );

    assert_eq!(outcome.exchanges.len(), 3, "three streams");
    let unseen = stream(&outcome, 1);
    assert!(unseen.partial, "stream 1 request never seen");
    assert_eq!(
        unseen.exchange.request.method, "",
        "stream 1 method unknown"
    );
    assert_eq!(response(unseen).status, 200, "stream 1 response kept");
    for stream_id in [3, 5] {
        let exchange = stream(&outcome, stream_id);
        let request = &exchange.exchange.request;
        assert!(exchange.partial, "stream {stream_id} partial");
        assert_eq!(request.method, "POST", "stream {stream_id} static method");
        assert_eq!(
            header(&request.headers, "x-api-key"),
            None,
            "stream {stream_id} unseen entry left out"
        );
        assert_eq!(
            request.body.decoded, b"{\"name\":\"widget\"}",
            "stream {stream_id} body"
        );
    }
    assert!(outcome.counters.hpack_errors >= 2, "HPACK errors counted");
    assert_eq!(outcome.counters.frame_errors, 0, "frame errors");
}
