//! End-to-end capture of TLS traffic: a real `ztapid` on the running kernel,
//! a Python `ssl` API server started after it, and curl and Python clients.
//!
//! Run one at a time (`--test-threads=1`): every daemon hooks libssl for
//! the whole node, so two tests at once would see each other's calls.

use std::{process::Command, time::Duration};

use integration_tests::{
    curl, find_endpoint, fixture, privileged, self_signed_certificate, start_api_server, wait_for,
    wait_until_hooked, Daemon, TempDir,
};
use serde_json::Value;

const BEARER_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl";

fn python_client(port: u16, mode: &str) {
    let output = Command::new("/usr/bin/python3")
        .arg(fixture("api_client.py"))
        .args(["--port", &port.to_string(), "--mode", mode])
        .output()
        .expect("run api_client.py");
    assert!(
        output.status.success(),
        "api_client.py --mode {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn endpoint_calls(endpoints: &Value, method: &str, template: &str) -> u64 {
    find_endpoint(endpoints, method, template)
        .map_or(0, |endpoint| endpoint["calls"].as_u64().unwrap_or(0))
}

#[test]
fn tls_calls_become_templated_endpoints() {
    if !privileged("tls_calls_become_templated_endpoints") {
        return;
    }
    let daemon = Daemon::start("endpoints", &["--scan-interval-ms", "200"]);

    let certificates = TempDir::new("endpoints-cert");
    let (cert, key) = self_signed_certificate(certificates.path());
    let (server, port) = start_api_server(Some((&cert, &key)));
    wait_until_hooked(&daemon, server.pid());

    let base = format!("https://127.0.0.1:{port}");
    let bearer = format!("Authorization: Bearer {BEARER_TOKEN}");
    curl(&["-H", &bearer, &format!("{base}/api/users/123")]);
    curl(&["-H", &bearer, &format!("{base}/api/users/456")]);
    curl(&[&format!("{base}/api/users/me")]);
    curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"items":[1,2]}"#,
        &format!("{base}/api/orders"),
    ]);
    curl(&["-I", &format!("{base}/health")]);
    // Two rounds of six keep-alive calls, one of them GET /api/users/{id}.
    python_client(port, "mix");

    wait_for(
        "GET /api/users/{id} to reach 4 calls",
        Duration::from_secs(15),
        || {
            let endpoints = daemon.query(&["endpoints"]);
            (endpoint_calls(&endpoints, "GET", "/api/users/{id}") >= 4).then_some(())
        },
    );
    // Let any second view of the same calls arrive before counting exactly.
    std::thread::sleep(Duration::from_millis(500));
    let endpoints = daemon.query(&["endpoints"]);

    assert_eq!(
        endpoint_calls(&endpoints, "GET", "/api/users/{id}"),
        4,
        "curl's two calls and the Python client's two, each counted once although both ends are hooked: {endpoints:#}"
    );
    assert_eq!(
        endpoint_calls(&endpoints, "GET", "/api/users/me"),
        3,
        "/me must stay apart from /{{id}}"
    );
    assert_eq!(endpoint_calls(&endpoints, "POST", "/api/orders"), 3);
    assert_eq!(endpoint_calls(&endpoints, "GET", "/api/orders/{uuid}"), 2);
    assert_eq!(endpoint_calls(&endpoints, "DELETE", "/api/users/{id}"), 2);
    assert_eq!(endpoint_calls(&endpoints, "HEAD", "/health"), 1);

    let users = find_endpoint(&endpoints, "GET", "/api/users/{id}").expect("endpoint present");
    assert_eq!(users["status_classes"]["success"].as_u64(), Some(4));
    let schemes = users["auth_schemes"].to_string();
    assert!(schemes.contains("bearer"), "bearer auth seen: {schemes}");

    let orders = find_endpoint(&endpoints, "POST", "/api/orders").expect("endpoint present");
    let id = orders["id"].as_str().expect("endpoint id");
    let transactions = daemon.query(&["transactions", "--endpoint", id, "--limit", "10"]);
    let transactions = transactions.as_array().expect("transaction list");
    assert_eq!(transactions.len(), 3);
    for transaction in transactions {
        assert_eq!(transaction["status"].as_u64(), Some(201), "{transaction:#}");
        assert!(
            transaction["request_size"].as_u64().unwrap() > 100,
            "request headers and body counted: {transaction:#}"
        );
        assert!(
            transaction["response_size"].as_u64().unwrap() > 50,
            "response counted: {transaction:#}"
        );
        assert_eq!(transaction["encrypted"].as_bool(), Some(true));
        assert_eq!(
            transaction["server"]["pid"].as_u64(),
            Some(server.pid() as u64),
            "the server process is attributed: {transaction:#}"
        );
        assert!(
            transaction["client"]["pid"].as_u64().is_some(),
            "the client process is attributed too: {transaction:#}"
        );
        assert_eq!(
            transaction["server"]["address"].as_str(),
            Some(format!("127.0.0.1:{port}").as_str()),
            "the server address comes from the socket: {transaction:#}"
        );
    }

    let all = daemon
        .query(&["transactions", "--limit", "100"])
        .to_string();
    assert!(
        !all.contains(BEARER_TOKEN),
        "credentials must not reach the API output"
    );
    let stored = std::fs::read_dir(daemon.data_dir.join("db"))
        .expect("sled directory")
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .any(|bytes| {
            bytes
                .windows(BEARER_TOKEN.len())
                .any(|window| window == BEARER_TOKEN.as_bytes())
        });
    assert!(!stored, "credentials must not reach the data directory");
}

