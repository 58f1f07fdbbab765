//! The inventory's snapshot format, for persisting it across restarts.
//!
//! A snapshot is one JSON object: the format version, the endpoint limit, the
//! eviction count, the endpoints least recently seen first, and the learned
//! positions in the same order. Loading checks everything that later code
//! relies on, so a corrupt or hostile snapshot is an error and never a panic.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::endpoint::EndpointStats;
use super::learned::{self, ParamRules, Position};
use super::{endpoint_id, Inventory};

/// Version of the snapshot format written by [`Inventory::to_bytes`]. Bump
/// it when the format or the templating rules change, because endpoint ids
/// from the old rules would no longer match new traffic.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Error from loading an inventory snapshot.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The bytes are not JSON of the snapshot's shape.
    #[error("failed to decode the inventory snapshot: {0}")]
    Decode(#[from] serde_json::Error),
    /// The snapshot was written in a format this build cannot read.
    #[error("inventory snapshot has format version {found}, but this build reads only version {expected}; discard it to start an empty inventory")]
    UnsupportedVersion { found: u32, expected: u32 },
    /// The snapshot decodes, but its parts contradict each other.
    #[error("inventory snapshot is inconsistent: {0}")]
    Inconsistent(String),
}

/// The snapshot's fields. Written with borrowed endpoints and positions,
/// read with owned ones, so one definition serves both directions.
#[derive(Serialize, Deserialize)]
struct Snapshot<E, P> {
    version: u32,
    max_endpoints: usize,
    evictions: u64,
    endpoints: Vec<E>,
    learned_positions: Vec<P>,
}

type OwnedSnapshot = Snapshot<EndpointStats, (u64, Position)>;

/// Only the version, read first so a newer format gets a version error
/// instead of a confusing field error.
#[derive(Deserialize)]
struct SnapshotVersion {
    version: u32,
}

impl Serialize for Inventory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut endpoints: Vec<&EndpointStats> = self.endpoints.values().collect();
        endpoints.sort_by_key(|stats| stats.recency);

        Snapshot {
            version: SNAPSHOT_VERSION,
            max_endpoints: self.max_endpoints,
            evictions: self.evictions,
            endpoints,
            learned_positions: self.rules.snapshot(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Inventory {
    /// Reads a snapshot and keeps the endpoint limit stored in it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let snapshot = OwnedSnapshot::deserialize(deserializer)?;
        let max_endpoints = snapshot.max_endpoints;
        Inventory::from_snapshot(snapshot, max_endpoints).map_err(D::Error::custom)
    }
}

impl Inventory {
    /// Serialises the inventory to a JSON snapshot.
    pub fn to_bytes(&self) -> Vec<u8> {
        // serde_json 1 documents two failures for `to_vec`: a `Serialize` impl
        // that returns an error, and map keys that are neither strings nor
        // integers. This format has neither.
        serde_json::to_vec(self).expect("inventory snapshot serialises to JSON")
    }

    /// Loads a snapshot written by [`Inventory::to_bytes`], with a new
    /// endpoint limit. When the snapshot contains more endpoints than
    /// `max_endpoints`, the least recently seen are evicted and counted.
    ///
    /// # Errors
    ///
    /// [`InventoryError`] when the bytes are not a snapshot, have another
    /// format version, or contradict themselves.
    pub fn from_bytes(bytes: &[u8], max_endpoints: usize) -> Result<Self, InventoryError> {
        let SnapshotVersion { version } = serde_json::from_slice(bytes)?;
        check_version(version)?;

        let snapshot: OwnedSnapshot = serde_json::from_slice(bytes)?;
        Inventory::from_snapshot(snapshot, max_endpoints)
    }

    fn from_snapshot(
        snapshot: OwnedSnapshot,
        max_endpoints: usize,
    ) -> Result<Self, InventoryError> {
        check_version(snapshot.version)?;

        let mut inventory = Inventory::new(max_endpoints);
        inventory.evictions = snapshot.evictions;

        // Ticks are renumbered from zero in the stored order, so the restored
        // counter cannot collide with a stored tick.
        let mut endpoints = snapshot.endpoints;
        endpoints.sort_by_key(|stats| stats.recency);
        for mut stats in endpoints {
            let id = endpoint_id(&stats.key);
            if inventory.endpoints.contains_key(&id) {
                return Err(InventoryError::Inconsistent(format!(
                    "endpoint {} {} {} appears twice",
                    stats.key.service, stats.key.method, stats.key.path_template
                )));
            }
            stats.auth_schemes.sort();
            stats.auth_schemes.dedup();
            stats.recency = inventory.recency.touch(id.clone(), None);
            inventory.endpoints.insert(id, stats);
        }
        inventory.evict_over_capacity();

        let capacity = learned::position_capacity(inventory.max_endpoints);
        inventory.rules = ParamRules::from_snapshot(snapshot.learned_positions, capacity)
            .map_err(InventoryError::Inconsistent)?;
        Ok(inventory)
    }
}

fn check_version(version: u32) -> Result<(), InventoryError> {
    if version == SNAPSHOT_VERSION {
        Ok(())
    } else {
        Err(InventoryError::UnsupportedVersion {
            found: version,
            expected: SNAPSHOT_VERSION,
        })
    }
}
