//! Connection tracking: each TLS session's two byte streams, which end of
//! the connection the observed process is, and the parser fed with them.
//!
//! TLS plaintext arrives already in order, because one process makes the
//! calls on one session and the ring buffer keeps their order, so no
//! sequence-number reassembly is needed here. The table is bounded: when it
//! is full, the least recently active connection is closed and counted.

use std::{net::SocketAddr, num::NonZeroUsize};

use common::Direction;
use lru::LruCache;

use crate::capture::records::Flow;
use crate::protocols::http1::{
    self, Detection, Exchange, Http1Connection, Http1Counters, Http1Limits, Side,
};
use crate::protocols::http2::{
    GrpcCall, Http2Connection, Http2Counters, Http2Limits, PrefaceDetection, PREFACE,
};
use crate::transaction::assemble::Clock;

/// A connection as the capture sources name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionKey {
    /// A TLS session: one `SSL` object in one process.
    Tls { pid: u32, ssl: u64 },
    /// A cleartext TCP connection captured at the socket hooks.
    Tcp(Flow),
}

/// Which end of the TCP connection the observed process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// One end of a connection as the capture sources saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointInfo {
    pub address: Option<SocketAddr>,
    /// Process on this node that owns the socket, when known.
    pub pid: Option<u32>,
    pub process: Option<String>,
    /// cgroup v2 id of the socket, when captured at a socket hook.
    pub cgroup_id: Option<u64>,
}

/// What the table knows about a connection, copied onto its transactions.
/// `local` is the end whose outgoing bytes are `Direction::Egress`: the
/// observed process for TLS, endpoint a of the flow key for cleartext TCP.
#[derive(Clone, Debug, Default)]
pub struct ConnectionInfo {
    pub fd: i32,
    pub local: EndpointInfo,
    pub remote: EndpointInfo,
    pub role: Option<Role>,
    pub encrypted: bool,
}

/// Bytes kept while the first bytes of a stream are too few to tell HTTP
/// from anything else; longer than any method name plus a space.
const DETECTION_BYTES: usize = PREFACE.len();

enum ParserState {
    Detecting {
        pending: Vec<u8>,
        direction: Direction,
    },
    Http1(Box<Http1Connection>),
    Http2(Box<Http2Connection>),
    /// Not a protocol the daemon parses; its bytes are counted and dropped.
    Unparsed,
}

struct Connection {
    info: ConnectionInfo,
    parser: ParserState,
    /// Exchanges completed so far, to pair the two views of one connection.
    exchanges: u64,
    /// Bytes were lost since the last exchange.
    lost_bytes: bool,
    /// Monotonic time of the last bytes, for the idle sweep.
    last_activity_ns: u64,
    counters_reported: Http1Counters,
    http2_reported: Http2Counters,
}

/// Bytes one capture event carries for a connection.
#[derive(Clone, Copy, Debug)]
pub struct Payload<'a> {
    pub process: &'a str,
    /// Socket fd the bytes went through, or -1 when unknown.
    pub fd: i32,
    pub direction: Direction,
    pub data: &'a [u8],
    /// Bytes of the same event that were not captured.
    pub lost: u64,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub timestamp_ns: u64,
}

/// A finished exchange with the connection it came from.
pub struct ConnectionExchange {
    pub info: ConnectionInfo,
    pub exchange: Exchange,
    /// Position of the exchange on its connection, from 0.
    pub ordinal: u64,
    pub lost_bytes: bool,
    /// Stream details when the exchange came from HTTP/2.
    pub http2: Option<Http2Details>,
}

/// What an HTTP/2 stream adds to its exchange.
#[derive(Clone, Debug)]
pub struct Http2Details {
    pub stream_id: u32,
    /// RST_STREAM error code, when the stream was reset.
    pub reset: Option<u32>,
    /// Headers could not be fully decoded, or data was missing.
    pub partial: bool,
    pub grpc: Option<GrpcCall>,
}

