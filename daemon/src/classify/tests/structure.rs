use super::*;

#[test]
fn json_paths_reported() {
    let classifier = classifier();
    let body = r#"{"customer": {"email": "ada@example.com", "card": {"number": "4111 1111 1111 1111"}},
                   "items": [{"sku": "A-1"}, {"contact": "ops@example.org"}]}"#;
    let result = scan_body(&classifier, "application/json", body.as_bytes());

    assert_eq!(
        body_paths(&result, "email"),
        ["$.customer.email", "$.items[*].contact"],
        "email paths"
    );
    assert_eq!(
        body_paths(&result, "card_number"),
        ["$.customer.card.number"],
        "card path"
    );
}

#[test]
fn json_odd_keys_bracketed() {
    let classifier = classifier();
    let result = scan_body(
        &classifier,
        "application/json",
        br#"{"e mail's": "ada@example.com"}"#,
    );
    assert_eq!(
        body_paths(&result, "email"),
        [r"$['e mail\'s']"],
        "bracketed key"
    );
}

#[test]
fn json_escapes_decoded() {
    let classifier = classifier();
    let body = br#"{"contact": "ada\u0040example.com", "pass\u0077ord": "x\"y"}"#;
    let result = scan_body(&classifier, "application/json", body);
    assert_eq!(
        type_names(&result),
        ["email", "password"],
        "unescaped value and key"
    );
}

#[test]
fn json_array_elements_aggregated() {
    let classifier = classifier();
    let body = br#"{"emails": ["a@example.com", "b@example.com", "a@example.com"]}"#;
    let result = scan_body(&classifier, "application/json", body);
    assert_eq!(result.findings.len(), 1, "one section");
    let finding = &result.findings[0];
    assert_eq!(finding.count, 3, "three values");
    assert_eq!(finding.fingerprints.len(), 2, "two distinct values");
    assert_eq!(
        finding.section,
        Section::Body {
            path: "$.emails[*]".into()
        },
        "array path"
    );
}

#[test]
fn invalid_json_falls_back_to_text() {
    let classifier = classifier();
    let body = br#"{"email": "ada@example.com", "password": "hunter2" oops}"#;
    let result = scan_body(&classifier, "application/json", body);
    assert_eq!(type_names(&result), ["email", "password"], "found as text");
    for finding in &result.findings {
        assert_eq!(
            finding.section,
            Section::Body { path: "$".into() },
            "text section for {}",
            finding.data_type
        );
    }
}

#[test]
fn truncated_json_keeps_findings() {
    let classifier = classifier();
    let body = br#"{"email": "ada@example.com", "notes": "call +1 415 555 0132 about"#;
    let result = scan_body(&classifier, "application/json", body);
    assert_eq!(body_paths(&result, "email"), ["$.email"], "walked part");
    assert_eq!(
        body_paths(&result, "phone_number"),
        ["$"],
        "unfinished tail"
    );
}

#[test]
fn json_lines_walked() {
    let classifier = classifier();
    let body = b"{\"email\": \"a@example.com\"}\n{\"email\": \"b@example.com\"}\n";
    let result = scan_body(&classifier, "application/x-ndjson", body);
    assert_eq!(body_paths(&result, "email"), ["$.email"], "one section");
    assert_eq!(result.findings[0].count, 2, "both lines");
}

#[test]
fn json_sniffed_without_content_type() {
    let classifier = classifier();
    let result = classifier.scan(&ScanInput {
        response_body: br#"{"ssn": "123456789"}"#,
        ..ScanInput::default()
    });
    assert_eq!(type_names(&result), ["us_ssn"], "field rule applied");
    assert_eq!(result.findings[0].part, Part::Response, "response part");
}

#[test]
fn form_body_decoded() {
    let classifier = classifier();
    let body =
        b"user=ada&password=s%3Dcret&email=ada%40example.com&customer%5Bname%5D=Ada+Lovelace";
    let result = scan_body(&classifier, "application/x-www-form-urlencoded", body);
    assert_eq!(
        type_names(&result),
        ["email", "password", "person_name"],
        "types"
    );
    assert_eq!(
        body_paths(&result, "person_name"),
        ["customer[name]"],
        "decoded field name"
    );
}

#[test]
fn query_parameters_scanned() {
    let classifier = classifier();
    let result = classifier.scan(&ScanInput {
        query: Some("page=2&email=ada%40example.com&api_key=q8Zt3vR1xL0pW6nY2kB9mC4jH7sD5fG"),
        ..ScanInput::default()
    });
    assert_eq!(type_names(&result), ["api_key", "email"], "types");
    let sections: Vec<&Section> = result
        .findings
        .iter()
        .map(|finding| &finding.section)
        .collect();
    assert!(
        sections.contains(&&Section::Query {
            parameter: "email".into()
        }),
        "email section"
    );
}

