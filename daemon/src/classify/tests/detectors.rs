use super::*;

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

fn has(types: &[String], name: &str) -> bool {
    types.iter().any(|found| found == name)
}

#[test]
fn card_in_text_forms() {
    let classifier = classifier();
    for text in [
        "paid with 4111 1111 1111 1111 today",
        "card 4111-1111-1111-1111.",
        "pan=5555555555554444",
        "amex 3782 822463 10005",
    ] {
        assert_eq!(text_types(&classifier, text), ["card_number"], "{text}");
    }
}

#[test]
fn card_as_json_number() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "card", "4111111111111111"),
        ["card_number"],
        "number value"
    );
    assert_eq!(
        field_types(&classifier, "pan", "\"6011111111111117\""),
        ["card_number"],
        "string value"
    );
}

#[test]
fn card_look_alikes_rejected() {
    let classifier = classifier();
    for text in [
        "order 4111111111111112",
        "ref 1234567812345670",
        "sku 4111111111111111abc",
        "4111 1111 1111 1111 1111 1111",
    ] {
        assert!(text_types(&classifier, text).is_empty(), "{text}");
    }
}

#[test]
fn card_under_identifier_name_suppressed() {
    let classifier = classifier();
    let types = field_types(&classifier, "order_id", "4111111111111111");
    assert!(types.is_empty(), "an order id that passes Luhn: {types:?}");
    let types = field_types(&classifier, "card_id", "4111111111111111");
    assert_eq!(types, ["card_number"], "card wins over id");
}

#[test]
fn iban_spaced_and_compact() {
    let classifier = classifier();
    assert_eq!(
        text_types(&classifier, "IBAN DE89 3704 0044 0532 0130 00 please"),
        ["iban"],
        "spaced"
    );
    assert_eq!(
        field_types(&classifier, "account", "\"GB29NWBK60161331926819\""),
        ["iban"],
        "compact"
    );
}

#[test]
fn iban_bad_checksum_rejected() {
    let classifier = classifier();
    let types = text_types(&classifier, "IBAN DE89 3704 0044 0532 0130 01");
    assert!(!has(&types, "iban"), "changed digit: {types:?}");
}

#[test]
fn ssn_dashed_in_text() {
    let classifier = classifier();
    assert_eq!(
        text_types(&classifier, "ssn on file 123-45-6789"),
        ["us_ssn"],
        "dashed"
    );
}

#[test]
fn ssn_bare_needs_field_name() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "ssn", "\"123456789\""),
        ["us_ssn"],
        "under ssn"
    );
    assert_eq!(
        field_types(&classifier, "social_security_number", "123456789"),
        ["us_ssn"],
        "as a number"
    );
    assert!(
        field_types(&classifier, "code", "\"123456789\"").is_empty(),
        "no field evidence"
    );
}

#[test]
fn ssn_invalid_ranges_rejected() {
    let classifier = classifier();
    for text in [
        "666-12-3456",
        "000-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
    ] {
        let types = text_types(&classifier, text);
        assert!(!has(&types, "us_ssn"), "{text}: {types:?}");
    }
}

#[test]
fn email_found() {
    let classifier = classifier();
    assert_eq!(
        text_types(&classifier, "mail jane.doe+api@example.co.uk."),
        ["email"],
        "in text"
    );
    assert_eq!(
        field_types(&classifier, "contact", "\"ops@example.org\""),
        ["email"],
        "json value"
    );
}

#[test]
fn email_look_alikes_rejected() {
    let classifier = classifier();
    for text in ["logo@2x.png", "user@localhost", "@example.com", "a@b.c"] {
        assert!(text_types(&classifier, text).is_empty(), "{text}");
    }
}

#[test]
fn phone_formats_found() {
    let classifier = classifier();
    for text in [
        "call +1 415 555 0132",
        "(415) 555-0132",
        "tel 020 7946 0958",
        "+44 20 7946 0958",
        "+14155550132",
    ] {
        assert_eq!(text_types(&classifier, text), ["phone_number"], "{text}");
    }
}

