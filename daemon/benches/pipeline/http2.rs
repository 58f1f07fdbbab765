//! HTTP/2 bytes for the pipeline benchmark: frames (RFC 9113 section 4.1)
//! with header blocks in HPACK literals without indexing and without
//! Huffman coding (RFC 7541 section 6.2.2). Every stream decodes on its own,
//! as from a client that never uses the dynamic table.

/// The client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// Static table indexes (RFC 7541 appendix A).
const AUTHORITY: usize = 1;
const METHOD_GET: usize = 2;
const METHOD_POST: usize = 3;
const PATH: usize = 4;
const SCHEME_HTTPS: usize = 7;
const STATUS_200: usize = 8;
const AUTHORIZATION: usize = 23;
const CONTENT_LENGTH: usize = 28;
const CONTENT_TYPE: usize = 31;
const USER_AGENT: usize = 58;

/// Encodes one frame: the 9-byte header, then `payload`.
pub fn frame(frame_type: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut bytes = Vec::with_capacity(9 + payload.len());
    bytes.extend_from_slice(&length.to_be_bytes()[1..]);
    bytes.push(frame_type);
    bytes.push(flags);
    bytes.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// Encodes an HPACK integer with a `prefix_bits`-bit prefix whose high
/// bits are `pattern` (RFC 7541 section 5.1).
fn integer(block: &mut Vec<u8>, pattern: u8, prefix_bits: u32, value: usize) {
    let max_prefix = (1usize << prefix_bits) - 1;
    if value < max_prefix {
        block.push(pattern | value as u8);
        return;
    }
    block.push(pattern | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 128 {
        block.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    block.push(rest as u8);
}

fn indexed(block: &mut Vec<u8>, index: usize) {
    integer(block, 0x80, 7, index);
}

/// Encodes a literal field without indexing whose name is static entry
/// `name`.
fn literal(block: &mut Vec<u8>, name: usize, value: &str) {
    integer(block, 0x00, 4, name);
    integer(block, 0x00, 7, value.len());
    block.extend_from_slice(value.as_bytes());
}

/// Builds the client's and the server's bytes of one stream from the
/// HTTP/1.1 corpus messages with the same index.
pub fn exchange(stream_id: u32, index: u64) -> (Vec<u8>, Vec<u8>) {
    let (request, response) = super::corpus::http1_messages(index);
    let (request_head, request_body) = split_message(&request);
    let (_, response_body) = split_message(&response);

    let request_line = request_head.lines().next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("GET");
    let path = parts.next().unwrap_or("/");

    let mut block = Vec::new();
    indexed(
        &mut block,
        if method == "POST" {
            METHOD_POST
        } else {
            METHOD_GET
        },
    );
    indexed(&mut block, SCHEME_HTTPS);
    literal(&mut block, AUTHORITY, "shop.internal");
    literal(&mut block, PATH, path);
    literal(&mut block, USER_AGENT, "bench/1.0");
    literal(
        &mut block,
        AUTHORIZATION,
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    );
    let mut client = Vec::new();
    if request_body.is_empty() {
        client.extend(frame(HEADERS, END_HEADERS | END_STREAM, stream_id, &block));
    } else {
        literal(&mut block, CONTENT_TYPE, "application/json");
        client.extend(frame(HEADERS, END_HEADERS, stream_id, &block));
        client.extend(frame(DATA, END_STREAM, stream_id, request_body));
    }

    let mut block = Vec::new();
    indexed(&mut block, STATUS_200);
    literal(&mut block, CONTENT_TYPE, "application/json");
    literal(&mut block, CONTENT_LENGTH, &response_body.len().to_string());
    let mut server = frame(HEADERS, END_HEADERS, stream_id, &block);
    server.extend(frame(DATA, END_STREAM, stream_id, response_body));
    (client, server)
}

/// Splits an HTTP/1.1 message at the empty line into its head, as text,
/// and its body.
fn split_message(message: &[u8]) -> (&str, &[u8]) {
    let end = message
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map_or(message.len(), |start| start + 4);
    let head = std::str::from_utf8(&message[..end]).unwrap_or_default();
    (head, &message[end..])
}