/// Events of the table that the daemon counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamCounters {
    pub connections_opened: u64,
    pub connections_closed: u64,
    pub connections_evicted: u64,
    /// Connections closed after no bytes for the idle timeout.
    pub connections_expired: u64,
    /// Connections whose first bytes were not HTTP/1.x.
    pub unparsed_connections: u64,
    pub unparsed_bytes: u64,
    pub http1: Http1Counters,
    pub http2: Http2Counters,
}

/// The bounded connection table.
pub struct ConnectionTable {
    connections: LruCache<ConnectionKey, Connection>,
    limits: Http1Limits,
    counters: StreamCounters,
}

impl ConnectionTable {
    pub fn new(max_connections: usize, limits: Http1Limits) -> Self {
        let capacity = NonZeroUsize::new(max_connections).unwrap_or(NonZeroUsize::MIN);
        Self {
            connections: LruCache::new(capacity),
            limits,
            counters: StreamCounters::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.connections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    pub fn counters(&self) -> StreamCounters {
        self.counters
    }

    /// Whether the connection was found not to be a parsed protocol.
    pub fn is_unparsed(&self, key: &ConnectionKey) -> bool {
        self.connections
            .peek(key)
            .is_some_and(|connection| matches!(connection.parser, ParserState::Unparsed))
    }

    /// Updates what is known about one end of a connection; `local` selects
    /// the end (see [`ConnectionInfo`]).
    pub fn update_endpoint(
        &mut self,
        key: &ConnectionKey,
        local: bool,
        update: impl FnOnce(&mut EndpointInfo),
    ) {
        if let Some(connection) = self.connections.peek_mut(key) {
            update(if local {
                &mut connection.info.local
            } else {
                &mut connection.info.remote
            });
        }
    }

    /// The connection of `key`, created if new; a new one evicts the least
    /// recently active when the table is full.
    fn connection<'a>(
        connections: &'a mut LruCache<ConnectionKey, Connection>,
        counters: &mut StreamCounters,
        key: ConnectionKey,
        out: &mut Vec<ConnectionExchange>,
    ) -> &'a mut Connection {
        if !connections.contains(&key) {
            if connections.len() == connections.cap().get() {
                if let Some((_, evicted)) = connections.pop_lru() {
                    counters.connections_evicted += 1;
                    Self::finish(evicted, Clock::monotonic_ns(), counters, out);
                }
            }
            counters.connections_opened += 1;
            connections.put(
                key,
                Connection {
                    info: match key {
                        ConnectionKey::Tls { pid, .. } => ConnectionInfo {
                            fd: -1,
                            local: EndpointInfo {
                                pid: Some(pid),
                                ..EndpointInfo::default()
                            },
                            encrypted: true,
                            ..ConnectionInfo::default()
                        },
                        ConnectionKey::Tcp(flow) => ConnectionInfo {
                            fd: -1,
                            local: EndpointInfo {
                                address: Some(flow.a),
                                ..EndpointInfo::default()
                            },
                            remote: EndpointInfo {
                                address: Some(flow.b),
                                ..EndpointInfo::default()
                            },
                            encrypted: false,
                            ..ConnectionInfo::default()
                        },
                    },
                    parser: ParserState::Detecting {
                        pending: Vec::new(),
                        direction: Direction::Egress,
                    },
                    exchanges: 0,
                    lost_bytes: false,
                    last_activity_ns: Clock::monotonic_ns(),
                    counters_reported: Http1Counters::default(),
                    http2_reported: Http2Counters::default(),
                },
            );
        }
        connections.get_mut(&key).expect("inserted above")
    }

