//! Sensitive-data classification of HTTP transactions, on the node.
//!
//! [`Classifier::scan`] reads a transaction's headers, query string and
//! bodies and returns [`Finding`]s: which data types (payment cards, IBANs,
//! SSNs, e-mail addresses, secrets, health data, ...) occur where, how often,
//! and keyed fingerprints of the distinct values. A finding never holds a
//! value, so findings can be stored and exported; [`Classifier::mask`]
//! blanks the values in a body for the opt-in raw-body capture.
//!
//! Bodies are read by structure: JSON is walked value by value with the
//! key path as evidence, forms and query strings are percent-decoded per
//! parameter, multipart bodies per part, and anything else is scanned as
//! text. Each value is short, so detectors run on values rather than on the
//! body, and a byte-class prefilter decides which detectors can match at
//! all. A per-transaction budget bounds the work.
//!
//! Built-in data types, by stable name: `card_number`, `iban`, `us_ssn`,
//! `email`, `phone_number`, `date_of_birth`, `postal_address`,
//! `person_name`, `national_id`, `ip_address`, `jwt`, `api_key`,
//! `private_key`, `password`, `health_data` and `credentials` (the
//! `Authorization` and session cookie mapping is described in the
//! `headers` submodule). Operators add their own with [`CustomType`].

mod config;
mod detect;
mod field_names;
mod field_rules;
mod finding;
mod fingerprint;
mod fingerprint_cache;
mod form;
mod headers;
mod json;
mod multipart;
mod registry;
mod scan;
mod text;
pub(crate) mod validators;

#[cfg(test)]
mod tests;

use self::detect::{Claimed, Detectors, Emit};
use self::field_names::{CustomFieldNames, FieldInfo, FieldKinds};
use self::finding::SectionRef;
use self::fingerprint_cache::FingerprintCache;
use self::registry::{builtin, Registry};
use self::scan::{FindingSink, MaskSink, Sink};

use std::sync::Mutex;

pub use self::config::{
    ClassifierConfig, ClassifierConfigError, CustomType, TypeOverride, DEFAULT_SCAN_BUDGET_BYTES,
    MAX_CUSTOM_TYPES,
};
pub use self::finding::{
    Compliance, Finding, Part, Section, Sensitivity, UnknownCompliance, MAX_FINDINGS,
    MAX_FINGERPRINTS,
};
pub use self::fingerprint::{Fingerprint, FingerprintKeyError, Fingerprinter};
pub use self::registry::DataTypeInfo;

/// Header names up to this length are lowercased on the stack.
const SHORT_HEADER_NAME: usize = 64;

/// The parts of one HTTP transaction that are scanned.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScanInput<'a> {
    /// Request header fields as (name, value).
    pub request_headers: &'a [(&'a str, &'a [u8])],
    /// The query string without the `?`.
    pub query: Option<&'a str>,
    pub request_content_type: Option<&'a str>,
    /// The request body after content decoding.
    pub request_body: &'a [u8],
    pub response_headers: &'a [(&'a str, &'a [u8])],
    pub response_content_type: Option<&'a str>,
    /// The response body after content decoding.
    pub response_body: &'a [u8],
}

/// What a scan found, and how much of the input it read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanResult {
    pub findings: Vec<Finding>,
    /// Input bytes scanned: header values, query string and bodies.
    pub bytes_scanned: u64,
    /// Input bytes left unscanned because the scan budget ran out.
    pub bytes_not_scanned: u64,
    /// Body bytes of binary content (images, archives, protobuf, binary
    /// multipart files) that were passed over. They count in neither of the
    /// totals above.
    pub bytes_skipped_binary: u64,
    /// Detections not recorded because the result already held
    /// [`MAX_FINDINGS`] findings.
    pub detections_dropped: u64,
}

/// The detectors and field-name tables, shared by every input format.
pub(crate) struct Engine {
    detectors: Detectors,
    custom_fields: CustomFieldNames,
}

impl Engine {
    pub(crate) fn detectors(&self) -> &Detectors {
        &self.detectors
    }

