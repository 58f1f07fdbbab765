//! Recognisers for path segments that are values, not names, each mapped to
//! the placeholder that replaces it in a template.
//!
//! Every rule demands a shape that fixed API names do not have (all digits,
//! a digit among hex letters, a date, an `@`), so `me`, `v2`, `orders` and
//! `app.js` stay literal.

/// Placeholder for a decimal integer, such as `123`.
pub const ID: &str = "{id}";

/// Placeholder for a UUID in 8-4-4-4-12 hex form.
pub const UUID: &str = "{uuid}";

/// Placeholder for an ISO 8601 date, with or without a time of day.
pub const DATE: &str = "{date}";

/// Placeholder for an e-mail address.
pub const EMAIL: &str = "{email}";

/// Placeholder for a hex string of [`MIN_HEX_LEN`] or more characters with at
/// least one digit: object ids, commit hashes, digests.
pub const HEX: &str = "{hex}";

/// Placeholder for an opaque token: a JWT, or a base64 or base64url string of
/// [`MIN_TOKEN_LEN`] or more characters mixing upper case, lower case and
/// digits.
pub const TOKEN: &str = "{token}";

/// Minimum length of a hex value. Shorter hex-like names such as `a1b2` are
/// left literal; the learned rule catches them if they vary.
pub const MIN_HEX_LEN: usize = 8;

/// Minimum length of a base64 token.
pub const MIN_TOKEN_LEN: usize = 16;

/// Returns the placeholder for a percent-decoded segment, or `None` when the
/// segment looks like a fixed name. Rules are tried from the most specific
/// shape to the loosest, so a UUID is never taken for a token.
pub(super) fn classify(segment: &str) -> Option<&'static str> {
    if is_integer(segment) {
        Some(ID)
    } else if is_uuid(segment) {
        Some(UUID)
    } else if is_iso_date(segment) {
        Some(DATE)
    } else if is_email(segment) {
        Some(EMAIL)
    } else if is_hex_value(segment) {
        Some(HEX)
    } else if is_jwt(segment) || is_base64_token(segment) {
        Some(TOKEN)
    } else {
        None
    }
}

fn is_integer(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

fn is_uuid(segment: &str) -> bool {
    const HYPHENS: [usize; 4] = [8, 13, 18, 23];
    segment.len() == 36
        && segment.bytes().enumerate().all(|(index, b)| {
            if HYPHENS.contains(&index) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// Accepts `YYYY-MM-DD`, optionally followed by `T` and a time with an
/// optional offset (`2024-01-31T10:20:30.5Z`, `...+02:00`). The time part is
/// checked only for its characters, which is enough to tell it from names.
fn is_iso_date(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let (Some(_year), Some(month), Some(day)) = (
        parse_digits(&bytes[0..4]),
        parse_digits(&bytes[5..7]),
        parse_digits(&bytes[8..10]),
    ) else {
        return false;
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }

    match &bytes[10..] {
        [] => true,
        [b'T' | b't', time @ ..] => {
            time.first().is_some_and(u8::is_ascii_digit)
                && time.iter().all(|b| {
                    b.is_ascii_digit() || matches!(b, b':' | b'.' | b'+' | b'-' | b'Z' | b'z')
                })
        }
        _ => false,
    }
}

fn parse_digits(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
    })
}

/// Accepts `local@domain.tld`: a local part of the characters RFC 5322 allows
/// unquoted, and a domain of letter, digit and hyphen labels whose last label
/// is two or more letters.
fn is_email(segment: &str) -> bool {
    let Some((local, domain)) = segment.split_once('@') else {
        return false;
    };
    let local_is_valid = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));

    let labels: Vec<&str> = domain.split('.').collect();
    let labels_are_valid = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    let top_level_is_valid = labels
        .last()
        .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));

    local_is_valid && labels_are_valid && top_level_is_valid
}

/// Accepts hex strings of [`MIN_HEX_LEN`] or more characters with a digit.
/// The digit requirement keeps all-letter words made of a-f (`deadbeef`,
/// `facade`, `accessed`) literal.
fn is_hex_value(segment: &str) -> bool {
    segment.len() >= MIN_HEX_LEN
        && segment.bytes().all(|b| b.is_ascii_hexdigit())
        && segment.bytes().any(|b| b.is_ascii_digit())
}

/// Accepts a JSON Web Token: three base64url parts joined by dots, the first
/// starting with `eyJ`, which is how base64 of `{"` begins.
fn is_jwt(segment: &str) -> bool {
    let parts: Vec<&str> = segment.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[..2].iter().all(|part| !part.is_empty())
        && parts.iter().all(|part| {
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        })
}

/// Accepts base64 and base64url alphabets with optional `=` padding. Random
/// bytes encoded this way almost always mix upper case, lower case and
/// digits, while English words and paths rarely do.
///
/// NOTE: a long camelCase name with a digit (`listOrdersForApiV2`) also
/// passes. The rule cannot tell it from a token by shape alone.
fn is_base64_token(segment: &str) -> bool {
    let body = segment.trim_end_matches('=');
    segment.len() >= MIN_TOKEN_LEN
        && segment.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
        && body.bytes().any(|b| b.is_ascii_uppercase())
        && body.bytes().any(|b| b.is_ascii_lowercase())
        && body.bytes().any(|b| b.is_ascii_digit())
}
