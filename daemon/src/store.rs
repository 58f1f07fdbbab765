//! Persistent storage in sled: transactions with retention, and the
//! inventory snapshot that survives restarts.
//!
//! Trees:
//! - `segments`: big-endian id of a segment's first transaction -> the
//!   segment (see [`segment`]), the transactions of one batch write. Ids
//!   grow with time, so the oldest segments come first in key order.
//! - `segment_index`: endpoint id, a zero byte and the big-endian segment
//!   key -> empty, to list one endpoint's transactions without a full scan.
//! - `ends`: transaction id and end -> the process at that end, seen from
//!   the other end of the connection after the transaction was written.
//! - `meta`: the end of the reserved id block, the transaction count and the
//!   inventory snapshot.
//!
//! The write path is built for the capture thread. Ids come from memory in
//! blocks reserved on disk ([`ID_BLOCK`] at a time). New transactions are
//! written a batch per sled value, because sled rewrites a tree node for
//! every key it inserts. Retention removes whole segments.
//!
//! Transactions arrive here already redacted: credential header values and
//! classified values are withheld before a `Transaction` is built, so
//! nothing secret reaches disk.

mod segment;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use anyhow::Context as _;
use tracing::info;

use self::segment::Segment;
use crate::transaction::{Peer, Transaction};

const NEXT_ID_KEY: &[u8] = b"next_transaction_id";
const COUNT_KEY: &[u8] = b"transaction_count";
const INVENTORY_KEY: &[u8] = b"inventory";

/// Tree of the format before segments, one value per transaction. It is
/// dropped at open, because its transactions are not read any more.
const LEGACY_TREES: [&str; 2] = ["transactions", "by_endpoint"];

/// Size a segment is cut at, in estimated bytes of JSON, so one batch of
/// transactions with large findings cannot make an unbounded sled value.
/// Segments over 128 KiB are written to files of their own by sled, which
/// measured cheaper per transaction than more, smaller segments, because
/// sled copies a tree node on every insert.
pub const SEGMENT_BYTES: usize = 512 * 1024;

/// Ids reserved on disk at a time. A restart skips what was left of the
/// block, so ids never repeat but may jump.
pub const ID_BLOCK: u64 = 4096;

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
    segments: sled::Tree,
    segment_index: sled::Tree,
    /// Ends of stored transactions seen later: id and [`End`] -> peer JSON.
    ends: sled::Tree,
    meta: sled::Tree,
    retention: Retention,
    ids: Arc<Mutex<IdBlock>>,
    count: Arc<AtomicU64>,
}

/// One end of a transaction's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Client,
    Server,
}

fn end_key(id: u64, end: End) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[..8].copy_from_slice(&id.to_be_bytes());
    key[8] = match end {
        End::Client => 0,
        End::Server => 1,
    };
    key
}

/// Ids handed out from memory: `next` up to, not including, `reserved_end`,
/// which is on disk.
struct IdBlock {
    next: u64,
    reserved_end: u64,
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
            // Reads are rare (the API's listings), so a small page cache
            // keeps the daemon's memory down on every node.
            .cache_capacity(16 * 1024 * 1024)
            .open()
            .with_context(|| {
                format!(
                    "cannot open the database in {} (is another ztapid using it?)",
                    dir.display()
                )
            })?;
        for name in LEGACY_TREES {
            if db.drop_tree(name)? {
                info!(tree = name, "dropped transactions stored in the old format");
            }
        }
        let segments = db.open_tree("segments")?;
        let meta = db.open_tree("meta")?;

        // The reserved end on disk is past every id handed out before.
        let reserved = meta.get(NEXT_ID_KEY)?.map_or(1, |bytes| decode_u64(&bytes));
        let after_last = match segments.last()? {
            Some((_, bytes)) => Segment::parse(&bytes)?.ids().next_back().unwrap_or(0) + 1,
            None => 1,
        };
        let next = reserved.max(after_last);
        let count = match meta.get(COUNT_KEY)? {
            Some(bytes) => decode_u64(&bytes),
            None => count_segments(&segments)?,
        };

