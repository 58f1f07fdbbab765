//! Persistent storage in sled: transactions with retention, and the
//! inventory snapshot that survives restarts.
//!
//! Trees:
//! - `transactions`: big-endian id -> JSON transaction. Ids grow with time,
//!   so the oldest transactions come first in key order.
//! - `by_endpoint`: endpoint id + big-endian transaction id -> empty, to
//!   list one endpoint's transactions without a full scan.
//! - `meta`: the next transaction id and the inventory snapshot.
//!
//! Transactions arrive here already redacted: credential header values are
//! withheld before a `Transaction` is built, so nothing secret reaches disk.

use std::path::Path;

use anyhow::Context as _;

use crate::transaction::Transaction;

const NEXT_ID_KEY: &[u8] = b"next_transaction_id";
const INVENTORY_KEY: &[u8] = b"inventory";

/// How long and how many transactions are kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub max_age_ms: u64,
    pub max_transactions: u64,
}

/// Handle to the database; cheap to clone and usable from any thread.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    transactions: sled::Tree,
    by_endpoint: sled::Tree,
    meta: sled::Tree,
    retention: Retention,
}

impl Store {
    /// Opens or creates the database in `dir`, with mode 0700 on the
    /// directory, because transactions describe other services' traffic.
    pub fn open(dir: &Path, retention: Retention) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        set_mode(dir, 0o700)?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(64 * 1024 * 1024)
            .open()
            .with_context(|| {
                format!(
                    "cannot open the database in {} (is another ztapid using it?)",
                    dir.display()
                )
            })?;
        Ok(Self {
            transactions: db.open_tree("transactions")?,
            by_endpoint: db.open_tree("by_endpoint")?,
            meta: db.open_tree("meta")?,
            db,
            retention,
        })
    }

    /// Reserves the next transaction id.
    pub fn next_transaction_id(&self) -> anyhow::Result<u64> {
        let previous = self.meta.fetch_and_update(NEXT_ID_KEY, |old| {
            let next = old.map(decode_u64).unwrap_or(1) + 1;
            Some(next.to_be_bytes().to_vec())
        })?;
        Ok(previous.map(|bytes| decode_u64(&bytes)).unwrap_or(1))
    }

    /// Writes a transaction, replacing one with the same id.
    pub fn put_transaction(&self, transaction: &Transaction) -> anyhow::Result<()> {
        let value = serde_json::to_vec(transaction)?;
        self.transactions
            .insert(transaction.id.to_be_bytes(), value)?;
        self.by_endpoint
            .insert(endpoint_key(&transaction.endpoint_id, transaction.id), &[])?;
        Ok(())
    }

    pub fn transaction(&self, id: u64) -> anyhow::Result<Option<Transaction>> {
        match self.transactions.get(id.to_be_bytes())? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The newest transactions first, at most `limit`, optionally of one
    /// endpoint.
    pub fn transactions(
        &self,
        limit: usize,
        endpoint: Option<&str>,
    ) -> anyhow::Result<Vec<Transaction>> {
        let mut found = Vec::new();
        match endpoint {
            None => {
                for entry in self.transactions.iter().rev().take(limit) {
                    let (_, value) = entry?;
                    found.push(serde_json::from_slice(&value)?);
                }
            }
            Some(endpoint) => {
                let mut prefix = endpoint.as_bytes().to_vec();
                prefix.push(0);
                for entry in self.by_endpoint.scan_prefix(&prefix).rev() {
                    if found.len() == limit {
                        break;
                    }
                    let (key, _) = entry?;
                    let id = decode_u64(&key[prefix.len()..]);
                    // The index can outlive a transaction that retention
                    // removed a moment ago.
                    if let Some(transaction) = self.transaction(id)? {
                        found.push(transaction);
                    }
                }
            }
        }
        Ok(found)
    }

    pub fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    pub fn save_inventory(&self, snapshot: &[u8]) -> anyhow::Result<()> {
        self.meta.insert(INVENTORY_KEY, snapshot)?;
        Ok(())
    }

    pub fn load_inventory(&self) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.meta.get(INVENTORY_KEY)?.map(|bytes| bytes.to_vec()))
    }

    /// Deletes transactions past the age or count limit; returns how many.
    pub fn enforce_retention(&self, now_ms: u64) -> anyhow::Result<u64> {
        let mut removed = 0;
        let oldest_kept_ms = now_ms.saturating_sub(self.retention.max_age_ms);
        let mut excess =
            (self.transactions.len() as u64).saturating_sub(self.retention.max_transactions);
        while let Some((key, value)) = self.transactions.first()? {
            let transaction: Option<Transaction> = serde_json::from_slice(&value).ok();
            let too_old = transaction
                .as_ref()
                .is_none_or(|transaction| transaction.started_at_ms < oldest_kept_ms);
            if excess == 0 && !too_old {
                break;
            }
            self.transactions.remove(&key)?;
            if let Some(transaction) = transaction {
                self.by_endpoint
                    .remove(endpoint_key(&transaction.endpoint_id, transaction.id))?;
            }
            excess = excess.saturating_sub(1);
            removed += 1;
        }
        Ok(removed)
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.db.flush()?;
        Ok(())
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

fn endpoint_key(endpoint: &str, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(endpoint.len() + 9);
    key.extend_from_slice(endpoint.as_bytes());
    key.push(0);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

fn decode_u64(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    let len = bytes.len().min(8);
    array[8 - len..].copy_from_slice(&bytes[..len]);
    u64::from_be_bytes(array)
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set mode {mode:o} on {}", path.display()))
}

#[cfg(test)]
mod tests;
