//! The API endpoint inventory: every endpoint seen on the wire, keyed by
//! service, method and path template, with its call count, status classes,
//! latency percentiles, transports and authentication schemes.
//!
//! Memory is bounded: at most `max_endpoints` endpoints are kept, and when a
//! new one arrives at the limit the least recently seen is evicted and
//! counted. The inventory serialises to a JSON snapshot (see [`Inventory::to_bytes`]), so
//! the daemon can persist it and reload it after a restart.

pub mod data_types;
pub mod latency;
pub mod template;

mod endpoint;
mod fnv;
mod learned;
mod recency;
mod snapshot;

use std::{borrow::Cow, collections::HashMap};

use serde::{Deserialize, Serialize};

use crate::transaction::{AuthScheme, Protocol, Transaction};
use crate::workload::TrafficDirection;
use endpoint::EndpointStats;

pub use data_types::{DataFilter, DataTypeSeen};
use fnv::Fnv1a;
use learned::ParamRules;
use recency::RecencyIndex;

pub use endpoint::StatusClasses;
pub use learned::PARAM_THRESHOLD;
pub use snapshot::{InventoryError, SNAPSHOT_VERSION};

/// Maximum length of a service name, in bytes: a 253-byte DNS name, a colon
/// and a 5-digit port. Longer `Host` values are cut, so a hostile header
/// cannot make one key arbitrarily large.
pub const MAX_SERVICE_LEN: usize = 259;

/// Maximum length of a method, in bytes. Standard and WebDAV methods are far
/// shorter. Longer ones are cut for the same reason as service names.
pub const MAX_METHOD_LEN: usize = 32;

/// The fields that identify an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EndpointKey {
    /// Lowercased `Host` without the scheme's default port, as made by
    /// [`service_name`].
    pub service: String,
    /// Request method, as sent.
    pub method: String,
    /// Path template, as made by [`template::template_path`] and then the
    /// learned `{param}` rule.
    pub path_template: String,
}

/// Stable id of an endpoint, the same across restarts and machines: 16
/// lowercase hex digits of the 64-bit FNV-1a hash of
/// `service 0xFF method 0xFF path_template`, the strings as UTF-8 bytes.
pub fn endpoint_id(key: &EndpointKey) -> String {
    id_of(&key.service, &key.method, &key.path_template)
}

/// Computes [`endpoint_id`] from borrowed parts of the key.
fn id_of(service: &str, method: &str, path_template: &str) -> String {
    let mut hash = Fnv1a::new();
    hash.write_part(service);
    hash.write_part(method);
    hash.write(path_template.as_bytes());
    format!("{:016x}", hash.finish())
}

