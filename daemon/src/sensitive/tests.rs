//! The sensitive-data stage on exchanges parsed from real HTTP bytes:
//! what reaches the stored transaction, and what is withheld.

use common::Direction;

use super::*;
use crate::{
    classify::{ClassifierConfig, Fingerprinter},
    protocols::http1::Http1Limits,
    streams::{ConnectionKey, ConnectionTable, Payload},
    transaction::assemble::{assemble, Clock},
};

const CARD: &str = "4539578763621486";
const SSN: &str = "536-22-1234";
const EMAIL: &str = "jane.doe.7731@example.org";

/// Parses one request and its response as a TLS connection would carry
/// them, and returns the finished exchange.
fn exchange(request: &str, response: &str) -> ConnectionExchange {
    let mut table = ConnectionTable::new(4, Http1Limits::default());
    let key = ConnectionKey::Tls { pid: 7, ssl: 1 };
    let mut finished = Vec::new();
    for (direction, bytes, timestamp_ns) in [
        (Direction::Egress, request, 1_000),
        (Direction::Ingress, response, 2_000),
    ] {
        let payload = Payload {
            process: "client",
            fd: 3,
            direction,
            data: bytes.as_bytes(),
            lost: 0,
            timestamp_ns,
        };
        finished.extend(table.push(key, &payload));
    }
    finished.extend(table.close(key, 3_000));
    assert_eq!(finished.len(), 1, "one exchange expected");
    finished.remove(0)
}

fn stage(rules: Vec<BodyCaptureRule>) -> SensitiveData {
    let classifier = Classifier::new(
        &ClassifierConfig::default(),
        Fingerprinter::from_key([7; 32]),
    )
    .expect("default classifier");
    SensitiveData::new(classifier, rules)
}

fn json_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn endpoint_key(method: &str, path_template: &str) -> EndpointKey {
    EndpointKey {
        service: "api.test".to_owned(),
        method: method.to_owned(),
        path_template: path_template.to_owned(),
    }
}

