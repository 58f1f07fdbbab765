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

/// Opens the store in `dir` again. sled releases its file lock only once
/// its background threads let go of the database, which can be a moment
/// after the last handle is dropped, so the open is retried for a while.
fn reopen(dir: &std::path::Path, retention: Retention) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(dir, retention) {
            Ok(store) => return store,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => panic!(
                "the store in {} does not open again: {error:#}",
                dir.display()
            ),
        }
    }
}

/// Ids of the transactions `store` lists, newest first.
fn listed_ids(store: &Store, limit: usize, endpoint: Option<&str>) -> Vec<u64> {
    store
        .transactions(limit, endpoint)
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect()
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

    let reopened = reopen(&dir, KEEP_ALL);
    let third = reopened.next_transaction_id().unwrap();
    assert!(third > second, "ids must not repeat after a restart");
    assert!(
        third <= second + ID_BLOCK,
        "a restart skips at most one reserved block"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn transactions_listed_newest_first_and_by_endpoint() {
    let (store, dir) = temporary_store("list", KEEP_ALL);
    for id in 1..=5 {
        let endpoint = if id % 2 == 0 { "even" } else { "odd" };
        store
            .put_new_transactions(&[transaction(id, endpoint, 1000 + id)])
            .unwrap();
    }

    let newest: Vec<u64> = listed_ids(&store, 3, None);
    assert_eq!(newest, vec![5, 4, 3]);

    let even: Vec<u64> = listed_ids(&store, 10, Some("even"));
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
            .put_new_transactions(&[transaction(id, "e", id * 1000)])
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
    let left: Vec<u64> = listed_ids(&store, 10, Some("e"));
    assert_eq!(left, vec![6], "the endpoint index follows retention");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batch_written_and_counted() {
    let (store, dir) = temporary_store("batch", KEEP_ALL);
    let batch: Vec<Transaction> = (1..=4).map(|id| transaction(id, "e", id)).collect();
    store.put_new_transactions(&batch).unwrap();
    assert_eq!(store.transaction_count(), 4);
    let listed: Vec<u64> = listed_ids(&store, 10, Some("e"));
    assert_eq!(listed, vec![4, 3, 2, 1]);
    drop(store);

    let reopened = reopen(&dir, KEEP_ALL);
    assert_eq!(reopened.transaction_count(), 4, "counted again at open");
    assert!(reopened.next_transaction_id().unwrap() > 4);
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

#[test]
fn segment_lists_each_endpoint() {
    let (store, dir) = temporary_store("segment-endpoints", KEEP_ALL);
    let batch: Vec<Transaction> = (10..16)
        .map(|id| transaction(id, if id % 3 == 0 { "three" } else { "other" }, id))
        .collect();
    store.put_new_transactions(&batch).unwrap();

    let three: Vec<u64> = listed_ids(&store, 10, Some("three"));
    assert_eq!(three, vec![15, 12]);
    assert_eq!(store.transaction(13).unwrap().map(|t| t.id), Some(13));
    assert_eq!(store.transaction(16).unwrap(), None, "past the segment");
    assert_eq!(store.transaction(9).unwrap(), None, "before any segment");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retention_keeps_count_limit_with_large_segments() {
    let retention = Retention {
        max_age_ms: u64::MAX,
        max_transactions: 5,
    };
    let (store, dir) = temporary_store("segment-retention", retention);
    for first in [1, 5, 9] {
        let batch: Vec<Transaction> = (first..first + 4)
            .map(|id| transaction(id, "e", id))
            .collect();
        store.put_new_transactions(&batch).unwrap();
    }
    let removed = store.enforce_retention(100).unwrap();
    assert_eq!(removed, 4, "one segment of four goes");
    assert_eq!(
        store.transaction_count(),
        8,
        "8 left: removing more would fall below 5"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_segment_rejected() {
    let batch = vec![transaction(1, "e", 1), transaction(2, "e", 2)];
    let (_, encoded) = segment::encode(&batch).unwrap();
    assert!(segment::Segment::parse(&encoded).is_ok());
    for cut in [3, 20, encoded.len() - 1] {
        assert!(
            segment::Segment::parse(&encoded[..cut]).is_err(),
            "a segment cut at {cut} bytes must be rejected"
        );
    }
}

#[test]
fn late_end_applied_on_read() {
    let (store, dir) = temporary_store("ends", KEEP_ALL);
    store
        .put_new_transactions(&[transaction(7, "e", 7), transaction(8, "e", 8)])
        .unwrap();
    let server = Peer {
        pid: Some(4242),
        process: Some("nginx".to_owned()),
        ..Peer::default()
    };
    store.put_end(7, End::Server, &server).unwrap();

    let read = store.transaction(7).unwrap().unwrap();
    assert_eq!(read.server, server, "the later view fills in the server");
    assert_eq!(read.client, Peer::default(), "the client end is unchanged");
    let listed = store.transactions(10, Some("e")).unwrap();
    assert_eq!(listed[1].server, server, "listings apply it too");
    assert_eq!(
        listed[0].server,
        Peer::default(),
        "only transaction 7 has it"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Segment files in the data directory, by name.
fn segment_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn segments_live_in_private_files_and_survive_reopen() {
    use std::os::unix::fs::PermissionsExt;

    let (store, dir) = temporary_store("files", KEEP_ALL);
    let batch: Vec<Transaction> = (1..=3).map(|id| transaction(id, "e", id)).collect();
    store.put_new_transactions(&batch).unwrap();
    store.flush().unwrap();

    let files = segment_files(&dir);
    assert_eq!(files, vec![format!("{:020}.seg", 1)]);
    let path = dir.join("segments").join(&files[0]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "segment files are readable by the daemon only");
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.windows(8).any(|window| window == b"/items/2"),
        "the transactions are in the file, not in sled"
    );
    drop(store);

    let reopened = reopen(&dir, KEEP_ALL);
    assert_eq!(
        reopened.transaction(2).unwrap().map(|t| t.path),
        Some("/items/2".to_owned())
    );
    reopened
        .put_new_transactions(&[transaction(10, "e", 10)])
        .unwrap();
    assert_eq!(
        segment_files(&dir).len(),
        2,
        "a reopened store appends to a new file"
    );
    let listed: Vec<u64> = listed_ids(&reopened, 10, None);
    assert_eq!(listed, vec![10, 3, 2, 1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retention_deletes_files_no_segment_is_left_in() {
    let retention = Retention {
        max_age_ms: u64::MAX,
        max_transactions: 2,
    };
    let (store, dir) = temporary_store("file-retention", retention);
    store
        .put_new_transactions(&[transaction(1, "e", 1), transaction(2, "e", 2)])
        .unwrap();
    drop(store);
    let store = reopen(&dir, retention);
    store
        .put_new_transactions(&[transaction(3, "e", 3), transaction(4, "e", 4)])
        .unwrap();
    assert_eq!(segment_files(&dir).len(), 2);

    assert_eq!(store.enforce_retention(10).unwrap(), 2);
    assert_eq!(
        segment_files(&dir),
        vec![format!("{:020}.seg", 3)],
        "the first file held only removed segments"
    );
    let left: Vec<u64> = listed_ids(&store, 10, None);
    assert_eq!(left, vec![4, 3]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Opens a store with transactions 1 and 2 in two segment files named after
/// them: the store is reopened between the writes, and a reopened store
/// appends to a new file.
fn store_with_two_files(name: &str) -> (Store, std::path::PathBuf) {
    let (store, dir) = temporary_store(name, KEEP_ALL);
    store
        .put_new_transactions(&[transaction(1, "e", 1)])
        .unwrap();
    drop(store);
    let store = reopen(&dir, KEEP_ALL);
    store
        .put_new_transactions(&[transaction(2, "e", 2)])
        .unwrap();
    (store, dir)
}

#[test]
fn missing_segment_file_skipped_in_listings() {
    let (store, dir) = store_with_two_files("missing-file");
    std::fs::remove_file(dir.join("segments").join(format!("{:020}.seg", 1))).unwrap();

    let listed: Vec<u64> = listed_ids(&store, 10, Some("e"));
    assert_eq!(listed, vec![2], "what is still on disk is listed");
    assert_eq!(store.transaction(1).unwrap(), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn older_formats_dropped_at_open() {
    let dir = std::env::temp_dir().join(format!("ztapi-store-legacy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    {
        let db = sled::open(dir.join("db")).unwrap();
        db.open_tree("segments")
            .unwrap()
            .insert(1u64.to_be_bytes(), &b"a segment in sled"[..])
            .unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert(LEGACY_COUNT_KEY, &7u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }

    let store = reopen(&dir, KEEP_ALL);
    assert_eq!(store.transaction_count(), 0, "the old count is not trusted");
    assert!(
        !store
            .db
            .tree_names()
            .iter()
            .any(|name| &name[..] == b"segments"),
        "the tree of whole segments is dropped"
    );
    assert_eq!(store.meta.get(LEGACY_COUNT_KEY).unwrap(), None);
    store
        .put_new_transactions(&[transaction(1, "e", 1)])
        .unwrap();
    assert_eq!(listed_ids(&store, 10, None), vec![1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cut_segment_skipped_in_listings() {
    let (store, dir) = store_with_two_files("cut-file");

    // A crash can leave the index pointing past the end of a file.
    let first = dir.join("segments").join(format!("{:020}.seg", 1));
    let length = std::fs::metadata(&first).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(length / 2)
        .unwrap();

    assert_eq!(listed_ids(&store, 10, None), vec![2]);
    assert_eq!(listed_ids(&store, 10, Some("e")), vec![2]);
    assert_eq!(store.unreadable_segments(), 2, "each listing counts it");
    std::fs::remove_dir_all(&dir).unwrap();
}
