//! The sensitive data types an endpoint has carried: which types, in
//! requests or responses, under which compliance sets, and when they were
//! first and last seen. Values are never kept here, only what the
//! classifier's findings report about them.

use serde::{Deserialize, Serialize};

use crate::classify::{Compliance, Finding, Part, Sensitivity};

/// One data type seen in one part (request or response) of an endpoint's
/// calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataTypeSeen {
    pub data_type: String,
    pub part: Part,
    pub sensitivity: Sensitivity,
    pub compliance: Vec<Compliance>,
    /// Start of the first call that carried the type, Unix milliseconds.
    pub first_seen_ms: u64,
    /// Start of the latest call that carried the type, Unix milliseconds.
    pub last_seen_ms: u64,
    /// Calls that carried the type in this part.
    pub calls: u64,
}

/// Adds the findings of one call, started at `started_at_ms`, to the
/// sorted list `seen`. A type found in several places of one message counts
/// once for the call.
pub fn record(seen: &mut Vec<DataTypeSeen>, findings: &[Finding], started_at_ms: u64) {
    for (index, finding) in findings.iter().enumerate() {
        let repeated = findings[..index]
            .iter()
            .any(|earlier| earlier.data_type == finding.data_type && earlier.part == finding.part);
        if repeated {
            continue;
        }
        // A type the endpoint carried before is the common case; it needs
        // no copy of the finding's name and tags.
        if let Ok(index) = position(seen, &finding.data_type, finding.part) {
            let known = &mut seen[index];
            known.first_seen_ms = known.first_seen_ms.min(started_at_ms);
            known.last_seen_ms = known.last_seen_ms.max(started_at_ms);
            known.calls = known.calls.saturating_add(1);
            known.sensitivity = finding.sensitivity;
            if known.compliance != finding.compliance {
                known.compliance.clone_from(&finding.compliance);
            }
            continue;
        }
        merge_one(
            seen,
            DataTypeSeen {
                data_type: finding.data_type.clone(),
                part: finding.part,
                sensitivity: finding.sensitivity,
                compliance: finding.compliance.clone(),
                first_seen_ms: started_at_ms,
                last_seen_ms: started_at_ms,
                calls: 1,
            },
        );
    }
}

/// Adds the entries of `other` to `seen`, for endpoints that merge.
pub fn merge(seen: &mut Vec<DataTypeSeen>, other: &[DataTypeSeen]) {
    for entry in other {
        merge_one(seen, entry.clone());
    }
}

/// Finds the entry of `data_type` in `part` in the sorted `seen`: its
/// index, or the index where it would be inserted.
fn position(seen: &[DataTypeSeen], data_type: &str, part: Part) -> Result<usize, usize> {
    seen.binary_search_by(|known| {
        (known.data_type.as_str(), part_order(known.part)).cmp(&(data_type, part_order(part)))
    })
}

fn merge_one(seen: &mut Vec<DataTypeSeen>, entry: DataTypeSeen) {
    match position(seen, &entry.data_type, entry.part) {
        Ok(index) => {
            let known = &mut seen[index];
            known.first_seen_ms = known.first_seen_ms.min(entry.first_seen_ms);
            known.last_seen_ms = known.last_seen_ms.max(entry.last_seen_ms);
            known.calls = known.calls.saturating_add(entry.calls);
            // The latest configuration's level and tags win.
            known.sensitivity = entry.sensitivity;
            known.compliance = entry.compliance;
        }
        Err(index) => seen.insert(index, entry),
    }
}

fn part_order(part: Part) -> u8 {
    match part {
        Part::Request => 0,
        Part::Response => 1,
    }
}

/// Returns whether an endpoint with these data types matches the `--data`
/// filter: a compliance set (`pci`, `gdpr`, `hipaa`, `ccpa`) or a data
/// type name.
pub fn matches(seen: &[DataTypeSeen], filter: &DataFilter) -> bool {
    seen.iter().any(|entry| match filter {
        DataFilter::Compliance(set) => entry.compliance.contains(set),
        DataFilter::DataType(name) => entry.data_type == *name,
    })
}

/// Selector of `ztapi endpoints --data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataFilter {
    Compliance(Compliance),
    DataType(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Section;

    fn finding(data_type: &str, part: Part, compliance: &[Compliance]) -> Finding {
        Finding {
            data_type: data_type.to_owned(),
            sensitivity: Sensitivity::High,
            compliance: compliance.to_vec(),
            part,
            section: Section::Body {
                path: "$.x".to_owned(),
            },
            count: 1,
            fingerprints: Vec::new(),
        }
    }

    #[test]
    fn one_call_counts_once_per_type_and_part() {
        let mut seen = Vec::new();
        let findings = [
            finding("email", Part::Request, &[Compliance::Gdpr]),
            finding("email", Part::Request, &[Compliance::Gdpr]),
            finding("email", Part::Response, &[Compliance::Gdpr]),
        ];
        record(&mut seen, &findings, 1_000);
        assert_eq!(seen.len(), 2, "request and response kept apart: {seen:?}");
        assert!(seen.iter().all(|entry| entry.calls == 1), "{seen:?}");
    }

    #[test]
    fn first_and_last_seen_follow_calls() {
        let mut seen = Vec::new();
        let card = [finding("card_number", Part::Request, &[Compliance::PciDss])];
        record(&mut seen, &card, 2_000);
        record(&mut seen, &card, 1_000);
        record(&mut seen, &card, 3_000);
        assert_eq!(seen[0].first_seen_ms, 1_000);
        assert_eq!(seen[0].last_seen_ms, 3_000);
        assert_eq!(seen[0].calls, 3);
    }

    #[test]
    fn filter_by_set_or_type() {
        let mut seen = Vec::new();
        record(
            &mut seen,
            &[finding("card_number", Part::Request, &[Compliance::PciDss])],
            1,
        );
        assert!(matches(&seen, &DataFilter::Compliance(Compliance::PciDss)));
        assert!(!matches(&seen, &DataFilter::Compliance(Compliance::Hipaa)));
        assert!(matches(
            &seen,
            &DataFilter::DataType("card_number".to_owned())
        ));
        assert!(!matches(&seen, &DataFilter::DataType("email".to_owned())));
    }

    #[test]
    fn merge_sums_calls() {
        let mut left = Vec::new();
        let mut right = Vec::new();
        let email = [finding("email", Part::Response, &[Compliance::Gdpr])];
        record(&mut left, &email, 5);
        record(&mut right, &email, 9);
        merge(&mut left, &right);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].calls, 2);
        assert_eq!((left[0].first_seen_ms, left[0].last_seen_ms), (5, 9));
    }
}
