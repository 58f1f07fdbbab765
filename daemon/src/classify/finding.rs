//! What a scan reports: findings of one data type in one place of a
//! transaction, aggregated with a count and keyed fingerprints, never the
//! values themselves.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::fingerprint::{Fingerprint, FINGERPRINT_BYTES};

/// How much harm a leak of a data type can do. Ordered from `Low` to
/// `Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Low,
    Medium,
    High,
    Critical,
}

impl Sensitivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Low => "low",
            Sensitivity::Medium => "medium",
            Sensitivity::High => "high",
            Sensitivity::Critical => "critical",
        }
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A regulation under which a data type is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Compliance {
    /// PCI DSS, the payment card industry's data security standard.
    #[serde(rename = "pci")]
    PciDss,
    /// The EU General Data Protection Regulation.
    #[serde(rename = "gdpr")]
    Gdpr,
    /// The US Health Insurance Portability and Accountability Act.
    #[serde(rename = "hipaa")]
    Hipaa,
    /// The California Consumer Privacy Act.
    #[serde(rename = "ccpa")]
    Ccpa,
}

impl Compliance {
    /// The name used in configuration and serialised output.
    pub fn as_str(self) -> &'static str {
        match self {
            Compliance::PciDss => "pci",
            Compliance::Gdpr => "gdpr",
            Compliance::Hipaa => "hipaa",
            Compliance::Ccpa => "ccpa",
        }
    }
}

impl fmt::Display for Compliance {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Error for a compliance name that is not one of `pci`, `gdpr`, `hipaa`,
/// `ccpa`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compliance regime {0:?}: expected one of pci, gdpr, hipaa, ccpa")]
pub struct UnknownCompliance(pub String);

impl FromStr for Compliance {
    type Err = UnknownCompliance;

    /// Parses a compliance name, ignoring ASCII case; `pci-dss` and `pci_dss`
    /// are accepted for `pci`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "pci" | "pci-dss" | "pci_dss" | "pcidss" => Ok(Compliance::PciDss),
            "gdpr" => Ok(Compliance::Gdpr),
            "hipaa" => Ok(Compliance::Hipaa),
            "ccpa" => Ok(Compliance::Ccpa),
            _ => Err(UnknownCompliance(name.to_string())),
        }
    }
}

/// The message of a transaction a finding was made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Request,
    Response,
}

/// Where in a message a finding was made.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Section {
    /// A header field, by its lowercased name.
    Header { name: String },
    /// A query parameter, by its percent-decoded name.
    Query { parameter: String },
    /// A body location. For JSON this is a path such as
    /// `$.customer.card.number`, where `[*]` stands for every array element
    /// and names that are not plain identifiers are written `['odd name']`.
    /// For form bodies it is the field name, and `$` is the whole body of a
    /// plain-text body. For multipart bodies it is the part's field name,
    /// followed by `:` and the path inside the part when the part is JSON
    /// or a form (`metadata:$.customer.email`).
    Body { path: String },
}

/// Maximum number of fingerprints kept per finding.
pub const MAX_FINGERPRINTS: usize = 8;

/// Values of one data type found in one section of one message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Finding {
    /// Stable name of the data type, such as `card_number`.
    pub data_type: String,
    pub sensitivity: Sensitivity,
    pub compliance: Vec<Compliance>,
    pub part: Part,
    pub section: Section,
    /// Number of values found there, repeats included.
    pub count: u32,
    /// Keyed fingerprints (first 16 bytes of HMAC-SHA256, shown as hex) of
    /// the distinct values found there, at most 8.
    pub fingerprints: Vec<Fingerprint>,
}

/// Maximum number of findings one scan returns. Hits in further sections
/// are counted in [`FindingSet::dropped`], so a body with thousands of
/// distinct keys cannot grow the result without bound.
pub const MAX_FINDINGS: usize = 256;

/// A data type's reportable attributes, as a [`FindingSet`] copies them into
/// each new finding.
pub struct TypeLabel<'a> {
    pub name: &'a str,
    pub sensitivity: Sensitivity,
    pub compliance: &'a [Compliance],
}

