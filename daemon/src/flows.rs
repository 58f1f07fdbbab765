//! Cleartext TCP flows captured at the socket hooks: sequence reassembly per
//! direction, TLS recognition, which local sockets own each end, and the
//! verdicts that tell the kernel to stop sending a flow.
//!
//! A packet between two sockets on this node is seen at the sender's egress
//! and again at the receiver's ingress; both copies carry the same sequence
//! numbers, so reassembly drops the second as a duplicate.

use std::{net::SocketAddr, num::NonZeroUsize};

use lru::LruCache;
use serde::Serialize;

use crate::{
    capture::records::{Flow, Segment},
    protocols::tls_hello,
    reassembly::{Delivery, DirectionReassembler, ReassemblyCounters, ReassemblyLimits},
    streams::EndpointInfo,
};

/// How the daemon treats a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowKind {
    /// No payload delivered yet.
    Undecided,
    /// Parsed as a cleartext protocol.
    Parsed,
    /// TLS ciphertext: listed, not parsed.
    Tls,
    /// Not a protocol the daemon parses.
    Ignored,
}

/// A TLS connection seen as ciphertext on the wire.
#[derive(Clone, Debug, Serialize)]
pub struct EncryptedFlow {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Server name from the ClientHello, when it carried one.
    pub server_name: Option<String>,
    /// Process of the client socket when it sent from this node.
    pub client_process: Option<String>,
    pub client_pid: Option<u32>,
    /// Whether a TLS library hook captured this connection's plaintext.
    pub decrypted: bool,
    pub first_seen_ms: u64,
}

struct FlowState {
    a_to_b: DirectionReassembler,
    b_to_a: DirectionReassembler,
    kind: FlowKind,
    /// What the socket hooks saw of ends a and b.
    ends: [EndpointInfo; 2],
    opened_ns: Option<u64>,
    first_seen_ns: u64,
    last_activity_ns: u64,
}

/// A cleartext or TLS connection that closed, as `ztapi connections` lists it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ClosedConnection {
    pub a: SocketAddr,
    pub b: SocketAddr,
    /// Unix milliseconds of the handshake, or of the first payload when the
    /// handshake happened before the daemon started.
    pub opened_ms: u64,
    pub closed_ms: u64,
    pub duration_ms: u64,
    /// Payload bytes from a to b and from b to a, as the closing local
    /// socket counted them.
    pub bytes_a_to_b: u64,
    pub bytes_b_to_a: u64,
    /// `parsed`, `tls` or `ignored`.
    pub kind: String,
}

/// Counters of the flow table for `ztapi status`.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize)]
pub struct FlowCounters {
    pub flows_opened: u64,
    pub flows_closed: u64,
    pub flows_evicted: u64,
    /// Flows freed after no packets for the idle timeout.
    pub flows_expired: u64,
    pub tls_flows: u64,
    /// TLS flows that no library hook decrypted.
    pub tls_flows_hidden: u64,
    pub stream_gaps: u64,
    pub stream_gap_bytes: u64,
    pub duplicate_bytes: u64,
    pub out_of_order_segments: u64,
    pub reassembly_dropped_segments: u64,
}

/// What happened to a segment, for the pipeline to act on.
pub struct SegmentOutcome {
    /// In-order bytes and gaps, each with its direction (true: a to b).
    pub deliveries: Vec<(bool, Delivery)>,
    /// The flow turned out to be TLS or ignorable: the kernel should stop
    /// sending it.
    pub stop_capture: bool,
}

/// The bounded table of cleartext flows.
// NOTE: flows are keyed by addresses and ports alone, so two network
// namespaces that use the same addresses and ports at once share a flow.
pub struct FlowTable {
    flows: LruCache<Flow, FlowState>,
    limits: ReassemblyLimits,
    counters: FlowCounters,
    /// Flows whose plaintext a TLS hook reported, normalised to [`Flow`].
    decrypted: LruCache<Flow, ()>,
    encrypted: LruCache<Flow, EncryptedFlow>,
    /// Reassembly counters of flows already freed.
    retired: ReassemblyCounters,
    closed: std::collections::VecDeque<ClosedConnection>,
}

/// Encrypted flows and decrypted-session addresses remembered at most.
const MAX_ENCRYPTED_FLOWS: usize = 4096;

/// Closed connections remembered for `ztapi connections`.
const MAX_CLOSED_CONNECTIONS: usize = 1024;

