//! Checksums and structural rules that separate real identifiers from
//! look-alike numbers: Luhn and issuer ranges for payment cards, ISO 7064
//! MOD 97-10 with the ISO 13616 country lengths for IBANs, the SSA's rules
//! for Social Security numbers, Shannon entropy for secrets, calendar dates,
//! ICD-10 codes and JWT headers.
//!
//! Every function takes ASCII bytes and never allocates.

/// Returns whether `digits` (ASCII digits only, at least two) pass the Luhn
/// check (ISO/IEC 7812-1, annex B).
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.len() < 2 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }

    let mut sum = 0u32;
    for (position, digit) in digits.iter().rev().enumerate() {
        let mut value = u32::from(digit - b'0');
        if position % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum.is_multiple_of(10)
}

/// Card networks recognised by [`card_issuer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardIssuer {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
}

/// Returns the network whose issuer identification number range and card
/// length match `digits` (ASCII digits, no separators), or `None`.
///
/// The ranges are the networks' published IIN ranges: Visa 4 (13, 16 or 19
/// digits), Mastercard 51-55 and 2221-2720 (16), American Express 34 and 37
/// (15), Discover 6011, 644-649 and 65 (16-19), JCB 3528-3589 (16-19), Diners
/// Club 300-305, 3095, 36, 38 and 39 (14-19), UnionPay 62 (16-19).
pub fn card_issuer(digits: &[u8]) -> Option<CardIssuer> {
    let length = digits.len();
    if !(13..=19).contains(&length) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }

    let prefix = |count: usize| -> u32 {
        digits[..count]
            .iter()
            .fold(0, |acc, digit| acc * 10 + u32::from(digit - b'0'))
    };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));

    if p1 == 4 && matches!(length, 13 | 16 | 19) {
        return Some(CardIssuer::Visa);
    }
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && length == 16 {
        return Some(CardIssuer::Mastercard);
    }
    if (p2 == 34 || p2 == 37) && length == 15 {
        return Some(CardIssuer::Amex);
    }
    if (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) && length >= 16 {
        return Some(CardIssuer::Discover);
    }
    if (3528..=3589).contains(&p4) && length >= 16 {
        return Some(CardIssuer::Jcb);
    }
    let diners = (300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39);
    if diners && length >= 14 {
        return Some(CardIssuer::Diners);
    }
    if p2 == 62 && length >= 16 {
        return Some(CardIssuer::UnionPay);
    }
    None
}

/// Returns whether `digits` is a payment card number: a known issuer range
/// and a valid Luhn check digit.
pub fn card_number_valid(digits: &[u8]) -> bool {
    card_issuer(digits).is_some() && luhn_valid(digits)
}

/// IBAN length per country code, from the SWIFT IBAN registry (ISO 13616).
/// Sorted by country code for binary search.
const IBAN_LENGTHS: &[([u8; 2], u8)] = &[
    (*b"AD", 24),
    (*b"AE", 23),
    (*b"AL", 28),
    (*b"AT", 20),
    (*b"AZ", 28),
    (*b"BA", 20),
    (*b"BE", 16),
    (*b"BG", 22),
    (*b"BH", 22),
    (*b"BI", 27),
    (*b"BR", 29),
    (*b"BY", 28),
    (*b"CH", 21),
    (*b"CR", 22),
    (*b"CY", 28),
    (*b"CZ", 24),
    (*b"DE", 22),
    (*b"DJ", 27),
    (*b"DK", 18),
    (*b"DO", 28),
    (*b"EE", 20),
    (*b"EG", 29),
    (*b"ES", 24),
    (*b"FI", 18),
    (*b"FK", 18),
    (*b"FO", 18),
    (*b"FR", 27),
    (*b"GB", 22),
    (*b"GE", 22),
    (*b"GI", 23),
    (*b"GL", 18),
    (*b"GR", 27),
    (*b"GT", 28),
    (*b"HN", 28),
    (*b"HR", 21),
    (*b"HU", 28),
    (*b"IE", 22),
    (*b"IL", 23),
    (*b"IQ", 23),
    (*b"IS", 26),
    (*b"IT", 27),
    (*b"JO", 30),
    (*b"KW", 30),
    (*b"KZ", 20),
    (*b"LB", 28),
    (*b"LC", 32),
    (*b"LI", 21),
    (*b"LT", 20),
    (*b"LU", 20),
    (*b"LV", 21),
    (*b"LY", 25),
    (*b"MC", 27),
    (*b"MD", 24),
    (*b"ME", 22),
    (*b"MK", 19),
    (*b"MN", 20),
    (*b"MR", 27),
    (*b"MT", 31),
    (*b"MU", 30),
    (*b"NI", 28),
    (*b"NL", 18),
    (*b"NO", 15),
    (*b"OM", 23),
    (*b"PK", 24),
    (*b"PL", 28),
    (*b"PS", 29),
    (*b"PT", 25),
    (*b"QA", 29),
    (*b"RO", 24),
    (*b"RS", 22),
    (*b"RU", 33),
    (*b"SA", 24),
    (*b"SC", 31),
    (*b"SD", 18),
    (*b"SE", 24),
    (*b"SI", 19),
    (*b"SK", 24),
    (*b"SM", 27),
    (*b"SO", 23),
    (*b"ST", 25),
    (*b"SV", 28),
    (*b"TL", 23),
    (*b"TN", 24),
    (*b"TR", 26),
    (*b"UA", 29),
    (*b"VA", 22),
    (*b"VG", 24),
    (*b"XK", 20),
    (*b"YE", 30),
];