#[test]
fn multipart_fields_scanned() {
    let classifier = classifier();
    let body = b"--XyZ\r\n\
Content-Disposition: form-data; name=\"email\"\r\n\r\n\
ada@example.com\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"meta\"\r\n\
Content-Type: application/json\r\n\r\n\
{\"customer\": {\"ssn\": \"123-45-6789\"}}\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n\
Content-Type: image/png\r\n\r\n\
\x89PNG 4111111111111111\r\n\
--XyZ--\r\n";
    let result = scan_body(&classifier, "multipart/form-data; boundary=XyZ", body);

    assert_eq!(body_paths(&result, "email"), ["email"], "text part");
    assert_eq!(
        body_paths(&result, "us_ssn"),
        ["meta:$.customer.ssn"],
        "json part"
    );
    assert!(
        body_paths(&result, "card_number").is_empty(),
        "binary part skipped"
    );
    assert_eq!(result.bytes_skipped_binary, 21, "binary part size");
}

#[test]
fn binary_body_skipped() {
    let classifier = classifier();
    let body = b"\x89PNG ada@example.com";
    let result = scan_body(&classifier, "image/png", body);
    assert!(result.findings.is_empty(), "nothing found");
    assert_eq!(
        result.bytes_skipped_binary,
        body.len() as u64,
        "skipped bytes"
    );
    assert_eq!(result.bytes_scanned, 0, "scanned bytes");
}

#[test]
fn text_pairs_use_field_rules() {
    let classifier = classifier();
    let types = text_types(
        &classifier,
        "user=ada password=hunter2 dob: 1990-05-17 ssn=123456789",
    );
    assert_eq!(
        types,
        ["date_of_birth", "password", "us_ssn"],
        "pairs in text"
    );
}

#[test]
fn text_pairs_not_double_counted() {
    let classifier = classifier();
    let result = scan_body(&classifier, "text/plain", b"ssn: 123-45-6789");
    assert_eq!(result.findings.len(), 1, "one finding");
    assert_eq!(result.findings[0].count, 1, "counted once");
}

#[test]
fn json_repeated_elements_all_counted() {
    // Each element repeats the keys of the one before, and the card and
    // the city repeat their values too: every occurrence still counts.
    let classifier = classifier();
    let body = br#"{"orders": [
        {"card": "4111 1111 1111 1111", "shipping": {"city": "Springfield"}, "note": "n/a"},
        {"card": "4111 1111 1111 1111", "shipping": {"city": "Springfield"}, "note": "n/a"},
        {"card": "4111 1111 1111 1111", "shipping": {"city": "Springfield"}, "note": "ada@example.com"}
    ]}"#;
    let result = scan_body(&classifier, "application/json", body);

    let count = |data_type: &str| {
        result
            .findings
            .iter()
            .filter(|finding| finding.data_type == data_type)
            .map(|finding| finding.count)
            .sum::<u32>()
    };
    assert_eq!(count("card_number"), 3, "cards");
    assert_eq!(count("postal_address"), 3, "cities");
    assert_eq!(count("email"), 1, "email in the last note");
}

#[test]
fn json_repeated_key_under_new_parent() {
    // `name` is a person's name under `customer` but not under `product`,
    // though it sits at the same place of each element.
    let classifier = classifier();
    let body = br#"[{"customer": {"name": "Ada Lovelace"}},
                    {"product": {"name": "Ada Lovelace"}},
                    {"customer": {"name": "Grace Hopper"}}]"#;
    let result = scan_body(&classifier, "application/json", body);

    assert_eq!(
        body_paths(&result, "person_name"),
        ["$[*].customer.name"],
        "person name paths"
    );
    assert_eq!(result.findings[0].count, 2, "two customers");
}

#[test]
fn json_changed_key_reclassified() {
    // Each element has a different key at the same place, so no element
    // may take the classification remembered from the one before.
    let classifier = classifier();
    let body =
        br#"[{"nickname": "Lovelace"}, {"last_name": "Lovelace"}, {"last_name_x": "Lovelace"}]"#;
    let result = scan_body(&classifier, "application/json", body);

    assert_eq!(
        body_paths(&result, "person_name"),
        ["$[*].last_name"],
        "person name path"
    );
}

#[test]
fn json_sibling_paths_after_nesting() {
    // Paths of siblings share a rendered prefix, which must follow the
    // walker into a nested object and back out of it.
    let classifier = classifier();
    let body = br#"{"customer": {"email": "ada@example.com",
                                 "address": {"city": "Springfield"},
                                 "phone": "+1 415 555 0132"},
                    "contact": "grace@example.com"}"#;
    let result = scan_body(&classifier, "application/json", body);

    assert_eq!(
        body_paths(&result, "email"),
        ["$.customer.email", "$.contact"],
        "email paths"
    );
    assert_eq!(
        body_paths(&result, "postal_address"),
        ["$.customer.address.city"],
        "address path"
    );
    assert_eq!(
        body_paths(&result, "phone_number"),
        ["$.customer.phone"],
        "phone path"
    );
}