    /// Records the addresses of a session's socket.
    pub fn set_socket(
        &mut self,
        key: ConnectionKey,
        fd: i32,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Vec<ConnectionExchange> {
        let mut out = Vec::new();
        let connection = Self::connection(&mut self.connections, &mut self.counters, key, &mut out);
        connection.info.fd = fd;
        connection.info.local.address = Some(local);
        connection.info.remote.address = Some(remote);
        out
    }

    /// Feeds the bytes of one capture event; returns the exchanges they
    /// completed.
    pub fn push(&mut self, key: ConnectionKey, payload: &Payload<'_>) -> Vec<ConnectionExchange> {
        let Payload {
            process,
            fd,
            direction,
            data,
            lost,
            timestamp_ns,
        } = *payload;
        let mut out = Vec::new();
        let limits = self.limits;
        let connection = Self::connection(&mut self.connections, &mut self.counters, key, &mut out);
        connection.last_activity_ns = connection.last_activity_ns.max(timestamp_ns);
        if connection.info.local.process.is_none() && !process.is_empty() {
            connection.info.local.process = Some(process.to_owned());
        }
        if fd >= 0 {
            connection.info.fd = fd;
        }

        if let ParserState::Detecting {
            pending,
            direction: first,
        } = &mut connection.parser
        {
            if pending.is_empty() {
                *first = direction;
            }
            let same_direction = *first == direction;
            let mut prefix = pending.clone();
            if same_direction {
                prefix.extend_from_slice(&data[..data.len().min(DETECTION_BYTES)]);
            }
            match detect_protocol(&prefix, same_direction) {
                Detected::NeedMore => {
                    pending.extend_from_slice(data);
                    return out;
                }
                Detected::Protocol(protocol, starts_with_request) => {
                    // Earlier pushes' bytes, fewer than DETECTION_BYTES.
                    let earlier = std::mem::take(pending);
                    let first = *first;
                    let role = match starts_with_request {
                        // The first bytes of a connection are a request
                        // when the process that wrote them is the client.
                        Some(true) => role_of_writer(first, true),
                        Some(false) => role_of_writer(first, false),
                        None => guess_role(&connection.info),
                    };
                    connection.info.role = Some(role);
                    connection.parser = match protocol {
                        Protocol::Http1 => {
                            ParserState::Http1(Box::new(Http1Connection::new(limits)))
                        }
                        Protocol::Http2 { preface_seen } => ParserState::Http2(Box::new(
                            Http2Connection::new(http2_limits(&limits), preface_seen),
                        )),
                    };
                    if !earlier.is_empty() {
                        connection
                            .parser
                            .push(side_of(role, first), &earlier, timestamp_ns);
                    }
                }
                Detected::Unparsed => {
                    self.counters.unparsed_connections += 1;
                    self.counters.unparsed_bytes += pending.len() as u64;
                    connection.parser = ParserState::Unparsed;
                }
            }
        }

        match &mut connection.parser {
            ParserState::Unparsed => self.counters.unparsed_bytes += data.len() as u64,
            ParserState::Detecting { .. } => {}
            parser => {
                let role = connection.info.role.unwrap_or(Role::Client);
                let side = side_of(role, direction);
                parser.push(side, data, timestamp_ns);
                if lost > 0 {
                    parser.push_gap(side, lost, timestamp_ns);
                    connection.lost_bytes = true;
                }
                Self::collect(connection, &mut self.counters, &mut out);
            }
        }
        out
    }

    /// The session ended: flushes its parser and forgets it.
    pub fn close(&mut self, key: ConnectionKey, timestamp_ns: u64) -> Vec<ConnectionExchange> {
        let mut out = Vec::new();
        if let Some(connection) = self.connections.pop(&key) {
            self.counters.connections_closed += 1;
            Self::finish(connection, timestamp_ns, &mut self.counters, &mut out);
        }
        out
    }

    /// Closes connections with no bytes for `idle_ns`, least recently
    /// active first, so sessions whose end the sensor missed (a killed
    /// process skips `SSL_free`) do not hold memory for ever.
    pub fn expire_idle(&mut self, now_ns: u64, idle_ns: u64) -> Vec<ConnectionExchange> {
        let mut out = Vec::new();
        while let Some((_, connection)) = self.connections.peek_lru() {
            if connection.last_activity_ns.saturating_add(idle_ns) > now_ns {
                break;
            }
            let Some((_, connection)) = self.connections.pop_lru() else {
                break;
            };
            self.counters.connections_expired += 1;
            Self::finish(connection, now_ns, &mut self.counters, &mut out);
        }
        out
    }

    /// Closes every connection, at shutdown.
    pub fn close_all(&mut self, timestamp_ns: u64) -> Vec<ConnectionExchange> {
        let mut out = Vec::new();
        while let Some((_, connection)) = self.connections.pop_lru() {
            self.counters.connections_closed += 1;
            Self::finish(connection, timestamp_ns, &mut self.counters, &mut out);
        }
        out
    }

    fn finish(
        mut connection: Connection,
        timestamp_ns: u64,
        counters: &mut StreamCounters,
        out: &mut Vec<ConnectionExchange>,
    ) {
        match &mut connection.parser {
            ParserState::Http1(parser) => parser.close(timestamp_ns),
            ParserState::Http2(parser) => parser.close(timestamp_ns),
            _ => {}
        }
        Self::collect(&mut connection, counters, out);
    }

    fn collect(
        connection: &mut Connection,
        counters: &mut StreamCounters,
        out: &mut Vec<ConnectionExchange>,
    ) {
        let mut upgrade_to_http2 = false;
        match &mut connection.parser {
            ParserState::Http1(parser) => {
                let now = parser.counters();
                let before = connection.counters_reported;
                counters.http1.parse_errors += now.parse_errors - before.parse_errors;
                counters.http1.resyncs += now.resyncs - before.resyncs;
                counters.http1.skipped_bytes += now.skipped_bytes - before.skipped_bytes;
                counters.http1.unanswered_requests +=
                    now.unanswered_requests - before.unanswered_requests;
                counters.http1.orphan_responses += now.orphan_responses - before.orphan_responses;
                connection.counters_reported = now;

                for exchange in parser.take_exchanges() {
                    upgrade_to_http2 |= is_h2c_upgrade(&exchange);
                    out.push(ConnectionExchange {
                        info: connection.info.clone(),
                        exchange,
                        ordinal: connection.exchanges,
                        lost_bytes: std::mem::take(&mut connection.lost_bytes),
                        http2: None,
                    });
                    connection.exchanges += 1;
                }
            }
            ParserState::Http2(parser) => {
                let now = parser.counters();
                add_http2(&mut counters.http2, &now, &connection.http2_reported);
                connection.http2_reported = now;

                for stream in parser.take_exchanges() {
                    out.push(ConnectionExchange {
                        info: connection.info.clone(),
                        exchange: stream.exchange,
                        // Streams finish in different orders on the two
                        // ends of a connection; the stream id is the same.
                        ordinal: stream.stream_id as u64,
                        lost_bytes: std::mem::take(&mut connection.lost_bytes) || stream.partial,
                        http2: Some(Http2Details {
                            stream_id: stream.stream_id,
                            reset: stream.reset,
                            partial: stream.partial,
                            grpc: stream.grpc,
                        }),
                    });
                    connection.exchanges += 1;
                }
            }
            _ => {}
        }

        if upgrade_to_http2 {
            // After `101 Switching Protocols` to h2c, the client sends the
            // HTTP/2 preface; the request that asked is stream 1.
            // NOTE: bytes that arrived in the same push as the 101 were
            // consumed by the HTTP/1 parser and are not replayed.
            connection.parser =
                ParserState::Http2(Box::new(Http2Connection::new(Http2Limits::default(), true)));
        }
    }
}

/// The parser side of bytes moving in `direction` for a process in `role`.
fn side_of(role: Role, direction: Direction) -> Side {
    match (role, direction) {
        (Role::Client, Direction::Egress) | (Role::Server, Direction::Ingress) => Side::Client,
        (Role::Client, Direction::Ingress) | (Role::Server, Direction::Egress) => Side::Server,
    }
}

impl ParserState {
    fn push(&mut self, side: Side, data: &[u8], timestamp_ns: u64) {
        match self {
            ParserState::Http1(parser) => parser.push(side, data, timestamp_ns),
            ParserState::Http2(parser) => parser.push(side, data, timestamp_ns),
            _ => {}
        }
    }

