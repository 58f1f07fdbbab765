//! Sensitive-data classification end to end: a real `ztapid`, an HTTPS API
//! in Python `ssl` and curl clients carrying card numbers, an SSN, an IBAN,
//! an e-mail address, a password and a session token. The endpoints must
//! show the right data types and compliance sets, `--data pci` must list
//! exactly the card endpoint, and none of the values may be found in the
//! data directory, the daemon's log or the API's responses.
//!
//! Run one at a time (`--test-threads=1`): every daemon hooks libssl for
//! the whole node.

use std::{path::Path, time::Duration};

use integration_tests::{
    curl, find_endpoint, privileged, self_signed_certificate, start_tls_fixture, wait_for,
    wait_until_hooked, Daemon, TempDir,
};
use serde_json::Value;

const CARD: &str = "4539578763621486";
const CARD_SPACED: &str = "5425 2334 3010 9903";
const SSN: &str = "536-22-1234";
const EMAIL: &str = "jane.doe.7731@example.org";
const IBAN: &str = "DE89370400440532013000";
const PASSWORD: &str = "Tr0ub4dor&3-horse";
const PHONE: &str = "+14155550187";
/// The JWT the fixture's login endpoint returns (its signature part).
const TOKEN_SIGNATURE: &str = "q2uX0w9pQJf0mGLl3vKAdk8Z2lq8b3yVnR4m7tP1sYc";

/// Every value that crossed the wire and must not be stored anywhere.
/// Spaced and unspaced forms both count.
const SECRETS: &[&str] = &[
    CARD,
    CARD_SPACED,
    "5425233430109903",
    SSN,
    "536221234",
    EMAIL,
    IBAN,
    PASSWORD,
    PHONE,
    TOKEN_SIGNATURE,
];

/// Body capture is on for the payments endpoint, so the test can also check
/// that an opted-in body is stored with its card number masked.
const CONFIG: &str = r#"
[[body_capture]]
method = "POST"
path = "/api/payments"
max_bytes = 1024
"#;

fn post_json(url: &str, body: &str) {
    curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-raw",
        body,
        url,
    ]);
}

