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

use crate::{
    capture::records::{self, CaptureEvent},
    inventory::Inventory,
    protocols::http1::Http1Limits,
    stats::{PipelineCounters, PipelineStats},
    store::Store,
    streams::{ConnectionExchange, ConnectionKey, ConnectionTable, Payload},
    transaction::{
        assemble::{assemble, Clock},
        Peer, Transaction,
    },
};

/// Time between inventory snapshots and retention passes.
const PERSIST_INTERVAL: Duration = Duration::from_secs(5);

/// Exchanges remembered to merge the second view of a connection whose two
/// ends are both on this node.
const RECENT_EXCHANGES: usize = 4096;

/// State the pipeline shares with the API.
pub struct Shared {
    pub inventory: Mutex<Inventory>,
    pub store: Store,
    pub stats: PipelineStats,
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

pub struct Pipeline {
    table: ConnectionTable,
    shared: Arc<Shared>,
    clock: Clock,
    counters: PipelineCounters,
    recent: LruCache<ExchangeIdentity, u64>,
    last_persist: Instant,
}

impl Pipeline {
    pub fn new(shared: Arc<Shared>, max_connections: usize, limits: Http1Limits) -> Self {
        Self {
            table: ConnectionTable::new(max_connections, limits),
            shared,
            clock: Clock::new(),
            counters: PipelineCounters::default(),
            recent: LruCache::new(NonZeroUsize::new(RECENT_EXCHANGES).expect("non-zero constant")),
            last_persist: Instant::now(),
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
                let key = ConnectionKey {
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
                let key = ConnectionKey {
                    pid: socket.pid,
                    ssl: socket.ssl,
                };
                self.table
                    .set_socket(key, socket.fd, socket.local, socket.remote)
            }
            CaptureEvent::SessionEnd {
                pid,
                ssl,
                timestamp_ns,
            } => self.table.close(ConnectionKey { pid, ssl }, timestamp_ns),
        };
        for exchange in exchanges {
            self.record_exchange(exchange);
        }
    }

    fn record_exchange(&mut self, item: ConnectionExchange) {
        let identity = match (item.info.role, item.info.local, item.info.remote) {
            (Some(role), Some(local), Some(remote)) => Some(match role {
                crate::streams::Role::Client => ExchangeIdentity {
                    client: local,
                    server: remote,
                    ordinal: item.ordinal,
                },
                crate::streams::Role::Server => ExchangeIdentity {
                    client: remote,
                    server: local,
                    ordinal: item.ordinal,
                },
            }),
            _ => None,
        };

        if let Some(existing) = identity.and_then(|identity| self.recent.pop(&identity)) {
            self.merge_second_view(existing, &item);
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
        self.shared.inventory().observe(&mut transaction);
        self.counters.transactions += 1;
        if let Err(error) = self.shared.store.put_transaction(&transaction) {
            self.store_failed(&error);
        }
        if let Some(identity) = identity {
            self.recent.put(identity, id);
        }
    }

    /// Completes a stored transaction with the process of its other end,
    /// seen when both client and server run on this node.
    fn merge_second_view(&mut self, id: u64, item: &ConnectionExchange) {
        self.counters.duplicates_merged += 1;
        let mut transaction: Transaction = match self.shared.store.transaction(id) {
            Ok(Some(transaction)) => transaction,
            Ok(None) => return,
            Err(error) => {
                self.store_failed(&error);
                return;
            }
        };
        let local = Peer {
            address: item.info.local,
            pid: Some(item.info.pid),
            process: Some(item.info.process.clone()),
        };
        match item.info.role {
            Some(crate::streams::Role::Server) => transaction.server = local,
            _ => transaction.client = local,
        }
        if let Err(error) = self.shared.store.put_transaction(&transaction) {
            self.store_failed(&error);
        }
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
        self.counters
            .absorb(self.table.counters(), self.table.len());
        self.shared.stats.publish(self.counters);

        if self.last_persist.elapsed() >= PERSIST_INTERVAL {
            self.last_persist = Instant::now();
            if let Err(error) = self.persist() {
                self.store_failed(&error);
            }
        }
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
        self.counters
            .absorb(self.table.counters(), self.table.len());
        self.shared.stats.publish(self.counters);
        self.persist()?;
        self.shared.store.flush()
    }
}
