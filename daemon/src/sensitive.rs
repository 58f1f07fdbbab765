//! The sensitive-data stage of the pipeline, between assembling a
//! transaction and storing it.
//!
//! Before the inventory counts a call, [`SensitiveData::classify`] scans its
//! headers, query and decoded bodies, records the findings on the
//! transaction (types, places, counts, keyed fingerprints) and withholds
//! every classified header and query value. After the inventory has named
//! the endpoint, [`SensitiveData::seal`] masks classified values in the path
//! and, only for endpoints an operator opted in, keeps the bodies with their
//! classified values masked. Nothing that reaches the store, the API or the
//! logs contains a classified value in clear.

mod cards;

use serde::{Deserialize, Serialize};

use crate::{
    classify::{Classifier, DataTypeInfo, Part, ScanInput, Section},
    inventory::EndpointKey,
    protocols::http1::{Body, Header},
    streams::ConnectionExchange,
    transaction::{CapturedBody, StoredHeader, Transaction},
};

/// Body bytes kept per message when a rule names no cap.
pub const DEFAULT_BODY_CAPTURE_BYTES: usize = 4096;
/// Body bytes kept per message at most, whatever a rule requests.
pub const MAX_BODY_CAPTURE_BYTES: usize = 64 * 1024;

/// Methods a body-capture rule may name, so a typo is caught at start
/// rather than matching nothing.
const HTTP_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Content type under which a query string is scanned and masked.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// An endpoint whose bodies are kept, masked: the `[[body_capture]]` tables
/// of the configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyCaptureRule {
    /// Service as `ztapi endpoints` shows it; any service when absent.
    #[serde(default)]
    pub service: Option<String>,
    /// Request method; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path template exactly as `ztapi endpoints` shows it, such as
    /// `/api/orders/{id}`.
    pub path: String,
    /// Decoded body bytes kept per message, at most 65536.
    #[serde(default = "default_body_capture_bytes")]
    pub max_bytes: usize,
}

fn default_body_capture_bytes() -> usize {
    DEFAULT_BODY_CAPTURE_BYTES
}

impl BodyCaptureRule {
    fn matches(&self, key: &EndpointKey) -> bool {
        self.path == key.path_template
            && self
                .method
                .as_ref()
                .is_none_or(|method| method.eq_ignore_ascii_case(&key.method))
            && self
                .service
                .as_ref()
                .is_none_or(|service| service.eq_ignore_ascii_case(&key.service))
    }

    /// Checks the rule, naming the setting and what to do.
    pub fn validate(&self, index: usize) -> Result<(), String> {
        if let Some(method) = &self.method {
            if !HTTP_METHODS.contains(&method.to_ascii_uppercase().as_str()) {
                return Err(format!(
                    "body_capture[{index}].method = {method:?}: not an HTTP method; use one of {}, or leave it out for every method",
                    HTTP_METHODS.join(", ")
                ));
            }
        }
        if !self.path.starts_with('/') {
            return Err(format!(
                "body_capture[{index}].path = {:?}: must be a path template starting with '/', as `ztapi endpoints` shows it",
                self.path
            ));
        }
        if self.max_bytes == 0 || self.max_bytes > MAX_BODY_CAPTURE_BYTES {
            return Err(format!(
                "body_capture[{index}].max_bytes = {}: must be between 1 and {MAX_BODY_CAPTURE_BYTES}",
                self.max_bytes
            ));
        }
        Ok(())
    }
}

/// Counters of the stage, published with the pipeline counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassificationCounters {
    pub transactions_scanned: u64,
    pub transactions_with_findings: u64,
    pub findings: u64,
    pub bytes_scanned: u64,
    /// Bytes left unscanned because a transaction's scan budget ran out.
    pub bytes_not_scanned: u64,
    /// Detections not recorded because a transaction had too many findings.
    pub detections_dropped: u64,
    pub bodies_captured: u64,
}

/// The classifier and the body-capture rules, owned by the pipeline.
pub struct SensitiveData {
    classifier: Classifier,
    body_capture: Vec<BodyCaptureRule>,
    counters: ClassificationCounters,
}

impl SensitiveData {
    pub fn new(classifier: Classifier, body_capture: Vec<BodyCaptureRule>) -> Self {
        Self {
            classifier,
            body_capture,
            counters: ClassificationCounters::default(),
        }
    }

    pub fn data_types(&self) -> Vec<DataTypeInfo> {
        self.classifier.data_types()
    }

    pub fn counters(&self) -> ClassificationCounters {
        self.counters
    }

