//! Cleartext capture at the cgroup socket hooks: across network namespaces
//! joined by veth pairs and on loopback, with traffic directions, workload
//! attribution, TLS and cleartext from one process, and ring-buffer loss.
//!
//! Run one at a time (`--test-threads=1`): each daemon captures the whole
//! node.

use std::{process::Command, time::Duration};

use integration_tests::{
    find_endpoint, fixture, privileged, self_signed_certificate, start_api_server,
    start_api_server_in, wait_for, Daemon, NetNs, TempDir,
};
use serde_json::Value;

/// Stored transactions whose path starts with `prefix`, from every service:
/// the same path on two addresses counts under two services.
fn transactions_under(daemon: &Daemon, prefix: &str) -> Vec<Value> {
    let all = daemon.query(&["transactions", "--limit", "1000"]);
    all.as_array()
        .map(|transactions| {
            transactions
                .iter()
                .filter(|transaction| {
                    transaction["path"]
                        .as_str()
                        .is_some_and(|path| path.starts_with(prefix))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn curl_in(namespace: &NetNs, url: &str) {
    let status = namespace
        .command("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "10", url])
        .status()
        .expect("run curl in the namespace");
    assert!(
        status.success(),
        "curl {url} in {} failed: {status}",
        namespace.name
    );
}

#[test]
fn cleartext_across_namespaces_and_loopback() {
    if !privileged("cleartext_across_namespaces_and_loopback") {
        return;
    }
    let daemon = Daemon::start("plaintext", &[]);

    // Two links between a client and a server namespace: 10.201.0.0/24 is
    // private, so internal by default; 100.64.0.0/24 (shared address space)
    // is not, so calls over it count as coming from outside.
    let server_ns = NetNs::new("srv");
    let client_ns = NetNs::new("cli");
    client_ns.link(&server_ns, "i", "10.201.0.1", "10.201.0.2");
    client_ns.link(&server_ns, "e", "100.64.0.1", "100.64.0.2");
    let (server, port) = start_api_server_in(&server_ns, "0.0.0.0");
    let (local_server, local_port) = start_api_server(None);

    curl_in(
        &client_ns,
        &format!("http://10.201.0.2:{port}/api/users/11"),
    );
    curl_in(
        &client_ns,
        &format!("http://100.64.0.2:{port}/api/users/12"),
    );
    let status = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{local_port}/api/users/13"),
        ])
        .status()
        .expect("curl on loopback");
    assert!(status.success());

    let transactions = wait_for("three cleartext calls", Duration::from_secs(15), || {
        let found = transactions_under(&daemon, "/api/users/");
        (found.len() >= 3).then_some(found)
    });
    std::thread::sleep(Duration::from_millis(500));
    let transactions = {
        let again = transactions_under(&daemon, "/api/users/");
        assert_eq!(
            again.len(),
            3,
            "each call exactly once although both ends are captured: {again:?}"
        );
        let _ = transactions;
        again
    };

    let by_path = |path: &str| -> &Value {
        transactions
            .iter()
            .find(|transaction| transaction["path"].as_str() == Some(path))
            .unwrap_or_else(|| panic!("no transaction for {path}: {transactions:?}"))
    };
    let internal = by_path("/api/users/11");
    let external = by_path("/api/users/12");
    let loopback = by_path("/api/users/13");

    for transaction in [internal, external, loopback] {
        assert_eq!(
            transaction["encrypted"].as_bool(),
            Some(false),
            "{transaction:#}"
        );
        assert_eq!(transaction["status"].as_u64(), Some(200), "{transaction:#}");
        assert!(
            transaction["response_size"].as_u64().unwrap() > 0,
            "{transaction:#}"
        );
    }
    assert_eq!(
        internal["direction"].as_str(),
        Some("east_west"),
        "{internal:#}"
    );
    assert_eq!(
        external["direction"].as_str(),
        Some("north_south"),
        "{external:#}"
    );
    assert_eq!(
        loopback["direction"].as_str(),
        Some("east_west"),
        "{loopback:#}"
    );

    assert_eq!(
        internal["server"]["address"].as_str(),
        Some(format!("10.201.0.2:{port}").as_str()),
        "{internal:#}"
    );
    assert_eq!(
        internal["server"]["workload"]["pid"].as_u64(),
        Some(server.pid() as u64),
        "the server process in its namespace is attributed: {internal:#}"
    );
    // curl exits before its executable can be read, but the sending
    // process's command name travels with its packets.
    assert_eq!(
        internal["client"]["process"].as_str(),
        Some("curl"),
        "the client is curl: {internal:#}"
    );
    assert_eq!(
        loopback["server"]["workload"]["pid"].as_u64(),
        Some(local_server.pid() as u64),
        "{loopback:#}"
    );
    assert!(
        loopback["server"]["workload"]["cgroup"].as_str().is_some(),
        "the cgroup of the server socket is resolved: {loopback:#}"
    );

    let graph = daemon.query(&["graph"]);
    let edges = graph.as_array().expect("graph edges");
    assert!(
        edges.iter().any(|edge| edge["caller"]
            .as_str()
            .is_some_and(|caller| caller.contains("curl"))),
        "the graph names curl as a caller: {graph:#}"
    );
}

#[test]
fn tls_and_cleartext_from_one_process_once_each() {
    if !privileged("tls_and_cleartext_from_one_process_once_each") {
        return;
    }
    let daemon = Daemon::start("both", &["--scan-interval-ms", "200"]);
    let certificates = TempDir::new("both-cert");
    let (cert, key) = self_signed_certificate(certificates.path());
    let (_tls_server, tls_port) = start_api_server(Some((&cert, &key)));
    let (_plain_server, plain_port) = start_api_server(None);
    wait_for("libssl to be hooked", Duration::from_secs(15), || {
        let status = daemon.query(&["status"]);
        (!status["libraries"].as_array()?.is_empty()).then_some(())
    });

    let output = Command::new("/usr/bin/python3")
        .arg(fixture("api_client.py"))
        .args([
            "--mode",
            "both",
            "--port",
            &tls_port.to_string(),
            "--plain-port",
            &plain_port.to_string(),
        ])
        .output()
        .expect("run api_client.py");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    wait_for("both calls", Duration::from_secs(15), || {
        let endpoints = daemon.query(&["endpoints"]);
        (find_endpoint(&endpoints, "GET", "/api/users/me").is_some()
            && find_endpoint(&endpoints, "GET", "/health").is_some())
        .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let endpoints = daemon.query(&["endpoints"]);
    let secure = find_endpoint(&endpoints, "GET", "/api/users/me").expect("TLS endpoint");
    let plain = find_endpoint(&endpoints, "GET", "/health").expect("cleartext endpoint");
    assert_eq!(
        secure["calls"].as_u64(),
        Some(1),
        "TLS call counted once, not again from ciphertext: {secure:#}"
    );
    assert_eq!(secure["encrypted"].as_bool(), Some(true));
    assert_eq!(secure["plaintext"].as_bool(), Some(false));
    assert_eq!(plain["calls"].as_u64(), Some(1), "{plain:#}");
    assert_eq!(plain["plaintext"].as_bool(), Some(true));

    let connections = daemon.query(&["connections"]);
    let tls_flow = connections["encrypted"]
        .as_array()
        .and_then(|flows| {
            flows.iter().find(|flow| {
                flow["server"].as_str() == Some(format!("127.0.0.1:{tls_port}").as_str())
            })
        })
        .unwrap_or_else(|| panic!("the TLS connection is listed: {connections:#}"));
    assert_eq!(
        tls_flow["decrypted"].as_bool(),
        Some(true),
        "its plaintext was captured: {tls_flow:#}"
    );
}

#[test]
fn tiny_ring_buffer_counts_drops_and_recovers() {
    if !privileged("tiny_ring_buffer_counts_drops_and_recovers") {
        return;
    }
    let daemon = Daemon::start(
        "ringbuf",
        &["--ring-buffer-kib", "64", "--max-packet-bytes", "65536"],
    );
    let (_server, port) = start_api_server(None);

    let output = Command::new("/usr/bin/python3")
        .arg(fixture("api_client.py"))
        .args([
            "--mode",
            "burst",
            "--port",
            &port.to_string(),
            "--requests",
            "400",
            "--size",
            "300000",
        ])
        .output()
        .expect("run the burst");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let status = wait_for(
        "ring-buffer drops to be counted",
        Duration::from_secs(15),
        || {
            let status = daemon.query(&["status"]);
            (status["kernel"]["ringbuf_drops"].as_u64()? > 0).then_some(status)
        },
    );
    assert!(
        status["pipeline"]["records"].as_u64().unwrap() > 0,
        "{status:#}"
    );

    // After the burst, a quiet call is parsed normally.
    let status = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}/api/orders/3f2b8c1e-9d4a-4e6b-8c2f-1a5d7e9b0c3d"),
        ])
        .status()
        .expect("curl");
    assert!(status.success());
    wait_for(
        "the later call to be parsed",
        Duration::from_secs(15),
        || {
            let endpoints = daemon.query(&["endpoints"]);
            find_endpoint(&endpoints, "GET", "/api/orders/{uuid}").map(|_| ())
        },
    );
    let status = daemon.query(&["status"]);
    let gaps = status["pipeline"]["flows"]["stream_gaps"]
        .as_u64()
        .unwrap_or(0)
        + status["pipeline"]["parse_errors"].as_u64().unwrap_or(0)
        + status["pipeline"]["flows"]["reassembly_dropped_segments"]
            .as_u64()
            .unwrap_or(0);
    assert!(
        gaps > 0,
        "the lost records show up as stream gaps or parse faults: {status:#}"
    );
}

#[test]
fn closed_connection_has_lifecycle() {
    if !privileged("closed_connection_has_lifecycle") {
        return;
    }
    let daemon = Daemon::start("lifecycle", &[]);
    let (_server, port) = start_api_server(None);
    let status = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}/api/search"),
        ])
        .status()
        .expect("curl");
    assert!(status.success());

    let closed = wait_for("the connection's close", Duration::from_secs(15), || {
        let connections = daemon.query(&["connections"]);
        connections["closed"]
            .as_array()?
            .iter()
            .find(|connection| {
                let server = format!("127.0.0.1:{port}");
                connection["a"].as_str() == Some(server.as_str())
                    || connection["b"].as_str() == Some(server.as_str())
            })
            .cloned()
    });
    assert_eq!(closed["kind"].as_str(), Some("parsed"), "{closed:#}");
    let total = closed["bytes_a_to_b"].as_u64().unwrap() + closed["bytes_b_to_a"].as_u64().unwrap();
    assert!(total > 200, "bytes each way are counted: {closed:#}");
    assert!(
        closed["closed_ms"].as_u64() >= closed["opened_ms"].as_u64(),
        "{closed:#}"
    );
    let status = daemon.query(&["status"]);
    let closed_flows = status["pipeline"]["flows"]["flows_closed"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        closed_flows >= 1,
        "the closed flow freed its state: {status:#}"
    );
}
