//! HPACK header block decoding (RFC 7541), one decoder per direction.
//!
//! This decoder is written here instead of using the `h2` crate's, for
//! three reasons found in h2 0.4.21. Its `hpack` module is private even with
//! the `unstable` feature, which exposes only `frame`, `proto` and `Codec`.
//! Its decoder stops at the first error in a block, so the insertions made
//! by the rest of the block never reach its table and every later block
//! decodes against a wrong table. And it converts fields to `http` types,
//! rejecting names and values that a passive observer should still record.
//! Recovering after a reference to an entry the decoder never saw needs a
//! table that tracks which of its entries are unknown (see `table`).

mod huffman;
mod table;

use thiserror::Error;

pub(super) use table::HeaderField;
use table::{DynamicTable, Lookup};

/// SETTINGS_HEADER_TABLE_SIZE before any SETTINGS frame (RFC 9113 section
/// 6.5.2), which is also the encoder's initial table size.
const DEFAULT_TABLE_SIZE: usize = 4096;

/// Errors in a header block.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub(super) enum HpackError {
    #[error("header block ends inside a field representation")]
    Truncated,
    #[error("integer in a header block does not fit in 32 bits")]
    IntegerOverflow,
    #[error("invalid Huffman-coded string in a header block")]
    InvalidHuffman,
    #[error("index {0} names a dynamic table entry this decoder never saw")]
    UnknownEntry(usize),
    #[error("index {0} is outside the static and dynamic tables")]
    InvalidIndex(usize),
    #[error("dynamic table size update to {size} exceeds the {allowed} bytes allowed by SETTINGS")]
    SizeUpdateTooLarge { size: usize, allowed: usize },
    #[error("dynamic table size update after the first field of a header block")]
    SizeUpdateNotAtStart,
    #[error("decoded header list exceeds {limit} bytes; later fields were dropped")]
    ListTooLarge { limit: usize },
}

/// The fields of one header block, and whether any were lost.
#[derive(Debug, Default)]
pub(super) struct DecodedBlock {
    /// Fields in block order, without those that could not be decoded.
    pub(super) fields: Vec<HeaderField>,
    /// The first error, when a field could not be decoded or kept.
    pub(super) error: Option<HpackError>,
}

/// The HPACK decoder for the header blocks one side sends.
#[derive(Debug)]
pub(super) struct HpackDecoder {
    table: DynamicTable,
    /// SETTINGS_HEADER_TABLE_SIZE from the receiving side: the largest size
    /// the encoder may choose. `None` while unknown.
    allowed_size: Option<usize>,
}

