//! Digit runs in free text, and the number-shaped types they can be: IPv4
//! addresses, dashed SSNs, payment card numbers and phone numbers.
//!
//! A run is digits joined by single separators (space, `-`, `.`, `(`, `)`),
//! so `(415) 555-0132`, `4111 1111 1111 1111` and `192.0.2.10` are each one
//! run. The group structure, not the digits alone, tells a phone number from
//! a date (`2024-01-15` is 4-2-2), a version (`1.2.3`) or a timestamp (a
//! bare `1700000000` has no groups and no `+`).

use super::is_token_byte;
use crate::classify::registry::{builtin, TypeId};
use crate::classify::validators;

/// Runs with more digits than this are not any of these types.
const MAX_DIGITS: usize = 24;
/// Runs with more groups than this are not any of these types.
const MAX_GROUPS: usize = 8;

const SPACE: u8 = 1;
const DASH: u8 = 2;
const DOT: u8 = 4;
const PAREN: u8 = 8;

/// A run of digit groups, as cut out of a value by [`NumberRun::parse`].
pub struct NumberRun {
    pub start: usize,
    /// Index after the run's last digit.
    pub end: usize,
    digits: [u8; MAX_DIGITS],
    digit_count: usize,
    /// Number of digits in each group.
    groups: [u8; MAX_GROUPS],
    group_count: usize,
    /// Separator kinds used between groups, as bit flags.
    separators: u8,
    /// The run starts with `+`.
    plus: bool,
    /// More digits or groups than the arrays hold.
    overflow: bool,
}

impl NumberRun {
    /// Cuts the run that starts at `start`: a digit, or `+` or `(` followed
    /// by a digit.
    pub fn parse(value: &[u8], start: usize) -> Self {
        let mut run = NumberRun {
            start,
            end: start,
            digits: [0; MAX_DIGITS],
            digit_count: 0,
            groups: [0; MAX_GROUPS],
            group_count: 0,
            separators: 0,
            plus: false,
            overflow: false,
        };

        let mut index = start;
        if value[index] == b'+' {
            run.plus = true;
            index += 1;
        }

        let mut group_len = 0usize;
        loop {
            if index < value.len() && value[index].is_ascii_digit() {
                if run.digit_count < MAX_DIGITS {
                    run.digits[run.digit_count] = value[index];
                } else {
                    run.overflow = true;
                }
                run.digit_count += 1;
                group_len += 1;
                index += 1;
                continue;
            }

            let Some((length, kinds)) = separator_at(value, index) else {
                break;
            };
            run.close_group(&mut group_len);
            run.separators |= kinds;
            index += length;
        }
        run.close_group(&mut group_len);
        run.end = index;
        run
    }

    fn close_group(&mut self, group_len: &mut usize) {
        if *group_len == 0 {
            return;
        }
        if self.group_count < MAX_GROUPS {
            self.groups[self.group_count] = (*group_len).min(usize::from(u8::MAX)) as u8;
            self.group_count += 1;
        } else {
            self.overflow = true;
        }
        *group_len = 0;
    }

    fn digits(&self) -> &[u8] {
        &self.digits[..self.digit_count]
    }

    fn groups(&self) -> &[u8] {
        &self.groups[..self.group_count]
    }
}

/// Returns the length and kinds of a separator at `index` that is followed
/// by a digit: one of ` -.()`, or a closing parenthesis followed by a space
/// or dash, or a space followed by an opening parenthesis.
fn separator_at(value: &[u8], index: usize) -> Option<(usize, u8)> {
    let kind = |byte: u8| match byte {
        b' ' => Some(SPACE),
        b'-' => Some(DASH),
        b'.' => Some(DOT),
        b'(' | b')' => Some(PAREN),
        _ => None,
    };
    let digit_at = |position: usize| value.get(position).is_some_and(u8::is_ascii_digit);

    let first = kind(*value.get(index)?)?;
    if digit_at(index + 1) {
        return Some((1, first));
    }
    let second = value.get(index + 1).copied()?;
    let pair_allowed = (value[index] == b')' && matches!(second, b' ' | b'-'))
        || (value[index] == b' ' && second == b'(');
    if pair_allowed && digit_at(index + 2) {
        return Some((2, first | kind(second)?));
    }
    None
}