/// Returns the registered IBAN length for a two-letter country code.
pub fn iban_length(country: [u8; 2]) -> Option<usize> {
    IBAN_LENGTHS
        .binary_search_by(|(code, _)| code.cmp(&country))
        .ok()
        .map(|index| usize::from(IBAN_LENGTHS[index].1))
}

/// Returns whether `iban` (uppercase letters and digits, no spaces) is a
/// valid IBAN: a registered country, that country's length, check digits
/// 02-98 and the ISO 7064 MOD 97-10 remainder 1.
pub fn iban_valid(iban: &[u8]) -> bool {
    if iban.len() < 15
        || !iban
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    if !iban[0].is_ascii_uppercase() || !iban[1].is_ascii_uppercase() {
        return false;
    }
    if iban_length([iban[0], iban[1]]) != Some(iban.len()) {
        return false;
    }
    if !iban[2].is_ascii_digit() || !iban[3].is_ascii_digit() {
        return false;
    }
    let check = (iban[2] - b'0') * 10 + (iban[3] - b'0');
    if !(2..=98).contains(&check) {
        return false;
    }

    // The country code and check digits move to the end, and each letter
    // becomes two digits (A = 10 ... Z = 35). Folding the remainder digit by
    // digit keeps the number small.
    let mut remainder = 0u32;
    for &byte in iban[4..].iter().chain(&iban[..4]) {
        if byte.is_ascii_digit() {
            remainder = (remainder * 10 + u32::from(byte - b'0')) % 97;
        } else {
            remainder = (remainder * 100 + u32::from(byte - b'A' + 10)) % 97;
        }
    }
    remainder == 1
}

/// Returns whether the three parts of a Social Security number can have been
/// issued. The SSA never assigns area 000, 666 or 900-999, group 00 or
/// serial 0000 (SSA, "Social Security Number Randomization", 2011).
pub fn ssn_parts_valid(area: u16, group: u16, serial: u16) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Returns whether `digits` (exactly nine ASCII digits) is an issuable SSN.
pub fn ssn_digits_valid(digits: &[u8]) -> bool {
    if digits.len() != 9 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let number = |range: std::ops::Range<usize>| {
        digits[range]
            .iter()
            .fold(0u16, |acc, digit| acc * 10 + u16::from(digit - b'0'))
    };
    ssn_parts_valid(number(0..3), number(3..5), number(5..9))
}

/// Returns the Shannon entropy of `bytes` in bits per byte.
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }

    let mut counts = [0u32; 256];
    for &byte in bytes {
        counts[usize::from(byte)] += 1;
    }

    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let probability = f64::from(count) / total;
            -probability * probability.log2()
        })
        .sum()
}

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// Parses a calendar date in one of the forms APIs use for birth dates:
/// `YYYY-MM-DD` (optionally followed by `T` or a space and a time),
/// `YYYY/MM/DD`, `YYYYMMDD`, `DD.MM.YYYY`, and `MM/DD/YYYY` or `DD/MM/YYYY`
/// (the US order is tried first). Month and day may have one digit. Years
/// from 1900 to 2099 only.
pub fn parse_date(value: &[u8]) -> Option<Date> {
    let value = value.trim_ascii();
    let value = match value.iter().position(|&b| b == b'T' || b == b' ') {
        Some(index) if (8..=10).contains(&index) => &value[..index],
        _ => value,
    };

    if value.len() == 8 && value.iter().all(u8::is_ascii_digit) {
        let date = Date {
            year: number(&value[..4])?,
            month: u8::try_from(number(&value[4..6])?).ok()?,
            day: u8::try_from(number(&value[6..8])?).ok()?,
        };
        return date_valid(date).then_some(date);
    }

    let separator = *value.iter().find(|b| matches!(b, b'-' | b'/' | b'.'))?;
    let mut parts = value.split(|&b| b == separator);
    let (Some(first), Some(second), Some(third), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };

    let short = |part: &[u8]| (1..=2).contains(&part.len());
    let candidates: [(&[u8], &[u8], &[u8]); 2] =
        if first.len() == 4 && short(second) && short(third) {
            [(first, second, third), (first, second, third)]
        } else if third.len() == 4 && short(first) && short(second) {
            if separator == b'.' {
                [(third, second, first), (third, second, first)]
            } else {
                [(third, first, second), (third, second, first)]
            }
        } else {
            return None;
        };

    candidates.into_iter().find_map(|(year, month, day)| {
        let date = Date {
            year: number(year)?,
            month: u8::try_from(number(month)?).ok()?,
            day: u8::try_from(number(day)?).ok()?,
        };
        date_valid(date).then_some(date)
    })
}

