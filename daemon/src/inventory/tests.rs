use super::fnv::fnv1a;
use super::latency::LatencyHistogram;
use super::*;
use crate::transaction::{Peer, TransactionFlags};

fn transaction(method: &str, host: &str, path: &str) -> Transaction {
    let peer = Peer::default();
    Transaction {
        id: 1,
        started_at_ms: 1_700_000_000_000,
        latency_us: 1_000,
        protocol: Protocol::Http1,
        encrypted: false,
        method: method.to_string(),
        host: host.to_string(),
        path: path.to_string(),
        query: None,
        status: Some(200),
        request_headers: Vec::new(),
        response_headers: Vec::new(),
        request_size: 0,
        response_size: 0,
        auth: AuthScheme::None,
        client: peer.clone(),
        server: peer,
        direction: None,
        stream_id: None,
        reset_code: None,
        grpc: None,
        endpoint_id: String::new(),
        flags: TransactionFlags::default(),
        findings: Vec::new(),
        request_body: None,
        response_body: None,
    }
}

fn observe(inventory: &mut Inventory, method: &str, path: &str) -> String {
    inventory.observe(&mut transaction(method, "api.example.com", path))
}

/// Returns a distinct lowercase name for `index` that no recogniser takes
/// for a value: "user-aa", "user-ab", ...
fn name(index: usize) -> String {
    let first = char::from(b'a' + (index / 26) as u8);
    let second = char::from(b'a' + (index % 26) as u8);
    format!("user-{first}{second}")
}

fn templates(inventory: &Inventory) -> Vec<String> {
    inventory
        .endpoints()
        .into_iter()
        .map(|e| e.path_template)
        .collect()
}

#[test]
fn fnv_published_vectors() {
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325, "empty input");
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c, "\"a\"");
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8, "\"foobar\"");
}

#[test]
fn endpoint_id_known_value() {
    // FNV-1a 64 of b"api.example.com\xffGET\xff/users/{id}", computed
    // outside this code with the same offset basis and prime.
    let key = EndpointKey {
        service: "api.example.com".to_string(),
        method: "GET".to_string(),
        path_template: "/users/{id}".to_string(),
    };
    assert_eq!(endpoint_id(&key), "42fac793743eed43");

    let empty = EndpointKey {
        service: String::new(),
        method: String::new(),
        path_template: "/".to_string(),
    };
    assert_eq!(endpoint_id(&empty), "f997e41be47b2624");
}

#[test]
fn endpoint_id_separates_parts() {
    let key = |service: &str, method: &str| EndpointKey {
        service: service.to_string(),
        method: method.to_string(),
        path_template: "/".to_string(),
    };
    assert_ne!(endpoint_id(&key("ab", "c")), endpoint_id(&key("a", "bc")));
}

#[test]
fn service_name_table() {
    let long_host = "h".repeat(1_000);
    let cases = [
        ("API.Example.com:443", true, "api.example.com"),
        ("api.example.com:443", false, "api.example.com:443"),
        ("api.example.com:80", false, "api.example.com"),
        ("api.example.com:80", true, "api.example.com:80"),
        ("api.example.com:8080", false, "api.example.com:8080"),
        ("  Api.Example.COM  ", false, "api.example.com"),
        ("[::1]:80", false, "[::1]"),
        ("[::1]:443", true, "[::1]"),
        ("fe80::80", false, "fe80::80"),
        ("10.0.0.1:80", false, "10.0.0.1"),
        (":80", false, ":80"),
        ("", false, ""),
    ];
    for (host, encrypted, expected) in cases {
        assert_eq!(
            service_name(host, encrypted),
            expected,
            "service of {host:?}, encrypted {encrypted}"
        );
    }
    assert_eq!(
        service_name(&long_host, false).len(),
        MAX_SERVICE_LEN,
        "long host is cut"
    );
    assert_eq!(
        service_name(&"é".repeat(500), false).len(),
        MAX_SERVICE_LEN - 1,
        "cut at a char boundary"
    );
}

