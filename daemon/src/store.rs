//! Persistent storage: transactions with retention, and the inventory
//! snapshot that survives restarts.
//!
//! Transactions are written a batch at a time as segments (see [`segment`])
//! appended to files of the segment log (see [`log`]). sled keeps the index:
//! - `segment_table`: big-endian id of a segment's first transaction -> its
//!   [`Location`] in the log and a copy of its header. Ids grow with time,
//!   so the oldest segments come first in key order.
//! - `segment_index`: endpoint id, a zero byte and the big-endian segment
//!   key -> empty, to list one endpoint's transactions without a full scan.
//! - `ends`: transaction id and end -> the process at that end, seen from
//!   the other end of the connection after the transaction was written.
//! - `meta`: the end of the reserved id block and the inventory snapshot.
//!
//! The write path is built for the capture thread. Ids come from memory in
//! blocks reserved on disk ([`ID_BLOCK`] at a time). A batch costs one file
//! append and a few small sled inserts: sled rewrites a tree node for every
//! key it inserts and keeps memory in proportion to the data it stores, so the
//! transactions themselves stay out of it. Retention removes whole segments
//! from the index and then the files none of them is left in.
//!
//! Transactions arrive here already redacted: credential header values and
//! classified values are withheld before a `Transaction` is built, so
//! nothing secret reaches disk.

mod log;
mod segment;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use anyhow::Context as _;
use tracing::{info, warn};

use self::{
    log::{Location, SegmentLog, LOCATION_BYTES},
    segment::{Segment, SegmentHeader},
};
use crate::transaction::{Peer, Transaction};

const NEXT_ID_KEY: &[u8] = b"next_transaction_id";
const INVENTORY_KEY: &[u8] = b"inventory";

/// The count kept in `meta` before the segment table made it cheap to
/// compute at open; removed when found.
const LEGACY_COUNT_KEY: &[u8] = b"transaction_count";

/// Trees of earlier formats: one value per transaction, then whole segments
/// in sled. They are dropped at open, because they are not read any more.
const LEGACY_TREES: [&str; 3] = ["transactions", "by_endpoint", "segments"];

