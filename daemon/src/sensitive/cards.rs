//! A last pass over bodies kept by the opt-in capture: every number that is
//! a valid payment card number is masked, wherever it sits.
//!
//! The classifier does not report a card under a field name that marks an
//! identifier (`id`, `order_id`), because long numeric ids pass the Luhn
//! check one time in ten. A stored body must not keep a real card, though,
//! so here a false positive only costs a masked id.

use crate::classify::validators::card_number_valid;

/// Digits in a card number.
const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

/// Replaces with `*` each run of 13 to 19 digits, single spaces or dashes
/// allowed between them, that passes the issuer and Luhn checks. Returns
/// how many were masked.
pub fn mask_card_numbers(body: &mut [u8]) -> usize {
    let mut masked = 0;
    let mut position = 0;
    while position < body.len() {
        if !body[position].is_ascii_digit() || preceded_by_digit(body, position) {
            position += 1;
            continue;
        }
        let (end, digits) = digit_run(body, position);
        if CARD_DIGITS.contains(&digits.len()) && card_number_valid(&digits) {
            for byte in &mut body[position..end] {
                if byte.is_ascii_digit() {
                    *byte = b'*';
                }
            }
            masked += 1;
        }
        position = end.max(position + 1);
    }
    masked
}

fn preceded_by_digit(body: &[u8], position: usize) -> bool {
    position > 0 && body[position - 1].is_ascii_digit()
}

/// Reads digits from `start`, across single spaces or dashes, and returns
/// where the run ends and its digits. Stops once the run has more than 20
/// digits, since no card is that long.
fn digit_run(body: &[u8], start: usize) -> (usize, Vec<u8>) {
    let mut digits = Vec::with_capacity(20);
    let mut end = start;
    let mut position = start;
    while position < body.len() && digits.len() <= 20 {
        let byte = body[position];
        if byte.is_ascii_digit() {
            digits.push(byte);
            position += 1;
            end = position;
        } else if (byte == b' ' || byte == b'-')
            && body.get(position + 1).is_some_and(u8::is_ascii_digit)
        {
            position += 1;
        } else {
            break;
        }
    }
    (end, digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> (String, usize) {
        let mut bytes = text.as_bytes().to_vec();
        let count = mask_card_numbers(&mut bytes);
        (String::from_utf8(bytes).unwrap(), count)
    }

    #[test]
    fn card_under_identifier_masked() {
        let (text, count) = masked(r#"{"id":"4539578763621486","n":4539578763621486}"#);
        assert_eq!(count, 2);
        assert_eq!(text, r#"{"id":"****************","n":****************}"#);
    }

    #[test]
    fn spaced_and_dashed_cards_masked() {
        let (text, count) = masked("a 5425 2334 3010 9903 b 4539-5787-6362-1486");
        assert_eq!(count, 2);
        assert_eq!(text, "a **** **** **** **** b ****-****-****-****");
    }

    #[test]
    fn other_numbers_kept() {
        // Fails Luhn, too short, and part of a longer number.
        for text in ["4539578763621487", "453957876362", "94539578763621486123"] {
            let (after, count) = masked(text);
            assert_eq!(count, 0, "{text}");
            assert_eq!(after, text);
        }
    }
}