#[test]
fn observe_sets_endpoint_id() {
    let mut inventory = Inventory::new(10);
    let mut tx = transaction("GET", "api.example.com", "/users/7");
    let id = inventory.observe(&mut tx);

    assert_eq!(tx.endpoint_id, id, "transaction carries the id");
    let expected = endpoint_id(&EndpointKey {
        service: "api.example.com".to_string(),
        method: "GET".to_string(),
        path_template: "/users/{id}".to_string(),
    });
    assert_eq!(id, expected, "id of the templated key");
}

#[test]
fn observe_counts_one_endpoint() {
    let mut inventory = Inventory::new(10);
    let first = observe(&mut inventory, "GET", "/users/1");
    let second = observe(&mut inventory, "GET", "/users/2?x=1");
    let other_method = observe(&mut inventory, "DELETE", "/users/3");

    assert_eq!(first, second, "same template, same endpoint");
    assert_ne!(first, other_method, "method is part of the key");
    assert_eq!(inventory.len(), 2, "endpoint count");
    assert_eq!(
        inventory.endpoint(&first).map(|e| e.calls),
        Some(2),
        "calls"
    );
}

#[test]
fn observe_records_summary_fields() {
    let mut inventory = Inventory::new(10);
    let statuses = [
        Some(101),
        Some(204),
        Some(302),
        Some(404),
        Some(503),
        None,
        Some(999),
    ];
    for (index, status) in statuses.into_iter().enumerate() {
        let mut tx = transaction("POST", "Shop.Example:443", "/cart");
        tx.status = status;
        tx.encrypted = index % 2 == 0;
        tx.started_at_ms = 5_000 - index as u64 * 100;
        tx.latency_us = if status.is_none() { 9_000_000 } else { 2_000 };
        tx.auth = if index == 0 {
            AuthScheme::Bearer
        } else {
            AuthScheme::Basic
        };
        inventory.observe(&mut tx);
    }

    let endpoints = inventory.endpoints();
    assert_eq!(endpoints.len(), 2, "TLS and clear text give two services");
    let tls = endpoints
        .iter()
        .find(|e| e.service == "shop.example")
        .expect("TLS endpoint");
    let clear = endpoints
        .iter()
        .find(|e| e.service == "shop.example:443")
        .expect("clear-text endpoint");

    assert_eq!(tls.calls, 4, "TLS calls");
    assert!(tls.encrypted, "TLS endpoint seen encrypted");
    assert!(!tls.plaintext, "TLS endpoint never seen in clear");
    assert!(clear.plaintext, "clear endpoint seen in clear");
    assert_eq!(tls.method, "POST", "method");
    assert_eq!(tls.path_template, "/cart", "template");
    assert_eq!(tls.protocols, vec![Protocol::Http1], "protocols");
    assert_eq!(tls.first_seen_ms, 4_400, "first seen");
    assert_eq!(tls.last_seen_ms, 5_000, "last seen");
    assert_eq!(
        tls.auth_schemes,
        vec![AuthScheme::Basic, AuthScheme::Bearer],
        "auth schemes"
    );

    // Index 0, 2, 4, 6 went over TLS: 101, 302, 503, 999.
    assert_eq!(tls.status_classes.informational, 1, "1xx");
    assert_eq!(tls.status_classes.redirect, 1, "3xx");
    assert_eq!(tls.status_classes.server_error, 1, "5xx");
    assert_eq!(tls.status_classes.other, 1, "status outside 100-599");
    assert_eq!(tls.status_classes.success, 0, "2xx");

    // Index 1, 3, 5: 204, 404, no response.
    assert_eq!(clear.status_classes.success, 1, "2xx");
    assert_eq!(clear.status_classes.client_error, 1, "4xx");
    assert_eq!(clear.status_classes.no_response, 1, "no response");
    assert_eq!(
        clear.latency_p99_us,
        Some(2_000),
        "latency ignores the call without response"
    );
}

