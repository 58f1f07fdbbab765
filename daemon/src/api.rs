//! The daemon's JSON API on a Unix socket: one request line in, one
//! response line out, then the connection closes.
//!
//! `{"command":"status"}`, `{"command":"endpoints","data":"pci"}`,
//! `{"command":"data_types"}`,
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
    Endpoints {
        /// Only endpoints that carried data of this compliance set (`pci`,
        /// `gdpr`, `hipaa`, `ccpa`) or data type (`card_number`, ...).
        #[serde(default)]
        data: Option<String>,
    },
    /// The classifier's data types with their sensitivity and compliance.
    DataTypes,
    Transactions {
        #[serde(default)]
        limit: Option<usize>,
        #[serde(default)]
        endpoint: Option<String>,
    },
    /// Who calls whom, from the inventory.
    Graph,
    /// TLS connections seen only as ciphertext.
    Connections,
}

/// One edge of the call graph: calls from a caller to a service's server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GraphEdge {
    pub caller: String,
    pub server: String,
    pub service: String,
    pub calls: u64,
    /// east_west, north_south or third_party, joined by commas.
    pub directions: String,
    pub encrypted: bool,
    pub plaintext: bool,
}

/// Builds the call graph: one edge per (caller, server, service), summed
/// over the service's endpoints.
pub fn call_graph(endpoints: &[crate::inventory::EndpointSummary]) -> Vec<GraphEdge> {
    let mut edges: std::collections::BTreeMap<(String, String, String), GraphEdge> =
        std::collections::BTreeMap::new();
    for endpoint in endpoints {
        let server = endpoint
            .servers
            .iter()
            .max_by_key(|(_, calls)| *calls)
            .map_or_else(|| endpoint.service.clone(), |(label, _)| label.clone());
        let directions: Vec<String> = endpoint
            .directions
            .iter()
            .map(|direction| {
                serde_json::to_value(direction)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect();
        for (caller, calls) in &endpoint.callers {
            let key = (caller.clone(), server.clone(), endpoint.service.clone());
            let edge = edges.entry(key).or_insert_with(|| GraphEdge {
                caller: caller.clone(),
                server: server.clone(),
                service: endpoint.service.clone(),
                calls: 0,
                directions: String::new(),
                encrypted: false,
                plaintext: false,
            });
            edge.calls += calls;
            edge.encrypted |= endpoint.encrypted;
            edge.plaintext |= endpoint.plaintext;
            for direction in &directions {
                if !edge.directions.split(',').any(|known| known == direction) {
                    if !edge.directions.is_empty() {
                        edge.directions.push(',');
                    }
                    edge.directions.push_str(direction);
                }
            }
        }
    }
    edges.into_values().collect()
}

/// Reads an `endpoints --data` filter: a compliance set or the name of one
/// of `types`.
pub fn data_filter(
    name: &str,
    types: &[crate::classify::DataTypeInfo],
) -> Result<crate::inventory::DataFilter, String> {
    use crate::inventory::DataFilter;

    if let Ok(set) = name.parse::<crate::classify::Compliance>() {
        return Ok(DataFilter::Compliance(set));
    }
    if types.iter().any(|info| info.name == name) {
        return Ok(DataFilter::DataType(name.to_owned()));
    }
    let names: Vec<&str> = types.iter().map(|info| info.name.as_str()).collect();
    Err(format!(
        "unknown data filter {name:?}: expected a compliance set (pci, gdpr, hipaa, ccpa) or a data type ({}); `ztapi data-types` lists them",
        names.join(", ")
    ))
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
    /// Stored segments that listings skipped because they could not be read.
    #[serde(default)]
    pub unreadable_segments: u64,
}

/// [`HookedLibrary`] as the API carries it.
pub type HookedLibrarySummary = HookedLibrary;
/// [`PipelineCounters`] as the API carries it.
pub type PipelineCountersSummary = PipelineCounters;
