//! HTTP/2 capture from a client and a server of our own: both are built with
//! the h2 crate over OpenSSL (tokio-openssl, ALPN "h2") and run inside the
//! test process, on one TLS connection over loopback.
//!
//! The openssl crate links the system libssl.so.3 dynamically, so ztapid's
//! uprobes capture both ends' TLS calls. Both ends are on this node, so the
//! daemon captures every call twice, once from each end, and must merge the
//! two views into one transaction.
//!
//! Run one at a time (`--test-threads=1`): each daemon captures the whole
//! node.

use std::{
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use h2::{server::SendResponse, RecvStream};
use http::{Request, Response, StatusCode};
use integration_tests::{
    find_endpoint, privileged, self_signed_certificate, wait_until_hooked, Daemon, TempDir,
};
use openssl::ssl::{
    select_next_proto, AlpnError, Ssl, SslAcceptor, SslConnector, SslFiletype, SslMethod,
    SslVerifyMode,
};
use serde_json::{json, Value};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Barrier,
};
use tokio_openssl::SslStream;

/// ALPN protocol list in wire format: one length-prefixed "h2".
const ALPN_H2: &[u8] = b"\x02h2";

/// Body of the POST call.
const NEW_ITEM: &[u8] = br#"{"name":"widget","colour":"blue","quantity":12}"#;

/// One request the client sends, and the status the server gives it.
struct Call {
    method: &'static str,
    path: &'static str,
    body: Option<&'static [u8]>,
    status: u16,
}

const CALLS: [Call; 4] = [
    Call {
        method: "GET",
        path: "/api/items/1",
        body: None,
        status: 200,
    },
    Call {
        method: "GET",
        path: "/api/items/2",
        body: None,
        status: 200,
    },
    Call {
        method: "POST",
        path: "/api/items",
        body: Some(NEW_ITEM),
        status: 201,
    },
    Call {
        method: "GET",
        path: "/api/missing",
        body: None,
        status: 404,
    },
];