#[test]
fn param_not_learned_at_threshold() {
    let mut inventory = Inventory::new(1_000);
    for index in 0..PARAM_THRESHOLD {
        observe(&mut inventory, "GET", &format!("/users/{}", name(index)));
        // Repeats of a known value must not count as new values.
        observe(&mut inventory, "GET", &format!("/users/{}", name(0)));
    }

    let expected: Vec<String> = (0..PARAM_THRESHOLD)
        .map(|index| format!("/users/{}", name(index)))
        .collect();
    assert_eq!(
        templates(&inventory),
        expected,
        "each name is its own endpoint"
    );
}

#[test]
fn param_learned_past_threshold() {
    let mut inventory = Inventory::new(1_000);
    for index in 0..PARAM_THRESHOLD {
        observe(&mut inventory, "GET", &format!("/users/{}", name(index)));
        observe(
            &mut inventory,
            "GET",
            &format!("/users/{}/orders", name(index)),
        );
    }
    let collapsed_id = observe(&mut inventory, "GET", "/users/alice");

    assert_eq!(
        templates(&inventory),
        vec!["/users/{param}", "/users/{param}/orders"],
        "templates after distinct value number {}",
        PARAM_THRESHOLD + 1
    );
    let collapsed = inventory
        .endpoint(&collapsed_id)
        .expect("collapsed endpoint");
    assert_eq!(
        collapsed.path_template, "/users/{param}",
        "template of the collapsing call"
    );
    assert_eq!(
        collapsed.calls,
        PARAM_THRESHOLD as u64 + 1,
        "existing calls merged in"
    );

    let me_id = observe(&mut inventory, "GET", "/users/me");
    assert_eq!(
        me_id, collapsed_id,
        "later value joins the collapsed endpoint"
    );

    let later_id = observe(&mut inventory, "GET", "/users/bob/orders");
    let orders = inventory.endpoint(&later_id).expect("orders endpoint");
    assert_eq!(
        orders.path_template, "/users/{param}/orders",
        "nested template after collapse"
    );
    assert_eq!(orders.calls, PARAM_THRESHOLD as u64 + 1, "orders calls");
    assert_eq!(inventory.len(), 2, "endpoint count");
}

#[test]
fn param_merge_keeps_newest_recency() {
    let mut inventory = Inventory::new(1_000);
    for index in 0..PARAM_THRESHOLD - 1 {
        observe(
            &mut inventory,
            "GET",
            &format!("/users/{}/orders", name(index)),
        );
    }
    observe(&mut inventory, "GET", "/a");
    observe(
        &mut inventory,
        "GET",
        &format!("/users/{}/orders", name(PARAM_THRESHOLD - 1)),
    );
    observe(&mut inventory, "GET", "/b");
    observe(&mut inventory, "GET", "/users/alice");

    // Reloading with a limit of 3 keeps the three most recently seen. The
    // merged orders endpoint was last seen after `/a`, so `/a` goes.
    let restored = Inventory::from_bytes(&inventory.to_bytes(), 3).expect("snapshot loads");
    assert_eq!(
        templates(&restored),
        vec!["/b", "/users/{param}", "/users/{param}/orders"]
    );
}

#[test]
fn param_learning_scoped_by_method() {
    let mut inventory = Inventory::new(1_000);
    for index in 0..=PARAM_THRESHOLD {
        observe(&mut inventory, "GET", &format!("/users/{}", name(index)));
    }
    observe(&mut inventory, "POST", "/users/alice");
    let mut other_host = transaction("GET", "other.example.com", "/users/alice");
    inventory.observe(&mut other_host);

    let all = templates(&inventory);
    assert_eq!(
        all.iter().filter(|t| *t == "/users/alice").count(),
        2,
        "other method and host stay literal"
    );
    assert_eq!(
        all.iter().filter(|t| *t == "/users/{param}").count(),
        1,
        "GET collapsed"
    );
}

#[test]
fn param_learning_ignores_recognised_ids() {
    let mut inventory = Inventory::new(1_000);
    for index in 0..100 {
        observe(&mut inventory, "GET", &format!("/orders/{index}/items"));
    }

    assert_eq!(
        templates(&inventory),
        vec!["/orders/{id}/items"],
        "ids are not counted as literals"
    );
}