/// Returns the data type a digit run is, if any. `value` is the text the run
/// was cut from, to check that no letter is glued to its end.
pub fn classify_number_run(run: &NumberRun, value: &[u8]) -> Option<TypeId> {
    if run.overflow || run.digit_count < 4 {
        return None;
    }
    if value.get(run.end).copied().is_some_and(is_token_byte) {
        return None;
    }

    if ipv4_run(run) {
        return Some(builtin::IP_ADDRESS);
    }
    if dashed_ssn_run(run) {
        return Some(builtin::US_SSN);
    }
    if card_run(run) {
        return Some(builtin::CARD_NUMBER);
    }
    if phone_run(run) {
        return Some(builtin::PHONE_NUMBER);
    }
    None
}

/// Four dot-separated decimal octets without leading zeros, the first not 0
/// (0.0.0.0/8 is "this network", and `0.x.y.z` is more often a version).
fn ipv4_run(run: &NumberRun) -> bool {
    if run.plus || run.separators != DOT || run.group_count != 4 {
        return false;
    }

    let mut offset = 0;
    for (index, &length) in run.groups().iter().enumerate() {
        let length = usize::from(length);
        let octet = &run.digits()[offset..offset + length];
        offset += length;
        if length > 3 || (length > 1 && octet[0] == b'0') {
            return false;
        }
        let number = octet
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        if number > 255 || (index == 0 && number == 0) {
            return false;
        }
    }
    true
}

/// `AAA-GG-SSSS` with the SSA's issuance rules.
fn dashed_ssn_run(run: &NumberRun) -> bool {
    !run.plus
        && run.separators == DASH
        && run.groups() == [3, 2, 4]
        && validators::ssn_digits_valid(run.digits())
}

/// 13-19 digits, compact or grouped with one separator kind, in a known
/// issuer range with a valid Luhn digit.
fn card_run(run: &NumberRun) -> bool {
    if run.plus || !(13..=19).contains(&run.digit_count) {
        return false;
    }
    if !matches!(run.separators, 0 | SPACE | DASH) {
        return false;
    }

    // Groups of four with a shorter last group (Visa, Mastercard, Discover),
    // or 4-6-5 and 4-6-4 (American Express, Diners Club).
    let groups = run.groups();
    let shape_valid = match groups {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [rest @ .., last] => rest.iter().all(|&group| group == 4) && (1..=4).contains(last),
        [] => false,
    };
    shape_valid && validators::card_number_valid(run.digits())
}

/// A phone number in international (`+` and 8-15 digits, per ITU-T E.164)
/// or common national form: North American `NXX-NXX-XXXX` with optional
/// leading 1, or a trunk-prefix `0` number of 10-11 digits in groups of at
/// least two. Bare digit strings need a phone-like field name, which
/// [`super::super::field_rules`] checks.
fn phone_run(run: &NumberRun) -> bool {
    let digits = run.digits();

    if run.plus {
        return (8..=15).contains(&run.digit_count) && digits[0] != b'0';
    }
    if run.group_count < 2 {
        return false;
    }

    let groups = run.groups();
    let nanp_digits = match groups {
        [3, 3, 4] => Some(digits),
        [1, 3, 3, 4] if digits[0] == b'1' => Some(&digits[1..]),
        _ => None,
    };
    if let Some(national) = nanp_digits {
        // Area code and exchange both start with 2-9 (NANP numbering plan).
        let dots_mixed = run.separators & DOT != 0 && run.separators != DOT;
        return (b'2'..=b'9').contains(&national[0])
            && (b'2'..=b'9').contains(&national[3])
            && !dots_mixed;
    }

    let trunk_prefixed =
        digits[0] == b'0' && digits[1] != b'0' && (10..=11).contains(&run.digit_count);
    if !trunk_prefixed || run.group_count > 5 || groups.iter().any(|&group| group < 2) {
        return false;
    }
    // National numbers are written in pairs (`01 23 45 67 89`) or end with
    // a subscriber group of three or more digits (`020 7946 0958`), which
    // rules out serials such as `0123 4567 89`.
    let pairs = groups.iter().all(|&group| group == 2);
    if run.separators & DOT != 0 {
        return run.separators == DOT && pairs;
    }
    pairs || groups[groups.len() - 1] >= 3
}