/// Data type names of an endpoint in `part` (`request` or `response`).
fn data_types(endpoint: &Value, part: &str) -> Vec<String> {
    endpoint["data_types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["part"] == part)
        .filter_map(|entry| entry["data_type"].as_str().map(str::to_owned))
        .collect()
}

fn compliance(endpoint: &Value) -> Vec<String> {
    let mut sets: Vec<String> = endpoint["data_types"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|entry| entry["compliance"].as_array().cloned().unwrap_or_default())
        .filter_map(|set| set.as_str().map(str::to_owned))
        .collect();
    sets.sort();
    sets.dedup();
    sets
}

/// Fingerprints of `data_type` findings in the transactions whose path
/// starts with `path`.
fn fingerprints(transactions: &Value, data_type: &str, path: &str) -> Vec<String> {
    let mut found = Vec::new();
    for transaction in transactions.as_array().expect("transaction list") {
        if !transaction["path"]
            .as_str()
            .is_some_and(|p| p.starts_with(path))
        {
            continue;
        }
        for finding in transaction["findings"].as_array().into_iter().flatten() {
            if finding["data_type"] != data_type {
                continue;
            }
            let values = finding["fingerprints"].as_array().into_iter().flatten();
            found.extend(values.filter_map(|value| value.as_str().map(str::to_owned)));
        }
    }
    found
}

/// Files under `dir` that contain `needle`, read as raw bytes.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read data directory") {
                pending.push(entry.expect("directory entry").path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn sensitive_values_classified_and_never_stored() {
    if !privileged("sensitive_values_classified_and_never_stored") {
        return;
    }
    let config_dir = TempDir::new("classify-config");
    let config_path = config_dir.path().join("ztapid.toml");
    std::fs::write(&config_path, CONFIG).expect("write config");
    let daemon = Daemon::start(
        "classify",
        &[
            "--scan-interval-ms",
            "200",
            "--config",
            config_path.to_str().unwrap(),
        ],
    );

    let certificates = TempDir::new("classify-cert");
    let (cert, key) = self_signed_certificate(certificates.path());
    let (server, port) = start_tls_fixture("sensitive_api.py", &cert, &key);
    wait_until_hooked(&daemon, server.pid());

    let base = format!("https://127.0.0.1:{port}");
    post_json(
        &format!("{base}/api/payments"),
        &format!(
            r#"{{"amount": 42.5, "currency": "EUR", "card": {{"number": "{CARD}", "expiry": "12/29"}}}}"#
        ),
    );
    post_json(
        &format!("{base}/api/payments"),
        &format!(
            r#"{{"amount": 7, "currency": "USD", "card": {{"number": "{CARD_SPACED}", "expiry": "01/28"}}}}"#
        ),
    );
    curl(&[&format!("{base}/api/customers/4417")]);
    post_json(
        &format!("{base}/api/refunds"),
        &format!(r#"{{"payment_id": "pay_20481", "iban": "{IBAN}"}}"#),
    );
    post_json(
        &format!("{base}/api/login"),
        &format!(r#"{{"username": "jane.doe", "password": "{PASSWORD}"}}"#),
    );
    curl(&[
        "-H",
        &format!("X-Customer-Email: {EMAIL}"),
        &format!("{base}/api/lookup?ssn={SSN}&locale=en"),
    ]);
    curl(&[&format!("{base}/api/health")]);

    let endpoints = wait_for(
        "all seven calls to be recorded",
        Duration::from_secs(15),
        || {
            let endpoints = daemon.query(&["endpoints"]);
            let calls: u64 = endpoints
                .as_array()?
                .iter()
                .map(|endpoint| endpoint["calls"].as_u64().unwrap_or(0))
                .sum();
            (calls >= 7).then_some(endpoints)
        },
    );
    let endpoint = |method: &str, template: &str| {
        find_endpoint(&endpoints, method, template)
            .unwrap_or_else(|| panic!("no endpoint {method} {template} in {endpoints:#}"))
            .clone()
    };

    let payments = endpoint("POST", "/api/payments");
    assert_eq!(
        data_types(&payments, "request"),
        ["card_number"],
        "{payments:#}"
    );
    assert!(
        compliance(&payments).contains(&"pci".to_owned()),
        "{payments:#}"
    );

    let customer = endpoint("GET", "/api/customers/{id}");
    let response_types = data_types(&customer, "response");
    for expected in ["email", "person_name", "phone_number", "us_ssn"] {
        assert!(
            response_types.iter().any(|found| found == expected),
            "{expected} missing from the customer response: {response_types:?}"
        );
    }
    assert!(
        !compliance(&customer).contains(&"pci".to_owned()),
        "{customer:#}"
    );

    let refunds = endpoint("POST", "/api/refunds");
    assert!(
        data_types(&refunds, "request").contains(&"iban".to_owned()),
        "{refunds:#}"
    );

    let login = endpoint("POST", "/api/login");
    assert!(
        data_types(&login, "request").contains(&"password".to_owned()),
        "{login:#}"
    );
    assert!(
        data_types(&login, "response").contains(&"jwt".to_owned()),
        "{login:#}"
    );

    let lookup = endpoint("GET", "/api/lookup");
    let lookup_types = data_types(&lookup, "request");
    assert!(lookup_types.contains(&"us_ssn".to_owned()), "{lookup:#}");
    assert!(lookup_types.contains(&"email".to_owned()), "{lookup:#}");

    let health = endpoint("GET", "/api/health");
    assert!(
        data_types(&health, "request").is_empty() && data_types(&health, "response").is_empty(),
        "{health:#}"
    );

    // `--data pci` lists exactly the endpoint that carried card numbers.
    let pci = daemon.query(&["endpoints", "--data", "pci"]);
    let pci_paths: Vec<&str> = pci
        .as_array()
        .expect("endpoint list")
        .iter()
        .filter_map(|endpoint| endpoint["path_template"].as_str())
        .collect();
    assert_eq!(pci_paths, ["/api/payments"], "{pci:#}");
    let by_type = daemon.query(&["endpoints", "--data", "iban"]);
    assert_eq!(by_type.as_array().map(Vec::len), Some(1), "{by_type:#}");

    // Transactions keep types and fingerprints; the same card twice links up.
    let transactions = daemon.query(&["transactions", "--limit", "50"]);
    let card_fingerprints = fingerprints(&transactions, "card_number", "/api/payments");
    assert_eq!(
        card_fingerprints.len(),
        2,
        "one fingerprint per payment: {transactions:#}"
    );
    assert_ne!(
        card_fingerprints[0], card_fingerprints[1],
        "two different cards"
    );

    // The same e-mail address, in a response body and in a request header,
    // has the same fingerprint in both transactions.
    let from_customer = fingerprints(&transactions, "email", "/api/customers/");
    let from_lookup = fingerprints(&transactions, "email", "/api/lookup");
    assert!(
        from_customer
            .iter()
            .any(|fingerprint| from_lookup.contains(fingerprint)),
        "one address links up: {from_customer:?} vs {from_lookup:?}"
    );

    // The opted-in body is kept, with the card masked and the rest intact.
    let payment = transactions
        .as_array()
        .unwrap()
        .iter()
        .find(|transaction| transaction["path"] == "/api/payments")
        .expect("a payment transaction");
    let body = payment["request_body"]["text"]
        .as_str()
        .expect("captured request body");
    assert!(body.contains("\"currency\""), "the body is kept: {body}");
    assert!(body.contains("****"), "the card is masked: {body}");

    // Header and query values that carried data are withheld.
    let lookup_call = transactions
        .as_array()
        .unwrap()
        .iter()
        .find(|transaction| transaction["path"] == "/api/lookup")
        .expect("the lookup transaction");
    let email_header = lookup_call["request_headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|header| header["name"] == "x-customer-email")
        .expect("the e-mail header is listed by name");
    assert!(
        email_header["value"].is_null(),
        "its value is withheld: {lookup_call:#}"
    );
    let query = lookup_call["query"].as_str().unwrap_or_default();
    assert!(
        query.contains("locale=en"),
        "unclassified parameters stay: {query}"
    );

    // Nothing holds a value in clear: the API's answers, the log, the disk.
    let api_text = format!("{endpoints}{transactions}{pci}");
    let daemon_log = daemon.log_text();
    let data_dir = daemon.data_dir.clone();
    let (dir, data_dir_after) = daemon.stop();
    assert_eq!(data_dir, data_dir_after);
    // The search must be able to see stored text at all: an unclassified
    // query parameter is stored in clear, so it must be found.
    assert!(
        !files_containing(&data_dir, "locale=en").is_empty(),
        "the store keeps text readable to this search, or the check below proves nothing"
    );
    for secret in SECRETS {
        assert!(
            !api_text.contains(secret),
            "{secret} appears in the API output"
        );
        assert!(
            !daemon_log.contains(secret),
            "{secret} appears in the daemon log"
        );
        let files = files_containing(&data_dir, secret);
        assert!(files.is_empty(), "{secret} found in {files:?}");
    }
    drop(dir);
    drop(server);
}
