//! The API transaction: one request paired with its response, as every later
//! stage (inventory, store, API, CLI, export) sees it.
//!
//! Field names here are the single definition used by the store, the JSON
//! API and the CLI.

use std::{borrow::Cow, net::SocketAddr};

use serde::{Deserialize, Serialize};

use crate::{
    classify::Finding,
    streams::EndpointInfo,
    workload::{TrafficDirection, Workload},
};

/// Application protocol a transaction was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Http1,
    Http2,
    /// gRPC over HTTP/2.
    Grpc,
}

/// How a request authenticated itself, judged from its headers alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    None,
    Basic,
    Bearer,
    ApiKey,
    Cookie,
    Other,
}

impl AuthScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::None => "none",
            AuthScheme::Basic => "basic",
            AuthScheme::Bearer => "bearer",
            AuthScheme::ApiKey => "api_key",
            AuthScheme::Cookie => "cookie",
            AuthScheme::Other => "other",
        }
    }
}

/// One end of the TCP connection a transaction travelled on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub address: Option<SocketAddr>,
    /// Process id on this node, when the process is local.
    pub pid: Option<u32>,
    /// Process command name, when the process is local.
    pub process: Option<String>,
    /// Workload on this node (executable, cgroup, container, pod), when
    /// the end is local.
    #[serde(default)]
    pub workload: Option<Workload>,
}

impl Peer {
    /// The peer as the capture saw it, before workload resolution.
    pub fn from_endpoint(endpoint: &EndpointInfo) -> Self {
        Self {
            address: endpoint.address,
            pid: endpoint.pid,
            process: endpoint.process.clone(),
            workload: None,
        }
    }

    /// Replaces the captured thread name by the process's command name,
    /// when the workload has it.
    pub fn use_process_command(&mut self) {
        if let Some(command) = self.workload.as_ref().and_then(|w| w.command.clone()) {
            self.process = Some(command);
        }
    }

    /// A stable label for the inventory and the call graph: the pod, else
    /// the container, else the executable or command name, else the IP
    /// address. Pids are left out, because each run of a client has a new one.
    ///
    /// Borrowed where the peer stores the label already, because the
    /// inventory reads the labels of both ends of every call.
    pub fn label(&self) -> Cow<'_, str> {
        let workload = self.workload.as_ref();
        if let Some(workload) = workload.filter(|w| w.pod.is_some() || w.container_id.is_some()) {
            return Cow::Owned(workload.label());
        }
        let executable = workload
            .and_then(|w| w.executable.as_deref())
            .and_then(|path| path.rsplit('/').next())
            .filter(|name| !name.is_empty());
        if let Some(name) = executable.or(self.process.as_deref()) {
            return Cow::Borrowed(name);
        }
        match self.address {
            Some(address) => Cow::Owned(address.ip().to_string()),
            None => Cow::Borrowed("-"),
        }
    }
}

/// A header as stored: credential-bearing values are replaced by a marker,
/// so the store and the API never see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHeader {
    pub name: String,
    /// The value, or `None` when it was withheld as a credential.
    pub value: Option<String>,
}

/// Loss and parse faults that touched a transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionFlags {
    /// Some of the body bytes were not captured (per-call cap or ring-buffer
    /// loss), so sizes are lower bounds.
    pub truncated: bool,
    /// The response never arrived before the connection closed.
    pub no_response: bool,
    /// The body was larger than the analysis cap, or could not be decoded.
    pub body_not_analysed: bool,
    /// Bytes the sensitive-data scan left unread because the transaction's
    /// scan budget ran out; findings may be missing from them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes_not_scanned: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A body kept for an endpoint that opted in to raw-body capture, with
/// every classified value masked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedBody {
    pub content_type: Option<String>,
    /// The decoded body up to the capture cap, masked, as UTF-8 with
    /// invalid bytes replaced.
    pub text: String,
    /// Decoded body bytes in all, of which `text` contains at most the cap.
    pub size: u64,
    /// The body was longer than the cap, or was not captured whole.
    pub truncated: bool,
}

/// What a gRPC call adds to its transaction. Message payloads are not
/// stored, only counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcSummary {
    /// `package.Service`
    pub service: String,
    pub method: String,
    /// `grpc-status` from the trailers (0 is OK).
    pub status: Option<u32>,
    pub message: Option<String>,
    pub request_messages: u64,
    pub response_messages: u64,
    pub compressed: bool,
}

/// An HTTP request with its response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Monotonic id assigned by the daemon, unique per data directory.
    pub id: u64,
    /// Wall-clock time of the request's first byte, Unix milliseconds.
    pub started_at_ms: u64,
    /// From the request's first byte to the response's last, microseconds.
    pub latency_us: u64,
    pub protocol: Protocol,
    /// Whether the bytes were captured as TLS plaintext.
    pub encrypted: bool,
    pub method: String,
    /// `Host` header, or the server address when there is none.
    pub host: String,
    pub path: String,
    pub query: Option<String>,
    /// Response status, `None` when no response was seen.
    pub status: Option<u16>,
    pub request_headers: Vec<StoredHeader>,
    pub response_headers: Vec<StoredHeader>,
    /// Request bytes on the wire: start line, headers and body.
    pub request_size: u64,
    /// Response bytes on the wire: status line, headers and body.
    pub response_size: u64,
    pub auth: AuthScheme,
    pub client: Peer,
    pub server: Peer,
    /// East/west, north/south or third-party, from the internal networks.
    #[serde(default)]
    pub direction: Option<TrafficDirection>,
    /// HTTP/2 stream id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u32>,
    /// RST_STREAM error code, when the HTTP/2 stream was reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_code: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcSummary>,
    /// Id of the inventory endpoint this call was counted under.
    pub endpoint_id: String,
    pub flags: TransactionFlags,
    /// Sensitive data found in the call, as types, places, counts and keyed
    /// fingerprints; never the values.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Masked request body, only for endpoints with body capture on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<CapturedBody>,
    /// Masked response body, only for endpoints with body capture on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<CapturedBody>,
}

pub mod assemble;
