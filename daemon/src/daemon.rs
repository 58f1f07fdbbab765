//! The daemon's lifecycle: checks, loading, the capture thread, library
//! discovery, the API, and a clean shutdown on SIGINT or SIGTERM.

use std::{
    path::Path,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use crate::{
    api::server::{self, ApiState},
    attribution,
    capture::{
        libraries, reader,
        sensor::{find_cgroup2_root, Sensor, SensorSettings},
    },
    classify::{Classifier, Fingerprinter},
    config::{Config, DaemonArgs, EXIT_BAD_CONFIG},
    inventory::Inventory,
    pipeline::{FlowVerdicts, NoVerdicts, PipelineSettings},
    pipeline::{PendingWrites, Pipeline, Shared},
    preflight,
    protocols::http1::Http1Limits,
    reassembly::ReassemblyLimits,
    sensitive::SensitiveData,
    stats::PipelineStats,
    store::{Retention, Store},
    workload::NetworkScope,
};

/// The per-node secret of the keyed fingerprints, in the data directory.
pub const FINGERPRINT_KEY_FILE: &str = "fingerprint.key";

/// How long the capture thread gets to drain and flush at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Time between ring-buffer polls when no wakeup arrives.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Entry point of `ztapid`.
pub fn main(args: DaemonArgs) -> ExitCode {
    init_tracing();

    // mimalloc requests transparent huge pages for its arenas, so every
    // 2 MiB region the daemon touches becomes resident whole: an idle
    // daemon measured 86 MB resident with them and 53 MB without. The
    // pipeline benchmark ran as fast with MIMALLOC_ALLOW_THP=0 as without.
    // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        warn!(
            error = %std::io::Error::last_os_error(),
            "turning off transparent huge pages failed; resident memory will be higher"
        );
    }

    let config = match Config::load(&args) {
        Ok(config) => config,
        Err(error) => {
            error!("{error}");
            return ExitCode::from(EXIT_BAD_CONFIG as u8);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sled=warn"));
    // Colour codes only help a terminal; in a file or journald they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

async fn run(config: Config) -> anyhow::Result<()> {
    preflight::check(config.plaintext)?;

    // Bound before anything is loaded, so a second daemon on the same
    // socket stops at once instead of after attaching its programs. The
    // guard removes the socket however `run` ends.
    let listener = server::bind(&config.socket).await?;
    let _socket = SocketGuard(&config.socket);

    let store = Store::open(
        &config.data_dir,
        Retention {
            max_age_ms: config.retention_hours.saturating_mul(3_600_000),
            max_transactions: config.retention_max_transactions,
        },
    )?;
    let inventory = load_inventory(&store, config.max_endpoints);
    let sensitive = load_classifier(&config)?;
    info!(
        data_dir = %config.data_dir.display(),
        endpoints = inventory.len(),
        transactions = store.transaction_count(),
        "store opened"
    );

    let cgroup_root = find_cgroup2_root();
    if cgroup_root.is_none() {
        warn!("no cgroup v2 mount found; cleartext capture and cgroup attribution are off");
    }
    let settings = SensorSettings {
        ring_buffer_bytes: config.ring_buffer_bytes,
        max_call_bytes: config.max_call_bytes,
        max_packet_bytes: config.max_packet_bytes,
        pids: config.pids.clone(),
        cgroup_root: cgroup_root.clone().filter(|_| config.plaintext),
    };
    let (sensor, mut streams) = Sensor::load(&settings)?;
    let verdicts = streams.flows_for_pipeline.take();
    let sensor = Arc::new(Mutex::new(sensor));

    let shared = Arc::new(Shared {
        inventory: Mutex::new(inventory),
        store,
        stats: PipelineStats::default(),
        encrypted_flows: Mutex::new(Vec::new()),
        closed_connections: Mutex::new(Vec::new()),
        data_types: sensitive.data_types(),
        pending: PendingWrites::default(),
    });
    let scope = NetworkScope::new(&config.internal_networks).context("invalid internal network")?;
    let pipeline_settings = PipelineSettings {
        max_connections: config.max_connections,
        max_flows: config.max_flows,
        http1: Http1Limits {
            max_body_capture: config.max_body_capture,
            ..Http1Limits::default()
        },
        reassembly: ReassemblyLimits::default(),
        attribution: attribution::node_settings(cgroup_root, &config.pod_log_dir, scope),
        idle_timeout: Duration::from_secs(config.idle_timeout_seconds),
        sensitive,
    };
    let verdicts: Box<dyn FlowVerdicts> = match verdicts {
        Some(flows) => Box::new(flows),
        None => Box::new(NoVerdicts),
    };
    let pipeline = Pipeline::new(Arc::clone(&shared), pipeline_settings, verdicts);
    let stop = Arc::new(AtomicBool::new(false));
    let capture_thread = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("capture".to_owned())
            .spawn(move || reader::run(streams, pipeline, stop, POLL_INTERVAL))
            .context("cannot start the capture thread")?
    };

    let api_state = Arc::new(ApiState {
        shared: Arc::clone(&shared),
        sensor: Arc::clone(&sensor),
        started: Instant::now(),
    });
    let api_task = tokio::spawn(server::serve(listener, api_state));

    let discovery_task = tokio::spawn(discover_libraries(
        Arc::clone(&sensor),
        config.pids.clone(),
        Duration::from_millis(config.scan_interval_ms),
    ));

    wait_for_signal().await?;
    info!("shutting down");

    api_task.abort();
    discovery_task.abort();
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while !capture_thread.is_finished() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if capture_thread.is_finished() {
        if capture_thread.join().is_err() {
            warn!("the capture thread panicked; recent transactions may be lost");
        }
    } else {
        warn!(
            grace_seconds = SHUTDOWN_GRACE.as_secs(),
            "capture thread did not finish in time; exiting without its last flush"
        );
    }

    // Dropping the sensor detaches every program.
    drop(sensor);
    info!("stopped");
    Ok(())
}

/// Removes the API socket when dropped.
struct SocketGuard<'a>(&'a std::path::PathBuf);

