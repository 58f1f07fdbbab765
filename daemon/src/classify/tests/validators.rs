use crate::classify::validators::*;

#[test]
fn luhn_accepts_test_cards() {
    for card in [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "79927398713",
    ] {
        assert!(luhn_valid(card.as_bytes()), "{card} should pass Luhn");
    }
}

#[test]
fn luhn_rejects_changed_digit() {
    for card in [
        "4111111111111112",
        "5555555555554445",
        "378282246310006",
        "79927398710",
    ] {
        assert!(!luhn_valid(card.as_bytes()), "{card} should fail Luhn");
    }
}

#[test]
fn luhn_rejects_non_digits() {
    assert!(
        !luhn_valid(b"4111-1111-1111-1111"),
        "separators are not digits"
    );
    assert!(!luhn_valid(b"0"), "a single digit has no check digit");
    assert!(!luhn_valid(b""), "empty input");
}

#[test]
fn card_issuer_ranges() {
    let cases: [(&str, Option<CardIssuer>); 12] = [
        ("4111111111111111", Some(CardIssuer::Visa)),
        ("4222222222222", Some(CardIssuer::Visa)),
        ("5555555555554444", Some(CardIssuer::Mastercard)),
        ("2223003122003222", Some(CardIssuer::Mastercard)),
        ("378282246310005", Some(CardIssuer::Amex)),
        ("6011111111111117", Some(CardIssuer::Discover)),
        ("3530111333300000", Some(CardIssuer::Jcb)),
        ("30569309025904", Some(CardIssuer::Diners)),
        ("6200000000000005", Some(CardIssuer::UnionPay)),
        // Mastercard's 2-series ends at 2720.
        ("2721000000000000", None),
        // Amex numbers are 15 digits.
        ("3782822463100050", None),
        ("1234567812345670", None),
    ];
    for (digits, expected) in cases {
        assert_eq!(
            card_issuer(digits.as_bytes()),
            expected,
            "issuer of {digits}"
        );
    }
}

#[test]
fn card_number_needs_issuer_and_luhn() {
    assert!(card_number_valid(b"4111111111111111"), "Visa test card");
    assert!(!card_number_valid(b"4111111111111112"), "bad check digit");
    // Passes Luhn, but no network issues cards starting with 1.
    assert!(luhn_valid(b"1234567812345670"), "fixture passes Luhn");
    assert!(!card_number_valid(b"1234567812345670"), "unknown issuer");
}

#[test]
fn iban_registry_examples_valid() {
    for iban in [
        "DE89370400440532013000",
        "GB29NWBK60161331926819",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "BE68539007547034",
        "NO9386011117947",
        "CH9300762011623852957",
    ] {
        assert!(iban_valid(iban.as_bytes()), "{iban} should be valid");
    }
}

#[test]
fn iban_checksum_rejects_change() {
    assert!(!iban_valid(b"DE89370400440532013001"), "changed last digit");
    assert!(
        !iban_valid(b"DE98370400440532013000"),
        "swapped check digits"
    );
}

#[test]
fn iban_length_table_enforced() {
    // A valid German IBAN with one more digit no longer fits DE's 22.
    assert!(!iban_valid(b"DE893704004405320130000"), "too long for DE");
    assert!(!iban_valid(b"XX89370400440532013000"), "unknown country");
    assert_eq!(iban_length(*b"DE"), Some(22), "DE length");
    assert_eq!(iban_length(*b"NO"), Some(15), "NO length");
    assert_eq!(iban_length(*b"US"), None, "the US has no IBAN");
}

#[test]
fn iban_rejects_lowercase_and_spaces() {
    assert!(
        !iban_valid(b"de89370400440532013000"),
        "lowercase is not normalised here"
    );
    assert!(
        !iban_valid(b"DE89 3704 0044 0532 0130 00"),
        "spaces are not normalised here"
    );
}

#[test]
fn ssn_rules() {
    assert!(ssn_digits_valid(b"123456789"), "ordinary number");
    assert!(!ssn_digits_valid(b"000456789"), "area 000");
    assert!(!ssn_digits_valid(b"666456789"), "area 666");
    assert!(!ssn_digits_valid(b"900456789"), "area 900");
    assert!(!ssn_digits_valid(b"999456789"), "area 999");
    assert!(!ssn_digits_valid(b"123006789"), "group 00");
    assert!(!ssn_digits_valid(b"123450000"), "serial 0000");
    assert!(!ssn_digits_valid(b"12345678"), "eight digits");
}

#[test]
fn entropy_values() {
    assert_eq!(shannon_entropy(b""), 0.0, "empty");
    assert_eq!(shannon_entropy(b"aaaaaaaa"), 0.0, "one symbol");
    assert!(
        (shannon_entropy(b"abababab") - 1.0).abs() < 1e-9,
        "two equal symbols"
    );
    assert!(
        (shannon_entropy(b"0123456789abcdef") - 4.0).abs() < 1e-9,
        "16 distinct symbols"
    );
}

#[test]
fn date_forms_parsed() {
    let may_17 = Date {
        year: 1990,
        month: 5,
        day: 17,
    };
    for text in [
        "1990-05-17",
        "1990/05/17",
        "19900517",
        "17.05.1990",
        "05/17/1990",
        "17/05/1990",
        "1990-05-17T00:00:00Z",
        "1990-5-17",
        "5/17/1990",
    ] {
        assert_eq!(parse_date(text.as_bytes()), Some(may_17), "{text}");
    }
}

#[test]
fn date_rejects_impossible() {
    for text in [
        "1990-02-30",
        "1990-13-01",
        "1899-01-01",
        "2024-02-30",
        "12345678",
        "v1.2.3",
        "1990-5-17-1",
        "1990.05",
    ] {
        assert_eq!(parse_date(text.as_bytes()), None, "{text}");
    }
    assert!(parse_date(b"2024-02-29").is_some(), "2024 is a leap year");
    assert!(
        parse_date(b"1900-02-29").is_none(),
        "1900 is not a leap year"
    );
}

#[test]
fn icd10_codes() {
    for code in ["E11.9", "I10", "J45.909", "M54.5", "Z00.00", "O09A"] {
        let expected = code != "O09A";
        assert_eq!(icd10_code_valid(code.as_bytes()), expected, "{code}");
    }
    assert!(!icd10_code_valid(b"U07.1"), "U codes are provisional");
    assert!(!icd10_code_valid(b"E1"), "too short");

    let mut found = Vec::new();
    find_icd10_codes(b"Type 2 diabetes (E11.9), hypertension I10", |range| {
        found.push(range)
    });
    assert_eq!(found, vec![17..22, 38..41], "codes in text");
}

#[test]
fn jwt_structure() {
    let token = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert!(jwt_valid(token), "signed token");
    assert!(
        jwt_valid(b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
        "unsigned token"
    );
    assert!(
        !jwt_valid(b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0"),
        "two segments"
    );
    assert!(
        !jwt_valid(b"eyJmb28iOiJiYXIifQ.eyJzdWIiOiJ4In0.c2ln"),
        "header without alg or typ"
    );
    assert!(
        !jwt_valid(b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.si gn"),
        "space in signature"
    );
}