#[test]
fn classified_header_and_query_values_withheld() {
    let item = exchange(
        &format!(
            "GET /lookup?ssn={SSN}&locale=en HTTP/1.1\r\nHost: api.test\r\nX-Customer-Email: {EMAIL}\r\nAccept: */*\r\n\r\n"
        ),
        &json_response(r#"{"found":true}"#),
    );
    let mut stage = stage(Vec::new());
    let mut transaction = assemble(&item, 1, &Clock::new());
    stage.classify(&item, &mut transaction);

    let types: Vec<&str> = transaction
        .findings
        .iter()
        .map(|finding| finding.data_type.as_str())
        .collect();
    assert!(types.contains(&"us_ssn"), "{types:?}");
    assert!(types.contains(&"email"), "{types:?}");

    let email = transaction
        .request_headers
        .iter()
        .find(|header| header.name == "x-customer-email")
        .expect("header kept by name");
    assert_eq!(email.value, None, "classified header value withheld");
    let accept = transaction
        .request_headers
        .iter()
        .find(|header| header.name == "accept")
        .expect("accept header");
    assert_eq!(accept.value.as_deref(), Some("*/*"), "other headers kept");

    let query = transaction.query.as_deref().expect("query kept");
    assert!(!query.contains(SSN), "SSN masked in {query}");
    assert!(
        query.contains("locale=en"),
        "other parameters kept: {query}"
    );
    assert_eq!(stage.counters().transactions_with_findings, 1);
}

#[test]
fn body_findings_counted_without_values() {
    let request_body = format!(r#"{{"card":{{"number":"{CARD}"}},"amount":12}}"#);
    let item = exchange(
        &format!(
            "POST /pay HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{request_body}",
            request_body.len()
        ),
        &json_response(r#"{"status":"ok"}"#),
    );
    let mut stage = stage(Vec::new());
    let mut transaction = assemble(&item, 1, &Clock::new());
    stage.classify(&item, &mut transaction);
    stage.seal(&item, &mut transaction, Some(&endpoint_key("POST", "/pay")));

    let card = transaction
        .findings
        .iter()
        .find(|finding| finding.data_type == "card_number")
        .expect("card found");
    assert_eq!(
        card.section,
        crate::classify::Section::Body {
            path: "$.card.number".to_owned()
        }
    );
    assert_eq!(card.fingerprints.len(), 1);
    assert!(
        transaction.request_body.is_none(),
        "bodies are kept only when a rule opts in"
    );
    let stored = serde_json::to_string(&transaction).unwrap();
    assert!(!stored.contains(CARD), "no card in {stored}");
}

#[test]
fn opted_in_body_kept_masked_and_capped() {
    let request_body = format!(r#"{{"note":"{}","card":"{CARD}"}}"#, "x".repeat(64));
    let item = exchange(
        &format!(
            "POST /pay HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{request_body}",
            request_body.len()
        ),
        &json_response(r#"{"status":"ok"}"#),
    );
    let rule = BodyCaptureRule {
        service: None,
        method: Some("post".to_owned()),
        path: "/pay".to_owned(),
        max_bytes: 90,
    };
    let mut stage = stage(vec![rule]);
    let mut transaction = assemble(&item, 1, &Clock::new());
    stage.classify(&item, &mut transaction);
    stage.seal(&item, &mut transaction, Some(&endpoint_key("POST", "/pay")));

    let body = transaction
        .request_body
        .expect("body kept for the endpoint");
    assert_eq!(body.text.len(), 90, "cut at the cap");
    assert!(body.truncated);
    assert_eq!(body.size, request_body.len() as u64);
    assert!(
        !body.text.contains(&CARD[..8]),
        "card masked even where cut: {}",
        body.text
    );
    assert!(
        body.text.contains("\"note\""),
        "the rest kept: {}",
        body.text
    );
    let response = transaction.response_body.expect("response kept too");
    assert_eq!(response.text, r#"{"status":"ok"}"#);
    assert_eq!(stage.counters().bodies_captured, 1);
}

#[test]
fn rule_matches_only_its_endpoint() {
    let rule = BodyCaptureRule {
        service: Some("api.test".to_owned()),
        method: None,
        path: "/api/orders/{id}".to_owned(),
        max_bytes: DEFAULT_BODY_CAPTURE_BYTES,
    };
    assert!(rule.matches(&endpoint_key("GET", "/api/orders/{id}")));
    assert!(rule.matches(&endpoint_key("DELETE", "/api/orders/{id}")));
    assert!(!rule.matches(&endpoint_key("GET", "/api/orders")));
    let mut other_service = endpoint_key("GET", "/api/orders/{id}");
    other_service.service = "billing.test".to_owned();
    assert!(!rule.matches(&other_service));
}

#[test]
fn card_number_in_path_masked_in_store() {
    let item = exchange(
        &format!("GET /cards/{CARD}/limits HTTP/1.1\r\nHost: api.test\r\n\r\n"),
        &json_response("{}"),
    );
    let mut stage = stage(Vec::new());
    let mut transaction = assemble(&item, 1, &Clock::new());
    stage.classify(&item, &mut transaction);
    stage.seal(&item, &mut transaction, None);
    assert!(!transaction.path.contains(CARD), "{}", transaction.path);
    assert!(
        transaction.path.starts_with("/cards/"),
        "{}",
        transaction.path
    );
}

#[test]
fn bad_rules_named() {
    let mut rule = BodyCaptureRule {
        service: None,
        method: None,
        path: "api/x".to_owned(),
        max_bytes: 10,
    };
    let error = rule.validate(2).unwrap_err();
    assert!(error.contains("body_capture[2].path"), "{error}");
    rule.path = "/api/x".to_owned();
    rule.method = Some("PSOT".to_owned());
    let error = rule.validate(1).unwrap_err();
    assert!(
        error.contains("body_capture[1].method = \"PSOT\""),
        "{error}"
    );
    rule.method = Some("post".to_owned());
    assert!(rule.validate(1).is_ok(), "methods are matched without case");
    rule.max_bytes = 0;
    let error = rule.validate(0).unwrap_err();
    assert!(error.contains("body_capture[0].max_bytes = 0"), "{error}");
}
