//! What a scan reports: findings of one data type in one place of a
//! transaction, aggregated with a count and keyed fingerprints, never the
//! values themselves.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
    /// Keyed fingerprints (hex, first 16 bytes of HMAC-SHA256) of the
    /// distinct values found there, at most 8.
    pub fingerprints: Vec<String>,
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

    /// Returns a 64-bit FNV-1a hash of the section with `type_id` and
    /// `part`, the key of [`FindingSet`]'s index.
    fn hash_with(&self, type_id: u16, part: Part) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut write = |bytes: &[u8]| {
            for &byte in bytes {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        write(&type_id.to_le_bytes());
        write(&[part as u8]);
        match self {
            SectionRef::Header(name) => {
                write(b"h");
                write(name.as_bytes());
            }
            SectionRef::Query(parameter) => {
                write(b"q");
                write(parameter.as_bytes());
            }
            SectionRef::Body { prefix, path } => {
                write(b"b");
                write(prefix.unwrap_or("").as_bytes());
                write(b":");
                write(path.unwrap_or("$").as_bytes());
            }
        }
        hash
    }
}

/// Findings aggregated by data type, part and section.
#[derive(Clone, Default)]
pub struct FindingSet {
    findings: Vec<Finding>,
    /// Type of each finding, by position.
    type_ids: Vec<u16>,
    /// Position of a finding by [`SectionRef::hash_with`]. A hash whose
    /// finding does not match (a collision) falls back to a linear search.
    index: HashMap<u64, usize>,
    dropped: u64,
}

impl FindingSet {
    /// Counts one value of `type_id` at `section`. `fingerprint` is called
    /// only while the finding has room for another fingerprint.
    pub fn record(
        &mut self,
        type_id: u16,
        label: &TypeLabel<'_>,
        part: Part,
        section: &SectionRef<'_>,
        fingerprint: impl FnOnce() -> String,
    ) {
        let hash = section.hash_with(type_id, part);
        let same = |position: usize, findings: &[Finding], type_ids: &[u16]| {
            type_ids[position] == type_id
                && findings[position].part == part
                && section.matches(&findings[position].section)
        };

        let indexed = self
            .index
            .get(&hash)
            .copied()
            .filter(|&position| same(position, &self.findings, &self.type_ids));
        let position = match indexed {
            Some(position) => position,
            None => match (0..self.findings.len())
                .find(|&position| same(position, &self.findings, &self.type_ids))
            {
                Some(position) => position,
                None => {
                    if self.findings.len() >= MAX_FINDINGS {
                        self.dropped += 1;
                        return;
                    }
                    self.findings.push(Finding {
                        data_type: label.name.to_string(),
                        sensitivity: label.sensitivity,
                        compliance: label.compliance.to_vec(),
                        part,
                        section: section.to_section(),
                        count: 0,
                        fingerprints: Vec::new(),
                    });
                    self.type_ids.push(type_id);
                    self.index.insert(hash, self.findings.len() - 1);
                    self.findings.len() - 1
                }
            },
        };

        let finding = &mut self.findings[position];
        finding.count = finding.count.saturating_add(1);
        if finding.fingerprints.len() < MAX_FINGERPRINTS {
            let fingerprint = fingerprint();
            if !finding.fingerprints.contains(&fingerprint) {
                finding.fingerprints.push(fingerprint);
            }
        }
    }

    /// Hits not recorded because the set already held [`MAX_FINDINGS`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn into_findings(self) -> Vec<Finding> {
        self.findings
    }
}
