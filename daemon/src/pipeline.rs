//! The pipeline from decoded sensor records to stored transactions:
//! records -> connection table -> HTTP exchanges -> transactions ->
//! inventory and store.
//!
//! It runs on the capture thread and shares only the inventory, the store and
//! the published counters with the API.

use std::{
    net::SocketAddr,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use lru::LruCache;
use tracing::warn;

use common::Direction;

use crate::{
    attribution::{Attribution, AttributionSettings},
    capture::records::{self, CaptureEvent, Flow, Segment, TcpState},
    flows::{ClosedConnection, EncryptedFlow, FlowCounters, FlowTable},
    inventory::Inventory,
    protocols::http1::Http1Limits,
    reassembly::{Delivery, ReassemblyLimits},
    sensitive::SensitiveData,
    stats::{PipelineCounters, PipelineStats},
    store::{End, Store},
    streams::{ConnectionExchange, ConnectionKey, ConnectionTable, Payload, Role},
    transaction::{
        assemble::{assemble, Clock},
        Peer, Transaction,
    },
};

mod pending;

pub use self::pending::PendingWrites;

/// Time between inventory snapshots and retention passes.
const PERSIST_INTERVAL: Duration = Duration::from_secs(5);

/// Exchanges remembered to merge the second view of a connection whose two
/// ends are both on this node.
const RECENT_EXCHANGES: usize = 4096;

/// New transactions kept in memory before they are written as one batch.
const MAX_PENDING_TRANSACTIONS: usize = 1024;

/// How long a new transaction may wait in memory before the capture thread
/// writes it. When both ends of a call run on this node, the second view
/// arrives a few drains after the first. While the first is pending, the
/// two merge in memory, because merging into a written one costs another
/// store write.
pub const PENDING_WINDOW: Duration = Duration::from_millis(100);

/// State the pipeline shares with the API.
pub struct Shared {
    pub inventory: Mutex<Inventory>,
    pub store: Store,
    pub stats: PipelineStats,
    /// TLS connections seen only as ciphertext, published with the counters.
    pub encrypted_flows: Mutex<Vec<EncryptedFlow>>,
    /// Connections closed recently, published with the counters.
    pub closed_connections: Mutex<Vec<ClosedConnection>>,
    /// The classifier's data types, to check `--data` filters against.
    pub data_types: Vec<crate::classify::DataTypeInfo>,
    /// New transactions held in memory, which the API has written before
    /// it lists transactions.
    pub pending: PendingWrites,
}

/// Where the pipeline tells the kernel to stop sending a flow's payload.
pub trait FlowVerdicts: Send {
    fn ignore(&mut self, flow: &Flow);
}

impl FlowVerdicts for aya::maps::HashMap<aya::maps::MapData, common::FlowKey, u32> {
    fn ignore(&mut self, flow: &Flow) {
        // A full or failing map only costs capture bandwidth: the daemon
        // drops the flow's payload itself as well.
        let _ = self.insert(flow.to_key(), common::event::FLOW_IGNORE, 0);
    }
}

/// Verdicts dropped on the floor, for pipelines driven without a kernel.
pub struct NoVerdicts;

impl FlowVerdicts for NoVerdicts {
    fn ignore(&mut self, _flow: &Flow) {}
}

/// Sizes and sources the pipeline is built with.
pub struct PipelineSettings {
    pub max_connections: usize,
    pub max_flows: usize,
    pub http1: Http1Limits,
    pub reassembly: ReassemblyLimits,
    pub attribution: AttributionSettings,
    /// Connections and flows with no bytes for this long are freed.
    pub idle_timeout: Duration,
    /// The classifier and the opt-in body capture.
    pub sensitive: SensitiveData,
}

impl Shared {
    /// Locks the inventory; a panic elsewhere leaves it usable, because each
    /// update is a single `observe` call.
    pub fn inventory(&self) -> std::sync::MutexGuard<'_, Inventory> {
        self.inventory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One exchange as both ends see it: the client and server addresses and its
/// position on the connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ExchangeIdentity {
    client: SocketAddr,
    server: SocketAddr,
    ordinal: u64,
}

/// The first view of a call, as its second view needs it: the stored
/// transaction and how the inventory counted its two ends.
struct FirstView {
    id: u64,
    endpoint_id: String,
    client_label: String,
    server_label: String,
}

pub struct Pipeline {
    table: ConnectionTable,
    flows: FlowTable,
    verdicts: Box<dyn FlowVerdicts>,
    attribution: Attribution,
    shared: Arc<Shared>,
    clock: Clock,
    counters: PipelineCounters,
    recent: LruCache<ExchangeIdentity, FirstView>,
    last_persist: Instant,
    idle_timeout: Duration,
    sensitive: SensitiveData,
    /// New transactions not written yet, oldest first.
    pending: Vec<Transaction>,
    /// When the oldest pending transaction was added.
    pending_since: Instant,
}

impl Pipeline {
    pub fn new(
        shared: Arc<Shared>,
        settings: PipelineSettings,
        verdicts: Box<dyn FlowVerdicts>,
    ) -> Self {
        Self {
            table: ConnectionTable::new(settings.max_connections, settings.http1),
            flows: FlowTable::new(settings.max_flows, settings.reassembly),
            verdicts,
            attribution: Attribution::new(settings.attribution),
            shared,
            clock: Clock::new(),
            counters: PipelineCounters::default(),
            recent: LruCache::new(NonZeroUsize::new(RECENT_EXCHANGES).expect("non-zero constant")),
            last_persist: Instant::now(),
            idle_timeout: settings.idle_timeout,
            sensitive: settings.sensitive,
            pending: Vec::new(),
            pending_since: Instant::now(),
        }
    }

    /// Handles one raw ring-buffer record.
    pub fn handle_record(&mut self, bytes: &[u8]) {
        self.counters.records += 1;
        match records::decode(bytes) {
            Ok(event) => self.handle_event(event),
            Err(error) => {
                self.counters.record_errors += 1;
                if self.counters.record_errors.is_power_of_two() {
                    warn!(%error, count = self.counters.record_errors, "dropped an invalid sensor record");
                }
            }
        }
    }

    /// Handles one decoded event; tests drive the pipeline through here.
    pub fn handle_event(&mut self, event: CaptureEvent) {
        let exchanges = match event {
            CaptureEvent::Chunk(chunk) => {
                self.counters.chunks += 1;
                self.counters.chunk_bytes += chunk.data.len() as u64;
                // Only the last record of a call reports the cut, once.
                let last_of_call = chunk.call_offset as u64 + chunk.data.len() as u64
                    >= chunk.call_len as u64 - chunk.truncated_len as u64;
                let lost = if last_of_call {
                    chunk.truncated_len as u64
                } else {
                    0
                };
                if lost > 0 {
                    self.counters.truncated_calls += 1;
                    self.counters.truncated_bytes += lost;
                }
                let key = ConnectionKey::Tls {
                    pid: chunk.pid,
                    ssl: chunk.ssl,
                };
                let payload = Payload {
                    process: &chunk.process,
                    fd: chunk.fd,
                    direction: chunk.direction,
                    data: &chunk.data,
                    lost,
                    timestamp_ns: chunk.timestamp_ns,
                };
                self.table.push(key, &payload)
            }
            CaptureEvent::SessionSocket(socket) => {
                let key = ConnectionKey::Tls {
                    pid: socket.pid,
                    ssl: socket.ssl,
                };
                self.flows.mark_decrypted(socket.local, socket.remote);
                self.table
                    .set_socket(key, socket.fd, socket.local, socket.remote)
            }
            CaptureEvent::SessionEnd {
                pid,
                ssl,
                timestamp_ns,
            } => self
                .table
                .close(ConnectionKey::Tls { pid, ssl }, timestamp_ns),
            CaptureEvent::Segment(segment) => self.handle_segment(&segment),
            CaptureEvent::TcpState(state) => self.handle_tcp_state(&state),
        };
        for exchange in exchanges {
            self.record_exchange(exchange);
        }
    }

    /// Reassembles a cleartext segment and feeds what is in order to the
    /// connection table.
    fn handle_segment(&mut self, segment: &Segment) -> Vec<ConnectionExchange> {
        let mut evicted = Vec::new();
        let now_ms = crate::capture::sensor::unix_ms();
        let outcome = self.flows.push(segment, now_ms, &mut evicted);
        let mut exchanges = Vec::new();
        for flow in evicted {
            exchanges.extend(
                self.table
                    .close(ConnectionKey::Tcp(flow), segment.timestamp_ns),
            );
        }
        if outcome.stop_capture {
            self.verdicts.ignore(&segment.flow);
        }
        exchanges.extend(self.deliver(&segment.flow, outcome.deliveries, segment.timestamp_ns));
        exchanges
    }

    fn deliver(
        &mut self,
        flow: &Flow,
        deliveries: Vec<(bool, Delivery)>,
        timestamp_ns: u64,
    ) -> Vec<ConnectionExchange> {
        let key = ConnectionKey::Tcp(*flow);
        let mut exchanges = Vec::new();
        if deliveries.is_empty() {
            return exchanges;
        }
        for (a_to_b, delivery) in deliveries {
            let direction = if a_to_b {
                Direction::Egress
            } else {
                Direction::Ingress
            };
            let (data, lost): (&[u8], u64) = match &delivery {
                Delivery::Data(bytes) => (bytes, 0),
                Delivery::Gap(len) => (&[], *len),
            };
            let payload = Payload {
                process: "",
                fd: -1,
                direction,
                data,
                lost,
                timestamp_ns,
            };
            exchanges.extend(self.table.push(key, &payload));
        }

        if let Some(ends) = self.flows.ends(flow) {
            let [a, b] = ends;
            self.table.update_endpoint(&key, true, |end| *end = a);
            self.table.update_endpoint(&key, false, |end| *end = b);
            // Exchanges completed by this delivery were copied with the
            // endpoint information of before; refresh them.
            for exchange in &mut exchanges {
                if exchange.info.local.address == Some(flow.a) {
                    if let Some(ends) = self.flows.ends(flow) {
                        exchange.info.local = ends[0].clone();
                        exchange.info.remote = ends[1].clone();
                    }
                }
            }
        }
        if self.table.is_unparsed(&key) {
            self.flows.ignore(flow);
            self.verdicts.ignore(flow);
        }
        exchanges
    }

    fn handle_tcp_state(&mut self, state: &TcpState) -> Vec<ConnectionExchange> {
        let Some(deliveries) = self.flows.state_change(state, &self.clock) else {
            tracing::debug!(flow = ?state.flow, established = state.established, "state change of an untracked flow");
            return Vec::new();
        };
        let mut exchanges = self.deliver(&state.flow, deliveries, state.timestamp_ns);
        exchanges.extend(
            self.table
                .close(ConnectionKey::Tcp(state.flow), state.timestamp_ns),
        );
        exchanges
    }

    fn record_exchange(&mut self, item: ConnectionExchange) {
        let identity = match (
            item.info.role,
            item.info.local.address,
            item.info.remote.address,
        ) {
            (Some(role), Some(local), Some(remote)) if item.info.encrypted => Some(match role {
                Role::Client => ExchangeIdentity {
                    client: local,
                    server: remote,
                    ordinal: item.ordinal,
                },
                Role::Server => ExchangeIdentity {
                    client: remote,
                    server: local,
                    ordinal: item.ordinal,
                },
            }),
            _ => None,
        };

        if let Some(first) = identity.and_then(|identity| self.recent.pop(&identity)) {
            self.merge_second_view(first, &item);
            return;
        }

        let id = match self.shared.store.next_transaction_id() {
            Ok(id) => id,
            Err(error) => {
                self.store_failed(&error);
                return;
            }
        };
        let mut transaction = assemble(&item, id, &self.clock);
        self.attribute(&mut transaction, &item);
        self.sensitive.classify(&item, &mut transaction);
        {
            let mut inventory = self.shared.inventory();
            let endpoint = inventory.observe(&mut transaction);
            self.sensitive
                .seal(&item, &mut transaction, inventory.key(&endpoint));
        }
        self.counters.transactions += 1;
        if let Some(identity) = identity {
            let first = FirstView {
                id,
                endpoint_id: transaction.endpoint_id.clone(),
                client_label: transaction.client.label().into_owned(),
                server_label: transaction.server.label().into_owned(),
            };
            self.recent.put(identity, first);
        }
        if self.pending.is_empty() {
            self.pending_since = Instant::now();
        }
        self.pending.push(transaction);
        if self.pending.len() >= MAX_PENDING_TRANSACTIONS {
            self.write_pending();
        }
    }

    /// Writes the pending transactions when the oldest has waited
    /// [`PENDING_WINDOW`]; the capture thread calls it after every drain.
    pub fn write_pending_if_due(&mut self) {
        let requested = self.shared.pending.take_request();
        if requested || self.pending_since.elapsed() >= PENDING_WINDOW {
            self.write_pending();
        } else {
            self.shared.pending.publish(self.pending.len());
        }
    }

    /// Writes the pending transactions to the store as one batch.
    pub fn write_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Err(error) = self.shared.store.put_new_transactions(&self.pending) {
            self.store_failed(&error);
        }
        self.pending.clear();
        self.shared.pending.publish(0);
    }

    /// Completes a stored transaction with the process of its other end,
    /// seen when both client and server run on this node.
    fn merge_second_view(&mut self, first: FirstView, item: &ConnectionExchange) {
        self.counters.duplicates_merged += 1;
        let mut local = Peer::from_endpoint(&item.info.local);
        local.workload = self.attribution.workload(&item.info.local);
        local.use_process_command();
        let server_side = item.info.role == Some(Role::Server);

        // The inventory counted the call under the first view's label for
        // this end, often a bare address; count it under the process.
        let old_label = if server_side {
            &first.server_label
        } else {
            &first.client_label
        };
        self.shared.inventory().relabel_peer(
            &first.endpoint_id,
            server_side,
            old_label,
            local.label().into_owned(),
        );

        // The first view is usually still pending, since both views of a
        // call arrive within a few milliseconds. Pending ids increase.
        if let Ok(position) = self
            .pending
            .binary_search_by_key(&first.id, |pending| pending.id)
        {
            let pending = &mut self.pending[position];
            if server_side {
                pending.server = local;
            } else {
                pending.client = local;
            }
            return;
        }
        let end = if server_side {
            End::Server
        } else {
            End::Client
        };
        if let Err(error) = self.shared.store.put_end(first.id, end, &local) {
            self.store_failed(&error);
        }
    }

    /// Resolves the workloads of both ends and the traffic direction.
    fn attribute(&mut self, transaction: &mut Transaction, item: &ConnectionExchange) {
        let (client, server) = match item.info.role {
            Some(Role::Server) => (&item.info.remote, &item.info.local),
            _ => (&item.info.local, &item.info.remote),
        };
        transaction.client.workload = self.attribution.workload(client);
        transaction.server.workload = self.attribution.workload(server);
        transaction.client.use_process_command();
        transaction.server.use_process_command();
        transaction.direction = self.attribution.direction(client.address, server.address);
    }

    fn store_failed(&mut self, error: &anyhow::Error) {
        self.counters.store_errors += 1;
        if self.counters.store_errors.is_power_of_two() {
            warn!(
                error = format!("{error:#}"),
                count = self.counters.store_errors,
                "writing to the store failed"
            );
        }
    }

    /// Publishes counters, and now and then persists the inventory and
    /// applies retention.
    pub fn housekeeping(&mut self) {
        self.expire_idle();
        self.write_pending_if_due();
        self.publish();

        if self.last_persist.elapsed() >= PERSIST_INTERVAL {
            self.last_persist = Instant::now();
            if let Err(error) = self.persist() {
                self.store_failed(&error);
            }
        }
    }

    /// Frees connections and flows idle for longer than the timeout.
    fn expire_idle(&mut self) {
        let now_ns = Clock::monotonic_ns();
        let idle_ns = self.idle_timeout.as_nanos() as u64;
        let mut exchanges = self.table.expire_idle(now_ns, idle_ns);
        for flow in self.flows.expire_idle(now_ns, idle_ns) {
            exchanges.extend(self.table.close(ConnectionKey::Tcp(flow), now_ns));
        }
        for exchange in exchanges {
            self.record_exchange(exchange);
        }
    }

    fn publish(&mut self) {
        self.counters
            .absorb(self.table.counters(), self.table.len());
        let flows: FlowCounters = self.flows.counters();
        self.counters.flows = flows;
        self.counters.flows_open = self.flows.len() as u64;
        self.counters.classification = self.sensitive.counters();
        self.shared.stats.publish(self.counters);
        *self
            .shared
            .encrypted_flows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = self.flows.encrypted_flows();
        *self
            .shared
            .closed_connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = self.flows.closed_connections();
    }

    fn persist(&mut self) -> anyhow::Result<()> {
        let snapshot = self.shared.inventory().to_bytes();
        self.shared.store.save_inventory(&snapshot)?;
        self.counters.retention_removed += self
            .shared
            .store
            .enforce_retention(crate::capture::sensor::unix_ms())?;
        Ok(())
    }

    /// Flushes open connections and writes everything to disk.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        for exchange in self.table.close_all(Clock::monotonic_ns()) {
            self.record_exchange(exchange);
        }
        self.write_pending();
        self.publish();
        self.persist()?;
        self.shared.store.flush()
    }
}
