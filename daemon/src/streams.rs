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
const DETECTION_BYTES: usize = 16;

enum ParserState {
    Detecting {
        pending: Vec<u8>,
        direction: Direction,
    },
    Http1(Box<Http1Connection>),
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
            let role = match http1::detect(&prefix) {
                // Wait for more bytes, unless the other side already spoke.
                Detection::NeedMore if same_direction && prefix.len() < DETECTION_BYTES => {
                    pending.extend_from_slice(data);
                    return out;
                }
                // The first bytes of a connection are a request when the
                // process that wrote them is the client.
                Detection::Request => Some(match first {
                    Direction::Egress => Role::Client,
                    Direction::Ingress => Role::Server,
                }),
                Detection::Response => Some(match first {
                    Direction::Egress => Role::Server,
                    Direction::Ingress => Role::Client,
                }),
                _ => None,
            };
            match role {
                Some(role) => {
                    // Earlier pushes' bytes, fewer than DETECTION_BYTES.
                    let earlier = std::mem::take(pending);
                    let first = *first;
                    connection.info.role = Some(role);
                    let mut parser = Box::new(Http1Connection::new(limits));
                    if !earlier.is_empty() {
                        parser.push(side_of(role, first), &earlier, timestamp_ns);
                    }
                    connection.parser = ParserState::Http1(parser);
                }
                None => {
                    self.counters.unparsed_connections += 1;
                    self.counters.unparsed_bytes += pending.len() as u64;
                    connection.parser = ParserState::Unparsed;
                }
            }
        }

        match &mut connection.parser {
            ParserState::Http1(parser) => {
                let role = connection.info.role.unwrap_or(Role::Client);
                let side = side_of(role, direction);
                parser.push(side, data, timestamp_ns);
                if lost > 0 {
                    parser.push_gap(side, lost, timestamp_ns);
                    connection.lost_bytes = true;
                }
                Self::collect(connection, &mut self.counters, &mut out);
            }
            ParserState::Unparsed => self.counters.unparsed_bytes += data.len() as u64,
            ParserState::Detecting { .. } => {}
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
        if let ParserState::Http1(parser) = &mut connection.parser {
            parser.close(timestamp_ns);
        }
        Self::collect(&mut connection, counters, out);
    }

    fn collect(
        connection: &mut Connection,
        counters: &mut StreamCounters,
        out: &mut Vec<ConnectionExchange>,
    ) {
        let ParserState::Http1(parser) = &mut connection.parser else {
            return;
        };
        let now = parser.counters();
        let before = connection.counters_reported;
        counters.http1.parse_errors += now.parse_errors - before.parse_errors;
        counters.http1.resyncs += now.resyncs - before.resyncs;
        counters.http1.skipped_bytes += now.skipped_bytes - before.skipped_bytes;
        counters.http1.unanswered_requests += now.unanswered_requests - before.unanswered_requests;
        counters.http1.orphan_responses += now.orphan_responses - before.orphan_responses;
        connection.counters_reported = now;

        for exchange in parser.take_exchanges() {
            out.push(ConnectionExchange {
                info: connection.info.clone(),
                exchange,
                ordinal: connection.exchanges,
                lost_bytes: std::mem::take(&mut connection.lost_bytes),
            });
            connection.exchanges += 1;
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
