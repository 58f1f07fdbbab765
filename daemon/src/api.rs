//! The daemon's JSON API on a Unix socket: one request line in, one
//! response line out, then the connection closes.
//!
//! `{"command":"status"}`, `{"command":"endpoints"}`,
//! `{"command":"transactions","limit":20,"endpoint":"<id>"}`.

pub mod client;
pub mod server;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{capture::sensor::HookedLibrary, stats::PipelineCounters};

/// Transactions returned when a request names no limit.
pub const DEFAULT_TRANSACTION_LIMIT: usize = 20;
/// Transactions returned at most, whatever the request asks.
pub const MAX_TRANSACTION_LIMIT: usize = 10_000;
/// Longest request line the server reads.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A request to the daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    Status,
    Endpoints,
    Transactions {
        #[serde(default)]
        limit: Option<usize>,
        #[serde(default)]
        endpoint: Option<String>,
    },
}

/// The daemon's reply: `data` on success, `error` otherwise.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `ztapi status` shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    pub uptime_seconds: u64,
    /// eBPF programs loaded.
    pub programs: Vec<String>,
    pub libraries: Vec<HookedLibrarySummary>,
    /// Kernel-side counters summed over CPUs.
    pub kernel: BTreeMap<String, u64>,
    pub pipeline: PipelineCountersSummary,
    pub events_per_second: f64,
    pub stored_transactions: u64,
    pub endpoints: u64,
    pub store_bytes: u64,
}

/// [`HookedLibrary`] as the API carries it.
pub type HookedLibrarySummary = HookedLibrary;
/// [`PipelineCounters`] as the API carries it.
pub type PipelineCountersSummary = PipelineCounters;
