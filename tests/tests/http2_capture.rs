//! HTTP/2 and gRPC capture with real peers: nghttp against nginx over TLS
//! and over cleartext h2c with prior knowledge, and a gRPC server and
//! client (grpcio) whose connection the daemon first sees in the middle.
//!
//! Run one at a time (`--test-threads=1`): each daemon captures the whole
//! node.

use std::{
    net::TcpListener,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use integration_tests::{
    find_endpoint, fixture, privileged, self_signed_certificate, wait_for, Daemon, Process, TempDir,
};
use serde_json::Value;

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("bind an ephemeral port")
}

/// nginx with one HTTP/2-over-TLS and one cleartext h2c server.
fn start_nginx(dir: &Path, tls_port: u16, h2c_port: u16) -> Process {
    let (cert, key) = self_signed_certificate(dir);
    let root = dir.display();
    let config = format!(
        r#"worker_processes 1;
error_log {root}/error.log;
pid {root}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  default_type application/json;
  server {{
    listen 127.0.0.1:{tls_port} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location /api/ {{ return 200 '{{"ok":true}}'; }}
  }}
  server {{
    listen 127.0.0.1:{h2c_port} http2;
    location /api/ {{ return 200 '{{"ok":true}}'; }}
  }}
}}
"#,
        cert = cert.display(),
        key = key.display()
    );
    let config_path = dir.join("nginx.conf");
    std::fs::write(&config_path, config).expect("write nginx.conf");
    let mut command = Command::new("nginx");
    command
        .arg("-c")
        .arg(&config_path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null());
    let process = Process::spawn("nginx", &mut command);
    wait_for("nginx to listen", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", tls_port))
            .ok()
            .map(|_| ())
    });
    process
}