impl Drop for SocketGuard<'_> {
    fn drop(&mut self) {
        server::remove_socket(self.0);
    }
}

/// Builds the classifier with the node's fingerprint key, which is created
/// on first start in the data directory with mode 0600 and never leaves it.
fn load_classifier(config: &Config) -> anyhow::Result<SensitiveData> {
    let key_path = config.data_dir.join(FINGERPRINT_KEY_FILE);
    let fingerprinter = Fingerprinter::load_or_create(&key_path)?;
    let classifier = Classifier::new(&config.classification, fingerprinter)
        .context("invalid classification settings")?;
    let types = classifier.data_types();
    info!(
        data_types = types.iter().filter(|t| t.enabled).count(),
        body_capture_rules = config.body_capture.len(),
        "classifier ready"
    );
    Ok(SensitiveData::new(classifier, config.body_capture.clone()))
}

fn load_inventory(store: &Store, max_endpoints: usize) -> Inventory {
    match store.load_inventory() {
        Ok(Some(bytes)) => match Inventory::from_bytes(&bytes, max_endpoints) {
            Ok(inventory) => inventory,
            Err(error) => {
                warn!(%error, "the stored inventory is unreadable; starting a new one (transactions are kept)");
                Inventory::new(max_endpoints)
            }
        },
        Ok(None) => Inventory::new(max_endpoints),
        Err(error) => {
            warn!(
                error = format!("{error:#}"),
                "reading the stored inventory failed; starting a new one"
            );
            Inventory::new(max_endpoints)
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    tokio::select! {
        _ = interrupt.recv() => info!(signal = "SIGINT", "signal received"),
        _ = terminate.recv() => info!(signal = "SIGTERM", "signal received"),
    }
    Ok(())
}

/// Scans for TLS libraries every `interval` and hooks new ones, so
/// processes started after the daemon are captured within one interval.
async fn discover_libraries(sensor: Arc<Mutex<Sensor>>, pids: Vec<u32>, interval: Duration) {
    let mut reported_empty = false;
    loop {
        let pids_for_scan = pids.clone();
        let found = tokio::task::spawn_blocking(move || {
            libraries::scan(Path::new("/proc"), &pids_for_scan)
        })
        .await
        .unwrap_or_default();

        if found.is_empty() && !reported_empty {
            warn!(
                "no running process maps libssl yet; nothing to hook, scanning again every {} ms",
                interval.as_millis()
            );
            reported_empty = true;
        }
        {
            let mut sensor = sensor
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for library in found {
                let pids: Vec<u32> = library.pids.iter().copied().collect();
                if sensor.knows(&library.id) {
                    sensor.update_pids(&library.id, pids);
                } else {
                    sensor.attach_library(library.id, &library.path, &library.attach_path, pids);
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}