        Ok(Self {
            segments,
            segment_index: db.open_tree("segment_index")?,
            ends: db.open_tree("ends")?,
            meta,
            db,
            retention,
            ids: Arc::new(Mutex::new(IdBlock {
                next,
                reserved_end: next,
            })),
            count: Arc::new(AtomicU64::new(count)),
        })
    }

    /// Hands out the next transaction id, reserving a new block on disk
    /// when the current one is used up.
    pub fn next_transaction_id(&self) -> anyhow::Result<u64> {
        let mut ids = self
            .ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ids.next >= ids.reserved_end {
            let end = ids.next + ID_BLOCK;
            self.meta.insert(NEXT_ID_KEY, &end.to_be_bytes())?;
            ids.reserved_end = end;
        }
        let id = ids.next;
        ids.next += 1;
        Ok(id)
    }

    /// Writes new transactions as segments of at most [`SEGMENT_BYTES`]
    /// of JSON each. Their ids must be new and increasing, as
    /// [`Store::next_transaction_id`] hands them out.
    pub fn put_new_transactions(&self, batch: &[Transaction]) -> anyhow::Result<()> {
        let mut start = 0;
        let mut bytes = 0;
        for (index, transaction) in batch.iter().enumerate() {
            // An estimate from the fields that vary most, to cut the batch
            // before encoding it.
            bytes += 512
                + transaction.path.len()
                + transaction.findings.len() * 160
                + (transaction.request_headers.len() + transaction.response_headers.len()) * 48;
            if bytes >= SEGMENT_BYTES && index > start {
                self.put_segment(&batch[start..index])?;
                start = index;
                bytes = 0;
            }
        }
        self.put_segment(&batch[start..])
    }

    fn put_segment(&self, batch: &[Transaction]) -> anyhow::Result<()> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let key = first.id.to_be_bytes();
        let encoded = segment::encode(batch)?;
        let mut index = sled::Batch::default();
        for endpoint in segment::endpoints(batch) {
            index.insert(index_key(endpoint, first.id), &[]);
        }
        self.segments.insert(key, encoded.as_slice())?;
        self.segment_index.apply_batch(index)?;

        let count =
            self.count.fetch_add(batch.len() as u64, Ordering::Relaxed) + batch.len() as u64;
        self.meta.insert(COUNT_KEY, &count.to_be_bytes())?;
        Ok(())
    }

    /// Writes a transaction, replacing a stored one with the same id, or as
    /// a segment of its own when there is none.
    pub fn put_transaction(&self, transaction: &Transaction) -> anyhow::Result<()> {
        if let Some((key, bytes)) = self.segment_of(transaction.id)? {
            let segment = Segment::parse(&bytes)?;
            if segment.get(transaction.id)?.is_some() {
                let mut all = segment.all()?;
                for stored in all.iter_mut().filter(|stored| stored.id == transaction.id) {
                    stored.clone_from(transaction);
                }
                let encoded = segment::encode(&all)?;
                let old_endpoints = segment.header.endpoints.clone();
                let first_id = decode_u64(&key);
                for endpoint in segment::endpoints(&all) {
                    if !old_endpoints.iter().any(|old| old == endpoint) {
                        self.segment_index
                            .insert(index_key(endpoint, first_id), &[])?;
                    }
                }
                self.segments.insert(key, encoded)?;
                return Ok(());
            }
        }
        self.put_new_transactions(std::slice::from_ref(transaction))
    }

    pub fn transaction(&self, id: u64) -> anyhow::Result<Option<Transaction>> {
        match self.segment_of(id)? {
            Some((_, bytes)) => self.with_ends(Segment::parse(&bytes)?.get(id)?),
            None => Ok(None),
        }
    }

    /// Records the process at one end of a stored transaction, seen later
    /// from the other end of the connection. Kept beside the segment, so a
    /// late second view costs one small write instead of rewriting it.
    pub fn put_end(&self, id: u64, end: End, peer: &Peer) -> anyhow::Result<()> {
        self.ends
            .insert(end_key(id, end), serde_json::to_vec(peer)?)?;
        Ok(())
    }

    /// Applies the ends recorded by [`Store::put_end`] to `transaction`.
    fn with_ends(&self, transaction: Option<Transaction>) -> anyhow::Result<Option<Transaction>> {
        let Some(mut transaction) = transaction else {
            return Ok(None);
        };
        for entry in self.ends.scan_prefix(transaction.id.to_be_bytes()) {
            let (key, value) = entry?;
            let peer: Peer = serde_json::from_slice(&value)?;
            match key.last() {
                Some(0) => transaction.client = peer,
                _ => transaction.server = peer,
            }
        }
        Ok(Some(transaction))
    }

    /// Returns the segment whose first id is the greatest at or below `id`.
    fn segment_of(&self, id: u64) -> anyhow::Result<Option<(sled::IVec, sled::IVec)>> {
        Ok(self
            .segments
            .range(..=id.to_be_bytes())
            .next_back()
            .transpose()?)
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
                for entry in self.segments.iter().rev() {
                    let (_, bytes) = entry?;
                    let segment = Segment::parse(&bytes)?;
                    for id in segment.ids().rev() {
                        if found.len() == limit {
                            return Ok(found);
                        }
                        found.extend(self.with_ends(segment.get(id)?)?);
                    }
                }
            }
            Some(endpoint) => {
                let mut prefix = endpoint.as_bytes().to_vec();
                prefix.push(0);
                for entry in self.segment_index.scan_prefix(&prefix).rev() {
                    let (key, _) = entry?;
                    let segment_key = &key[prefix.len()..];
                    // The index can outlive a segment that retention
                    // removed a moment ago.
                    let Some(bytes) = self.segments.get(segment_key)? else {
                        continue;
                    };
                    let segment = Segment::parse(&bytes)?;
                    for id in segment.ids_of(endpoint).rev() {
                        if found.len() == limit {
                            return Ok(found);
                        }
                        found.extend(self.with_ends(segment.get(id)?)?);
                    }
                }
            }
        }
        Ok(found)
    }

    pub fn transaction_count(&self) -> usize {
        self.count.load(Ordering::Relaxed) as usize
    }

    pub fn save_inventory(&self, snapshot: &[u8]) -> anyhow::Result<()> {
        self.meta.insert(INVENTORY_KEY, snapshot)?;
        Ok(())
    }

    pub fn load_inventory(&self) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.meta.get(INVENTORY_KEY)?.map(|bytes| bytes.to_vec()))
    }

    /// Deletes transactions past the age or count limit; returns how many.
    /// Whole segments go: the oldest while the rest still hold at least the
    /// count limit, so up to one segment more than the limit is kept, then
    /// those whose every transaction started before the age limit.
    pub fn enforce_retention(&self, now_ms: u64) -> anyhow::Result<u64> {
        let mut removed = 0;
        let oldest_kept_ms = now_ms.saturating_sub(self.retention.max_age_ms);
        while let Some((key, bytes)) = self.segments.first()? {
            let parsed = Segment::parse(&bytes);
            if let Ok(segment) = &parsed {
                for id in segment.ids() {
                    self.ends.remove(end_key(id, End::Client))?;
                    self.ends.remove(end_key(id, End::Server))?;
                }
            }
            let header = parsed.map(|segment| segment.header);
            let count = self.count.load(Ordering::Relaxed);
            let (in_segment, too_old, endpoints) = match header {
                Ok(header) => (
                    header.count as u64,
                    header.latest_start_ms < oldest_kept_ms,
                    header.endpoints,
                ),
                // An unreadable segment is dropped rather than kept forever.
                Err(_) => (0, true, Vec::new()),
            };
            let over_count = count.saturating_sub(in_segment) >= self.retention.max_transactions
                && count > self.retention.max_transactions;
            if !over_count && !too_old {
                break;
            }
            self.segments.remove(&key)?;
            let first_id = decode_u64(&key);
            for endpoint in endpoints {
                self.segment_index.remove(index_key(&endpoint, first_id))?;
            }
            let left = count.saturating_sub(in_segment);
            self.count.store(left, Ordering::Relaxed);
            self.meta.insert(COUNT_KEY, &left.to_be_bytes())?;
            removed += in_segment;
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

/// Counts the transactions of every segment, for a database written before
/// the count was kept.
fn count_segments(segments: &sled::Tree) -> anyhow::Result<u64> {
    let mut count = 0;
    for entry in segments.iter() {
        let (_, bytes) = entry?;
        count += Segment::parse(&bytes)?.header.count as u64;
    }
    Ok(count)
}

fn index_key(endpoint: &str, id: u64) -> Vec<u8> {
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