/// The server's route table: status and JSON body for a method and path.
fn route(method: &http::Method, path: &str) -> (StatusCode, String) {
    let id = path
        .strip_prefix("/api/items/")
        .and_then(|id| id.parse::<u32>().ok());
    match (method.as_str(), path, id) {
        ("GET", _, Some(id)) => (
            StatusCode::OK,
            format!(r#"{{"id":{id},"name":"item {id}","quantity":3}}"#),
        ),
        ("POST", "/api/items", _) => (
            StatusCode::CREATED,
            r#"{"id":3,"name":"widget","colour":"blue","quantity":12}"#.to_owned(),
        ),
        _ => (StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned()),
    }
}

/// Reads a request or response body to its end, returning flow-control
/// capacity as it goes so that the peer may keep sending.
async fn read_body(body: &mut RecvStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("read an HTTP/2 DATA frame");
        body.flow_control()
            .release_capacity(chunk.len())
            .expect("release flow-control capacity");
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

/// Responds to one request. Every handler waits at `barrier` until all calls
/// have arrived, so the streams are open at the same time on the wire.
async fn respond(
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    barrier: Arc<Barrier>,
) {
    let (parts, mut body) = request.into_parts();
    let received = read_body(&mut body).await;
    if parts.method == http::Method::POST {
        assert_eq!(
            received, NEW_ITEM,
            "the server receives the POST body whole"
        );
    }
    barrier.wait().await;

    let (status, reply) = route(&parts.method, parts.uri.path());
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(())
        .expect("build a response head");
    let mut stream = respond
        .send_response(response, false)
        .expect("send the response headers");
    stream
        .send_data(Bytes::from(reply), true)
        .expect("send the response body");
}

/// Accepts one TLS connection and serves HTTP/2 on it until the client
/// closes it.
async fn serve(listener: TcpListener, acceptor: SslAcceptor) {
    let (tcp, _) = listener.accept().await.expect("accept the client");
    let ssl = Ssl::new(acceptor.context()).expect("create the server's SSL");
    let mut tls = SslStream::new(ssl, tcp).expect("wrap the server's socket");
    Pin::new(&mut tls)
        .accept()
        .await
        .expect("TLS handshake on the server");
    let mut connection = h2::server::handshake(tls)
        .await
        .expect("HTTP/2 handshake on the server");

    let barrier = Arc::new(Barrier::new(CALLS.len()));
    let mut handlers = Vec::new();
    // accept() also drives the connection, so it is polled until the client
    // has closed it, even after the last request has arrived.
    while let Some(request) = connection.accept().await {
        let (request, send_response) = request.expect("receive a request");
        handlers.push(tokio::spawn(respond(
            request,
            send_response,
            Arc::clone(&barrier),
        )));
    }
    assert_eq!(
        handlers.len(),
        CALLS.len(),
        "the server receives every call"
    );
    for handler in handlers {
        handler.await.expect("request handler");
    }
}

/// Opens one TLS connection with ALPN "h2" and sends every call in `CALLS`
/// on its own stream, all at once. Returns each call's status and body, in
/// the order of `CALLS`.
async fn run_client(port: u16, connector: SslConnector) -> Vec<(u16, Vec<u8>)> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the server");
    let ssl = connector
        .configure()
        .expect("configure the client's SSL")
        .into_ssl("localhost")
        .expect("create the client's SSL");
    let mut tls = SslStream::new(ssl, tcp).expect("wrap the client's socket");
    Pin::new(&mut tls)
        .connect()
        .await
        .expect("TLS handshake on the client");
    assert_eq!(
        tls.ssl().selected_alpn_protocol(),
        Some(&b"h2"[..]),
        "the server selects h2 by ALPN"
    );

    let (send_request, connection) = h2::client::handshake(tls)
        .await
        .expect("HTTP/2 handshake on the client");
    let driver = tokio::spawn(async move {
        connection.await.expect("client connection");
    });

    let mut calls = Vec::new();
    for call in &CALLS {
        let sender = send_request.clone();
        calls.push(tokio::spawn(async move {
            let mut sender = sender.ready().await.expect("a stream slot");
            let request = Request::builder()
                .method(call.method)
                .uri(format!("https://localhost:{port}{}", call.path))
                .header("accept", "application/json")
                .body(())
                .expect("build a request head");
            let (response, mut stream) = sender
                .send_request(request, call.body.is_none())
                .expect("send the request headers");
            if let Some(body) = call.body {
                stream
                    .send_data(Bytes::from_static(body), true)
                    .expect("send the request body");
            }
            let mut response = response.await.expect("receive the response");
            let status = response.status().as_u16();
            let body = read_body(response.body_mut()).await;
            (status, body)
        }));
    }
    // With every handle to the connection gone and every stream finished,
    // the client closes the connection, which ends the server's loop.
    drop(send_request);

    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.expect("client call"));
    }
    driver.await.expect("client connection driver");
    results
}

/// This test's endpoints: those of service `localhost:PORT`, named by the
/// requests' :authority. The daemon captures the whole node, so other
/// services may have endpoints with the same templates.
fn endpoints_of(daemon: &Daemon, port: u16) -> Vec<Value> {
    let service = format!("localhost:{port}");
    daemon
        .query(&["endpoints"])
        .as_array()
        .expect("endpoints are a list")
        .iter()
        .filter(|endpoint| endpoint["service"].as_str() == Some(service.as_str()))
        .cloned()
        .collect()
}

