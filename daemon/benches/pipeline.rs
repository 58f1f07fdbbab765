//! Transactions per second through ztapid's user-space pipeline, without
//! the kernel. Generated ring-buffer records go through
//! [`Pipeline::handle_record`], the entry point the capture thread uses.
//! So each transaction is decoded, reassembled (cleartext TCP), parsed as
//! HTTP/1.1 or HTTP/2, assembled, classified for sensitive data with the
//! default classifier settings, templated into the inventory, and written
//! to the store (segment files and a sled index) in a temporary directory,
//! as the daemon does it.
//!
//! Groups:
//! - `pipeline`: the whole pipeline for cleartext HTTP/1.1 segments, HTTP/1.1
//!   over TLS and HTTP/2 over TLS.
//! - `stages`: record decoding alone, the connection table with its
//!   HTTP/1.1 parser alone, and `analysis-http1`: everything but the store
//!   (parsing, assembling, classification, inventory), to show where the
//!   time goes.
//! - `baseline`: `httparse` on the same request and response heads, the
//!   floor of any HTTP/1.1 parser.
//!
//! Every group reports transactions per iteration as its throughput, so
//! criterion prints transactions per second. The benchmark runs on one
//! thread; `cargo xtask bench pipeline` pins the whole process to one CPU,
//! so sled's background threads count against the same core.
//!
//! Run with `cargo bench -p ztapi --bench pipeline -- --warm-up-time 1
//! --measurement-time 3`.

#[path = "pipeline/corpus.rs"]
mod corpus;
#[path = "pipeline/http2.rs"]
mod http2;