#[test]
fn phone_bare_digits_need_field_name() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "mobile", "\"4155550132\""),
        ["phone_number"],
        "under mobile"
    );
    assert_eq!(
        field_types(
            &classifier,
            "contact",
            "{\"phone\": {\"number\": \"4155550132\"}}"
        ),
        ["phone_number"],
        "nested number"
    );
    assert!(
        text_types(&classifier, "4155550132").is_empty(),
        "bare digits in text"
    );
}

#[test]
fn phone_look_alikes_rejected() {
    let classifier = classifier();
    for text in [
        "1700000000",
        "1700000000123",
        "2024-01-15",
        "v1.2.3",
        "10.15.7",
        "2024-01-15T10:30:00Z",
        "12:30:45",
        "3.14159",
    ] {
        let types = text_types(&classifier, text);
        assert!(!has(&types, "phone_number"), "{text}: {types:?}");
    }
}

#[test]
fn birth_date_by_field_name() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "dob", "\"1990-05-17\""),
        ["date_of_birth"],
        "dob"
    );
    assert_eq!(
        field_types(&classifier, "birthDate", "\"05/17/1990\""),
        ["date_of_birth"],
        "birthDate"
    );
    assert!(
        field_types(&classifier, "created", "\"1990-05-17\"").is_empty(),
        "other date"
    );
    assert!(
        field_types(&classifier, "dob", "\"unknown\"").is_empty(),
        "not a date"
    );
}

#[test]
fn postal_address_by_field_name() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "address", "\"1 Main Street, Springfield\""),
        ["postal_address"],
        "address line"
    );
    assert_eq!(
        field_types(&classifier, "shipping_address", "{\"zip\": \"94105\"}"),
        ["postal_address"],
        "zip in address"
    );
    assert_eq!(
        field_types(&classifier, "billing_zip", "\"94105\""),
        ["postal_address"],
        "billing zip"
    );
    assert!(
        field_types(&classifier, "zip", "\"94105\"").is_empty(),
        "zip alone"
    );
}

#[test]
fn network_addresses_not_postal() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "email_address", "\"a.b@example.com\""),
        ["email"],
        "email address"
    );
    assert_eq!(
        field_types(&classifier, "ip_address", "\"192.0.2.10\""),
        ["ip_address"],
        "ip address"
    );
    assert!(
        field_types(&classifier, "wallet_address", "\"0xabc123\"").is_empty(),
        "wallet address"
    );
}

#[test]
fn person_name_by_field_name() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "first_name", "\"Ada\""),
        ["person_name"],
        "first_name"
    );
    assert_eq!(
        field_types(&classifier, "customer", "{\"name\": \"Ada Lovelace\"}"),
        ["person_name"],
        "customer name"
    );
    assert_eq!(
        field_types(&classifier, "patients", "[{\"name\": \"Ada\"}]"),
        ["person_name"],
        "patients array"
    );
}

#[test]
fn non_person_names_rejected() {
    let classifier = classifier();
    assert!(
        field_types(&classifier, "product", "{\"name\": \"Widget Pro\"}").is_empty(),
        "product name"
    );
    assert!(
        field_types(&classifier, "user_name", "\"ada42\"").is_empty(),
        "login name"
    );
    assert!(
        field_types(&classifier, "name", "\"Widget\"").is_empty(),
        "bare name at top level"
    );
    assert!(
        field_types(&classifier, "first_name", "\"R2-D2\"").is_empty(),
        "digits in a name"
    );
}

#[test]
fn national_id_by_field_name() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "passport_number", "\"X1234567\""),
        ["national_id"],
        "passport"
    );
    assert_eq!(
        field_types(&classifier, "tax_id", "\"12-3456789\""),
        ["national_id"],
        "tax id"
    );
    assert!(
        field_types(&classifier, "passport_expiry", "\"2030-01-01\"").is_empty(),
        "expiry date"
    );
    assert!(
        field_types(&classifier, "national_id", "\"none\"").is_empty(),
        "no digits"
    );
}