    /// Scans the exchange behind `transaction`, records the findings on it,
    /// and withholds the classified header and query values.
    pub fn classify(&mut self, item: &ConnectionExchange, transaction: &mut Transaction) {
        let request = &item.exchange.request;
        let response = item.exchange.response.as_ref();
        let request_headers = scan_headers(&request.headers);
        let response_headers = response
            .map(|r| scan_headers(&r.headers))
            .unwrap_or_default();
        let input = ScanInput {
            request_headers: &request_headers,
            query: transaction.query.as_deref(),
            request_content_type: content_type(&request.headers),
            request_body: &request.body.decoded,
            response_headers: &response_headers,
            response_content_type: response.and_then(|r| content_type(&r.headers)),
            response_body: response.map_or(&[][..], |r| &r.body.decoded),
        };
        let result = self.classifier.scan(&input);

        let counters = &mut self.counters;
        counters.transactions_scanned += 1;
        counters.bytes_scanned += result.bytes_scanned;
        counters.bytes_not_scanned += result.bytes_not_scanned;
        counters.detections_dropped += result.detections_dropped;
        counters.findings += result.findings.len() as u64;
        if !result.findings.is_empty() {
            counters.transactions_with_findings += 1;
        }
        transaction.flags.bytes_not_scanned = result.bytes_not_scanned;

        let mut query_classified = false;
        for finding in &result.findings {
            match (&finding.section, finding.part) {
                (Section::Header { name }, Part::Request) => {
                    withhold(&mut transaction.request_headers, name)
                }
                (Section::Header { name }, Part::Response) => {
                    withhold(&mut transaction.response_headers, name)
                }
                (Section::Query { .. }, _) => query_classified = true,
                (Section::Body { .. }, _) => {}
            }
        }
        // When the budget ran out the scan may not have reached the query,
        // so it is masked anyway: masking reads the whole input.
        if query_classified || result.bytes_not_scanned > 0 {
            if let Some(query) = &transaction.query {
                let masked = self
                    .classifier
                    .mask(Some(FORM_CONTENT_TYPE), query.as_bytes());
                transaction.query = Some(String::from_utf8_lossy(&masked).into_owned());
            }
        }
        transaction.findings = result.findings;
    }

    /// Runs once the inventory has named the endpoint: masks classified
    /// values in the stored path (the inventory has templated the raw one
    /// already) and keeps masked bodies when a rule covers the endpoint.
    pub fn seal(
        &mut self,
        item: &ConnectionExchange,
        transaction: &mut Transaction,
        endpoint: Option<&EndpointKey>,
    ) {
        if transaction
            .path
            .bytes()
            .any(|byte| byte.is_ascii_digit() || byte == b'@')
        {
            let masked = self
                .classifier
                .mask(Some("text/plain"), transaction.path.as_bytes());
            transaction.path = String::from_utf8_lossy(&masked).into_owned();
        }

        let Some(rule) = endpoint.and_then(|key| self.body_capture.iter().find(|r| r.matches(key)))
        else {
            return;
        };
        let request = &item.exchange.request;
        transaction.request_body = Some(self.capture(&request.headers, &request.body, rule));
        if let Some(response) = &item.exchange.response {
            transaction.response_body = Some(self.capture(&response.headers, &response.body, rule));
        }
        self.counters.bodies_captured += 1;
    }

    fn capture(&self, headers: &[Header], body: &Body, rule: &BodyCaptureRule) -> CapturedBody {
        let content_type = content_type(headers);
        // The whole decoded body is masked before it is cut, so a value
        // that straddles the cap is masked too.
        let mut masked = self.classifier.mask(content_type, &body.decoded);
        cards::mask_card_numbers(&mut masked);
        let kept = &masked[..masked.len().min(rule.max_bytes)];
        CapturedBody {
            content_type: content_type.map(str::to_owned),
            text: String::from_utf8_lossy(kept).into_owned(),
            size: body.decoded.len() as u64,
            truncated: kept.len() < masked.len() || !body.complete_capture,
        }
    }
}

/// Replaces the values of every header called `name` by the withheld marker.
fn withhold(headers: &mut [StoredHeader], name: &str) {
    for header in headers.iter_mut().filter(|h| h.name == name) {
        header.value = None;
    }
}

/// Borrows the headers as the classifier reads them, without copying them.
fn scan_headers(headers: &[Header]) -> Vec<(&str, &[u8])> {
    headers
        .iter()
        .map(|header| (header.name.as_str(), header.value.as_slice()))
        .collect()
}

fn content_type(headers: &[Header]) -> Option<&str> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-type"))
        .and_then(|header| std::str::from_utf8(&header.value).ok())
}

#[cfg(test)]
mod tests;
