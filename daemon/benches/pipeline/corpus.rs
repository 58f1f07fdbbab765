//! Ring-buffer records as the eBPF sensor writes them, for driving the
//! pipeline without the kernel: TLS plaintext chunks of HTTP/1.1 and HTTP/2
//! sessions, and TCP segments of cleartext HTTP/1.1 connections.
//!
//! Every connection opens, carries its transactions and closes inside one
//! batch, and each batch uses its own ports, so every batch the pipeline
//! handles starts new connections. The messages are small
//! REST calls with JSON bodies, high-cardinality path segments for the
//! templating stage, and the personal data and credentials that the
//! classifier looks for.

use std::net::Ipv4Addr;

use common::{
    event::MAX_CHUNK_DATA, ChunkHeader, Direction, EventKind, FlowKey, SegmentHeader, SessionEnd,
    SessionSocket, TcpStateChange,
};

/// The client and server addresses of every generated connection.
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const SERVER_PORT: u16 = 8443;
const AF_INET: u16 = 2;
const COMM: [u8; 16] = *b"bench-client\0\0\0\0";

/// One batch of records and the transactions they carry.
pub struct Batch {
    pub records: Vec<Vec<u8>>,
    pub transactions: u64,
}

/// Copies a `repr(C)` record of `common` into bytes.
fn bytes_of<T: Copy>(record: &T) -> Vec<u8> {
    // SAFETY: common's records are repr(C) structs of integers with explicit
    // padding fields, so every byte is initialised.
    unsafe {
        std::slice::from_raw_parts((record as *const T).cast::<u8>(), std::mem::size_of::<T>())
    }
    .to_vec()
}

fn octets(ip: Ipv4Addr) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&ip.octets());
    bytes
}

