use super::*;

fn with_budget(bytes: usize) -> Classifier {
    classifier_with(&ClassifierConfig {
        scan_budget_bytes: bytes,
        ..ClassifierConfig::default()
    })
}

#[test]
fn budget_counts_all_input() {
    let classifier = classifier();
    let headers = vec![("X-Note", &b"hello"[..])];
    let result = classifier.scan(&ScanInput {
        request_headers: &headers,
        query: Some("a=1"),
        request_content_type: Some("text/plain"),
        request_body: b"0123456789",
        response_content_type: Some("application/json"),
        response_body: b"{}",
        ..ScanInput::default()
    });
    assert_eq!(
        result.bytes_scanned,
        5 + 3 + 10 + 2,
        "header value, query and bodies"
    );
    assert_eq!(result.bytes_not_scanned, 0, "within budget");
}

#[test]
fn budget_stops_scan() {
    let classifier = with_budget(40);
    let mut body = b"first ada@example.com ".to_vec();
    body.extend_from_slice(&[b' '; 30]);
    body.extend_from_slice(b"late bob@example.com");

    let result = scan_body(&classifier, "text/plain", &body);
    assert_eq!(result.bytes_scanned, 40, "scanned up to the budget");
    assert_eq!(
        result.bytes_not_scanned,
        body.len() as u64 - 40,
        "rest counted"
    );
    assert_eq!(result.findings.len(), 1, "only the early value");
    assert_eq!(result.findings[0].count, 1, "one e-mail");
}

#[test]
fn budget_order_headers_first() {
    let classifier = with_budget(10);
    let headers = vec![("X-Contact", &b"a@example.com"[..])];
    let result = classifier.scan(&ScanInput {
        request_headers: &headers,
        request_content_type: Some("text/plain"),
        request_body: b"bob@example.com",
        ..ScanInput::default()
    });
    assert_eq!(result.bytes_scanned, 10, "budget spent");
    assert_eq!(
        result.bytes_not_scanned,
        3 + 15,
        "header rest and whole body"
    );
}

#[test]
fn budget_cuts_json_cleanly() {
    let classifier = with_budget(30);
    let body = br#"{"email": "ada@example.com", "ssn": "123-45-6789"}"#;
    let result = scan_body(&classifier, "application/json", body);
    assert_eq!(type_names(&result), ["email"], "walked prefix only");
    assert_eq!(
        result.bytes_not_scanned,
        body.len() as u64 - 30,
        "rest counted"
    );
}

#[test]
fn findings_hold_no_values() {
    let classifier = classifier();
    let body =
        br#"{"card": "4111111111111111", "email": "ada@example.com", "password": "hunter2"}"#;
    let result = scan_body(&classifier, "application/json", body);
    let serialised = serde_json::to_string(&result.findings).expect("serialisable");
    assert_eq!(result.findings.len(), 3, "three findings");
    for value in [
        "4111111111111111",
        "ada@example.com",
        "hunter2",
        "41111111",
        "example.com",
    ] {
        assert!(
            !serialised.contains(value),
            "{value} leaked into {serialised}"
        );
    }
}

#[test]
fn fingerprints_capped_at_eight() {
    let classifier = classifier();
    let emails: Vec<String> = (0..20)
        .map(|index| format!("\"user{index}@example.com\""))
        .collect();
    let body = format!("{{\"emails\": [{}]}}", emails.join(","));
    let result = scan_body(&classifier, "application/json", body.as_bytes());
    assert_eq!(result.findings[0].count, 20, "every value counted");
    assert_eq!(
        result.findings[0].fingerprints.len(),
        MAX_FINGERPRINTS,
        "fingerprints capped"
    );
}

#[test]
fn findings_capped() {
    let classifier = classifier();
    let fields: Vec<String> = (0..MAX_FINDINGS + 10)
        .map(|index| format!("\"f{index}\": \"a@example.com\""))
        .collect();
    let body = format!("{{{}}}", fields.join(","));
    let result = scan_body(&classifier, "application/json", body.as_bytes());
    assert_eq!(result.findings.len(), MAX_FINDINGS, "findings capped");
    assert_eq!(result.detections_dropped, 10, "drops counted");
}