#[test]
fn eviction_drops_least_recent() {
    let mut inventory = Inventory::new(3);
    let first = observe(&mut inventory, "GET", "/a");
    let second = observe(&mut inventory, "GET", "/b");
    observe(&mut inventory, "GET", "/c");
    observe(&mut inventory, "GET", "/a");
    observe(&mut inventory, "GET", "/d");

    assert_eq!(inventory.len(), 3, "endpoint count stays at the limit");
    assert_eq!(inventory.evictions(), 1, "eviction count");
    assert!(
        inventory.endpoint(&second).is_none(),
        "/b was least recently seen"
    );
    assert!(inventory.endpoint(&first).is_some(), "/a was seen again");

    for path in ["/e", "/f", "/g"] {
        observe(&mut inventory, "GET", path);
    }
    assert_eq!(inventory.len(), 3, "endpoint count after more traffic");
    assert_eq!(
        inventory.evictions(),
        4,
        "eviction count after more traffic"
    );
}

#[test]
fn zero_limit_keeps_one() {
    let mut inventory = Inventory::new(0);
    let first = observe(&mut inventory, "GET", "/a");
    let second = observe(&mut inventory, "GET", "/b");

    assert_eq!(inventory.max_endpoints(), 1, "limit");
    assert!(inventory.endpoint(&first).is_none(), "first evicted");
    assert!(inventory.endpoint(&second).is_some(), "latest kept");
    assert_eq!(inventory.evictions(), 1, "eviction count");
}

#[test]
fn learned_positions_bounded() {
    let mut inventory = Inventory::new(10);
    for index in 0..5_000 {
        observe(&mut inventory, "GET", &format!("/{}/x", name(index % 676)));
        observe(&mut inventory, "GET", &format!("/p{index}x/q"));
    }

    let capacity = learned::position_capacity(10);
    assert!(
        inventory.rules.len() <= capacity,
        "{} positions tracked, limit {capacity}",
        inventory.rules.len()
    );
    assert!(inventory.len() <= 10, "endpoint limit");
}