/// Builds the `index`-th request and response of the HTTP/1.1 corpus.
pub fn http1_messages(index: u64) -> (Vec<u8>, Vec<u8>) {
    let user = 1000 + index * 7919 % 100_000;
    let (method, path, body) = match index % 4 {
        0 => ("GET", format!("/api/v1/users/{user}"), String::new()),
        1 => (
            "GET",
            format!("/api/v1/orders/{:08x}-4b1c-9d2e-{:012x}/items", index, user),
            String::new(),
        ),
        2 => (
            "POST",
            "/api/v1/orders".to_owned(),
            format!("{{\"customer\":{user},\"items\":[{{\"sku\":\"A-{index}\",\"qty\":2}}],\"note\":\"leave at door\"}}"),
        ),
        _ => ("GET", format!("/api/v1/products?page={}&limit=20", index % 50), String::new()),
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: shop.internal\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{user}In0.c2lnbmF0dXJl\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let response_body = format!(
        "{{\"id\":{user},\"name\":\"Ada Lovelace\",\"email\":\"ada{user}@example.com\",\"phone\":\"+44 20 7946 0{:03}\",\"address\":{{\"street\":\"12 Analytical Row\",\"city\":\"London\"}},\"orders\":[{},{}],\"created\":\"2024-05-01T10:00:00Z\"}}",
        user % 1000,
        index,
        index + 1
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n{response_body}",
        response_body.len()
    );
    (request.into_bytes(), response.into_bytes())
}

/// Generates batches of records; each batch uses new client ports.
pub struct Corpus {
    /// Connections per batch.
    pub connections: u16,
    /// Transactions per connection.
    pub per_connection: u64,
    next_port: u16,
    /// Session ids (`SSL *` values) are unique across batches.
    next_session: u64,
    next_message: u64,
    pid: u32,
}

impl Corpus {
    pub fn new(connections: u16, per_connection: u64) -> Self {
        Self {
            connections,
            per_connection,
            next_port: 20_000,
            next_session: 0x5000_0000,
            next_message: 0,
            pid: std::process::id(),
        }
    }

    fn client_port(&mut self) -> u16 {
        let port = self.next_port;
        // Ports cycle through 20000..60000; by the time one repeats, the
        // pipeline has long forgotten the connection that used it.
        self.next_port = if port >= 60_000 { 20_000 } else { port + 1 };
        port
    }

    fn session(&mut self) -> u64 {
        self.next_session += 0x100;
        self.next_session
    }

    fn chunk(&self, ssl: u64, direction: Direction, data: &[u8]) -> Vec<Vec<u8>> {
        data.chunks(MAX_CHUNK_DATA)
            .enumerate()
            .map(|(index, part)| {
                let header = ChunkHeader {
                    kind: EventKind::TlsChunk as u32,
                    pid: self.pid,
                    tid: self.pid,
                    direction: direction as u32,
                    timestamp_ns: 1_000_000_000 + self.next_message * 1000,
                    ssl,
                    fd: 7,
                    data_len: part.len() as u32,
                    call_offset: (index * MAX_CHUNK_DATA) as u32,
                    call_len: data.len() as u32,
                    truncated_len: 0,
                    comm: COMM,
                    reserved: 0,
                };
                let mut record = bytes_of(&header);
                record.extend_from_slice(part);
                record
            })
            .collect()
    }

    fn tls_open(&mut self, records: &mut Vec<Vec<u8>>) -> u64 {
        let ssl = self.session();
        let socket = SessionSocket {
            kind: EventKind::TlsSessionSocket as u32,
            pid: self.pid,
            timestamp_ns: 1_000_000_000,
            ssl,
            fd: 7,
            family: AF_INET,
            local_port: self.client_port(),
            remote_port: SERVER_PORT,
            reserved: 0,
            local_addr: octets(CLIENT_IP),
            remote_addr: octets(SERVER_IP),
            reserved2: 0,
        };
        records.push(bytes_of(&socket));
        ssl
    }

    fn tls_close(&self, ssl: u64, records: &mut Vec<Vec<u8>>) {
        let end = SessionEnd {
            kind: EventKind::TlsSessionEnd as u32,
            pid: self.pid,
            timestamp_ns: 2_000_000_000,
            ssl,
        };
        records.push(bytes_of(&end));
    }

    /// HTTP/1.1 over TLS, seen from the client process: each request is one
    /// `SSL_write`, each response one `SSL_read`.
    pub fn http1_tls(&mut self) -> Batch {
        let mut records = Vec::new();
        for _ in 0..self.connections {
            let ssl = self.tls_open(&mut records);
            for _ in 0..self.per_connection {
                let (request, response) = http1_messages(self.next_message);
                self.next_message += 1;
                records.extend(self.chunk(ssl, Direction::Egress, &request));
                records.extend(self.chunk(ssl, Direction::Ingress, &response));
            }
            self.tls_close(ssl, &mut records);
        }
        Batch {
            records,
            transactions: u64::from(self.connections) * self.per_connection,
        }
    }

    /// HTTP/2 over TLS from the client process: the preface and SETTINGS,
    /// then one stream per transaction on odd stream ids.
    pub fn http2_tls(&mut self) -> Batch {
        let mut records = Vec::new();
        for _ in 0..self.connections {
            let ssl = self.tls_open(&mut records);
            let mut opening = super::http2::PREFACE.to_vec();
            opening.extend(super::http2::frame(4, 0, 0, &[]));
            records.extend(self.chunk(ssl, Direction::Egress, &opening));
            records.extend(self.chunk(ssl, Direction::Ingress, &super::http2::frame(4, 0, 0, &[])));
            for stream in 0..self.per_connection {
                let stream_id = (stream * 2 + 1) as u32;
                let (request, response) = super::http2::exchange(stream_id, self.next_message);
                self.next_message += 1;
                records.extend(self.chunk(ssl, Direction::Egress, &request));
                records.extend(self.chunk(ssl, Direction::Ingress, &response));
            }
            self.tls_close(ssl, &mut records);
        }
        Batch {
            records,
            transactions: u64::from(self.connections) * self.per_connection,
        }
    }

    /// Cleartext HTTP/1.1 as the socket hooks see it: the connection opens,
    /// each request leaves the client's socket and each response the
    /// server's as one segment, and the connection closes.
    pub fn http1_tcp(&mut self) -> Batch {
        let mut records = Vec::new();
        for _ in 0..self.connections {
            let client = (CLIENT_IP, self.client_port());
            let server = (SERVER_IP, SERVER_PORT);
            let (flow, client_is_a) = FlowKey::new(
                AF_INET,
                &octets(client.0),
                client.1,
                &octets(server.0),
                server.1,
            );
            records.push(bytes_of(&self.state(flow, client_is_a, 1)));
            let mut client_seq: u32 = 1_000;
            let mut server_seq: u32 = 50_000;
            for _ in 0..self.per_connection {
                let (request, response) = http1_messages(self.next_message);
                self.next_message += 1;
                records.extend(self.segments(flow, client_is_a, client_seq, &request));
                records.extend(self.segments(flow, !client_is_a, server_seq, &response));
                client_seq = client_seq.wrapping_add(request.len() as u32);
                server_seq = server_seq.wrapping_add(response.len() as u32);
            }
            records.push(bytes_of(&self.state(flow, client_is_a, 7)));
        }
        Batch {
            records,
            transactions: u64::from(self.connections) * self.per_connection,
        }
    }

    fn state(&self, flow: FlowKey, local_is_a: bool, new_state: u32) -> TcpStateChange {
        TcpStateChange {
            kind: EventKind::TcpState as u32,
            new_state,
            timestamp_ns: 1_000_000_000 + self.next_message * 1000,
            flow,
            local_is_a: local_is_a as u32,
            reserved: 0,
            bytes_received: 0,
            bytes_acked: 0,
        }
    }

    /// Builds the records of one packet's payload at its sender's egress
    /// hook, split into
    /// records of at most [`MAX_CHUNK_DATA`] bytes as the sensor splits it.
    fn segments(&self, flow: FlowKey, a_to_b: bool, seq: u32, payload: &[u8]) -> Vec<Vec<u8>> {
        payload
            .chunks(MAX_CHUNK_DATA)
            .enumerate()
            .map(|(index, part)| {
                let offset = (index * MAX_CHUNK_DATA) as u32;
                let header = SegmentHeader {
                    kind: EventKind::TcpSegment as u32,
                    hook: 0,
                    timestamp_ns: 1_000_000_000 + self.next_message * 1000,
                    flow,
                    a_to_b: a_to_b as u32,
                    seq: seq.wrapping_add(offset),
                    wire_len: payload.len() as u32,
                    data_len: part.len() as u32,
                    packet_offset: offset,
                    tcp_flags: 0x18,
                    cgroup_id: 1,
                    socket_cookie: 1,
                    pid: self.pid,
                    captured_len: payload.len() as u32,
                    comm: COMM,
                };
                let mut record = bytes_of(&header);
                record.extend_from_slice(part);
                record
            })
            .collect()
    }
}