/// This test's transactions: those of `endpoints` whose server listens on
/// `port`. Each endpoint is queried on its own, so that other traffic on
/// the node cannot push these out of the newest 50.
fn transactions_of(daemon: &Daemon, endpoints: &[Value], port: u16) -> Vec<Value> {
    let server = format!("127.0.0.1:{port}");
    let mut transactions = Vec::new();
    for endpoint in endpoints {
        let id = endpoint["id"].as_str().expect("an endpoint has an id");
        let listed = daemon.query(&["transactions", "--endpoint", id, "--limit", "50"]);
        transactions.extend(
            listed
                .as_array()
                .expect("transactions are a list")
                .iter()
                .filter(|transaction| {
                    transaction["server"]["address"].as_str() == Some(server.as_str())
                })
                .cloned(),
        );
    }
    transactions
}

#[test]
fn h2_crate_over_openssl() {
    if !privileged("h2_crate_over_openssl") {
        return;
    }
    let daemon = Daemon::start("h2-crate", &["--scan-interval-ms", "200"]);
    let dir = TempDir::new("h2-crate-certificate");
    let (cert, key) = self_signed_certificate(dir.path());

    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())
        .expect("create the server's SSL context");
    acceptor
        .set_certificate_chain_file(&cert)
        .expect("load the certificate");
    acceptor
        .set_private_key_file(&key, SslFiletype::PEM)
        .expect("load the private key");
    acceptor.set_alpn_select_callback(|_, offered| {
        select_next_proto(ALPN_H2, offered).ok_or(AlpnError::NOACK)
    });
    let acceptor = acceptor.build();

    let mut connector =
        SslConnector::builder(SslMethod::tls()).expect("create the client's SSL context");
    connector.set_ca_file(&cert).expect("trust the certificate");
    connector.set_verify(SslVerifyMode::PEER);
    connector
        .set_alpn_protos(ALPN_H2)
        .expect("offer h2 by ALPN");
    let connector = connector.build();

    // libssl has been mapped into this process since it started, because the
    // test binary links it. Calls made before the uprobes attach would be
    // lost, so wait for the daemon to list this process.
    let pid = std::process::id();
    wait_until_hooked(&daemon, pid);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a Tokio runtime");
    let (port, results) = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let port = listener.local_addr().expect("listener address").port();
        let server = tokio::spawn(serve(listener, acceptor));
        let results = tokio::time::timeout(Duration::from_secs(30), run_client(port, connector))
            .await
            .expect("the client finishes within 30 s");
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server finishes within 10 s after the client")
            .expect("server task");
        (port, results)
    });
    drop(runtime);

    for (call, (status, body)) in CALLS.iter().zip(&results) {
        assert_eq!(*status, call.status, "{} {}", call.method, call.path);
        assert!(!body.is_empty(), "{} {} has a body", call.method, call.path);
    }

    // The daemon merges a call's second view into the transaction of its
    // first, and a loaded machine may deliver the views seconds apart. So
    // poll until every call has both ends' pids, or until the deadline, and
    // let the asserts below report what is missing.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (endpoints, transactions) = loop {
        let endpoints = endpoints_of(&daemon, port);
        let transactions = transactions_of(&daemon, &endpoints, port);
        let merged = transactions
            .iter()
            .filter(|transaction| {
                transaction["client"]["pid"].as_u64() == Some(u64::from(pid))
                    && transaction["server"]["pid"].as_u64() == Some(u64::from(pid))
            })
            .count();
        if merged >= CALLS.len() || Instant::now() >= deadline {
            break (endpoints, transactions);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // The daemon captures the whole node, so heavy TLS traffic from other
    // programs can overflow its ring buffer and drop one of these views. The
    // drop count distinguishes such a failure from a merge defect.
    let status = daemon.query(&["status"]);
    println!(
        "h2 crate over OpenSSL: {} streams sent, {} transactions seen, {} ring-buffer drops",
        CALLS.len(),
        transactions.len(),
        status["kernel"]["ringbuf_drops"]
    );
    assert_eq!(
        transactions.len(),
        CALLS.len(),
        "one transaction per call, the client's and the server's views merged: {transactions:#?}"
    );

    let mut stream_ids = Vec::new();
    for call in &CALLS {
        let matching: Vec<&Value> = transactions
            .iter()
            .filter(|transaction| {
                transaction["method"].as_str() == Some(call.method)
                    && transaction["path"].as_str() == Some(call.path)
            })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{} {} appears once: {transactions:#?}",
            call.method,
            call.path
        );
        let transaction = matching[0];
        assert_eq!(
            transaction["protocol"].as_str(),
            Some("http2"),
            "{transaction:#}"
        );
        assert_eq!(
            transaction["encrypted"].as_bool(),
            Some(true),
            "{transaction:#}"
        );
        assert_eq!(
            transaction["status"].as_u64(),
            Some(u64::from(call.status)),
            "{transaction:#}"
        );
        assert_eq!(
            transaction["host"].as_str(),
            Some(format!("localhost:{port}").as_str()),
            "the host comes from :authority: {transaction:#}"
        );
        assert!(
            transaction["request_size"].as_u64().unwrap_or(0) > 0,
            "{transaction:#}"
        );
        assert!(
            transaction["response_size"].as_u64().unwrap_or(0) > 0,
            "{transaction:#}"
        );
        if let Some(body) = call.body {
            // The request's wire size counts its DATA frame: a 9-byte frame
            // header and the body.
            let minimum = 9 + body.len() as u64;
            assert!(
                transaction["request_size"].as_u64().unwrap_or(0) >= minimum,
                "the POST's request size counts its {}-byte body: {transaction:#}",
                body.len()
            );
        }
        assert_eq!(
            transaction["client"]["pid"].as_u64(),
            Some(u64::from(pid)),
            "the client's view: {transaction:#}"
        );
        assert_eq!(
            transaction["server"]["pid"].as_u64(),
            Some(u64::from(pid)),
            "the server's view, merged: {transaction:#}"
        );
        let stream_id = transaction["stream_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("an HTTP/2 transaction has a stream id: {transaction:#}"));
        assert_eq!(
            stream_id % 2,
            1,
            "client-initiated streams are odd: {transaction:#}"
        );
        stream_ids.push(stream_id);
    }
    stream_ids.sort_unstable();
    stream_ids.dedup();
    assert_eq!(
        stream_ids.len(),
        CALLS.len(),
        "each call has its own stream: {transactions:#?}"
    );

    assert_eq!(
        endpoints.len(),
        3,
        "GET /api/items/{{id}}, POST /api/items and GET /api/missing: {endpoints:#?}"
    );
    let endpoints = Value::Array(endpoints);
    let items = find_endpoint(&endpoints, "GET", "/api/items/{id}")
        .unwrap_or_else(|| panic!("GET /api/items/{{id}} is templated: {endpoints:#}"));
    assert_eq!(items["calls"].as_u64(), Some(2), "{items:#}");
    assert_eq!(
        items["status_classes"]["success"].as_u64(),
        Some(2),
        "{items:#}"
    );
    assert_eq!(items["protocols"], json!(["http2"]), "{items:#}");

    let create = find_endpoint(&endpoints, "POST", "/api/items")
        .unwrap_or_else(|| panic!("POST /api/items is listed: {endpoints:#}"));
    assert_eq!(create["calls"].as_u64(), Some(1), "{create:#}");
    assert_eq!(
        create["status_classes"]["success"].as_u64(),
        Some(1),
        "{create:#}"
    );
    assert_eq!(create["protocols"], json!(["http2"]), "{create:#}");

    let missing = find_endpoint(&endpoints, "GET", "/api/missing")
        .unwrap_or_else(|| panic!("GET /api/missing is listed: {endpoints:#}"));
    assert_eq!(missing["calls"].as_u64(), Some(1), "{missing:#}");
    assert_eq!(
        missing["status_classes"]["client_error"].as_u64(),
        Some(1),
        "{missing:#}"
    );
    assert_eq!(missing["protocols"], json!(["http2"]), "{missing:#}");
}
