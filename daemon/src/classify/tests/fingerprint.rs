use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::*;

/// A fresh directory under the system temp directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("ztapi-classify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn fingerprint_stable_for_key() {
    let first = Fingerprinter::from_key([1; 32]);
    let second = Fingerprinter::from_key([1; 32]);
    let value = b"4111111111111111";
    assert_eq!(
        first.fingerprint("card_number", value),
        second.fingerprint("card_number", value),
        "same key and value"
    );
    assert_eq!(
        first.fingerprint("card_number", value).to_string().len(),
        32,
        "16 bytes in hex"
    );
}

#[test]
fn fingerprint_differs_by_key() {
    let value = b"4111111111111111";
    let first = Fingerprinter::from_key([1; 32]).fingerprint("card_number", value);
    let second = Fingerprinter::from_key([2; 32]).fingerprint("card_number", value);
    assert_ne!(first, second, "different keys");
}

#[test]
fn fingerprint_differs_by_type_and_value() {
    let fingerprinter = Fingerprinter::from_key([1; 32]);
    let card = fingerprinter.fingerprint("card_number", b"4111111111111111");
    assert_ne!(
        card,
        fingerprinter.fingerprint("phone_number", b"4111111111111111"),
        "type is part of the message"
    );
    assert_ne!(
        card,
        fingerprinter.fingerprint("card_number", b"5555555555554444"),
        "different value"
    );
}

#[test]
fn fingerprint_known_vector() {
    // HMAC-SHA256 with a 32-byte key of 0x01 over "t\0v", computed with
    // Python's hmac module; the first 16 bytes in hex.
    let fingerprint = Fingerprinter::from_key([1; 32]).fingerprint("t", b"v");
    assert_eq!(
        fingerprint.to_string(),
        EXPECTED_VECTOR,
        "matches an independent HMAC implementation"
    );
}

#[test]
fn fingerprint_serialized_hex_or_bytes() {
    let fingerprint = Fingerprinter::from_key([1; 32]).fingerprint("t", b"v");
    let json = serde_json::to_string(&fingerprint).unwrap();
    assert_eq!(json, format!("\"{EXPECTED_VECTOR}\""));
    assert_eq!(
        serde_json::from_str::<Fingerprint>(&json).unwrap(),
        fingerprint
    );

    let packed = rmp_serde::to_vec(&fingerprint).unwrap();
    assert_eq!(packed.len(), 2 + 16, "a bin8 header and the 16 bytes");
    assert_eq!(
        rmp_serde::from_slice::<Fingerprint>(&packed).unwrap(),
        fingerprint
    );

    let error = serde_json::from_str::<Fingerprint>("\"abc\"").unwrap_err();
    assert!(error.to_string().contains("32 hex digits"), "{error}");
}

const EXPECTED_VECTOR: &str = "995f65b7c3b553a62342ad443f6b7f1e";

#[test]
fn fingerprint_ignores_punctuation() {
    let classifier = classifier();
    let spaced = scan_body(&classifier, "text/plain", b"4111 1111 1111 1111");
    let dashed = scan_body(&classifier, "text/plain", b"4111-1111-1111-1111");
    assert_eq!(
        spaced.findings[0].fingerprints, dashed.findings[0].fingerprints,
        "same card"
    );
}

#[test]
fn key_file_created_0600() {
    let directory = TempDir::new("create");
    let path = directory.0.join("fingerprint.key");

    let created = Fingerprinter::load_or_create(&path).expect("created");
    let metadata = std::fs::metadata(&path).expect("file exists");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "mode");
    assert_eq!(metadata.len(), 32, "size");

    let loaded = Fingerprinter::load_or_create(&path).expect("loaded");
    assert_eq!(
        created.fingerprint("t", b"v"),
        loaded.fingerprint("t", b"v"),
        "same key after reload"
    );
}

#[test]
fn key_file_0644_rejected() {
    let directory = TempDir::new("loose");
    let path = directory.0.join("fingerprint.key");
    std::fs::write(&path, [9u8; 32]).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let error = Fingerprinter::load_or_create(&path).expect_err("loose permissions");
    assert!(
        matches!(error, FingerprintKeyError::Permissions { mode: 0o644, .. }),
        "error kind: {error}"
    );
    assert!(
        error.to_string().contains("0644"),
        "message shows the mode: {error}"
    );
}

#[test]
fn key_file_wrong_size_rejected() {
    let directory = TempDir::new("size");
    let path = directory.0.join("fingerprint.key");
    std::fs::write(&path, [9u8; 16]).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let error = Fingerprinter::load_or_create(&path).expect_err("short key");
    assert!(
        matches!(error, FingerprintKeyError::Size { size: 16, .. }),
        "error kind: {error}"
    );
}

#[test]
fn key_file_symlink_rejected() {
    let directory = TempDir::new("symlink");
    let target = directory.0.join("real.key");
    std::fs::write(&target, [9u8; 32]).expect("write key");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let link = directory.0.join("fingerprint.key");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    let result = Fingerprinter::load_or_create(&link);
    assert!(result.is_err(), "a symbolic link is not followed");
}

#[test]
fn debug_hides_key() {
    let text = format!("{:?}", Fingerprinter::from_key([0xab; 32]));
    assert!(!text.contains("171"), "no key bytes: {text}");
    assert!(!text.contains("ab"), "no key hex: {text}");
}

#[test]
fn repeated_values_share_fingerprint() {
    let classifier = classifier();
    let body = br#"{"users": [
        {"email": "ada@example.com"},
        {"email": "ada@example.com"},
        {"email": "grace@example.com"},
        {"email": "ADA@example.com"}
    ]}"#;
    let result = scan_body(&classifier, "application/json", body);

    let emails: Vec<&Finding> = result
        .findings
        .iter()
        .filter(|finding| finding.data_type == "email")
        .collect();
    assert_eq!(emails.len(), 1, "one finding for $.users[*].email");
    assert_eq!(emails[0].count, 4, "every occurrence counted");
    assert_eq!(
        emails[0].fingerprints.len(),
        2,
        "ada (in either case) and grace"
    );
    let fingerprinter = Fingerprinter::from_key(TEST_KEY);
    for email in ["ada@example.com", "grace@example.com"] {
        assert!(
            emails[0]
                .fingerprints
                .contains(&fingerprinter.fingerprint("email", email.as_bytes())),
            "fingerprint of {email} listed"
        );
    }
}

#[test]
fn many_spellings_share_fingerprint() {
    // Forty spellings of one address are more distinct values than a
    // finding remembers hashes of, and all have one canonical form.
    let classifier = classifier();
    let spellings: Vec<String> = (0..40u32)
        .map(|bits| {
            "ada@example.com"
                .chars()
                .enumerate()
                .map(|(index, character)| {
                    if index < 6 && bits & (1 << index) != 0 {
                        character.to_ascii_uppercase()
                    } else {
                        character
                    }
                })
                .collect()
        })
        .collect();
    let body = serde_json::json!({ "emails": spellings }).to_string();
    let result = scan_body(&classifier, "application/json", body.as_bytes());

    assert_eq!(result.findings.len(), 1, "one finding");
    assert_eq!(result.findings[0].count, 40, "every spelling counted");
    assert_eq!(
        result.findings[0].fingerprints,
        [Fingerprinter::from_key(TEST_KEY).fingerprint("email", b"ada@example.com")],
        "one fingerprint"
    );
}
