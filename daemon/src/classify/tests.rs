//! Unit tests of the classifier, one file per concern. All values are
//! synthetic: published test card numbers, example IBANs from the IBAN
//! registry, SSNs and phone numbers in reserved or fictional ranges.

mod config;
mod detectors;
mod fingerprint;
mod scanning;
mod structure;
mod validators;

use super::*;

/// Key used by every test fingerprinter.
const TEST_KEY: [u8; 32] = [7; 32];

fn classifier() -> Classifier {
    classifier_with(&ClassifierConfig::default())
}

fn classifier_with(config: &ClassifierConfig) -> Classifier {
    Classifier::new(config, Fingerprinter::from_key(TEST_KEY)).expect("valid configuration")
}

/// Scans `body` as a request body of `content_type`.
fn scan_body(classifier: &Classifier, content_type: &str, body: &[u8]) -> ScanResult {
    classifier.scan(&ScanInput {
        request_content_type: Some(content_type),
        request_body: body,
        ..ScanInput::default()
    })
}

/// Data type names found in a JSON request body, sorted and deduplicated.
fn json_types(classifier: &Classifier, body: &str) -> Vec<String> {
    type_names(&scan_body(classifier, "application/json", body.as_bytes()))
}

/// Data type names found in a plain-text request body.
fn text_types(classifier: &Classifier, body: &str) -> Vec<String> {
    type_names(&scan_body(classifier, "text/plain", body.as_bytes()))
}

/// Data type names found for one JSON field, `{"<key>": <value>}`, where
/// `value` is given as JSON.
fn field_types(classifier: &Classifier, key: &str, value: &str) -> Vec<String> {
    json_types(classifier, &format!("{{\"{key}\": {value}}}"))
}

fn type_names(result: &ScanResult) -> Vec<String> {
    let mut names: Vec<String> = result
        .findings
        .iter()
        .map(|finding| finding.data_type.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Body paths of the findings of `data_type`.
fn body_paths(result: &ScanResult, data_type: &str) -> Vec<String> {
    result
        .findings
        .iter()
        .filter(|finding| finding.data_type == data_type)
        .filter_map(|finding| match &finding.section {
            Section::Body { path } => Some(path.clone()),
            _ => None,
        })
        .collect()
}
