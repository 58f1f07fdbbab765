//! Per-endpoint counters: what the inventory accumulates for each endpoint,
//! and how two endpoints' counters merge when a learned rule joins them.

use std::{borrow::Cow, collections::BTreeMap};

use serde::{Deserialize, Serialize};

use super::data_types::{self, DataTypeSeen};
use super::latency::LatencyHistogram;
use super::{EndpointKey, EndpointSummary};
use crate::{
    transaction::{AuthScheme, Protocol, Transaction},
    workload::TrafficDirection,
};

/// Distinct callers or servers remembered per endpoint; further ones are
/// counted under [`OTHER_PEERS`].
pub const MAX_PEERS_PER_ENDPOINT: usize = 32;
/// Label of the calls from peers past [`MAX_PEERS_PER_ENDPOINT`].
pub const OTHER_PEERS: &str = "(other)";

/// Calls per class of response status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusClasses {
    /// 1xx responses.
    pub informational: u64,
    /// 2xx responses.
    pub success: u64,
    /// 3xx responses.
    pub redirect: u64,
    /// 4xx responses.
    pub client_error: u64,
    /// 5xx responses.
    pub server_error: u64,
    /// Calls whose response never arrived.
    pub no_response: u64,
    /// Responses with a status outside 100 to 599, which HTTP does not define.
    pub other: u64,
}

impl StatusClasses {
    /// Counts one call with response status `status`, `None` when no response
    /// was seen.
    pub fn record(&mut self, status: Option<u16>) {
        let class = match status {
            None => &mut self.no_response,
            Some(100..=199) => &mut self.informational,
            Some(200..=299) => &mut self.success,
            Some(300..=399) => &mut self.redirect,
            Some(400..=499) => &mut self.client_error,
            Some(500..=599) => &mut self.server_error,
            Some(_) => &mut self.other,
        };
        *class = class.saturating_add(1);
    }

    /// Adds the counts of `other` to these.
    pub fn merge(&mut self, other: &StatusClasses) {
        self.informational = self.informational.saturating_add(other.informational);
        self.success = self.success.saturating_add(other.success);
        self.redirect = self.redirect.saturating_add(other.redirect);
        self.client_error = self.client_error.saturating_add(other.client_error);
        self.server_error = self.server_error.saturating_add(other.server_error);
        self.no_response = self.no_response.saturating_add(other.no_response);
        self.other = self.other.saturating_add(other.other);
    }
}

/// Everything the inventory stores about one endpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct EndpointStats {
    pub(super) key: EndpointKey,
    pub(super) protocols: Vec<Protocol>,
    pub(super) encrypted: bool,
    pub(super) plaintext: bool,
    pub(super) first_seen_ms: u64,
    pub(super) last_seen_ms: u64,
    pub(super) calls: u64,
    pub(super) status_classes: StatusClasses,
    /// Latencies of calls that got a response. A call without one has no
    /// response time, only the time until its connection closed.
    pub(super) latency: LatencyHistogram,
    /// Sorted and without duplicates.
    pub(super) auth_schemes: Vec<AuthScheme>,
    /// Tick of the endpoint's last call, for least-recently-seen eviction.
    pub(super) recency: u64,
    /// Sorted and without duplicates.
    #[serde(default)]
    pub(super) directions: Vec<TrafficDirection>,
    /// Calls per workload (or address) serving the endpoint.
    #[serde(default)]
    pub(super) servers: BTreeMap<String, u64>,
    /// Calls per workload (or address) calling the endpoint.
    #[serde(default)]
    pub(super) callers: BTreeMap<String, u64>,
    /// Sensitive data types carried, sorted by type and part.
    #[serde(default)]
    pub(super) data_types: Vec<DataTypeSeen>,
}

impl EndpointStats {
    /// Creates an endpoint with no calls yet.
    pub(super) fn new(key: EndpointKey, first_seen_ms: u64) -> Self {
        EndpointStats {
            key,
            protocols: Vec::new(),
            encrypted: false,
            plaintext: false,
            first_seen_ms,
            last_seen_ms: first_seen_ms,
            calls: 0,
            status_classes: StatusClasses::default(),
            latency: LatencyHistogram::new(),
            auth_schemes: Vec::new(),
            recency: 0,
            directions: Vec::new(),
            servers: BTreeMap::new(),
            callers: BTreeMap::new(),
            data_types: Vec::new(),
        }
    }