fn nghttp(urls: &[String]) {
    let output = Command::new("nghttp")
        .arg("-n")
        .args(urls)
        .output()
        .expect("nghttp must be installed (scripts/setup.sh)");
    assert!(
        output.status.success(),
        "nghttp {urls:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn endpoint_protocols(endpoint: &Value) -> String {
    endpoint["protocols"].to_string()
}

#[test]
fn nginx_http2_over_tls_and_h2c() {
    if !privileged("nginx_http2_over_tls_and_h2c") {
        return;
    }
    let daemon = Daemon::start("http2", &["--scan-interval-ms", "200"]);
    let dir = TempDir::new("http2-nginx");
    let (tls_port, h2c_port) = (free_port(), free_port());
    let _nginx = start_nginx(dir.path(), tls_port, h2c_port);
    wait_for(
        "nginx's libssl to be hooked",
        Duration::from_secs(15),
        || {
            let status = daemon.query(&["status"]);
            (!status["libraries"].as_array()?.is_empty()).then_some(())
        },
    );

    // Three streams multiplexed on one TLS connection, two on one h2c one.
    let tls = format!("https://127.0.0.1:{tls_port}");
    nghttp(&[
        format!("{tls}/api/users/1"),
        format!("{tls}/api/users/2"),
        format!("{tls}/api/items/3"),
    ]);
    let h2c = format!("http://127.0.0.1:{h2c_port}");
    nghttp(&[
        format!("{h2c}/api/orders/41"),
        format!("{h2c}/api/orders/42"),
    ]);

    let endpoints = wait_for("the HTTP/2 calls", Duration::from_secs(15), || {
        let endpoints = daemon.query(&["endpoints"]);
        let users = find_endpoint(&endpoints, "GET", "/api/users/{id}")?["calls"].as_u64()?;
        let orders = find_endpoint(&endpoints, "GET", "/api/orders/{id}")?["calls"].as_u64()?;
        (users >= 2 && orders >= 2).then_some(endpoints)
    });
    std::thread::sleep(Duration::from_millis(500));
    let endpoints = {
        let _ = endpoints;
        daemon.query(&["endpoints"])
    };

    let users = find_endpoint(&endpoints, "GET", "/api/users/{id}").expect("users endpoint");
    assert_eq!(
        users["calls"].as_u64(),
        Some(2),
        "each stream once: {users:#}"
    );
    assert_eq!(users["encrypted"].as_bool(), Some(true), "{users:#}");
    assert!(endpoint_protocols(users).contains("http2"), "{users:#}");
    assert_eq!(
        users["status_classes"]["success"].as_u64(),
        Some(2),
        "{users:#}"
    );
    let items = find_endpoint(&endpoints, "GET", "/api/items/{id}").expect("items endpoint");
    assert_eq!(items["calls"].as_u64(), Some(1), "{items:#}");

    let orders = find_endpoint(&endpoints, "GET", "/api/orders/{id}").expect("h2c endpoint");
    assert_eq!(orders["calls"].as_u64(), Some(2), "{orders:#}");
    assert_eq!(
        orders["plaintext"].as_bool(),
        Some(true),
        "h2c is cleartext: {orders:#}"
    );
    assert!(endpoint_protocols(orders).contains("http2"), "{orders:#}");

    let id = users["id"].as_str().expect("id");
    let transactions = daemon.query(&["transactions", "--endpoint", id]);
    for transaction in transactions.as_array().expect("list") {
        assert!(
            transaction["stream_id"]
                .as_u64()
                .is_some_and(|id| id % 2 == 1),
            "client streams are odd: {transaction:#}"
        );
        assert!(
            transaction["response_size"].as_u64().unwrap() > 0,
            "{transaction:#}"
        );
    }
}

#[test]
fn grpc_recovered_mid_connection() {
    if !privileged("grpc_recovered_mid_connection") {
        return;
    }
    use std::io::BufRead as _;

    // The gRPC connection starts before the daemon does.
    let mut server_command = Command::new("/usr/bin/python3");
    server_command
        .arg(fixture("grpc_demo.py"))
        .arg("server")
        .stdout(Stdio::piped());
    let mut server = Process::spawn("grpc server", &mut server_command);
    let mut line = String::new();
    std::io::BufReader::new(server.child().stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("READY line");
    let port: u16 = line
        .trim()
        .trim_start_matches("READY ")
        .parse()
        .expect("port");

    let dir = TempDir::new("grpc");
    let pause_file = dir.path().join("go");
    let mut client_command = Command::new("/usr/bin/python3");
    client_command
        .arg(fixture("grpc_demo.py"))
        .args([
            "client",
            "--port",
            &port.to_string(),
            "--calls",
            "5",
            "--pause-file",
        ])
        .arg(&pause_file)
        .stdout(Stdio::piped());
    let mut client = Process::spawn("grpc client", &mut client_command);
    let mut client_output = std::io::BufReader::new(client.child().stdout.take().expect("stdout"));
    let mut paused = String::new();
    client_output.read_line(&mut paused).expect("PAUSED line");
    assert_eq!(paused.trim(), "PAUSED");

    let daemon = Daemon::start("grpc", &[]);
    std::fs::write(&pause_file, b"go").expect("release the client");
    let mut done = String::new();
    client_output.read_line(&mut done).expect("DONE line");
    assert!(done.starts_with("DONE"), "client finished: {done}");

    // Five unary and five server-streaming calls after the daemon started.
    // SayHello's path was added to the HPACK table before the daemon
    // attached, so its streams are recovered with the path undecoded;
    // ListGreetings is first called afterwards and decodes fully.
    let expected = 10.0;
    wait_for("the gRPC calls", Duration::from_secs(15), || {
        let total = daemon.query(&["status"])["pipeline"]["transactions"].as_u64()?;
        (total >= 8).then_some(())
    });
    std::thread::sleep(Duration::from_millis(800));
    let transactions = daemon.query(&["transactions", "--limit", "100"]);
    let transactions = transactions.as_array().expect("list").clone();
    let recovered = transactions.len() as f64;
    let decoded = transactions
        .iter()
        .filter(|transaction| transaction["path"].as_str() != Some("/(undecoded)"))
        .count() as f64;
    println!(
        "gRPC streams after attaching mid-connection: {recovered} of {expected} recovered, {decoded} with every header decoded"
    );
    assert!(
        recovered / expected >= 0.8,
        "at least 80% of the later streams are recovered: {transactions:?}"
    );
    for transaction in &transactions {
        assert_eq!(transaction["status"].as_u64(), Some(200), "{transaction:#}");
    }
    let partial = transactions
        .iter()
        .filter(|transaction| transaction["flags"]["truncated"].as_bool() == Some(true))
        .count();
    let status = daemon.query(&["status"]);
    if partial > 0 {
        let hpack_errors = status["pipeline"]["http2_hpack_errors"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            hpack_errors > 0,
            "missing table entries are counted: {status:#}"
        );
    }

    // A connection that starts while the daemon runs decodes completely.
    let output = Command::new("/usr/bin/python3")
        .arg(fixture("grpc_demo.py"))
        .args(["client", "--port", &port.to_string(), "--calls", "2"])
        .output()
        .expect("run a second gRPC client");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let endpoints = wait_for(
        "the fresh connection's calls",
        Duration::from_secs(15),
        || {
            let endpoints = daemon.query(&["endpoints"]);
            let hello = find_endpoint(&endpoints, "POST", "/demo.Greeter/SayHello")?;
            (hello["calls"].as_u64()? >= 3).then_some(endpoints)
        },
    );
    let hello =
        find_endpoint(&endpoints, "POST", "/demo.Greeter/SayHello").expect("unary endpoint");
    assert!(endpoint_protocols(hello).contains("grpc"), "{hello:#}");
    let streaming = find_endpoint(&endpoints, "POST", "/demo.Greeter/ListGreetings")
        .expect("streaming endpoint");
    let id = streaming["id"].as_str().expect("id");
    let latest = daemon.query(&["transactions", "--endpoint", id, "--limit", "1"]);
    let transaction = &latest[0];
    assert_eq!(
        transaction["protocol"].as_str(),
        Some("grpc"),
        "{transaction:#}"
    );
    assert_eq!(
        transaction["grpc"]["status"].as_u64(),
        Some(0),
        "grpc-status from the trailers: {transaction:#}"
    );
    assert_eq!(
        transaction["grpc"]["response_messages"].as_u64(),
        Some(3),
        "{transaction:#}"
    );
    assert_eq!(
        transaction["grpc"]["request_messages"].as_u64(),
        Some(1),
        "{transaction:#}"
    );
    assert_eq!(
        transaction["grpc"]["service"].as_str(),
        Some("demo.Greeter"),
        "{transaction:#}"
    );
    assert_eq!(
        transaction["grpc"]["method"].as_str(),
        Some("ListGreetings"),
        "{transaction:#}"
    );
    drop(client);
    drop(server);
}