/// Size a segment is cut at, in estimated bytes, so that reading
/// one transaction back never means reading an unbounded piece of a file.
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
    log: Arc<SegmentLog>,
    /// First id of a segment -> its location and header.
    segment_table: sled::Tree,
    segment_index: sled::Tree,
    /// Ends of stored transactions seen later: id and [`End`] -> peer JSON.
    ends: sled::Tree,
    meta: sled::Tree,
    retention: Retention,
    ids: Arc<Mutex<IdBlock>>,
    count: Arc<AtomicU64>,
    unreadable_segments: Arc<AtomicU64>,
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
        let segment_table = db.open_tree("segment_table")?;
        let meta = db.open_tree("meta")?;
        meta.remove(LEGACY_COUNT_KEY)?;
        let log = SegmentLog::open(&dir.join("segments"))?;

        // The reserved end on disk is past every id handed out before.
        let reserved = meta.get(NEXT_ID_KEY)?.map_or(1, |bytes| decode_u64(&bytes));
        let after_last = match segment_table.last()? {
            Some((key, bytes)) => {
                decode_u64(&key) + u64::from(TableEntry::parse(&bytes)?.header.count)
            }
            None => 1,
        };
        let next = reserved.max(after_last);
        let count = count_transactions(&segment_table)?;

        Ok(Self {
            log: Arc::new(log),
            segment_table,
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
            unreadable_segments: Arc::new(AtomicU64::new(0)),
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
    /// each. Their ids must be new and increasing, as
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
        let (header, encoded) = segment::encode(batch)?;
        let location = self.log.append(first.id, &encoded)?;

        // The segment is listed only once its bytes are in the file, so a
        // reader never finds an entry that points past the end.
        let mut index = sled::Batch::default();
        for endpoint in &header.endpoints {
            index.insert(index_key(endpoint, first.id), &[]);
        }
        self.segment_index.apply_batch(index)?;
        let entry = TableEntry { location, header };
        self.segment_table
            .insert(first.id.to_be_bytes(), entry.to_bytes())?;
        self.count.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    pub fn transaction(&self, id: u64) -> anyhow::Result<Option<Transaction>> {
        let Some((_, entry)) = self
            .segment_table
            .range(..=id.to_be_bytes())
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        match self.log.read(TableEntry::parse(&entry)?.location)? {
            Some(bytes) => self.with_ends(Segment::parse(&bytes)?.get(id)?),
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
                for entry in self.segment_table.iter().rev() {
                    let (_, entry) = entry?;
                    let Some(bytes) = self.segment_bytes(&entry) else {
                        continue;
                    };
                    let Some(segment) = self.parse_or_skip(&bytes) else {
                        continue;
                    };
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
                    let Some(entry) = self.segment_table.get(segment_key)? else {
                        continue;
                    };
                    let Some(bytes) = self.segment_bytes(&entry) else {
                        continue;
                    };
                    let Some(segment) = self.parse_or_skip(&bytes) else {
                        continue;
                    };
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

    /// Reads the segment a `segment_table` value points to. A segment that
    /// retention deleted a moment ago is `None`. So is one that cannot be
    /// read (a file cut short by a crash), which is counted and logged, so
    /// that one damaged segment does not hide the others from a listing.
    fn segment_bytes(&self, table_entry: &[u8]) -> Option<Vec<u8>> {
        let read = TableEntry::parse(table_entry).and_then(|entry| self.log.read(entry.location));
        match read {
            Ok(bytes) => bytes,
            Err(error) => {
                self.note_unreadable(&error);
                None
            }
        }
    }

    /// Parses segment bytes, or counts and logs why they cannot be.
    fn parse_or_skip<'b>(&self, bytes: &'b [u8]) -> Option<Segment<'b>> {
        match Segment::parse(bytes) {
            Ok(segment) => Some(segment),
            Err(error) => {
                self.note_unreadable(&error);
                None
            }
        }
    }

    fn note_unreadable(&self, error: &anyhow::Error) {
        let count = self.unreadable_segments.fetch_add(1, Ordering::Relaxed) + 1;
        if count.is_power_of_two() {
            warn!(
                error = format!("{error:#}"),
                count, "skipped an unreadable segment of the store"
            );
        }
    }

    /// Segments skipped because they could not be read.
    pub fn unreadable_segments(&self) -> u64 {
        self.unreadable_segments.load(Ordering::Relaxed)
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
    /// those whose every transaction started before the age limit. Then the
    /// files that no listed segment lies in are deleted.
    pub fn enforce_retention(&self, now_ms: u64) -> anyhow::Result<u64> {
        let mut removed = 0;
        let oldest_kept_ms = now_ms.saturating_sub(self.retention.max_age_ms);
        while let Some((key, bytes)) = self.segment_table.first()? {
            let first_id = decode_u64(&key);
            let count = self.count.load(Ordering::Relaxed);
            let (in_segment, too_old, endpoints) = match TableEntry::parse(&bytes) {
                Ok(entry) => (
                    u64::from(entry.header.count),
                    entry.header.latest_start_ms < oldest_kept_ms,
                    entry.header.endpoints,
                ),
                // An unreadable entry is dropped rather than kept forever.
                Err(_) => (0, true, Vec::new()),
            };
            let over_count = count.saturating_sub(in_segment) >= self.retention.max_transactions
                && count > self.retention.max_transactions;
            if !over_count && !too_old {
                break;
            }

            self.segment_table.remove(&key)?;
            for endpoint in endpoints {
                self.segment_index.remove(index_key(&endpoint, first_id))?;
            }
            // Late ends are rare, so a range scan finds the few there are
            // instead of two removals per transaction.
            let end_of_segment = first_id.saturating_add(in_segment.max(1));
            let range = end_key(first_id, End::Client)..end_key(end_of_segment, End::Client);
            for entry in self.ends.range(range) {
                let (end, _) = entry?;
                self.ends.remove(end)?;
            }
            self.count
                .store(count.saturating_sub(in_segment), Ordering::Relaxed);
            removed += in_segment;
        }

        let first_kept = match self.segment_table.first()? {
            Some((_, bytes)) => TableEntry::parse(&bytes)?.location.file,
            None => u64::MAX,
        };
        self.log.remove_files_before(first_kept)?;
        Ok(removed)
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.log.sync()?;
        self.db.flush()?;
        Ok(())
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0) + self.log.size_on_disk()
    }
}

/// A segment's value in the `segment_table` tree: its location in the log,
/// then its header as the segment itself begins with it.
struct TableEntry {
    location: Location,
    header: SegmentHeader,
}

impl TableEntry {
    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(LOCATION_BYTES + 16 + self.header.endpoints.len() * 17);
        bytes.extend_from_slice(&self.location.to_bytes());
        self.header.write(&mut bytes);
        bytes
    }

    fn parse(bytes: &[u8]) -> anyhow::Result<Self> {
        let location = Location::parse(bytes)?;
        let (header, _) = SegmentHeader::read(&bytes[LOCATION_BYTES..])?;
        Ok(Self { location, header })
    }
}

/// Counts the transactions of every listed segment, from the table alone.
fn count_transactions(segment_table: &sled::Tree) -> anyhow::Result<u64> {
    let mut count = 0;
    for entry in segment_table.iter() {
        let (_, bytes) = entry?;
        count += u64::from(TableEntry::parse(&bytes)?.header.count);
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
