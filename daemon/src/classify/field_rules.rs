//! Rules that classify a whole value by the name of its field: passwords,
//! secrets, SSNs, birth dates, identity documents, medical record numbers,
//! diagnoses, phone numbers, names and postal addresses.
//!
//! The field name is the evidence and the value only has to fit the type's
//! shape: `"dob": "1990-05-17"` is a birth date, `"created": "1990-05-17"` is
//! not. When no rule matches, the value still goes to the pattern detectors.

use super::detect::{Claimed, Detectors, Emit, MIN_SECRET_ENTROPY, MIN_SECRET_LEN};
use super::field_names::{FieldInfo, FieldKinds};
use super::registry::builtin;
use super::validators;

/// Classifies `value` by `field` and returns whether a rule matched, in
/// which case the value needs no pattern scan.
pub fn classify_by_field(
    detectors: &Detectors,
    value: &[u8],
    field: &FieldInfo,
    emit: &mut impl Emit,
) -> bool {
    let (start, end) = trimmed_bounds(value);
    let trimmed = &value[start..end];
    if trimmed.is_empty() {
        return false;
    }
    let whole = start..end;
    let kinds = field.kinds;

    // The operator's own field names come first, so a custom type can take
    // over a field that a built-in rule would also claim.
    let mut claimed_by_custom = false;
    for matcher in detectors.custom() {
        if matcher.regex.is_none() && field.custom & matcher.field_bit != 0 {
            emit.emit(matcher.type_id, whole.clone());
            claimed_by_custom = true;
        }
    }
    if claimed_by_custom {
        return true;
    }

    let rule = |kind: FieldKinds, data_type, fits: &dyn Fn(&[u8]) -> bool| {
        kinds.contains(kind) && detectors.enabled(data_type) && fits(trimmed)
    };

    if rule(FieldKinds::PASSWORD, builtin::PASSWORD, &|v| {
        !is_placeholder(v)
    }) {
        emit.emit(builtin::PASSWORD, whole);
        return true;
    }
    if kinds.contains(FieldKinds::SECRET) && secret_value(detectors, value, whole.clone(), emit) {
        return true;
    }
    if rule(FieldKinds::SSN, builtin::US_SSN, &ssn_value) {
        emit.emit(builtin::US_SSN, whole);
        return true;
    }
    if rule(FieldKinds::BIRTH_DATE, builtin::DATE_OF_BIRTH, &|v| {
        validators::parse_date(v).is_some()
    }) {
        emit.emit(builtin::DATE_OF_BIRTH, whole);
        return true;
    }
    if rule(
        FieldKinds::NATIONAL_ID,
        builtin::NATIONAL_ID,
        &national_id_value,
    ) {
        emit.emit(builtin::NATIONAL_ID, whole);
        return true;
    }
    if rule(
        FieldKinds::MEDICAL_RECORD,
        builtin::HEALTH_DATA,
        &medical_record_value,
    ) {
        emit.emit(builtin::HEALTH_DATA, whole);
        return true;
    }
    if kinds.contains(FieldKinds::DIAGNOSIS) && detectors.enabled(builtin::HEALTH_DATA) {
        let mut found = false;
        validators::find_icd10_codes(value, |range| {
            emit.emit(builtin::HEALTH_DATA, range);
            found = true;
        });
        if found {
            return true;
        }
    }
    if rule(FieldKinds::PHONE, builtin::PHONE_NUMBER, &phone_value) {
        emit.emit(builtin::PHONE_NUMBER, whole);
        return true;
    }
    if rule(
        FieldKinds::PERSON_NAME,
        builtin::PERSON_NAME,
        &person_name_value,
    ) {
        emit.emit(builtin::PERSON_NAME, whole);
        return true;
    }
    if rule(
        FieldKinds::POSTAL_ADDRESS,
        builtin::POSTAL_ADDRESS,
        &postal_address_value,
    ) {
        emit.emit(builtin::POSTAL_ADDRESS, whole);
        return true;
    }
    false
}

/// Under a secret-like name: a token with a known prefix (JWT, GitHub, AWS,
/// ...) is reported as such; otherwise a long, high-entropy value is an
/// `api_key`.
fn secret_value(
    detectors: &Detectors,
    value: &[u8],
    whole: std::ops::Range<usize>,
    emit: &mut impl Emit,
) -> bool {
    if detectors.scan_prefixed_tokens(value, &mut Claimed::default(), emit) {
        return true;
    }
    if !detectors.enabled(builtin::API_KEY) {
        return false;
    }

    // `Bearer` and `Basic` are schemes, not part of the secret.
    let mut start = whole.start;
    let trimmed = &value[whole.clone()];
    for scheme in [
        &b"Bearer "[..],
        b"bearer ",
        b"Basic ",
        b"basic ",
        b"Token ",
        b"token ",
    ] {
        if trimmed.starts_with(scheme) {
            start += scheme.len();
            break;
        }
    }
    let secret = &value[start..whole.end];
    if high_entropy_secret(secret) {
        emit.emit(builtin::API_KEY, start..whole.end);
        return true;
    }
    false
}

/// Returns whether `secret` looks generated rather than typed: at least 20
/// bytes, no whitespace, letters and digits mixed, entropy of at least
/// [`MIN_SECRET_ENTROPY`] bits per byte, and not a UUID (an identifier, even
/// under a name like `token_id`) or a redaction placeholder.
pub fn high_entropy_secret(secret: &[u8]) -> bool {
    if secret.len() < MIN_SECRET_LEN || secret.iter().any(u8::is_ascii_whitespace) {
        return false;
    }
    if !secret.iter().any(u8::is_ascii_digit) || !secret.iter().any(u8::is_ascii_alphabetic) {
        return false;
    }
    if is_uuid(secret) || is_placeholder(secret) {
        return false;
    }
    validators::shannon_entropy(secret) >= MIN_SECRET_ENTROPY
}