    /// Counts one call.
    pub(super) fn record(&mut self, tx: &Transaction) {
        self.calls = self.calls.saturating_add(1);
        // Transactions can arrive out of order, so both ends are updated.
        self.first_seen_ms = self.first_seen_ms.min(tx.started_at_ms);
        self.last_seen_ms = self.last_seen_ms.max(tx.started_at_ms);

        if tx.encrypted {
            self.encrypted = true;
        } else {
            self.plaintext = true;
        }
        add_protocol(&mut self.protocols, tx.protocol);
        add_auth_scheme(&mut self.auth_schemes, tx.auth);

        self.status_classes.record(tx.status);
        if tx.status.is_some() {
            self.latency.record(tx.latency_us);
        }

        if let Some(direction) = tx.direction {
            if let Err(position) = self.directions.binary_search(&direction) {
                self.directions.insert(position, direction);
            }
        }
        count_peer(&mut self.servers, tx.server.label(), 1);
        count_peer(&mut self.callers, tx.client.label(), 1);
        data_types::record(&mut self.data_types, &tx.findings, tx.started_at_ms);
    }

    /// Adds the counts of `other` into this endpoint. The key and recency
    /// stay this endpoint's; the caller sets them.
    pub(super) fn merge(&mut self, other: &EndpointStats) {
        self.calls = self.calls.saturating_add(other.calls);
        self.first_seen_ms = self.first_seen_ms.min(other.first_seen_ms);
        self.last_seen_ms = self.last_seen_ms.max(other.last_seen_ms);

        self.encrypted |= other.encrypted;
        self.plaintext |= other.plaintext;
        for &protocol in &other.protocols {
            add_protocol(&mut self.protocols, protocol);
        }
        for &scheme in &other.auth_schemes {
            add_auth_scheme(&mut self.auth_schemes, scheme);
        }

        self.status_classes.merge(&other.status_classes);
        self.latency.merge(&other.latency);

        for &direction in &other.directions {
            if let Err(position) = self.directions.binary_search(&direction) {
                self.directions.insert(position, direction);
            }
        }
        for (label, calls) in &other.servers {
            count_peer(&mut self.servers, label.into(), *calls);
        }
        for (label, calls) in &other.callers {
            count_peer(&mut self.callers, label.into(), *calls);
        }
        data_types::merge(&mut self.data_types, &other.data_types);
    }

    /// Returns the public view of this endpoint, under `id`.
    pub(super) fn summary(&self, id: &str) -> EndpointSummary {
        EndpointSummary {
            id: id.to_string(),
            service: self.key.service.clone(),
            method: self.key.method.clone(),
            path_template: self.key.path_template.clone(),
            protocols: self.protocols.clone(),
            encrypted: self.encrypted,
            plaintext: self.plaintext,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            calls: self.calls,
            status_classes: self.status_classes,
            latency_p50_us: self.latency.percentile(0.50),
            latency_p90_us: self.latency.percentile(0.90),
            latency_p99_us: self.latency.percentile(0.99),
            auth_schemes: self.auth_schemes.clone(),
            directions: self.directions.clone(),
            servers: self
                .servers
                .iter()
                .map(|(label, calls)| (label.clone(), *calls))
                .collect(),
            callers: self
                .callers
                .iter()
                .map(|(label, calls)| (label.clone(), *calls))
                .collect(),
            data_types: self.data_types.clone(),
        }
    }
}

impl EndpointStats {
    /// Moves one call from the peer label `old` to `new`, when the other
    /// end of a call is identified after it was counted.
    pub(super) fn relabel_peer(&mut self, server_side: bool, old: &str, new: String) {
        let peers = if server_side {
            &mut self.servers
        } else {
            &mut self.callers
        };
        let Some(calls) = peers.get_mut(old) else {
            return;
        };
        *calls -= 1;
        if *calls == 0 {
            peers.remove(old);
        }
        count_peer(peers, new.into(), 1);
    }
}

/// Adds `calls` to `label`, or to [`OTHER_PEERS`] when the map is full.
fn count_peer(peers: &mut BTreeMap<String, u64>, label: Cow<'_, str>, calls: u64) {
    // A peer already counted is the common case, and needs no owned label.
    if let Some(count) = peers.get_mut(label.as_ref()) {
        *count = count.saturating_add(calls);
        return;
    }
    let label = if peers.len() >= MAX_PEERS_PER_ENDPOINT {
        OTHER_PEERS.to_owned()
    } else {
        label.into_owned()
    };
    let entry = peers.entry(label).or_insert(0);
    *entry = entry.saturating_add(calls);
}

fn add_protocol(protocols: &mut Vec<Protocol>, protocol: Protocol) {
    if !protocols.contains(&protocol) {
        protocols.push(protocol);
    }
}

fn add_auth_scheme(schemes: &mut Vec<AuthScheme>, scheme: AuthScheme) {
    if let Err(position) = schemes.binary_search(&scheme) {
        schemes.insert(position, scheme);
    }
}