#[test]
fn ip_addresses_found() {
    let classifier = classifier();
    assert_eq!(
        text_types(&classifier, "client 198.51.100.23 connected"),
        ["ip_address"],
        "ipv4"
    );
    assert_eq!(
        text_types(&classifier, "from [2001:db8::1]:443"),
        ["ip_address"],
        "ipv6"
    );
    assert_eq!(
        text_types(&classifier, "via fe80::1ff:fe23:4567:890a."),
        ["ip_address"],
        "ipv6 at end"
    );
}

#[test]
fn ip_look_alikes_rejected() {
    let classifier = classifier();
    for text in [
        "10:30:45",
        "1.2.3",
        "00:1a:2b:3c:4d:5e",
        "256.1.1.1",
        "0.9.1.2",
        "dead::beef",
    ] {
        assert!(text_types(&classifier, text).is_empty(), "{text}");
    }
    assert!(
        field_types(&classifier, "version", "\"1.2.3.4\"").is_empty(),
        "version field"
    );
}

#[test]
fn jwt_found() {
    let classifier = classifier();
    assert_eq!(
        text_types(&classifier, &format!("token {JWT}.")),
        ["jwt"],
        "in text"
    );
    assert_eq!(
        field_types(&classifier, "id_token", &format!("\"{JWT}\"")),
        ["jwt"],
        "json value"
    );
}

#[test]
fn prefixed_api_keys_found() {
    let classifier = classifier();
    let keys = [
        "AKIAIOSFODNN7EXAMPLE".to_string(),
        format!(
            "ghp_{}",
            "a1B2c3D4e5".repeat(4).get(..36).unwrap_or_default()
        ),
        format!(
            "github_pat_{}",
            "11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789"
        ),
        format!("{}-123456789012-abcdefghijklmnop", "xoxb"),
        // Assembled at run time so secret scanners do not flag the source.
        format!("sk_{}_{}", "live", "4eC39HqLyjWDarjtT1zdp7dc"),
        format!("AIza{}", "SyD-abcdefghijklmnopqrstuvwxyz01234"),
    ];
    for key in &keys {
        assert_eq!(
            text_types(&classifier, &format!("key: {key} end")),
            ["api_key"],
            "{key}"
        );
    }
}

#[test]
fn prefix_inside_word_ignored() {
    let classifier = classifier();
    assert!(
        text_types(&classifier, "XAKIAIOSFODNN7EXAMPLE").is_empty(),
        "prefix glued to a word"
    );
    assert!(
        text_types(&classifier, "AKIAIOSFODNN7EXAMPL").is_empty(),
        "too short"
    );
    assert!(
        text_types(&classifier, "sk_test_4eC39HqLyjWDarjtT1zdp7dc").is_empty(),
        "test key"
    );
}

#[test]
fn secret_by_entropy_under_name() {
    let classifier = classifier();
    let secret = "\"q8Zt3vR1xL0pW6nY2kB9mC4jH7sD5fG\"";
    assert_eq!(
        field_types(&classifier, "client_secret", secret),
        ["api_key"],
        "client_secret"
    );
    assert_eq!(
        field_types(&classifier, "x-api-key", secret),
        ["api_key"],
        "x-api-key"
    );
    assert!(
        field_types(&classifier, "description", secret).is_empty(),
        "no secret name"
    );
}

#[test]
fn secret_look_alikes_rejected() {
    let classifier = classifier();
    let uuid = "\"3f2b8c1e-9d4a-4e7b-8a6c-1b2d3e4f5a6b\"";
    assert!(field_types(&classifier, "api_key", uuid).is_empty(), "uuid");
    assert!(
        field_types(&classifier, "token_type", "\"Bearer\"").is_empty(),
        "token type"
    );
    assert!(
        field_types(&classifier, "secret", "\"changeme-changeme-changeme\"").is_empty(),
        "low entropy"
    );
    assert!(
        field_types(
            &classifier,
            "next_page_token",
            "\"q8Zt3vR1xL0pW6nY2kB9mC4j\""
        )
        .is_empty(),
        "page token"
    );
    assert!(
        field_types(&classifier, "secret", "\"[REDACTED]\"").is_empty(),
        "placeholder"
    );
}

