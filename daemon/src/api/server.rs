//! The API server. The socket is created with mode 0600 in a directory
//! of mode 0700, and every connection's peer credentials are checked, so
//! only root (uid 0) can query what the daemon has seen.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};
use tracing::{debug, info, warn};

use super::{
    Request, Response, StatusReport, DEFAULT_TRANSACTION_LIMIT, MAX_REQUEST_BYTES,
    MAX_TRANSACTION_LIMIT,
};
use crate::{capture::sensor::Sensor, pipeline::Shared};

/// How long a transaction listing waits for the capture thread to write
/// the transactions it holds. The thread looks every poll interval, so this
/// is reached only when it is stuck, and the listing goes on without them.
const PENDING_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// Everything a request can read.
pub struct ApiState {
    pub shared: Arc<Shared>,
    pub sensor: Arc<Mutex<Sensor>>,
    pub started: Instant,
}

/// Binds the socket at `path`. A leftover socket from a daemon that died is
/// replaced; a live one is an error, because two daemons would both hook.
pub async fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            bail!(
                "another ztapid is already serving {}; stop it first or pass --socket",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }

    // Create the socket with no group or other permissions from the start,
    // so it is never reachable by others, even for an instant.
    // SAFETY: umask only changes this process's file creation mask.
    let previous = unsafe { libc::umask(0o177) };
    let listener = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(previous) };
    let listener =
        listener.with_context(|| format!("cannot bind the API socket {}", path.display()))?;
    info!(socket = %path.display(), "API listening");
    Ok(listener)
}

/// Serves requests until the task is dropped.
pub async fn serve(listener: UnixListener, state: Arc<ApiState>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "accepting an API connection failed");
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            if let Err(error) = handle(stream, &state).await {
                debug!(
                    error = format!("{error:#}"),
                    "API connection ended with an error"
                );
            }
        });
    }
}

async fn handle(stream: UnixStream, state: &ApiState) -> anyhow::Result<()> {
    let peer = stream
        .peer_cred()
        .context("reading peer credentials failed")?;
    let (reader, mut writer) = stream.into_split();

    let response = if peer.uid() != 0 {
        warn!(
            uid = peer.uid(),
            "rejected an API request from a non-root user"
        );
        error_response("permission denied: the ztapid API is for root only".to_owned())
    } else {
        let mut line = String::new();
        let mut reader = BufReader::new(reader).take(MAX_REQUEST_BYTES as u64);
        reader.read_line(&mut line).await?;
        match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                let state_request = request.clone();
                // Store reads can touch the disk, so they run off the reactor.
                let shared = Arc::clone(&state.shared);
                let sensor = Arc::clone(&state.sensor);
                let started = state.started;
                tokio::task::spawn_blocking(move || answer(&shared, &sensor, started, state_request))
                    .await
                    .unwrap_or_else(|error| error_response(format!("request handler failed: {error}")))
            }
            Err(error) => error_response(format!(
                "invalid request {:?}: {error}; expected one JSON line such as {{\"command\":\"status\"}}",
                line.trim_end().chars().take(200).collect::<String>()
            )),
        }
    };

    let mut bytes = serde_json::to_vec(&response)?;
    bytes.push(b'\n');
    writer.write_all(&bytes).await?;
    writer.shutdown().await?;
    Ok(())
}

use tokio::io::AsyncReadExt as _;

fn error_response(error: String) -> Response {
    Response {
        ok: false,
        data: None,
        error: Some(error),
    }
}

fn ok_response(data: impl serde::Serialize) -> Response {
    match serde_json::to_value(data) {
        Ok(data) => Response {
            ok: true,
            data: Some(data),
            error: None,
        },
        Err(error) => error_response(format!("encoding the response failed: {error}")),
    }
}

fn answer(shared: &Shared, sensor: &Mutex<Sensor>, started: Instant, request: Request) -> Response {
    match request {
        Request::Status => {
            let sensor = sensor
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let report = StatusReport {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                pid: std::process::id(),
                uptime_seconds: started.elapsed().as_secs(),
                programs: sensor.programs(),
                libraries: sensor.libraries(),
                kernel: sensor
                    .counters()
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect(),
                pipeline: shared.stats.counters(),
                events_per_second: shared.stats.events_per_second(),
                stored_transactions: shared.store.transaction_count() as u64,
                endpoints: shared.inventory().len() as u64,
                store_bytes: shared.store.size_on_disk(),
                unreadable_segments: shared.store.unreadable_segments(),
            };
            ok_response(report)
        }
        Request::Endpoints { data: None } => ok_response(shared.inventory().endpoints()),
        Request::Endpoints { data: Some(name) } => {
            match super::data_filter(&name, &shared.data_types) {
                Ok(filter) => {
                    let mut endpoints = shared.inventory().endpoints();
                    endpoints.retain(|endpoint| {
                        crate::inventory::data_types::matches(&endpoint.data_types, &filter)
                    });
                    ok_response(endpoints)
                }
                Err(message) => error_response(message),
            }
        }
        Request::DataTypes => ok_response(&shared.data_types),
        Request::Graph => ok_response(super::call_graph(&shared.inventory().endpoints())),
        Request::Connections => {
            let encrypted = shared
                .encrypted_flows
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            let closed = shared
                .closed_connections
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            ok_response(serde_json::json!({ "encrypted": encrypted, "closed": closed }))
        }
        Request::Transactions { limit, endpoint } => {
            let limit = limit
                .unwrap_or(DEFAULT_TRANSACTION_LIMIT)
                .min(MAX_TRANSACTION_LIMIT);
            shared.pending.write_now(PENDING_WRITE_TIMEOUT);
            match shared.store.transactions(limit, endpoint.as_deref()) {
                Ok(transactions) => ok_response(transactions),
                Err(error) => error_response(format!("reading transactions failed: {error:#}")),
            }
        }
    }
}

/// Removes the socket file at shutdown.
pub fn remove_socket(path: &PathBuf) {
    if let Err(error) = std::fs::remove_file(path) {
        if error.kind() != std::io::ErrorKind::NotFound {
            warn!(socket = %path.display(), %error, "removing the API socket failed");
        }
    }
}