/// Where a detection was made, borrowed until it becomes a [`Section`].
pub enum SectionRef<'a> {
    Header(&'a str),
    Query(&'a str),
    /// A body location: the multipart field name, if any, then the path
    /// inside it. `path: None` is the whole plain-text body.
    Body {
        prefix: Option<&'a str>,
        path: Option<&'a str>,
    },
}

impl SectionRef<'_> {
    pub fn to_section(&self) -> Section {
        match self {
            SectionRef::Header(name) => Section::Header {
                name: (*name).to_string(),
            },
            SectionRef::Query(parameter) => Section::Query {
                parameter: (*parameter).to_string(),
            },
            SectionRef::Body { prefix, path } => {
                let path = match (prefix, path) {
                    (None, Some(path)) => (*path).to_string(),
                    (None, None) => "$".to_string(),
                    (Some(prefix), None) => (*prefix).to_string(),
                    (Some(prefix), Some(path)) => format!("{prefix}:{path}"),
                };
                Section::Body { path }
            }
        }
    }
}

impl SectionRef<'_> {
    /// Returns whether `section` is the section this refers to.
    fn matches(&self, section: &Section) -> bool {
        match (self, section) {
            (SectionRef::Header(name), Section::Header { name: other }) => name == other,
            (SectionRef::Query(parameter), Section::Query { parameter: other }) => {
                parameter == other
            }
            (SectionRef::Body { prefix, path }, Section::Body { path: other }) => {
                match (prefix, path) {
                    (None, Some(path)) => path == other,
                    (None, None) => other == "$",
                    (Some(prefix), None) => prefix == other,
                    (Some(prefix), Some(path)) => {
                        other.len() == prefix.len() + 1 + path.len()
                            && other.starts_with(prefix)
                            && other.ends_with(path)
                            && other.as_bytes()[prefix.len()] == b':'
                    }
                }
            }
            _ => false,
        }
    }

    /// Returns a 64-bit hash of the section with `type_id` and `part`, the
    /// key of [`FindingSet`]'s index.
    fn hash_with(&self, type_id: u16, part: Part) -> u64 {
        let mut hash = SectionHash::new(u64::from(type_id) << 8 | part as u64);
        match self {
            SectionRef::Header(name) => {
                hash.write(b"h");
                hash.write(name.as_bytes());
            }
            SectionRef::Query(parameter) => {
                hash.write(b"q");
                hash.write(parameter.as_bytes());
            }
            SectionRef::Body { prefix, path } => {
                hash.write(b"b");
                hash.write(prefix.unwrap_or("").as_bytes());
                hash.write(b":");
                hash.write(path.unwrap_or("$").as_bytes());
            }
        }
        hash.finish()
    }
}

/// A hash that takes eight bytes per step, because every detection hashes
/// its section and a 30-byte JSON path hashed a byte at a time is a chain
/// of 30 dependent multiplications. Each write mixes in its length, so
/// `("ab", "c")` and `("a", "bc")` differ.
struct SectionHash(u64);

impl SectionHash {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(Self::MULTIPLIER))
    }

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::MULTIPLIER);
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(tail) ^ (bytes.len() as u64) << 56);
    }

    fn finish(&self) -> u64 {
        self.0 ^ self.0 >> 32
    }
}

/// Raw keyed fingerprint bytes, hex-encoded only when the findings are
/// returned.
pub type FingerprintBytes = [u8; FINGERPRINT_BYTES];

/// Maximum number of value hashes kept per finding. Distinct values can
/// share a fingerprint (`4111 1111 ...` and `4111-1111-...`), so there may
/// be more of them than fingerprints. Past the bound, new values go to HMAC
/// without the shortcut.
const MAX_VALUE_HASHES: usize = 2 * MAX_FINGERPRINTS;

/// A finding being aggregated, with its fingerprints kept as bytes. Both
/// lists are bounded, so they are inline arrays and need no allocation.
#[derive(Clone)]
struct Entry {
    finding: Finding,
    type_id: u16,
    /// [`SectionRef::hash_with`] of the finding's section, compared before
    /// the section itself.
    hash: u64,
    fingerprints: [FingerprintBytes; MAX_FINGERPRINTS],
    fingerprint_count: usize,
    /// [`value_hash`] of each value fingerprinted so far, so a value that
    /// repeats (a city or a first name in every element of an array) is not
    /// given to HMAC again.
    value_hashes: [u64; MAX_VALUE_HASHES],
    value_hash_count: usize,
}

impl Entry {
    fn fingerprints(&self) -> &[FingerprintBytes] {
        &self.fingerprints[..self.fingerprint_count]
    }