impl HpackDecoder {
    /// Creates a decoder. At the connection start the table is empty and
    /// its size is the default. Attached mid-connection, both are unknown,
    /// and the size is assumed to be the default.
    // NOTE: if the peers agreed on a smaller table before the capture
    // began, entries the encoder already evicted may be used for later
    // indexes, and those fields are decoded wrong.
    pub(super) fn new(storage_limit: usize, connection_start: bool) -> Self {
        Self {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE, storage_limit, !connection_start),
            allowed_size: connection_start.then_some(DEFAULT_TABLE_SIZE),
        }
    }

    /// Records the SETTINGS_HEADER_TABLE_SIZE that the receiving side sent.
    /// The encoder announces its own choice with a size update, so the
    /// table itself is not resized here (RFC 7541 section 4.2).
    pub(super) fn set_allowed_size(&mut self, size: usize) {
        self.allowed_size = Some(size);
    }

    /// Forgets the dynamic table after header blocks were lost, so that
    /// later references to older entries count as errors instead of
    /// decoding to wrong fields.
    pub(super) fn forget(&mut self) {
        self.table.forget_all();
    }

    /// Returns whether the table may hold entries this decoder never saw.
    #[cfg(test)]
    pub(super) fn has_unknown_entries(&self) -> bool {
        self.table.has_unknown_entries()
    }

    /// Decodes one complete header block. Fields that reference unknown
    /// entries are left out and the rest are kept. An error that makes the
    /// rest of the block unreadable also marks the whole table as unknown,
    /// because the unread part may have inserted entries. Fields past `max_list_bytes`
    /// (counted as in SETTINGS_MAX_HEADER_LIST_SIZE) are decoded for the
    /// table's sake but not kept.
    pub(super) fn decode(&mut self, block: &[u8], max_list_bytes: usize) -> DecodedBlock {
        let mut decoded = DecodedBlock::default();
        let mut input = BlockInput { block, position: 0 };
        let mut list_size: usize = 0;
        let mut at_block_start = true;

        while !input.is_at_end() {
            let outcome = self.decode_representation(&mut input, at_block_start);
            at_block_start = false;

            match outcome {
                Ok(Representation::Field(field)) => {
                    list_size = list_size.saturating_add(field.size());
                    if list_size <= max_list_bytes {
                        decoded.fields.push(field);
                    } else {
                        record(
                            &mut decoded.error,
                            HpackError::ListTooLarge {
                                limit: max_list_bytes,
                            },
                        );
                    }
                }
                Ok(Representation::SizeUpdate) => at_block_start = true,
                Ok(Representation::Skipped(error)) => record(&mut decoded.error, error),
                Err(error) => {
                    tracing::debug!(%error, "HPACK header block unreadable; forgetting the dynamic table");
                    record(&mut decoded.error, error);
                    self.table.forget_all();
                    break;
                }
            }
        }

        decoded
    }

    /// Decodes one field representation or size update (RFC 7541 section
    /// 6). Returns `Err` only for errors after which the block cannot be
    /// read further.
    fn decode_representation(
        &mut self,
        input: &mut BlockInput<'_>,
        at_block_start: bool,
    ) -> Result<Representation, HpackError> {
        let first = input.peek().ok_or(HpackError::Truncated)?;

        if first & 0x80 != 0 {
            // Indexed header field (section 6.1).
            let index = input.read_integer(7)?;
            return Ok(match self.table.get(index) {
                Lookup::Found(field) => Representation::Field(field),
                Lookup::Unknown => Representation::Skipped(HpackError::UnknownEntry(index)),
                Lookup::Invalid => {
                    self.table.forget_all();
                    Representation::Skipped(HpackError::InvalidIndex(index))
                }
            });
        }

        if first & 0xe0 == 0x20 {
            // Dynamic table size update (section 6.3).
            let size = input.read_integer(5)?;
            self.table.set_capacity(size);
            if !at_block_start {
                return Ok(Representation::Skipped(HpackError::SizeUpdateNotAtStart));
            }
            if let Some(allowed) = self.allowed_size.filter(|&allowed| size > allowed) {
                return Ok(Representation::Skipped(HpackError::SizeUpdateTooLarge {
                    size,
                    allowed,
                }));
            }
            return Ok(Representation::SizeUpdate);
        }

        // Literal header fields (section 6.2): with incremental indexing
        // (01), without indexing (0000) or never indexed (0001).
        let with_indexing = first & 0xc0 == 0x40;
        let prefix_bits = if with_indexing { 6 } else { 4 };
        let name_index = input.read_integer(prefix_bits)?;

        let name = if name_index == 0 {
            Ok(input.read_string()?)
        } else {
            match self.table.get(name_index) {
                Lookup::Found(field) => Ok(field.name),
                Lookup::Unknown => Err(HpackError::UnknownEntry(name_index)),
                Lookup::Invalid => {
                    self.table.forget_all();
                    Err(HpackError::InvalidIndex(name_index))
                }
            }
        };
        let value = input.read_string()?;

        match name {
            Ok(name) => {
                let field = HeaderField { name, value };
                if with_indexing {
                    self.table.insert(field.clone());
                }
                Ok(Representation::Field(field))
            }
            Err(error) => {
                if with_indexing {
                    self.table.insert_unknown(value.len());
                }
                Ok(Representation::Skipped(error))
            }
        }
    }
}

/// Result of decoding one representation.
enum Representation {
    Field(HeaderField),
    SizeUpdate,
    /// The representation was read, but its field is not kept.
    Skipped(HpackError),
}

fn record(first_error: &mut Option<HpackError>, error: HpackError) {
    if first_error.is_none() {
        *first_error = Some(error);
    }
}

/// A header block and the read position in it.
struct BlockInput<'a> {
    block: &'a [u8],
    position: usize,
}

impl BlockInput<'_> {
    fn is_at_end(&self) -> bool {
        self.position >= self.block.len()
    }

    fn peek(&self) -> Option<u8> {
        self.block.get(self.position).copied()
    }

    fn next_byte(&mut self) -> Result<u8, HpackError> {
        let byte = self.peek().ok_or(HpackError::Truncated)?;
        self.position += 1;
        Ok(byte)
    }

    /// Reads an integer with an N-bit prefix (RFC 7541 section 5.1). Values
    /// are bounded to 32 bits, which every HTTP/2 length and index fits.
    fn read_integer(&mut self, prefix_bits: u32) -> Result<usize, HpackError> {
        let mask = (1u32 << prefix_bits) - 1;
        let mut value = u64::from(u32::from(self.next_byte()?) & mask);
        if value < u64::from(mask) {
            return Ok(value as usize);
        }

        let mut shift = 0;
        loop {
            let byte = self.next_byte()?;
            value += u64::from(byte & 0x7f) << shift;
            if value > u64::from(u32::MAX) {
                return Err(HpackError::IntegerOverflow);
            }
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return Err(HpackError::IntegerOverflow);
            }
        }

        usize::try_from(value).map_err(|_| HpackError::IntegerOverflow)
    }

    /// Reads a string literal, Huffman-coded or raw (RFC 7541 section
    /// 5.2).
    fn read_string(&mut self) -> Result<Vec<u8>, HpackError> {
        let huffman_coded = self.peek().ok_or(HpackError::Truncated)? & 0x80 != 0;
        let length = self.read_integer(7)?;

        let end = self
            .position
            .checked_add(length)
            .filter(|&end| end <= self.block.len())
            .ok_or(HpackError::Truncated)?;
        let raw = &self.block[self.position..end];
        self.position = end;

        if huffman_coded {
            huffman::decode(raw)
        } else {
            Ok(raw.to_vec())
        }
    }
}

#[cfg(test)]
pub(super) use huffman::encode_for_test as huffman_encode_for_test;