#[test]
fn private_key_block_found() {
    let classifier = classifier();
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n";
    assert_eq!(text_types(&classifier, pem), ["private_key"], "rsa key");
    let certificate = "-----BEGIN CERTIFICATE-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END CERTIFICATE-----\n";
    assert!(
        text_types(&classifier, certificate).is_empty(),
        "certificate"
    );
}

#[test]
fn password_by_field_name() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "password", "\"hunter2\""),
        ["password"],
        "password"
    );
    assert_eq!(
        field_types(&classifier, "newPassword", "\"correct horse\""),
        ["password"],
        "newPassword"
    );
    assert_eq!(
        field_types(&classifier, "pwd", "12345"),
        ["password"],
        "numeric"
    );
}

#[test]
fn password_look_alikes_rejected() {
    let classifier = classifier();
    assert!(
        field_types(&classifier, "password", "\"\"").is_empty(),
        "empty"
    );
    assert!(
        field_types(&classifier, "password", "\"********\"").is_empty(),
        "masked"
    );
    assert!(
        field_types(&classifier, "password", "null").is_empty(),
        "null"
    );
    assert!(
        field_types(&classifier, "password_policy", "\"min 8 chars\"").is_empty(),
        "policy"
    );
    assert!(
        field_types(&classifier, "passenger", "\"Ada\"").is_empty(),
        "passenger"
    );
}

#[test]
fn health_data_by_field_name() {
    let classifier = classifier();
    assert_eq!(
        field_types(&classifier, "diagnosis", "\"E11.9\""),
        ["health_data"],
        "icd code"
    );
    assert_eq!(
        field_types(&classifier, "diagnosis", "{\"code\": \"I10\"}"),
        ["health_data"],
        "nested code"
    );
    assert_eq!(
        field_types(&classifier, "mrn", "\"MRN-00123456\""),
        ["health_data"],
        "mrn"
    );
    assert!(
        field_types(&classifier, "condition", "\"new\"").is_empty(),
        "product condition"
    );
    assert!(
        field_types(&classifier, "code", "\"E11.9\"").is_empty(),
        "code without context"
    );
}

#[test]
fn authorization_header_mapping() {
    let classifier = classifier();
    let cases = [
        (format!("Bearer {JWT}"), "jwt"),
        ("Bearer opaque-token-value".to_string(), "credentials"),
        ("Basic dXNlcjpwYXNzd29yZA==".to_string(), "credentials"),
        (
            format!(
                "Bearer ghp_{}",
                "a1B2c3D4e5".repeat(4).get(..36).unwrap_or_default()
            ),
            "api_key",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830".to_string(),
            "credentials",
        ),
    ];
    for (value, expected) in cases {
        let headers = vec![("Authorization", value.as_bytes())];
        let result = classifier.scan(&ScanInput {
            request_headers: &headers,
            ..ScanInput::default()
        });
        assert_eq!(type_names(&result), [expected], "{value}");
    }
}

#[test]
fn cookie_mapping() {
    let classifier = classifier();
    let cookie = format!("theme=dark; JSESSIONID=A1B2C3D4E5F6A7B8; id_token={JWT}");
    let headers = vec![("Cookie", cookie.as_bytes())];
    let result = classifier.scan(&ScanInput {
        request_headers: &headers,
        ..ScanInput::default()
    });
    assert_eq!(
        type_names(&result),
        ["credentials", "jwt"],
        "session cookie and jwt"
    );
}

#[test]
fn metadata_headers_skipped() {
    let classifier = classifier();
    let headers = vec![
        ("Host", &b"192.0.2.10:8080"[..]),
        ("User-Agent", &b"client/1.2.3.4 (+1 415 555 0132)"[..]),
        ("X-Forwarded-For", &b"198.51.100.23"[..]),
    ];
    let result = classifier.scan(&ScanInput {
        request_headers: &headers,
        ..ScanInput::default()
    });
    assert_eq!(type_names(&result), ["ip_address"], "only X-Forwarded-For");
    let section = &result.findings[0].section;
    assert_eq!(
        section,
        &Section::Header {
            name: "x-forwarded-for".into()
        },
        "section"
    );
}