    fn push_gap(&mut self, side: Side, len: u64, timestamp_ns: u64) {
        match self {
            ParserState::Http1(parser) => parser.push_gap(side, len, timestamp_ns),
            ParserState::Http2(parser) => parser.push_gap(side, len, timestamp_ns),
            _ => {}
        }
    }
}

/// A protocol the table parses.
enum Protocol {
    Http1,
    /// `preface_seen`: the connection starts at its beginning.
    Http2 {
        preface_seen: bool,
    },
}

enum Detected {
    NeedMore,
    /// The protocol, and whether the first bytes are a request (`None`:
    /// cannot tell, as for HTTP/2 frames seen mid-connection).
    Protocol(Protocol, Option<bool>),
    Unparsed,
}

/// Decides the protocol from the first bytes of a connection.
fn detect_protocol(prefix: &[u8], same_direction: bool) -> Detected {
    let may_wait = same_direction && prefix.len() < DETECTION_BYTES;
    match crate::protocols::http2::detect_preface(prefix) {
        PrefaceDetection::Preface => {
            return Detected::Protocol(Protocol::Http2 { preface_seen: true }, Some(true))
        }
        PrefaceDetection::NeedMore if may_wait => return Detected::NeedMore,
        _ => {}
    }
    // A server may send its SETTINGS before the client's preface arrives,
    // so a connection seen from the server's side can start with them.
    if is_server_preface(prefix) {
        return Detected::Protocol(Protocol::Http2 { preface_seen: true }, Some(false));
    }
    match http1::detect(prefix) {
        Detection::Request => Detected::Protocol(Protocol::Http1, Some(true)),
        Detection::Response => Detected::Protocol(Protocol::Http1, Some(false)),
        Detection::NeedMore if may_wait => Detected::NeedMore,
        _ if looks_like_http2_frame(prefix) => Detected::Protocol(
            Protocol::Http2 {
                preface_seen: false,
            },
            None,
        ),
        _ => Detected::Unparsed,
    }
}

/// Whether `data` starts with a plausible HTTP/2 frame header (RFC 9113
/// section 4.1): a known type, a length within the largest frame size, a
/// clear reserved bit, and a stream id that fits the type. Used when the
/// capture starts in the middle of a connection.
fn looks_like_http2_frame(data: &[u8]) -> bool {
    if data.len() < 9 {
        return false;
    }
    let length = u32::from_be_bytes([0, data[0], data[1], data[2]]);
    let frame_type = data[3];
    let stream_id = u32::from_be_bytes([data[5], data[6], data[7], data[8]]);
    if stream_id & 0x8000_0000 != 0 || length > (1 << 24) - 1 {
        return false;
    }
    match frame_type {
        // SETTINGS, PING, GOAWAY: connection-level.
        4 | 6 | 7 => stream_id == 0,
        // DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION.
        0..=3 | 5 | 9 => stream_id != 0,
        // WINDOW_UPDATE: either.
        8 => length == 4,
        _ => false,
    }
}

/// Returns whether `data` starts with the server connection preface (RFC
/// 9113 section 3.4): a SETTINGS frame without the ACK flag on stream 0,
/// whose length is a whole number of 6-byte settings. Mid-connection, a
/// SETTINGS frame arriving first is rare. If it happens, the client side's
/// preface check fails and the reader resynchronises.
fn is_server_preface(data: &[u8]) -> bool {
    if data.len() < 9 {
        return false;
    }
    let length = u32::from_be_bytes([0, data[0], data[1], data[2]]);
    let (frame_type, flags) = (data[3], data[4]);
    let stream_id = u32::from_be_bytes([data[5], data[6], data[7], data[8]]);
    frame_type == 4 && flags == 0 && stream_id == 0 && length.is_multiple_of(6) && length <= 6 * 64
}

/// The role of the process that wrote a connection's first bytes.
fn role_of_writer(first: Direction, wrote_request: bool) -> Role {
    match (first, wrote_request) {
        (Direction::Egress, true) | (Direction::Ingress, false) => Role::Client,
        (Direction::Egress, false) | (Direction::Ingress, true) => Role::Server,
    }
}

/// Guesses which end serves when the bytes cannot tell: the end whose port
/// has a listening socket, else the end with the lower port, because
/// clients get ephemeral ports (32768 and up on Linux by default).
fn guess_role(info: &ConnectionInfo) -> Role {
    let (Some(local), Some(remote)) = (info.local.address, info.remote.address) else {
        return Role::Client;
    };
    let proc_net = std::path::Path::new("/proc/net");
    if crate::capture::listeners::is_listening(proc_net, local.port()) {
        return Role::Server;
    }
    if crate::capture::listeners::is_listening(proc_net, remote.port()) {
        return Role::Client;
    }
    if local.port() < remote.port() {
        Role::Server
    } else {
        Role::Client
    }
}

/// HTTP/2 limits that share the HTTP/1 body capture size.
fn http2_limits(limits: &Http1Limits) -> Http2Limits {
    Http2Limits {
        max_body_capture: limits.max_body_capture,
        ..Http2Limits::default()
    }
}

/// Whether an exchange switched its connection to cleartext HTTP/2.
fn is_h2c_upgrade(exchange: &Exchange) -> bool {
    let upgrade_requested = exchange.request.headers.iter().any(|header| {
        header.name.eq_ignore_ascii_case("upgrade") && header.value.eq_ignore_ascii_case(b"h2c")
    });
    upgrade_requested
        && exchange
            .response
            .as_ref()
            .is_some_and(|response| response.status == 101)
}

fn add_http2(total: &mut Http2Counters, now: &Http2Counters, before: &Http2Counters) {
    total.frames += now.frames - before.frames;
    total.frame_errors += now.frame_errors - before.frame_errors;
    total.resyncs += now.resyncs - before.resyncs;
    total.skipped_bytes += now.skipped_bytes - before.skipped_bytes;
    total.hpack_errors += now.hpack_errors - before.hpack_errors;
    total.partial_streams += now.partial_streams - before.partial_streams;
    total.reset_streams += now.reset_streams - before.reset_streams;
    total.evicted_streams += now.evicted_streams - before.evicted_streams;
    total.goaways += now.goaways - before.goaways;
    total.untracked_stream_frames += now.untracked_stream_frames - before.untracked_stream_frames;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SETTINGS with SETTINGS_MAX_CONCURRENT_STREAMS = 100.
    const SERVER_SETTINGS: [u8; 15] = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];

    #[test]
    fn server_settings_first_is_connection_start() {
        match detect_protocol(&SERVER_SETTINGS, true) {
            Detected::Protocol(Protocol::Http2 { preface_seen }, starts_with_request) => {
                assert!(preface_seen, "the client's preface is still to come");
                assert_eq!(starts_with_request, Some(false), "the server wrote first");
            }
            _ => panic!("server SETTINGS not detected as HTTP/2"),
        }
    }

    #[test]
    fn settings_ack_first_is_mid_connection() {
        let mut ack = [0u8; 9];
        ack[3] = 4;
        ack[4] = 1;
        match detect_protocol(&ack, true) {
            Detected::Protocol(Protocol::Http2 { preface_seen }, starts_with_request) => {
                assert!(!preface_seen, "an ACK is never the first frame");
                assert_eq!(starts_with_request, None);
            }
            _ => panic!("SETTINGS ACK not detected as HTTP/2"),
        }
    }

    #[test]
    fn client_preface_detected() {
        let mut data = PREFACE.to_vec();
        data.extend_from_slice(&SERVER_SETTINGS);
        assert!(matches!(
            detect_protocol(&data, true),
            Detected::Protocol(Protocol::Http2 { preface_seen: true }, Some(true))
        ));
    }
}
