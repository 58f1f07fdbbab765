//! The on-disk form of a segment: the transactions of one batch write,
//! appended to the segment log as one piece, with a directory so that one
//! transaction can be decoded without the others.
//!
//! Layout, integers big-endian:
//! - the header: `u32` transaction count, `u64` latest start time (Unix
//!   ms), `u16` endpoint count, then per endpoint a `u8` length and its id.
//!   sled keeps a copy of it beside the segment's location, so retention
//!   and listings by endpoint need not read the segment;
//! - per transaction: `u64` id, `u32` offset and `u32` length of its
//!   encoding
//!   in the data that follows, and `u16` the index of its endpoint;
//! - every transaction in MessagePack with named fields, in id order.
//!   MessagePack writes strings as they are, while JSON escaping took a
//!   fifth of the pipeline benchmark. Named fields keep the optional fields
//!   of [`Transaction`] optional.

use anyhow::{bail, Context as _};

use crate::transaction::Transaction;

/// Summary of a segment, read from its header alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub count: u32,
    pub latest_start_ms: u64,
    pub endpoints: Vec<String>,
}

/// Location of one transaction in a segment.
#[derive(Clone, Copy)]
struct Entry {
    id: u64,
    offset: usize,
    length: usize,
    endpoint: u16,
}

/// A decoded segment directory over the borrowed bytes.
pub struct Segment<'a> {
    pub header: SegmentHeader,
    /// Per transaction, in id order.
    entries: Vec<Entry>,
    data: &'a [u8],
}

/// Returns the distinct endpoint ids of `transactions`, sorted, as the
/// segment header lists them.
pub fn endpoints(transactions: &[Transaction]) -> Vec<&str> {
    let mut endpoints: Vec<&str> = transactions
        .iter()
        .map(|transaction| transaction.endpoint_id.as_str())
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    endpoints
}

impl SegmentHeader {
    /// Appends the encoded header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.latest_start_ms.to_be_bytes());
        out.extend_from_slice(&(self.endpoints.len() as u16).to_be_bytes());
        for endpoint in &self.endpoints {
            // Endpoint ids are 16 hex digits; a longer one cannot come from
            // the inventory, so it is cut rather than allowed to break the
            // format.
            let bytes = &endpoint.as_bytes()[..endpoint.len().min(255)];
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
    }

    /// Reads a header from the start of `bytes`; returns it and its length.
    pub fn read(bytes: &[u8]) -> anyhow::Result<(Self, usize)> {
        let mut reader = Reader { bytes, position: 0 };
        let header = reader.header()?;
        Ok((header, reader.position))
    }
}

/// Encodes `transactions`, which must be sorted by id; returns the header
/// and the whole segment.
pub fn encode(transactions: &[Transaction]) -> anyhow::Result<(SegmentHeader, Vec<u8>)> {
    let endpoints = endpoints(transactions);

    let mut data = Vec::with_capacity(transactions.len() * 1024);
    let mut directory = Vec::with_capacity(transactions.len() * 16);
    for transaction in transactions {
        let offset = data.len();
        rmp_serde::encode::write_named(&mut data, transaction)?;
        directory.extend_from_slice(&transaction.id.to_be_bytes());
        directory.extend_from_slice(&(offset as u32).to_be_bytes());
        directory.extend_from_slice(&((data.len() - offset) as u32).to_be_bytes());
        let endpoint = endpoints
            .binary_search(&transaction.endpoint_id.as_str())
            .unwrap_or(0);
        directory.extend_from_slice(&(endpoint as u16).to_be_bytes());
    }

    let latest_start_ms = transactions
        .iter()
        .map(|transaction| transaction.started_at_ms)
        .max()
        .unwrap_or(0);
    let header = SegmentHeader {
        count: transactions.len() as u32,
        latest_start_ms,
        endpoints: endpoints.into_iter().map(str::to_owned).collect(),
    };
    let mut out =
        Vec::with_capacity(16 + header.endpoints.len() * 17 + directory.len() + data.len());
    header.write(&mut out);
    out.extend_from_slice(&directory);
    out.extend_from_slice(&data);
    Ok((header, out))
}

impl<'a> Segment<'a> {
    /// Reads the header and directory of an encoded segment.
    pub fn parse(bytes: &'a [u8]) -> anyhow::Result<Self> {
        let mut reader = Reader { bytes, position: 0 };
        let header = reader.header()?;

        let mut entries = Vec::with_capacity(header.count as usize);
        for _ in 0..header.count {
            entries.push(Entry {
                id: reader.u64()?,
                offset: reader.u32()? as usize,
                length: reader.u32()? as usize,
                endpoint: reader.u16()?,
            });
        }
        let data = &bytes[reader.position..];
        if let Some(entry) = entries
            .iter()
            .find(|entry| entry.offset + entry.length > data.len())
        {
            bail!(
                "transaction {} at {}+{} lies past the end of its segment",
                entry.id,
                entry.offset,
                entry.length
            );
        }
        Ok(Self {
            header,
            entries,
            data,
        })
    }

    /// Ids of the segment's transactions, in increasing order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.entries.iter().map(|entry| entry.id)
    }

    /// Ids of the transactions of endpoint `endpoint`, in increasing order.
    pub fn ids_of<'s>(&'s self, endpoint: &str) -> impl DoubleEndedIterator<Item = u64> + 's {
        let index = self
            .header
            .endpoints
            .iter()
            .position(|known| known == endpoint);
        self.entries
            .iter()
            .filter(move |entry| Some(entry.endpoint as usize) == index)
            .map(|entry| entry.id)
    }

    /// Decodes the transaction with `id`, if the segment has it.
    pub fn get(&self, id: u64) -> anyhow::Result<Option<Transaction>> {
        let Ok(index) = self.entries.binary_search_by_key(&id, |entry| entry.id) else {
            return Ok(None);
        };
        let Entry { offset, length, .. } = self.entries[index];
        let transaction = rmp_serde::from_slice(&self.data[offset..offset + length])
            .with_context(|| format!("transaction {id} in the store cannot be decoded"))?;
        Ok(Some(transaction))
    }
}

/// A cursor over an encoded segment that fails on truncation.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn header(&mut self) -> anyhow::Result<SegmentHeader> {
        let count = self.u32()?;
        let latest_start_ms = self.u64()?;
        let endpoint_count = self.u16()?;
        let mut endpoints = Vec::with_capacity(endpoint_count as usize);
        for _ in 0..endpoint_count {
            let length = self.take(1)?[0] as usize;
            endpoints.push(String::from_utf8_lossy(self.take(length)?).into_owned());
        }
        Ok(SegmentHeader {
            count,
            latest_start_ms,
            endpoints,
        })
    }

    fn take(&mut self, length: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.position + length;
        if end > self.bytes.len() {
            bail!(
                "segment truncated: {} bytes, header needs {end}",
                self.bytes.len()
            );
        }
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn u16(&mut self) -> anyhow::Result<u16> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into()?))
    }

    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into()?))
    }

    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into()?))
    }
}