    pub(crate) fn custom_fields(&self) -> &CustomFieldNames {
        &self.custom_fields
    }

    /// Returns whether a JSON number can be any data type under `field`.
    /// Without a whole-value rule from its name or a custom type, a number
    /// can only be a card number, an integer of 13 to 19 digits; skipping
    /// the rest spares the detectors most ids, counts, amounts and times.
    pub(crate) fn number_can_match(&self, number: &[u8], field: &FieldInfo) -> bool {
        if field.custom != 0 || !self.detectors.custom().is_empty() {
            return true;
        }
        if field.kinds.intersects(FieldKinds::VALUE_RULES) {
            return true;
        }
        (13..=19).contains(&number.len()) && number.iter().all(u8::is_ascii_digit)
    }

    /// Classifies one value under the field evidence `field`: field-name
    /// rules first, and the pattern detectors when none of them matched.
    pub(crate) fn classify_value(&self, value: &[u8], field: &FieldInfo, emit: &mut impl Emit) {
        if field.has_value_rule()
            && field_rules::classify_by_field(&self.detectors, value, field, emit)
        {
            return;
        }
        self.detectors
            .scan_patterns(value, field, &mut Claimed::default(), emit);
    }
}

/// Finds sensitive data in HTTP transactions.
pub struct Classifier {
    engine: Engine,
    registry: Registry,
    fingerprinter: Fingerprinter,
    /// Locked once per scan; only the capture thread scans.
    fingerprint_cache: Mutex<FingerprintCache>,
    scan_budget_bytes: usize,
}

impl Classifier {
    /// Builds a classifier from its configuration. Fails on an unknown
    /// built-in type name, an invalid regex or validator, or a custom type
    /// that could never match, naming the key (such as `custom[2].regex`).
    pub fn new(
        config: &ClassifierConfig,
        fingerprinter: Fingerprinter,
    ) -> Result<Self, ClassifierConfigError> {
        let compiled = config::compile(config)?;

        let mut enabled = [true; builtin::COUNT];
        for (id, slot) in enabled.iter_mut().enumerate() {
            *slot = compiled.registry.enabled(id as registry::TypeId);
        }

        Ok(Self {
            engine: Engine {
                detectors: Detectors::new(enabled, compiled.custom),
                custom_fields: compiled.custom_fields,
            },
            registry: compiled.registry,
            fingerprinter,
            fingerprint_cache: Mutex::new(FingerprintCache::default()),
            scan_budget_bytes: compiled.scan_budget_bytes,
        })
    }

    /// Scans one transaction. Input is read in this order until the scan
    /// budget runs out: request headers, query string, response headers,
    /// request body, response body. Headers come first because they are
    /// small and carry credentials.
    pub fn scan(&self, input: &ScanInput<'_>) -> ScanResult {
        let mut budget = Budget {
            remaining: self.scan_budget_bytes,
            scanned: 0,
            not_scanned: 0,
        };
        let mut cache = self
            .fingerprint_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut sink = FindingSink::new(&self.registry, &self.fingerprinter, &mut cache);

        self.scan_headers(input.request_headers, &mut budget, &mut sink);
        if let Some(query) = input.query {
            self.scan_query(query, &mut budget, &mut sink);
        }
        sink.part = Part::Response;
        self.scan_headers(input.response_headers, &mut budget, &mut sink);

        sink.part = Part::Request;
        let mut skipped = self.scan_body(
            input.request_content_type,
            input.request_body,
            &mut budget,
            &mut sink,
        );
        sink.part = Part::Response;
        skipped += self.scan_body(
            input.response_content_type,
            input.response_body,
            &mut budget,
            &mut sink,
        );

        let detections_dropped = sink.findings.dropped();
        ScanResult {
            findings: sink.findings.into_findings(),
            bytes_scanned: budget.scanned,
            bytes_not_scanned: budget.not_scanned,
            bytes_skipped_binary: skipped,
            detections_dropped,
        }
    }