impl FlowTable {
    pub fn new(max_flows: usize, limits: ReassemblyLimits) -> Self {
        let capacity = |n: usize| NonZeroUsize::new(n.max(1)).expect("at least one");
        Self {
            flows: LruCache::new(capacity(max_flows)),
            limits,
            counters: FlowCounters::default(),
            decrypted: LruCache::new(capacity(MAX_ENCRYPTED_FLOWS)),
            encrypted: LruCache::new(capacity(MAX_ENCRYPTED_FLOWS)),
            retired: ReassemblyCounters::default(),
            closed: std::collections::VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Counters, including those of live reassemblers.
    pub fn counters(&self) -> FlowCounters {
        let mut counters = self.counters;
        let mut reassembly = self.retired;
        for (_, state) in self.flows.iter() {
            for reassembler in [&state.a_to_b, &state.b_to_a] {
                add(&mut reassembly, &reassembler.counters());
            }
        }
        counters.stream_gaps = reassembly.gaps;
        counters.stream_gap_bytes = reassembly.gap_bytes;
        counters.duplicate_bytes = reassembly.duplicate_bytes;
        counters.out_of_order_segments = reassembly.out_of_order_segments;
        counters.reassembly_dropped_segments = reassembly.dropped_segments;
        counters
    }

    /// TLS flows seen as ciphertext, newest first.
    pub fn encrypted_flows(&self) -> Vec<EncryptedFlow> {
        self.encrypted
            .iter()
            .map(|(_, flow)| flow.clone())
            .collect()
    }

    /// A TLS hook reported the plaintext of a session on these addresses.
    pub fn mark_decrypted(&mut self, local: SocketAddr, remote: SocketAddr) {
        let flow = normalise(local, remote);
        self.decrypted.put(flow, ());
        if let Some(encrypted) = self.encrypted.get_mut(&flow) {
            if !encrypted.decrypted {
                encrypted.decrypted = true;
                self.counters.tls_flows_hidden = self.counters.tls_flows_hidden.saturating_sub(1);
            }
        }
    }

    /// The endpoints of a flow as the socket hooks saw them.
    pub fn ends(&self, flow: &Flow) -> Option<[EndpointInfo; 2]> {
        self.flows.peek(flow).map(|state| state.ends.clone())
    }

    pub fn kind(&self, flow: &Flow) -> Option<FlowKind> {
        self.flows.peek(flow).map(|state| state.kind)
    }

    /// Marks a flow as not parsed; returns true when it was parsed before.
    pub fn ignore(&mut self, flow: &Flow) {
        if let Some(state) = self.flows.peek_mut(flow) {
            state.kind = FlowKind::Ignored;
        }
    }

    /// Reassembles one captured segment. `now_ms` stamps a newly seen
    /// TLS flow. Evicted flows are returned to be closed by the caller.
    pub fn push(
        &mut self,
        segment: &Segment,
        now_ms: u64,
        evicted: &mut Vec<Flow>,
    ) -> SegmentOutcome {
        let mut outcome = SegmentOutcome {
            deliveries: Vec::new(),
            stop_capture: false,
        };
        if !self.flows.contains(&segment.flow) {
            if self.flows.len() == self.flows.cap().get() {
                if let Some((flow, state)) = self.flows.pop_lru() {
                    self.counters.flows_evicted += 1;
                    self.retire(&state);
                    evicted.push(flow);
                }
            }
            self.counters.flows_opened += 1;
            self.flows.put(
                segment.flow,
                FlowState {
                    a_to_b: DirectionReassembler::new(self.limits),
                    b_to_a: DirectionReassembler::new(self.limits),
                    kind: FlowKind::Undecided,
                    ends: [
                        EndpointInfo {
                            address: Some(segment.flow.a),
                            ..EndpointInfo::default()
                        },
                        EndpointInfo {
                            address: Some(segment.flow.b),
                            ..EndpointInfo::default()
                        },
                    ],
                    opened_ns: None,
                    first_seen_ns: segment.timestamp_ns,
                    last_activity_ns: segment.timestamp_ns,
                },
            );
        }
        let state = self.flows.get_mut(&segment.flow).expect("inserted above");
        state.last_activity_ns = state.last_activity_ns.max(segment.timestamp_ns);

        // Egress comes from the sender's socket, ingress reaches the
        // receiver's: record which local socket owns that end.
        let sender_is_a = segment.a_to_b;
        let owner = if segment.egress == sender_is_a { 0 } else { 1 };
        let end = &mut state.ends[owner];
        end.cgroup_id = Some(segment.cgroup_id);
        // The first send of a socket runs in its process's syscall; later
        // ones can run in softirq context on behalf of whatever task was
        // interrupted, so the first pid seen is kept.
        if segment.egress && segment.pid != 0 && end.pid.is_none() {
            end.pid = Some(segment.pid);
            end.process = Some(segment.process.clone());
        }

        if matches!(state.kind, FlowKind::Tls | FlowKind::Ignored)
            || segment.data.is_empty() && segment.wire_len == 0
        {
            return outcome;
        }

        let mut deliveries = Vec::new();
        let reassembler = if segment.a_to_b {
            &mut state.a_to_b
        } else {
            &mut state.b_to_a
        };
        reassembler.push(
            segment.seq,
            &segment.data,
            segment.wire_len,
            &mut deliveries,
        );

        for delivery in deliveries {
            if state.kind == FlowKind::Undecided {
                if let Delivery::Data(bytes) = &delivery {
                    if tls_hello::is_tls_handshake(bytes) {
                        state.kind = FlowKind::Tls;
                        outcome.stop_capture = true;
                        let (client, server, client_end) = if segment.a_to_b {
                            (segment.flow.a, segment.flow.b, &state.ends[0])
                        } else {
                            (segment.flow.b, segment.flow.a, &state.ends[1])
                        };
                        let decrypted = self.decrypted.contains(&segment.flow);
                        self.counters.tls_flows += 1;
                        if !decrypted {
                            self.counters.tls_flows_hidden += 1;
                        }
                        self.encrypted.put(
                            segment.flow,
                            EncryptedFlow {
                                client,
                                server,
                                server_name: tls_hello::server_name(bytes),
                                client_process: client_end.process.clone(),
                                client_pid: client_end.pid,
                                decrypted,
                                first_seen_ms: now_ms,
                            },
                        );
                        break;
                    }
                    if !bytes.is_empty() {
                        state.kind = FlowKind::Parsed;
                    }
                }
            }
            outcome.deliveries.push((segment.a_to_b, delivery));
        }
        outcome
    }

    /// Connections closed recently, newest last.
    pub fn closed_connections(&self) -> Vec<ClosedConnection> {
        self.closed.iter().cloned().collect()
    }

    /// Frees flows with no packets for `idle_ns`; returns them so the
    /// caller can close their parsers.
    pub fn expire_idle(&mut self, now_ns: u64, idle_ns: u64) -> Vec<Flow> {
        let mut expired = Vec::new();
        while let Some((_, state)) = self.flows.peek_lru() {
            if state.last_activity_ns.saturating_add(idle_ns) > now_ns {
                break;
            }
            let Some((flow, state)) = self.flows.pop_lru() else {
                break;
            };
            self.counters.flows_expired += 1;
            self.retire(&state);
            expired.push(flow);
        }
        expired
    }

    /// Records a TCP state change; on close, returns the final deliveries
    /// and frees the flow. `clock` converts monotonic to Unix time.
    pub fn state_change(
        &mut self,
        change: &crate::capture::records::TcpState,
        clock: &crate::transaction::assemble::Clock,
    ) -> Option<Vec<(bool, Delivery)>> {
        let flow = &change.flow;
        let timestamp_ns = change.timestamp_ns;
        if change.established {
            if let Some(state) = self.flows.peek_mut(flow) {
                state.opened_ns = Some(timestamp_ns);
            }
            return None;
        }
        let mut state = self.flows.pop(flow)?;
        self.counters.flows_closed += 1;

        let opened_ns = state
            .opened_ns
            .unwrap_or(state.first_seen_ns)
            .min(timestamp_ns);
        let (bytes_a_to_b, bytes_b_to_a) = if change.local_is_a {
            (change.bytes_acked, change.bytes_received)
        } else {
            (change.bytes_received, change.bytes_acked)
        };
        if self.closed.len() == MAX_CLOSED_CONNECTIONS {
            self.closed.pop_front();
        }
        self.closed.push_back(ClosedConnection {
            a: flow.a,
            b: flow.b,
            opened_ms: clock.unix_ms(opened_ns),
            closed_ms: clock.unix_ms(timestamp_ns),
            duration_ms: (timestamp_ns - opened_ns) / 1_000_000,
            bytes_a_to_b,
            bytes_b_to_a,
            kind: match state.kind {
                FlowKind::Tls => "tls",
                FlowKind::Ignored => "ignored",
                _ => "parsed",
            }
            .to_owned(),
        });
        let mut deliveries = Vec::new();
        if state.kind == FlowKind::Parsed {
            for (a_to_b, reassembler) in [(true, &mut state.a_to_b), (false, &mut state.b_to_a)] {
                let mut out = Vec::new();
                reassembler.finish(&mut out);
                deliveries.extend(out.into_iter().map(|delivery| (a_to_b, delivery)));
            }
        }
        self.retire(&state);
        Some(deliveries)
    }

    fn retire(&mut self, state: &FlowState) {
        add(&mut self.retired, &state.a_to_b.counters());
        add(&mut self.retired, &state.b_to_a.counters());
    }
}

fn add(total: &mut ReassemblyCounters, more: &ReassemblyCounters) {
    total.segments += more.segments;
    total.duplicate_bytes += more.duplicate_bytes;
    total.out_of_order_segments += more.out_of_order_segments;
    total.gaps += more.gaps;
    total.gap_bytes += more.gap_bytes;
    total.dropped_segments += more.dropped_segments;
}

/// The flow of a connection between two addresses, in flow-key order.
pub fn normalise(one: SocketAddr, other: SocketAddr) -> Flow {
    let key = |address: SocketAddr| -> (Vec<u8>, u16) {
        let bytes = match address.ip() {
            std::net::IpAddr::V4(ip) => {
                let mut bytes = ip.octets().to_vec();
                bytes.resize(16, 0);
                bytes
            }
            std::net::IpAddr::V6(ip) => ip.octets().to_vec(),
        };
        (bytes, address.port())
    };
    // The kernel compares address bytes first, then ports.
    if key(one) <= key(other) {
        Flow { a: one, b: other }
    } else {
        Flow { a: other, b: one }
    }
}