/// Returns whether `value` is a UUID in its canonical 8-4-4-4-12 hex form.
pub fn is_uuid(value: &[u8]) -> bool {
    value.len() == 36
        && value.iter().enumerate().all(|(index, &byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// Returns whether `value` is a stand-in for a withheld value: only
/// masking characters, or a word such as `REDACTED`.
pub fn is_placeholder(value: &[u8]) -> bool {
    const WORDS: [&[u8]; 13] = [
        b"redacted",
        b"[redacted]",
        b"<redacted>",
        b"(redacted)",
        b"[filtered]",
        b"filtered",
        b"hidden",
        b"<hidden>",
        b"masked",
        b"null",
        b"none",
        b"undefined",
        b"n/a",
    ];
    let masking = value
        .iter()
        .all(|b| matches!(b, b'*' | b'x' | b'X' | b'#' | b'.'))
        || std::str::from_utf8(value).is_ok_and(|text| text.chars().all(|c| c == '•'));
    masking || WORDS.iter().any(|word| value.eq_ignore_ascii_case(word))
}

/// Nine digits, with or without dashes or spaces, that the SSA could have
/// issued.
fn ssn_value(value: &[u8]) -> bool {
    let mut digits = [0u8; 9];
    let mut count = 0;
    for &byte in value {
        match byte {
            b'0'..=b'9' if count < 9 => {
                digits[count] = byte;
                count += 1;
            }
            b'-' | b' ' => {}
            _ => return false,
        }
    }
    count == 9 && validators::ssn_digits_valid(&digits)
}

/// 5-20 letters and digits (separators ignored), at least two of them
/// digits: passport, tax and national identity numbers.
fn national_id_value(value: &[u8]) -> bool {
    compact_identifier(value, 5..=20).is_some_and(|(_, digits)| digits >= 2)
}

/// 4-20 letters and digits (separators ignored), at least four of them
/// digits.
fn medical_record_value(value: &[u8]) -> bool {
    compact_identifier(value, 4..=20).is_some_and(|(_, digits)| digits >= 4)
}

/// Returns the number of letters and digits and the number of digits when
/// `value` has only those and the separators ` -./`, and the first count is
/// in `length`.
fn compact_identifier(
    value: &[u8],
    length: std::ops::RangeInclusive<usize>,
) -> Option<(usize, usize)> {
    let mut characters = 0;
    let mut digits = 0;
    for &byte in value {
        if byte.is_ascii_alphanumeric() {
            characters += 1;
            digits += usize::from(byte.is_ascii_digit());
        } else if !matches!(byte, b' ' | b'-' | b'.' | b'/') {
            return None;
        }
    }
    length.contains(&characters).then_some((characters, digits))
}

/// 7-15 digits with only phone punctuation (`+ -.()` and spaces), an
/// optional `tel:` scheme and an optional extension (`x123`, `ext. 123`).
fn phone_value(value: &[u8]) -> bool {
    let value = value.strip_prefix(b"tel:").unwrap_or(value);
    let value = strip_extension(value);

    let mut digits = 0;
    let mut first_digit = None;
    let mut all_same = true;
    for (index, &byte) in value.iter().enumerate() {
        match byte {
            b'0'..=b'9' => {
                digits += 1;
                match first_digit {
                    None => first_digit = Some(byte),
                    Some(first) => all_same &= first == byte,
                }
            }
            b'+' if index == 0 => {}
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return false,
        }
    }
    (7..=15).contains(&digits) && !all_same && validators::parse_date(value).is_none()
}

fn strip_extension(value: &[u8]) -> &[u8] {
    for marker in [&b" ext. "[..], b" ext ", b" x", b"x", b";ext="] {
        if let Some(position) = memchr::memmem::rfind(value, marker) {
            let extension = &value[position + marker.len()..];
            if !extension.is_empty()
                && extension.len() <= 6
                && extension.iter().all(u8::is_ascii_digit)
            {
                return value[..position].trim_ascii_end();
            }
        }
    }
    value
}

/// 1-100 bytes of letters (any script), spaces, apostrophes, hyphens,
/// dots and commas, with at least one letter, at most six words, and not a
/// placeholder such as `unknown`.
fn person_name_value(value: &[u8]) -> bool {
    if value.len() > 100 {
        return false;
    }
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    let allowed = text
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '’' | '-' | '.' | ','));
    let has_letter = text.chars().any(char::is_alphabetic);
    let words = text.split_whitespace().count();
    // Account and service names that sit under `user.name` and the like.
    let placeholder = [
        "unknown",
        "anonymous",
        "none",
        "null",
        "n/a",
        "test",
        "admin",
        "root",
        "system",
        "guest",
    ]
    .iter()
    .any(|word| text.eq_ignore_ascii_case(word));
    allowed && has_letter && words <= 6 && !placeholder
}

/// 3-200 bytes with a letter or digit, and not an e-mail address, URL or IP
/// address, which also appear under names such as `address`.
fn postal_address_value(value: &[u8]) -> bool {
    if !(3..=200).contains(&value.len()) || !value.iter().any(u8::is_ascii_alphanumeric) {
        return false;
    }
    if value.contains(&b'@') || validators::contains(value, b"://") || is_placeholder(value) {
        return false;
    }
    let is_ip =
        std::str::from_utf8(value).is_ok_and(|text| text.parse::<std::net::IpAddr>().is_ok());
    !is_ip
}

fn trimmed_bounds(value: &[u8]) -> (usize, usize) {
    let start = value
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |index| index + 1);
    (start, end)
}