/// Parses one to four ASCII digits.
fn number(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u16, |acc, digit| acc * 10 + u16::from(digit - b'0')),
    )
}

fn date_valid(date: Date) -> bool {
    if !(1900..=2099).contains(&date.year) || !(1..=12).contains(&date.month) || date.day == 0 {
        return false;
    }
    let leap = date.year.is_multiple_of(4)
        && (!date.year.is_multiple_of(100) || date.year.is_multiple_of(400));
    let days = match date.month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    date.day <= days
}

/// Calls `found` with the byte range of each ICD-10 code in `text`: a letter
/// other than U (reserved for provisional codes), a digit, a digit or A/B,
/// then optionally a dot and one to four letters or digits (WHO ICD-10 and
/// ICD-10-CM code structure). Codes must stand alone as words.
pub fn find_icd10_codes(text: &[u8], mut found: impl FnMut(std::ops::Range<usize>)) {
    let mut index = 0;
    while index < text.len() {
        let at_word_start = index == 0 || !text[index - 1].is_ascii_alphanumeric();
        if !at_word_start || !text[index].is_ascii_uppercase() {
            index += 1;
            continue;
        }

        let mut end = index;
        while end < text.len() && (text[end].is_ascii_alphanumeric() || text[end] == b'.') {
            end += 1;
        }
        let word_end = end;
        // A dot after the code ends the sentence.
        while end > index && text[end - 1] == b'.' {
            end -= 1;
        }
        if icd10_code_valid(&text[index..end]) {
            found(index..end);
        }
        index = word_end.max(index + 1);
    }
}

/// Returns whether `code` is exactly one ICD-10 code, as described at
/// [`find_icd10_codes`].
pub fn icd10_code_valid(code: &[u8]) -> bool {
    if code.len() < 3 || code.len() > 8 {
        return false;
    }
    let category = code[0].is_ascii_uppercase()
        && code[0] != b'U'
        && code[1].is_ascii_digit()
        && (code[2].is_ascii_digit() || code[2] == b'A' || code[2] == b'B');
    if !category {
        return false;
    }
    match code.get(3) {
        None => true,
        Some(b'.') => {
            let subcode = &code[4..];
            (1..=4).contains(&subcode.len())
                && subcode
                    .iter()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        }
        Some(_) => false,
    }
}

/// Returns whether `token` is a JSON Web Token in compact serialisation
/// (RFC 7519): three base64url segments separated by dots, the first two
/// non-empty, whose header decodes to a JSON object naming `alg` or `typ`.
/// The signature may be empty, as for `alg: none`.
pub fn jwt_valid(token: &[u8]) -> bool {
    let mut segments = token.split(|&b| b == b'.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };

    let base64url = |segment: &[u8]| {
        segment
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
    };
    if header.len() < 10 || payload.len() < 4 || !payload.starts_with(b"eyJ") {
        return false;
    }
    if !base64url(header) || !base64url(payload) || !base64url(signature) {
        return false;
    }

    // The header is at most a few hundred bytes, so a fixed buffer holds the
    // decoded prefix that is checked.
    let mut decoded = [0u8; 96];
    let length = decode_base64url_prefix(header, &mut decoded);
    let header_json = &decoded[..length];
    header_json.starts_with(b"{")
        && (contains(header_json, b"\"alg\"") || contains(header_json, b"\"typ\""))
}

/// Decodes as much of the base64url `input` as fits in `output` and returns
/// the number of bytes written. Bytes outside the alphabet end the decoding.
fn decode_base64url_prefix(input: &[u8], output: &mut [u8]) -> usize {
    let sextet = |byte: u8| -> Option<u32> {
        match byte {
            b'A'..=b'Z' => Some(u32::from(byte - b'A')),
            b'a'..=b'z' => Some(u32::from(byte - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(byte - b'0') + 52),
            b'-' => Some(62),
            b'_' => Some(63),
            _ => None,
        }
    };

    let mut written = 0;
    let mut buffer = 0u32;
    let mut bits = 0;
    for &byte in input {
        let Some(value) = sextet(byte) else { break };
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if written == output.len() {
                break;
            }
            output[written] = (buffer >> bits) as u8;
            written += 1;
        }
    }
    written
}

/// Returns whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}
