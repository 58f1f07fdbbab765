use super::*;
use crate::transaction::{AuthScheme, Peer, Protocol, TransactionFlags};

fn transaction(id: u64, endpoint_id: &str, started_at_ms: u64) -> Transaction {
    let peer = Peer::default();
    Transaction {
        id,
        started_at_ms,
        latency_us: 10,
        protocol: Protocol::Http1,
        encrypted: true,
        method: "GET".to_owned(),
        host: "api.test".to_owned(),
        path: format!("/items/{id}"),
        query: None,
        status: Some(200),
        request_headers: Vec::new(),
        response_headers: Vec::new(),
        request_size: 100,
        response_size: 200,
        auth: AuthScheme::None,
        client: peer.clone(),
        server: peer,
        direction: None,
        stream_id: None,
        reset_code: None,
        grpc: None,
        endpoint_id: endpoint_id.to_owned(),
        flags: TransactionFlags::default(),
        findings: Vec::new(),
        request_body: None,
        response_body: None,
    }
}

fn temporary_store(name: &str, retention: Retention) -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("ztapi-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    (Store::open(&dir, retention).expect("store opens"), dir)
}

const KEEP_ALL: Retention = Retention {
    max_age_ms: u64::MAX,
    max_transactions: u64::MAX,
};

#[test]
fn transaction_ids_increase_across_reopen() {
    let (store, dir) = temporary_store("ids", KEEP_ALL);
    let first = store.next_transaction_id().unwrap();
    let second = store.next_transaction_id().unwrap();
    assert_eq!(second, first + 1);
    drop(store);

    let reopened = Store::open(&dir, KEEP_ALL).unwrap();
    let third = reopened.next_transaction_id().unwrap();
    assert_eq!(third, second + 1, "ids must not repeat after a restart");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn transactions_listed_newest_first_and_by_endpoint() {
    let (store, dir) = temporary_store("list", KEEP_ALL);
    for id in 1..=5 {
        let endpoint = if id % 2 == 0 { "even" } else { "odd" };
        store
            .put_transaction(&transaction(id, endpoint, 1000 + id))
            .unwrap();
    }

    let newest: Vec<u64> = store
        .transactions(3, None)
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(newest, vec![5, 4, 3]);

    let even: Vec<u64> = store
        .transactions(10, Some("even"))
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(even, vec![4, 2]);

    let none = store.transactions(10, Some("ev")).unwrap();
    assert!(
        none.is_empty(),
        "an endpoint id prefix must not match another id"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retention_removes_oldest_by_count_and_age() {
    let retention = Retention {
        max_age_ms: 10_000,
        max_transactions: 3,
    };
    let (store, dir) = temporary_store("retention", retention);
    for id in 1..=6 {
        store
            .put_transaction(&transaction(id, "e", id * 1000))
            .unwrap();
    }

    let removed = store.enforce_retention(6_000).unwrap();
    assert_eq!(removed, 3, "three over the count limit");
    assert_eq!(store.transaction_count(), 3);

    let removed = store.enforce_retention(15_500).unwrap();
    assert_eq!(
        removed, 2,
        "transactions 4 and 5 are older than 10 s at 15.5 s"
    );
    let left: Vec<u64> = store
        .transactions(10, Some("e"))
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, vec![6], "the endpoint index follows retention");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inventory_snapshot_round_trip() {
    let (store, dir) = temporary_store("inventory", KEEP_ALL);
    assert_eq!(store.load_inventory().unwrap(), None);
    store.save_inventory(b"snapshot").unwrap();
    assert_eq!(
        store.load_inventory().unwrap().as_deref(),
        Some(&b"snapshot"[..])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