use std::{
    hint::black_box,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ztapi::{
    attribution,
    capture::records::{self, CaptureEvent},
    classify::{Classifier, Fingerprinter},
    config::Config,
    inventory::Inventory,
    pipeline::{NoVerdicts, PendingWrites, Pipeline, PipelineSettings, Shared},
    protocols::http1::Http1Limits,
    reassembly::ReassemblyLimits,
    sensitive::SensitiveData,
    stats::PipelineStats,
    store::{Retention, Store},
    streams::{ConnectionExchange, ConnectionKey, ConnectionTable, Payload},
    transaction::assemble::{assemble, Clock},
    workload::NetworkScope,
};

use corpus::{Batch, Corpus};

/// Connections per batch and transactions per connection: keep-alive
/// connections of 16 calls, 1024 transactions a batch.
const CONNECTIONS: u16 = 64;
const PER_CONNECTION: u64 = 16;

/// Batches generated per case and handled in turn. Each has its own ports,
/// and together they carry more exchanges than the pipeline remembers for
/// merging the two views of one connection, so no batch is mistaken for a
/// repeat of an earlier one.
const BATCHES: usize = 8;

/// Transactions the bench store keeps; past it, each new transaction
/// makes retention delete an old one, as on a daemon that has run a while.
const STORE_TRANSACTIONS: u64 = 100_000;

/// Time between housekeeping steps, as in the daemon's capture thread.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);

/// A temporary data directory, removed when dropped.
struct DataDir(PathBuf);

impl DataDir {
    fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "ztapi-bench-pipeline-{label}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds a pipeline with the daemon's default limits, a store in
/// `directory`, and no kernel to send flow verdicts to. Also returns the
/// state it shares with the API, which carries its counters.
fn pipeline(directory: &Path) -> (Pipeline, Arc<Shared>) {
    let defaults = Config::default();
    let classifier = Classifier::new(&defaults.classification, Fingerprinter::from_key([7; 32]))
        .expect("the default classifier settings are valid");
    let sensitive = SensitiveData::new(classifier, defaults.body_capture.clone());
    let store = Store::open(
        directory,
        Retention {
            max_age_ms: defaults.retention_hours * 3_600_000,
            max_transactions: STORE_TRANSACTIONS,
        },
    )
    .expect("open the bench store");
    let shared = Arc::new(Shared {
        inventory: Mutex::new(Inventory::new(defaults.max_endpoints)),
        store,
        stats: PipelineStats::default(),
        encrypted_flows: Mutex::new(Vec::new()),
        closed_connections: Mutex::new(Vec::new()),
        data_types: sensitive.data_types(),
        pending: PendingWrites::default(),
    });
    let settings = PipelineSettings {
        max_connections: defaults.max_connections,
        max_flows: defaults.max_flows,
        http1: Http1Limits {
            max_body_capture: defaults.max_body_capture,
            ..Http1Limits::default()
        },
        reassembly: ReassemblyLimits::default(),
        attribution: attribution::node_settings(
            None,
            &defaults.pod_log_dir,
            NetworkScope::new(&[]).expect("no extra networks"),
        ),
        idle_timeout: Duration::from_secs(defaults.idle_timeout_seconds),
        sensitive,
    };
    let pipeline = Pipeline::new(Arc::clone(&shared), settings, Box::new(NoVerdicts));
    (pipeline, shared)
}

/// A corpus method that generates one batch of a protocol and transport.
type Generator = fn(&mut Corpus) -> Batch;

fn batches(mut generate: impl FnMut(&mut Corpus) -> Batch) -> Vec<Batch> {
    let mut corpus = Corpus::new(CONNECTIONS, PER_CONNECTION);
    (0..BATCHES).map(|_| generate(&mut corpus)).collect()
}

/// Measures the whole pipeline, one case per protocol and transport.
fn whole_pipeline(criterion: &mut Criterion) {
    let cases: [(&str, Generator); 3] = [
        ("http1-tcp", Corpus::http1_tcp),
        ("http1-tls", Corpus::http1_tls),
        ("http2-tls", Corpus::http2_tls),
    ];
    let mut group = criterion.benchmark_group("pipeline");
    for (name, generate) in cases {
        let batches = batches(generate);
        let directory = DataDir::new(name);
        let (mut pipeline, shared) = pipeline(directory.path());
        check_transactions(&mut pipeline, &shared, &batches[0], name);

        group.throughput(Throughput::Elements(batches[0].transactions));
        let mut next = 0;
        let mut last_housekeeping = Instant::now();
        group.bench_function(name, |bencher| {
            bencher.iter(|| {
                let batch = &batches[next % BATCHES];
                next += 1;
                for record in &batch.records {
                    pipeline.handle_record(record);
                }
                if last_housekeeping.elapsed() >= HOUSEKEEPING_INTERVAL {
                    pipeline.housekeeping();
                    last_housekeeping = Instant::now();
                }
            });
        });
        drop(pipeline);
    }
    group.finish();
}

/// Fails the benchmark when a batch does not become the transactions it
/// carries, so a parser change that breaks the corpus cannot look fast.
fn check_transactions(pipeline: &mut Pipeline, shared: &Shared, batch: &Batch, name: &str) {
    for record in &batch.records {
        pipeline.handle_record(record);
    }
    pipeline.housekeeping();
    let counters = shared.stats.counters();
    assert_eq!(
        counters.transactions, batch.transactions,
        "the {name} corpus produced {} transactions instead of {}; counters: {counters:?}",
        counters.transactions, batch.transactions
    );
}

/// Measures record decoding, and the connection table with its HTTP/1.1
/// parser.
fn stages(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("stages");
    let tcp = batches(Corpus::http1_tcp);
    group.throughput(Throughput::Elements(tcp[0].transactions));
    let mut next = 0;
    group.bench_function("decode", |bencher| {
        bencher.iter(|| {
            let batch = &tcp[next % BATCHES];
            next += 1;
            for record in &batch.records {
                black_box(records::decode(record).ok());
            }
        });
    });

    let tls: Vec<(u64, Vec<CaptureEvent>)> = batches(Corpus::http1_tls)
        .iter()
        .map(|batch| {
            let events = batch
                .records
                .iter()
                .filter_map(|record| records::decode(record).ok())
                .collect();
            (batch.transactions, events)
        })
        .collect();
    let mut table = ConnectionTable::new(Config::default().max_connections, Http1Limits::default());
    group.throughput(Throughput::Elements(tls[0].0));
    let mut next = 0;
    group.bench_function("streams-http1", |bencher| {
        bencher.iter(|| {
            let (_, events) = &tls[next % BATCHES];
            next += 1;
            let mut exchanges = 0;
            for event in events {
                exchanges += push_event(&mut table, event).len();
            }
            black_box(exchanges)
        });
    });

    // The stages the throughput target names: reassembly and parsing,
    // assembling, classification and templating into the inventory. The
    // store is left out; `pipeline/*` includes it.
    let defaults = Config::default();
    let classifier = Classifier::new(&defaults.classification, Fingerprinter::from_key([7; 32]))
        .expect("the default classifier settings are valid");
    let mut sensitive = SensitiveData::new(classifier, Vec::new());
    let mut inventory = Inventory::new(defaults.max_endpoints);
    let clock = Clock::new();
    let mut table = ConnectionTable::new(defaults.max_connections, Http1Limits::default());
    let mut next = 0;
    let mut id = 0;
    group.bench_function("analysis-http1", |bencher| {
        bencher.iter(|| {
            let (_, events) = &tls[next % BATCHES];
            next += 1;
            for event in events {
                for exchange in push_event(&mut table, event) {
                    id += 1;
                    let mut transaction = assemble(&exchange, id, &clock);
                    sensitive.classify(&exchange, &mut transaction);
                    let endpoint = inventory.observe(&mut transaction);
                    sensitive.seal(&exchange, &mut transaction, inventory.key(&endpoint));
                    black_box(&transaction);
                }
            }
        });
    });
    group.finish();
}

/// Feeds one decoded TLS event to the connection table; returns the
/// exchanges it completed.
fn push_event(table: &mut ConnectionTable, event: &CaptureEvent) -> Vec<ConnectionExchange> {
    match event {
        CaptureEvent::Chunk(chunk) => {
            let payload = Payload {
                process: &chunk.process,
                fd: chunk.fd,
                direction: chunk.direction,
                data: &chunk.data,
                lost: 0,
                timestamp_ns: chunk.timestamp_ns,
            };
            let key = ConnectionKey::Tls {
                pid: chunk.pid,
                ssl: chunk.ssl,
            };
            table.push(key, &payload)
        }
        CaptureEvent::SessionSocket(socket) => {
            let key = ConnectionKey::Tls {
                pid: socket.pid,
                ssl: socket.ssl,
            };
            table.set_socket(key, socket.fd, socket.local, socket.remote)
        }
        CaptureEvent::SessionEnd {
            pid,
            ssl,
            timestamp_ns,
        } => table.close(
            ConnectionKey::Tls {
                pid: *pid,
                ssl: *ssl,
            },
            *timestamp_ns,
        ),
        _ => Vec::new(),
    }
}

/// Measures `httparse` on each request and response head of a batch.
fn baseline(criterion: &mut Criterion) {
    let messages: Vec<(Vec<u8>, Vec<u8>)> = (0..u64::from(CONNECTIONS) * PER_CONNECTION)
        .map(corpus::http1_messages)
        .collect();
    let mut group = criterion.benchmark_group("baseline");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("httparse", |bencher| {
        bencher.iter(|| {
            let mut parsed = 0;
            for (request, response) in &messages {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut parsed_request = httparse::Request::new(&mut headers);
                if parsed_request
                    .parse(request)
                    .is_ok_and(|status| status.is_complete())
                {
                    parsed += 1;
                }
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut parsed_response = httparse::Response::new(&mut headers);
                if parsed_response
                    .parse(response)
                    .is_ok_and(|status| status.is_complete())
                {
                    parsed += 1;
                }
            }
            black_box(parsed)
        });
    });
    group.finish();
}

criterion_group!(benches, whole_pipeline, stages, baseline);
criterion_main!(benches);