    /// Returns the classifier's data types, built-in first, with the
    /// configured overrides applied.
    pub fn data_types(&self) -> Vec<DataTypeInfo> {
        self.registry.all().to_vec()
    }

    /// Replaces every classified value in `body` by a mask of the same length
    /// ('*'), for the opt-in raw-body capture.
    ///
    /// The whole body is scanned, whatever the scan budget, because a value
    /// left in clear would defeat the mask. A JSON string with escape
    /// sequences is masked whole, and so is a percent-encoded form value,
    /// since their decoded offsets do not map onto the body. Binary bodies
    /// are returned unchanged.
    ///
    /// NOTE: a JSON number that is masked (a card number sent as a number)
    /// becomes `****`, so the masked body is no longer valid JSON.
    pub fn mask(&self, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
        let mut sink = MaskSink::default();
        scan::scan_body(&self.engine, content_type, body, &mut sink);

        let mut masked = body.to_vec();
        for range in sink.ranges {
            let end = range.end.min(masked.len());
            let start = range.start.min(end);
            masked[start..end].fill(b'*');
        }
        masked
    }

    fn scan_headers(
        &self,
        headers: &[(&str, &[u8])],
        budget: &mut Budget,
        sink: &mut FindingSink<'_>,
    ) {
        let mut buffer = [0u8; SHORT_HEADER_NAME];
        for (name, value) in headers {
            // Lowercased on the stack: every header of every call passes
            // here, and names longer than the buffer are rare.
            let owned;
            let name = if name.len() <= SHORT_HEADER_NAME {
                let lowered = &mut buffer[..name.len()];
                lowered.copy_from_slice(name.as_bytes());
                lowered.make_ascii_lowercase();
                match std::str::from_utf8(lowered) {
                    Ok(name) => name,
                    Err(_) => continue,
                }
            } else {
                owned = name.to_ascii_lowercase();
                owned.as_str()
            };
            if !headers::header_scanned(name) {
                continue;
            }
            let length = budget.take(value.len());
            if length == 0 {
                continue;
            }

            let value = &value[..length];
            let section = SectionRef::Header(name);
            headers::classify_header(&self.engine, name, value, &mut |data_type, range| {
                sink.hit(data_type, &section, value, range, None);
            });
        }
    }

    fn scan_query(&self, query: &str, budget: &mut Budget, sink: &mut FindingSink<'_>) {
        let length = budget.take(query.len());
        let query = &query.as_bytes()[..length];
        form::walk_form(query, &self.engine.custom_fields, |pair| {
            let section = SectionRef::Query(&pair.name);
            self.engine
                .classify_value(&pair.value, &pair.field, &mut |data_type, range| {
                    sink.hit(data_type, &section, &pair.value, range, None);
                });
        });
    }

    /// Scans a body within the budget and returns the bytes skipped as
    /// binary, which are given back to the budget.
    fn scan_body(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        budget: &mut Budget,
        sink: &mut FindingSink<'_>,
    ) -> u64 {
        if scan::body_kind(content_type, body) == scan::BodyKind::Binary {
            return body.len() as u64;
        }
        let length = budget.take(body.len());
        if length == 0 {
            return 0;
        }
        let skipped = scan::scan_body(&self.engine, content_type, &body[..length], sink);
        budget.give_back(skipped);
        skipped
    }
}

/// Bytes left to scan in one transaction.
struct Budget {
    remaining: usize,
    scanned: u64,
    not_scanned: u64,
}

impl Budget {
    /// Takes up to `length` bytes from the budget and returns how many may
    /// be scanned; the rest counts as not scanned.
    fn take(&mut self, length: usize) -> usize {
        let granted = length.min(self.remaining);
        self.remaining -= granted;
        self.scanned += granted as u64;
        self.not_scanned += (length - granted) as u64;
        granted
    }

    /// Returns bytes that were taken but not scanned (binary content).
    fn give_back(&mut self, length: u64) {
        self.remaining += length as usize;
        self.scanned -= length;
    }
}