#[test]
fn repeats_aggregated_past_the_index_threshold() {
    // 40 sections, more than the set searches one by one, each with two
    // values, so the second value of each is found through the index.
    let classifier = classifier();
    let fields: Vec<String> = (0..40)
        .map(|index| format!("\"f{index}\": [\"a{index}@example.com\", \"b@example.com\"]"))
        .collect();
    let body = format!("{{{}}}", fields.join(","));
    let result = scan_body(&classifier, "application/json", body.as_bytes());
    assert_eq!(result.findings.len(), 40, "one finding per section");
    for finding in &result.findings {
        assert_eq!(finding.count, 2, "both values of {:?}", finding.section);
        assert_eq!(finding.fingerprints.len(), 2);
    }
}

#[test]
fn request_and_response_separate() {
    let classifier = classifier();
    let result = classifier.scan(&ScanInput {
        request_content_type: Some("text/plain"),
        request_body: b"ada@example.com",
        response_content_type: Some("text/plain"),
        response_body: b"ada@example.com",
        ..ScanInput::default()
    });
    let parts: Vec<Part> = result.findings.iter().map(|finding| finding.part).collect();
    assert_eq!(
        parts,
        [Part::Request, Part::Response],
        "one finding per part"
    );
}

/// Classified values that `mask` must remove from the bodies below.
const SECRETS: [&str; 6] = [
    "4111111111111111",
    "ada@example.com",
    "hunter2",
    "123-45-6789",
    "1990-05-17",
    "Lovelace",
];

#[test]
fn mask_json_leaves_no_value() {
    let classifier = classifier();
    let body = br#"{"card": 4111111111111111, "customer": {"email": "ada@example.com", "dob": "1990-05-17", "last_name": "Lovelace"}, "password": "hunter2", "note": "ssn 123-45-6789 on file", "status": "ok"}"#;
    let masked = classifier.mask(Some("application/json"), body);
    let text = String::from_utf8(masked.clone()).expect("ASCII stays ASCII");

    assert_eq!(masked.len(), body.len(), "same length");
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} left in {text}");
    }
    assert!(
        text.contains(r#""status": "ok""#),
        "other values kept: {text}"
    );
    assert!(
        text.contains(r#""note": "ssn *********** on file""#),
        "only the match masked: {text}"
    );
}

#[test]
fn mask_escaped_string_whole() {
    let classifier = classifier();
    let body = br#"{"contact": "mail: ada\u0040example.com"}"#;
    let masked = classifier.mask(Some("application/json"), body);
    let text = String::from_utf8(masked).expect("ASCII");
    assert_eq!(
        text,
        format!(r#"{{"contact": "{}"}}"#, "*".repeat(26)),
        "whole string masked"
    );
}

#[test]
fn mask_form_text_and_invalid_json() {
    let classifier = classifier();
    let form = b"email=ada%40example.com&password=hunter2&ok=1";
    let masked = classifier.mask(Some("application/x-www-form-urlencoded"), form);
    assert_eq!(
        masked,
        b"email=*****************&password=*******&ok=1".to_vec(),
        "form"
    );

    let text = b"contact ada@example.com or 4111 1111 1111 1111";
    let masked = classifier.mask(Some("text/plain"), text);
    assert_eq!(
        masked,
        b"contact *************** or *******************".to_vec(),
        "text"
    );

    let broken = br#"{"password": "hunter2", "email": "ada@example.com" !}"#;
    let masked =
        String::from_utf8(classifier.mask(Some("application/json"), broken)).expect("ASCII");
    assert!(
        !masked.contains("hunter2"),
        "password in invalid JSON: {masked}"
    );
    assert!(
        !masked.contains("ada@example.com"),
        "email in invalid JSON: {masked}"
    );
}

#[test]
fn mask_ignores_budget() {
    let classifier = with_budget(8);
    let masked = classifier.mask(Some("text/plain"), b"padding padding ada@example.com");
    assert_eq!(
        masked,
        b"padding padding ***************".to_vec(),
        "value past the budget masked"
    );
}