#[test]
fn garbage_inside_tls_counted_and_isolated() {
    if !privileged("garbage_inside_tls_counted_and_isolated") {
        return;
    }
    let daemon = Daemon::start("garbage", &["--scan-interval-ms", "200"]);
    let certificates = TempDir::new("garbage-cert");
    let (cert, key) = self_signed_certificate(certificates.path());
    let (server, port) = start_api_server(Some((&cert, &key)));
    wait_until_hooked(&daemon, server.pid());

    python_client(port, "garbage");
    curl(&[&format!("https://127.0.0.1:{port}/api/users/77")]);

    let status = wait_for(
        "the garbage connection to be counted",
        Duration::from_secs(15),
        || {
            let status = daemon.query(&["status"]);
            (status["pipeline"]["unparsed_connections"].as_u64()? >= 1).then_some(status)
        },
    );
    assert!(
        status["pipeline"]["unparsed_bytes"].as_u64().unwrap() > 0,
        "{status:#}"
    );

    let endpoints = wait_for(
        "the valid call to be parsed",
        Duration::from_secs(15),
        || {
            let endpoints = daemon.query(&["endpoints"]);
            find_endpoint(&endpoints, "GET", "/api/users/{id}")
                .is_some()
                .then_some(endpoints)
        },
    );
    assert_eq!(
        endpoint_calls(&endpoints, "GET", "/api/users/{id}"),
        1,
        "{endpoints:#}"
    );
}

#[test]
fn inventory_survives_restart() {
    if !privileged("inventory_survives_restart") {
        return;
    }
    let daemon = Daemon::start("restart", &["--scan-interval-ms", "200"]);
    let certificates = TempDir::new("restart-cert");
    let (cert, key) = self_signed_certificate(certificates.path());
    let (server, port) = start_api_server(Some((&cert, &key)));
    wait_until_hooked(&daemon, server.pid());

    curl(&[&format!(
        "https://127.0.0.1:{port}/api/orders/3f2b8c1e-9d4a-4e6b-8c2f-1a5d7e9b0c3d"
    )]);
    wait_for("the call to be parsed", Duration::from_secs(15), || {
        let endpoints = daemon.query(&["endpoints"]);
        find_endpoint(&endpoints, "GET", "/api/orders/{uuid}").map(|_| ())
    });

    let (dir, data_dir) = daemon.stop();
    let restarted = Daemon::start_with_data(dir, data_dir, &[]);
    let endpoints = restarted.query(&["endpoints"]);
    let orders = find_endpoint(&endpoints, "GET", "/api/orders/{uuid}")
        .expect("endpoint kept across the restart");
    assert_eq!(orders["calls"].as_u64(), Some(1), "{orders:#}");
    let transactions = restarted.query(&["transactions"]);
    assert_eq!(
        transactions.as_array().map(Vec::len),
        Some(1),
        "the transaction is kept too: {transactions:#}"
    );
}