/// Returns the service name for a transaction's `host` (the `Host` header or
/// the server address): trimmed, lowercased, without `:443` when `encrypted`
/// or `:80` otherwise, and cut to [`MAX_SERVICE_LEN`] bytes.
pub fn service_name(host: &str, encrypted: bool) -> String {
    let host = host.trim();
    // Hosts are nearly always lowercase already; lowercasing copies.
    let host: Cow<'_, str> = if host.bytes().any(|byte| {
        !byte.is_ascii_lowercase() && !byte.is_ascii_digit() && !b".-:[]_".contains(&byte)
    }) {
        Cow::Owned(host.to_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    let default_port = if encrypted { ":443" } else { ":80" };

    // A colon left in the remainder means `host` was an unbracketed IPv6
    // address such as `fe80::80`, whose last group is not a port.
    let service = match host.strip_suffix(default_port) {
        Some(rest) if !rest.is_empty() && (rest.ends_with(']') || !rest.contains(':')) => rest,
        _ => host.as_ref(),
    };
    truncate_to_char_boundary(service, MAX_SERVICE_LEN).to_string()
}

fn truncate_to_char_boundary(text: &str, max_len: usize) -> &str {
    if text.len() <= max_len {
        return text;
    }
    let mut end = max_len;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The public view of one endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EndpointSummary {
    /// See [`endpoint_id`].
    pub id: String,
    pub service: String,
    pub method: String,
    pub path_template: String,
    /// Protocols the endpoint was seen on, in order of first sight.
    pub protocols: Vec<Protocol>,
    /// Seen over TLS at least once.
    pub encrypted: bool,
    /// Seen in clear text at least once.
    pub plaintext: bool,
    /// Earliest call start, Unix milliseconds.
    pub first_seen_ms: u64,
    /// Latest call start, Unix milliseconds.
    pub last_seen_ms: u64,
    pub calls: u64,
    pub status_classes: StatusClasses,
    /// Median latency of calls that got a response, within about 1.6 %.
    /// `None` before the first response.
    pub latency_p50_us: Option<u64>,
    /// 90th percentile latency, as for `latency_p50_us`.
    pub latency_p90_us: Option<u64>,
    /// 99th percentile latency, as for `latency_p50_us`.
    pub latency_p99_us: Option<u64>,
    /// Authentication schemes seen, sorted.
    pub auth_schemes: Vec<AuthScheme>,
    /// East/west, north/south or third-party, as seen so far.
    #[serde(default)]
    pub directions: Vec<TrafficDirection>,
    /// Workloads serving the endpoint, with their call counts.
    #[serde(default)]
    pub servers: Vec<(String, u64)>,
    /// Workloads or addresses calling the endpoint, with their call counts.
    #[serde(default)]
    pub callers: Vec<(String, u64)>,
    /// Sensitive data types carried in requests and responses.
    #[serde(default)]
    pub data_types: Vec<DataTypeSeen>,
}

/// The bounded set of endpoints seen so far.
#[derive(Clone, Debug)]
pub struct Inventory {
    max_endpoints: usize,
    /// Endpoints by id.
    endpoints: HashMap<String, EndpointStats>,
    recency: RecencyIndex<String>,
    rules: ParamRules,
    evictions: u64,
}

impl Inventory {
    /// Creates an empty inventory that keeps at most `max_endpoints`
    /// endpoints. A limit of 0 is taken as 1, so the endpoint of the call
    /// just observed always exists.
    pub fn new(max_endpoints: usize) -> Self {
        let max_endpoints = max_endpoints.max(1);
        Inventory {
            max_endpoints,
            endpoints: HashMap::new(),
            recency: RecencyIndex::default(),
            rules: ParamRules::new(learned::position_capacity(max_endpoints)),
            evictions: 0,
        }
    }

    /// Counts `tx` under its endpoint (creating it), sets `tx.endpoint_id`,
    /// and returns the id.
    ///
    /// Creating an endpoint at the limit evicts the least recently seen one.
    /// When this call makes a learned rule collapse a position, endpoints
    /// counted under the old literals are merged into the `{param}` endpoint,
    /// and their old ids stop resolving.
    pub fn observe(&mut self, tx: &mut Transaction) -> String {
        let service = service_name(&tx.host, tx.encrypted);
        let method = truncate_to_char_boundary(&tx.method, MAX_METHOD_LEN);
        let path_template = self.learned_template(&service, method, &tx.path);
        let id = id_of(&service, method, &path_template);

        // A known endpoint is the common case: it needs no key of its own.
        match self.endpoints.get_mut(&id) {
            Some(stats) => {
                stats.record(tx);
                stats.recency = self.recency.retouch(stats.recency);
            }
            None => {
                let key = EndpointKey {
                    service,
                    method: method.to_owned(),
                    path_template,
                };
                let mut stats = EndpointStats::new(key, tx.started_at_ms);
                stats.record(tx);
                stats.recency = self.recency.touch(id.clone(), None);
                self.endpoints.insert(id.clone(), stats);
                self.evict_over_capacity();
            }
        }

        tx.endpoint_id.clone_from(&id);
        id
    }

    /// Returns all endpoints, sorted by service, path template and method.
    pub fn endpoints(&self) -> Vec<EndpointSummary> {
        let mut summaries: Vec<EndpointSummary> = self
            .endpoints
            .iter()
            .map(|(id, stats)| stats.summary(id))
            .collect();
        summaries.sort_by(|a, b| {
            (&a.service, &a.path_template, &a.method).cmp(&(
                &b.service,
                &b.path_template,
                &b.method,
            ))
        });
        summaries
    }

    /// Counts one call of endpoint `id` under the peer label `new` instead of
    /// `old`: the server's when `server_side`, else the caller's. Used when
    /// the second view of a call names a process the first view saw only as
    /// an address.
    pub fn relabel_peer(&mut self, id: &str, server_side: bool, old: &str, new: String) {
        if old == new {
            return;
        }
        if let Some(stats) = self.endpoints.get_mut(id) {
            stats.relabel_peer(server_side, old, new);
        }
    }

    /// Returns the key of the endpoint with id `id`, if it is in the
    /// inventory.
    pub fn key(&self, id: &str) -> Option<&EndpointKey> {
        self.endpoints.get(id).map(|stats| &stats.key)
    }

    /// Returns the endpoint with id `id`, if it is in the inventory.
    pub fn endpoint(&self, id: &str) -> Option<EndpointSummary> {
        self.endpoints.get(id).map(|stats| stats.summary(id))
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Returns whether the inventory has no endpoints: none seen yet, or all
    /// evicted.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Maximum number of endpoints kept.
    pub fn max_endpoints(&self) -> usize {
        self.max_endpoints
    }

    /// Number of endpoints evicted to stay within the limit since the
    /// inventory was created, including before a snapshot was taken.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Templates `path` with the learned rules applied and records its
    /// literals in them. Merges the endpoints of any position this collapses.
    fn learned_template(&mut self, service: &str, method: &str, path: &str) -> String {
        if template::is_asterisk_form(path) {
            return template::ASTERISK_FORM.to_string();
        }

        let mut segments = template::template_segments(path);
        let collapsed = self.rules.apply(service, method, &mut segments);
        // Ascending order matters, because a collapse at an earlier position
        // changes the prefix that later positions' endpoints are matched on.
        for position in collapsed {
            self.merge_collapsed(service, method, &segments[..position]);
        }
        template::join_segments(&segments)
    }

    /// Rewrites every endpoint of `service` and `method` whose template has
    /// a literal right after `prefix` to `{param}` there, merging endpoints
    /// that end up with the same template.
    fn merge_collapsed(&mut self, service: &str, method: &str, prefix: &[String]) {
        let position = prefix.len();
        let matching_ids: Vec<String> = self
            .endpoints
            .iter()
            .filter(|(_, stats)| {
                stats.key.service == service
                    && stats.key.method == method
                    && has_literal_after(&stats.key.path_template, prefix)
            })
            .map(|(id, _)| id.clone())
            .collect();

        for old_id in matching_ids {
            let Some(mut stats) = self.endpoints.remove(&old_id) else {
                continue;
            };
            self.recency.remove(stats.recency);

            let mut segments = template::split_template(&stats.key.path_template);
            segments[position] = template::PARAM;
            stats.key.path_template = template::join_segments(&segments);
            let new_id = endpoint_id(&stats.key);

            // The merged endpoint keeps the newer tick of the two, so merging
            // never makes an endpoint look more recently seen than it was.
            if let Some(existing) = self.endpoints.get_mut(&new_id) {
                existing.merge(&stats);
                if stats.recency > existing.recency {
                    self.recency.remove(existing.recency);
                    existing.recency = stats.recency;
                    self.recency.reinsert(new_id, stats.recency);
                }
            } else {
                self.recency.reinsert(new_id.clone(), stats.recency);
                self.endpoints.insert(new_id, stats);
            }
        }
    }

    fn evict_over_capacity(&mut self) {
        while self.endpoints.len() > self.max_endpoints {
            let Some(oldest) = self.recency.pop_oldest() else {
                break;
            };
            if self.endpoints.remove(&oldest).is_some() {
                self.evictions = self.evictions.saturating_add(1);
            }
        }
    }
}

/// Returns whether `path_template` starts with the segments `prefix` and has
/// a literal segment right after them. The asterisk form has no segments.
fn has_literal_after(path_template: &str, prefix: &[String]) -> bool {
    if path_template == template::ASTERISK_FORM {
        return false;
    }
    let segments = template::split_template(path_template);
    segments.len() > prefix.len()
        && segments
            .iter()
            .zip(prefix)
            .all(|(segment, expected)| segment == expected)
        && !template::is_placeholder(segments[prefix.len()])
}

#[cfg(test)]
mod tests;