    /// Adds the fingerprint of a value with hash `hash`, computed by
    /// `fingerprint` unless the value was seen before or the list is full.
    fn add_fingerprint(&mut self, hash: u64, fingerprint: impl FnOnce() -> FingerprintBytes) {
        if self.fingerprint_count == MAX_FINGERPRINTS {
            return;
        }
        if self.value_hashes[..self.value_hash_count].contains(&hash) {
            return;
        }
        if self.value_hash_count < MAX_VALUE_HASHES {
            self.value_hashes[self.value_hash_count] = hash;
            self.value_hash_count += 1;
        }

        let fingerprint = fingerprint();
        if !self.fingerprints().contains(&fingerprint) {
            self.fingerprints[self.fingerprint_count] = fingerprint;
            self.fingerprint_count += 1;
        }
    }
}

/// Findings a [`FindingSet`] searches one by one before it builds its
/// index. A typical call has a handful, where comparing the hashes in
/// place costs less than allocating and filling a hash table.
const INDEX_FROM: usize = 16;

/// Findings aggregated by data type, part and section.
#[derive(Clone, Default)]
pub struct FindingSet {
    entries: Vec<Entry>,
    /// Position of a finding by [`SectionRef::hash_with`], once there are
    /// [`INDEX_FROM`] findings. A hash whose finding does not match (a
    /// collision) falls back to a linear search.
    index: HashMap<u64, usize, BuildHasherDefault<PrehashedKey>>,
    dropped: u64,
}

impl FindingSet {
    /// Counts one value of `type_id` at `section`. `fingerprint` is called
    /// only while the finding has room for another fingerprint, and not for
    /// a `value` already fingerprinted there.
    pub fn record(
        &mut self,
        type_id: u16,
        label: &TypeLabel<'_>,
        part: Part,
        section: &SectionRef<'_>,
        value: &[u8],
        fingerprint: impl FnOnce() -> FingerprintBytes,
    ) {
        let hash = section.hash_with(type_id, part);
        let same = |entry: &Entry| {
            entry.hash == hash
                && entry.type_id == type_id
                && entry.finding.part == part
                && section.matches(&entry.finding.section)
        };

        let indexed = self
            .index
            .get(&hash)
            .copied()
            .filter(|&position| same(&self.entries[position]));
        let position = match indexed.or_else(|| self.entries.iter().position(same)) {
            Some(position) => position,
            None => {
                if self.entries.len() >= MAX_FINDINGS {
                    self.dropped += 1;
                    return;
                }
                if self.entries.is_empty() {
                    // Entries are a few hundred bytes; growing from one at
                    // a time would copy them again at every doubling.
                    self.entries.reserve(INDEX_FROM / 2);
                }
                self.entries.push(Entry {
                    finding: Finding {
                        data_type: label.name.to_string(),
                        sensitivity: label.sensitivity,
                        compliance: label.compliance.to_vec(),
                        part,
                        section: section.to_section(),
                        count: 0,
                        fingerprints: Vec::new(),
                    },
                    type_id,
                    hash,
                    fingerprints: [[0; FINGERPRINT_BYTES]; MAX_FINGERPRINTS],
                    fingerprint_count: 0,
                    value_hashes: [0; MAX_VALUE_HASHES],
                    value_hash_count: 0,
                });
                let position = self.entries.len() - 1;
                if self.entries.len() >= INDEX_FROM {
                    if self.index.is_empty() {
                        for (earlier, entry) in self.entries.iter().enumerate() {
                            self.index.entry(entry.hash).or_insert(earlier);
                        }
                    }
                    self.index.entry(hash).or_insert(position);
                }
                position
            }
        };

        let entry = &mut self.entries[position];
        entry.finding.count = entry.finding.count.saturating_add(1);
        if entry.fingerprint_count < MAX_FINGERPRINTS {
            entry.add_fingerprint(value_hash(value), fingerprint);
        }
    }

    /// Hits not recorded because the set already held [`MAX_FINDINGS`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn into_findings(self) -> Vec<Finding> {
        self.entries
            .into_iter()
            .map(|entry| Finding {
                fingerprints: entry
                    .fingerprints()
                    .iter()
                    .copied()
                    .map(Fingerprint)
                    .collect(),
                ..entry.finding
            })
            .collect()
    }
}

/// Returns a 64-bit hash of a detected value, to skip the HMAC of repeats.
///
/// NOTE: when two distinct values of one finding have the same hash, only
/// the first one's fingerprint is listed. The count is still right, and the
/// list is a sample of at most [`MAX_FINGERPRINTS`] in any case.
fn value_hash(value: &[u8]) -> u64 {
    let mut hash = SectionHash::new(value.len() as u64);
    hash.write(value);
    hash.finish()
}

/// A hasher for keys that are already 64-bit hashes, which it passes
/// through instead of hashing them again with SipHash.
#[derive(Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is expected; anything else is folded in with
        // FNV-1a so the hasher stays correct.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}