#[test]
fn endpoints_sorted() {
    let mut inventory = Inventory::new(10);
    for (method, host, path) in [
        ("POST", "b.example", "/x"),
        ("GET", "b.example", "/x"),
        ("GET", "a.example", "/z"),
        ("GET", "b.example", "/a"),
    ] {
        inventory.observe(&mut transaction(method, host, path));
    }

    let order: Vec<(String, String, String)> = inventory
        .endpoints()
        .into_iter()
        .map(|e| (e.service, e.path_template, e.method))
        .collect();
    let expected = [
        ("a.example", "/z", "GET"),
        ("b.example", "/a", "GET"),
        ("b.example", "/x", "GET"),
        ("b.example", "/x", "POST"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(s, p, m)| (s.to_string(), p.to_string(), m.to_string()))
        .collect();
    assert_eq!(order, expected);
}

#[test]
fn hostile_transactions_do_not_panic() {
    let mut inventory = Inventory::new(100);
    let long_path = format!("/{}", "a/".repeat(5_000));
    let long_method = "M".repeat(10_000);
    let cases = [
        ("GET", "", ""),
        ("OPTIONS", "h", "*"),
        ("GET", "h", "http://host/x"),
        ("GET", "h", "/%FF%FE%00"),
        ("GET", "h", long_path.as_str()),
        (long_method.as_str(), "h", "/"),
        ("", "\u{0}:80", "//"),
    ];
    for (method, host, path) in cases {
        let id = inventory.observe(&mut transaction(method, host, path));
        let endpoint = inventory.endpoint(&id).expect("observed endpoint exists");
        assert!(
            endpoint.method.len() <= MAX_METHOD_LEN,
            "method of {path:?} is cut"
        );
    }

    let asterisk = inventory
        .endpoints()
        .into_iter()
        .find(|e| e.method == "OPTIONS");
    assert_eq!(
        asterisk.map(|e| e.path_template),
        Some("*".to_string()),
        "asterisk form"
    );
}

#[test]
fn snapshot_round_trip() {
    let mut inventory = Inventory::new(50);
    for index in 0..=PARAM_THRESHOLD {
        observe(&mut inventory, "GET", &format!("/users/{}", name(index)));
    }
    for index in 0..20 {
        let mut tx = transaction("PUT", "api.example.com", &format!("/items/{index}"));
        tx.latency_us = 1_000 + index * 37;
        tx.encrypted = true;
        inventory.observe(&mut tx);
    }
    observe(&mut inventory, "GET", "/health");

    let restored = Inventory::from_bytes(&inventory.to_bytes(), 50).expect("snapshot loads");

    assert_eq!(restored.endpoints(), inventory.endpoints(), "endpoints");
    assert_eq!(restored.len(), inventory.len(), "endpoint count");
    assert_eq!(restored.evictions(), inventory.evictions(), "evictions");
    assert_eq!(
        snapshot_without_ticks(&restored),
        snapshot_without_ticks(&inventory),
        "snapshot survives apart from tick numbering"
    );

    let mut restored = restored;
    let id = observe(&mut restored, "GET", "/users/zed");
    assert_eq!(
        restored.endpoint(&id).map(|e| e.path_template),
        Some("/users/{param}".to_string()),
        "learned rule survives"
    );
}

/// Returns the snapshot of `inventory` as JSON without its recency ticks,
/// which loading renumbers.
fn snapshot_without_ticks(inventory: &Inventory) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(fields) => {
                fields.remove("recency");
                fields.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut snapshot = serde_json::from_slice(&inventory.to_bytes()).expect("snapshot is JSON");
    strip(&mut snapshot);
    snapshot
}

#[test]
fn snapshot_keeps_recency_order() {
    let mut inventory = Inventory::new(3);
    let first = observe(&mut inventory, "GET", "/a");
    let second = observe(&mut inventory, "GET", "/b");
    observe(&mut inventory, "GET", "/c");
    observe(&mut inventory, "GET", "/a");

    let mut restored = Inventory::from_bytes(&inventory.to_bytes(), 3).expect("snapshot loads");
    observe(&mut restored, "GET", "/d");

    assert!(
        restored.endpoint(&second).is_none(),
        "/b evicted after reload"
    );
    assert!(restored.endpoint(&first).is_some(), "/a kept after reload");
}

#[test]
fn snapshot_smaller_limit_evicts() {
    let mut inventory = Inventory::new(10);
    for path in ["/a", "/b", "/c", "/d"] {
        observe(&mut inventory, "GET", path);
    }

    let restored = Inventory::from_bytes(&inventory.to_bytes(), 2).expect("snapshot loads");

    assert_eq!(restored.len(), 2, "endpoint count");
    assert_eq!(restored.evictions(), 2, "evictions");
    assert_eq!(templates(&restored), vec!["/c", "/d"], "most recent kept");
}

#[test]
fn serde_round_trip() {
    let mut inventory = Inventory::new(7);
    observe(&mut inventory, "GET", "/a/1");

    let json = serde_json::to_string(&inventory).expect("serialises");
    let restored: Inventory = serde_json::from_str(&json).expect("deserialises");

    assert_eq!(restored.max_endpoints(), 7, "stored limit");
    assert_eq!(restored.endpoints(), inventory.endpoints(), "endpoints");
}

#[test]
fn snapshot_garbage_rejected() {
    let garbage: [&[u8]; 7] = [
        b"",
        b"not json",
        b"{}",
        b"[]",
        b"\xff\xfe\x00\x01",
        br#"{"version":1}"#,
        br#"{"version":1,"max_endpoints":-1,"evictions":0,"endpoints":[],"learned_positions":[]}"#,
    ];
    for bytes in garbage {
        let result = Inventory::from_bytes(bytes, 10);
        assert!(
            matches!(result, Err(InventoryError::Decode(_))),
            "{:?} gives {:?}",
            String::from_utf8_lossy(bytes),
            result.map(|i| i.len())
        );
    }

    let mut inventory = Inventory::new(10);
    observe(&mut inventory, "GET", "/a");
    let bytes = inventory.to_bytes();
    let truncated = Inventory::from_bytes(&bytes[..bytes.len() / 2], 10);
    assert!(
        matches!(truncated, Err(InventoryError::Decode(_))),
        "truncated snapshot"
    );
}

#[test]
fn snapshot_version_checked() {
    let bytes = br#"{"version":999,"some_future_field":true}"#;
    let result = Inventory::from_bytes(bytes, 10);

    assert!(
        matches!(
            result,
            Err(InventoryError::UnsupportedVersion {
                found: 999,
                expected: SNAPSHOT_VERSION
            })
        ),
        "got {:?}",
        result.map(|i| i.len())
    );
}

/// Edits the snapshot of an inventory with one call to `/a` and loads it.
fn load_edited(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Inventory, InventoryError> {
    let mut inventory = Inventory::new(10);
    observe(&mut inventory, "GET", "/a");
    let mut snapshot: serde_json::Value =
        serde_json::from_slice(&inventory.to_bytes()).expect("snapshot is JSON");
    edit(&mut snapshot);
    Inventory::from_bytes(&serde_json::to_vec(&snapshot).expect("edited snapshot"), 10)
}

#[test]
fn snapshot_bad_histogram_rejected() {
    let out_of_range = load_edited(|s| {
        s["endpoints"][0]["latency"]["buckets"] = serde_json::json!({ "60000": 1 });
    });
    assert!(
        matches!(out_of_range, Err(InventoryError::Decode(_))),
        "bucket index out of range"
    );

    let wrong_count = load_edited(|s| s["endpoints"][0]["latency"]["count"] = 5.into());
    assert!(
        matches!(wrong_count, Err(InventoryError::Decode(_))),
        "count differs from buckets"
    );

    let min_above_max = load_edited(|s| {
        s["endpoints"][0]["latency"]["min"] = 2_000.into();
        s["endpoints"][0]["latency"]["max"] = 1_000.into();
    });
    assert!(
        matches!(min_above_max, Err(InventoryError::Decode(_))),
        "min above max"
    );
}

#[test]
fn snapshot_duplicates_rejected() {
    let endpoint = load_edited(|s| {
        let copy = s["endpoints"][0].clone();
        s["endpoints"]
            .as_array_mut()
            .expect("endpoint list")
            .push(copy);
    });
    assert!(
        matches!(endpoint, Err(InventoryError::Inconsistent(_))),
        "duplicate endpoint"
    );

    let position = load_edited(|s| {
        let copy = s["learned_positions"][0].clone();
        s["learned_positions"]
            .as_array_mut()
            .expect("position list")
            .push(copy);
    });
    assert!(
        matches!(position, Err(InventoryError::Inconsistent(_))),
        "duplicate position"
    );

    let overfull = load_edited(|s| {
        let hashes: Vec<u64> = (0..=PARAM_THRESHOLD as u64).collect();
        s["learned_positions"][0][1]["state"] = serde_json::json!({ "tracking": hashes });
    });
    assert!(
        matches!(overfull, Err(InventoryError::Inconsistent(_))),
        "position over the threshold"
    );
}

/// Returns the nearest-rank percentile of sorted `values`.
fn exact_percentile(sorted: &[u64], quantile: f64) -> u64 {
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn assert_close(estimate: Option<u64>, exact: u64, label: &str) {
    let estimate = estimate.unwrap_or_else(|| panic!("{label}: no estimate"));
    let error = estimate.abs_diff(exact) as f64 / exact.max(1) as f64;
    assert!(
        error <= 1.0 / 64.0,
        "{label}: estimate {estimate}, exact {exact}, error {error:.4}"
    );
}

#[test]
fn percentiles_uniform() {
    let mut histogram = LatencyHistogram::new();
    // 7919 is prime, so this visits 1..=100_000 once each, out of order.
    for step in 0..100_000u64 {
        histogram.record(step * 7_919 % 100_000 + 1);
    }

    assert_eq!(histogram.count(), 100_000, "count");
    assert_eq!(histogram.min(), Some(1), "min");
    assert_eq!(histogram.max(), Some(100_000), "max");
    assert_close(histogram.percentile(0.50), 50_000, "p50");
    assert_close(histogram.percentile(0.90), 90_000, "p90");
    assert_close(histogram.percentile(0.99), 99_000, "p99");
    assert_eq!(histogram.percentile(1.0), Some(100_000), "p100 is the max");
}

#[test]
fn percentiles_skewed() {
    // A long-tailed distribution: most calls fast, a few very slow.
    let mut values: Vec<u64> = (1..=5_000u64).map(|i| 200 + i * i * i / 1_000).collect();
    let mut histogram = LatencyHistogram::new();
    for &value in &values {
        histogram.record(value);
    }
    values.sort_unstable();

    for quantile in [0.5, 0.9, 0.99, 0.999] {
        assert_close(
            histogram.percentile(quantile),
            exact_percentile(&values, quantile),
            &format!("q{quantile}"),
        );
    }
}

#[test]
fn percentiles_small_exact() {
    let mut histogram = LatencyHistogram::new();
    for value in 0..32 {
        histogram.record(value);
    }

    assert_eq!(histogram.percentile(0.5), Some(15), "p50 of 0..32");
    assert_eq!(histogram.percentile(0.0), Some(0), "p0");
    assert_eq!(histogram.percentile(f64::NAN), Some(0), "NaN taken as p0");
    assert_eq!(
        histogram.percentile(7.0),
        Some(31),
        "quantile above 1 taken as 1"
    );
}

#[test]
fn percentiles_empty_and_extreme() {
    let mut histogram = LatencyHistogram::new();
    assert_eq!(histogram.percentile(0.5), None, "empty histogram");

    histogram.record(u64::MAX);
    histogram.record(0);
    assert_eq!(histogram.percentile(1.0), Some(u64::MAX), "u64::MAX");
    assert_eq!(histogram.percentile(0.5), Some(0), "zero");
}

#[test]
fn histogram_merge_matches_record() {
    let mut merged = LatencyHistogram::new();
    let mut other = LatencyHistogram::new();
    let mut together = LatencyHistogram::new();
    for value in (1..2_000u64).map(|i| i * 13) {
        if value % 3 == 0 {
            merged.record(value);
        } else {
            other.record(value);
        }
        together.record(value);
    }
    merged.merge(&other);
    merged.merge(&LatencyHistogram::new());

    assert_eq!(merged, together);
}

#[test]
fn summary_percentiles_from_calls() {
    let mut inventory = Inventory::new(10);
    let mut latencies = Vec::new();
    let mut id = String::new();
    for step in 0..1_000u64 {
        let mut tx = transaction("GET", "api.example.com", "/search");
        tx.latency_us = 500 + step * 7_919 % 1_000 * 45;
        latencies.push(tx.latency_us);
        id = inventory.observe(&mut tx);
    }
    latencies.sort_unstable();

    let summary = inventory.endpoint(&id).expect("endpoint");
    assert_close(
        summary.latency_p50_us,
        exact_percentile(&latencies, 0.50),
        "p50",
    );
    assert_close(
        summary.latency_p90_us,
        exact_percentile(&latencies, 0.90),
        "p90",
    );
    assert_close(
        summary.latency_p99_us,
        exact_percentile(&latencies, 0.99),
        "p99",
    );
}

#[test]
fn caller_relabelled_after_second_view() {
    let mut inventory = Inventory::new(10);
    let mut tx = transaction("GET", "api.test", "/items");
    tx.client.address = Some("10.0.0.7:40000".parse().unwrap());
    let id = inventory.observe(&mut tx);
    assert_eq!(
        inventory.endpoint(&id).unwrap().callers,
        vec![("10.0.0.7".to_owned(), 1)]
    );

    inventory.relabel_peer(&id, false, "10.0.0.7", "curl".to_owned());
    assert_eq!(
        inventory.endpoint(&id).unwrap().callers,
        vec![("curl".to_owned(), 1)],
        "the address is replaced by the process"
    );
}
