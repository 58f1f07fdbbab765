//! The byte-class prefilter that runs before any detector: one pass over a
//! value counts digits, colons, uppercase letters and `@`, and at the same
//! time looks for the bigrams that begin a literal-prefix token. The pattern
//! detectors then run only where these counts allow a match.

use super::MIN_PREFIXED_TOKEN_LEN;

/// Bit offsets of the four 12-bit counters in a [`SHAPE_TABLE`] entry.
const DIGIT_LANE: u32 = 0;
const COLON_LANE: u32 = 12;
const UPPER_LANE: u32 = 24;
const AT_LANE: u32 = 36;

/// Bit offsets of the literal-prefix bigram families in a [`SHAPE_TABLE`]
/// entry: the families a byte can begin, and those it can end.
const BIGRAM_FIRST: u32 = 48;
const BIGRAM_SECOND: u32 = 56;

/// First and second bytes of the bigrams that begin a literal prefix, as
/// family bits. The families are `A` then one of `KSBCI` (AWS, Google), one
/// of `pousrbtke` then `_` (GitHub, Stripe), `xo` (Slack), `yJ` (JWT, whose
/// `eyJ` is base64 for `{"`) and `--` (PEM). A value without any of them
/// cannot contain a prefixed token, which spares the automaton most values.
const BIGRAM_FIRST_BYTES: [(&[u8], u8); 5] = [
    (b"A", 1),
    (b"pousrbtke", 2),
    (b"x", 4),
    (b"y", 8),
    (b"-", 16),
];
const BIGRAM_SECOND_BYTES: [(&[u8], u8); 5] =
    [(b"KSBCI", 1), (b"_", 2), (b"o", 4), (b"J", 8), (b"-", 16)];

/// Per-byte entries of one pass over a value: increments of the packed
/// counters in the low 48 bits, and the bigram families above them, so
/// that the pass does one table load per byte.
static SHAPE_TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = if b.is_ascii_digit() {
            1 << DIGIT_LANE
        } else if b == b':' {
            1 << COLON_LANE
        } else if b.is_ascii_uppercase() {
            1 << UPPER_LANE
        } else if b == b'@' {
            1 << AT_LANE
        } else {
            0
        };
        byte += 1;
    }
    add_bigram_families(&mut table, &BIGRAM_FIRST_BYTES, BIGRAM_FIRST);
    add_bigram_families(&mut table, &BIGRAM_SECOND_BYTES, BIGRAM_SECOND);
    table
};

const fn add_bigram_families(table: &mut [u64; 256], families: &[(&[u8], u8)], offset: u32) {
    let mut family = 0;
    while family < families.len() {
        let (bytes, bit) = families[family];
        let mut index = 0;
        while index < bytes.len() {
            table[bytes[index] as usize] |= (bit as u64) << offset;
            index += 1;
        }
        family += 1;
    }
}

/// Bytes counted into one set of packed counters before they are unpacked,
/// so no 12-bit counter can overflow into the next.
const COUNT_CHUNK: usize = (1 << 12) - 1;

/// Counts of the byte classes the detectors need, and whether a
/// literal-prefix bigram occurs.
#[derive(Default)]
pub struct Shape {
    pub digits: usize,
    pub colons: usize,
    pub uppercase: usize,
    pub at_signs: usize,
    /// Always false for values shorter than [`MIN_PREFIXED_TOKEN_LEN`],
    /// which cannot hold a prefixed token.
    pub prefix_bigram: bool,
}

pub fn shape_of(value: &[u8]) -> Shape {
    let mut shape = Shape::default();
    // The previous byte's entry shifted so that its first-byte families
    // line up with the current byte's second-byte families.
    let mut previous = 0u64;
    let mut bigrams = 0u64;
    for chunk in value.chunks(COUNT_CHUNK) {
        let mut lanes = 0u64;
        for &byte in chunk {
            let entry = SHAPE_TABLE[usize::from(byte)];
            // Carries only move upwards, so the bigram bits that overflow
            // at the top leave the counters below them exact.
            lanes = lanes.wrapping_add(entry);
            bigrams |= previous & entry;
            previous = entry << (BIGRAM_SECOND - BIGRAM_FIRST);
        }
        let lane = |offset: u32| ((lanes >> offset) & 0xfff) as usize;
        shape.digits += lane(DIGIT_LANE);
        shape.colons += lane(COLON_LANE);
        shape.uppercase += lane(UPPER_LANE);
        shape.at_signs += lane(AT_LANE);
    }
    shape.prefix_bigram = value.len() >= MIN_PREFIXED_TOKEN_LEN && bigrams >> BIGRAM_SECOND != 0;
    shape
}

// Classes of [`WORD_CLASS`].
const TOKEN: u8 = 1;
const DIGIT: u8 = 2;
const UPPER: u8 = 4;
/// `+` and `(`, which start a number run when a digit follows.
const NUMBER_SIGN: u8 = 8;

/// Byte classes for finding where a word scan has work to do.
static WORD_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = if b.is_ascii_digit() {
            TOKEN | DIGIT
        } else if b.is_ascii_uppercase() {
            TOKEN | UPPER
        } else if b.is_ascii_lowercase() || b == b'_' {
            TOKEN
        } else if b == b'+' || b == b'(' {
            NUMBER_SIGN
        } else {
            0
        };
        byte += 1;
    }
    table
};

/// Letters, digits and `_`: bytes that continue a word or token.
pub fn is_token_byte(byte: u8) -> bool {
    WORD_CLASS[usize::from(byte)] & TOKEN != 0
}

/// Returns the first index from `from` on where a number run or an IBAN can
/// start. With `numbers`, that is a digit that begins a word, or `+` or `(`
/// before a digit. With `ibans`, it is an uppercase letter that begins a
/// word.
pub fn next_word_candidate(value: &[u8], from: usize, numbers: bool, ibans: bool) -> Option<usize> {
    let mut wanted = 0;
    if numbers {
        wanted |= DIGIT | NUMBER_SIGN;
    }
    if ibans {
        wanted |= UPPER;
    }

    let mut previous_is_token = from > 0 && is_token_byte(value[from - 1]);
    for (index, &byte) in value.iter().enumerate().skip(from) {
        let class = WORD_CLASS[usize::from(byte)];
        if class & wanted != 0 {
            let found = if class & NUMBER_SIGN != 0 {
                value.get(index + 1).is_some_and(u8::is_ascii_digit)
            } else {
                !previous_is_token
            };
            if found {
                return Some(index);
            }
        }
        previous_is_token = class & TOKEN != 0;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns whether `value` contains a prefix bigram, checking one pair of
    /// bytes at a time.
    fn has_prefix_bigram(value: &[u8]) -> bool {
        let in_family = |families: &[(&[u8], u8)], byte: u8| {
            families
                .iter()
                .filter(|(bytes, _)| bytes.contains(&byte))
                .fold(0, |bits, (_, bit)| bits | bit)
        };
        value.windows(2).any(|pair| {
            in_family(&BIGRAM_FIRST_BYTES, pair[0]) & in_family(&BIGRAM_SECOND_BYTES, pair[1]) != 0
        })
    }

    #[test]
    fn shape_counts_classes() {
        let shape = shape_of(b"Ada: +1 (415) 555-0132, ada@example.com, 10:30");
        assert_eq!(shape.digits, 15, "digits");
        assert_eq!(shape.colons, 2, "colons");
        assert_eq!(shape.uppercase, 1, "uppercase");
        assert_eq!(shape.at_signs, 1, "at signs");
    }

    #[test]
    fn shape_counts_past_one_chunk() {
        let value = b"1:A@".repeat(COUNT_CHUNK);
        let shape = shape_of(&value);
        assert_eq!(shape.digits, COUNT_CHUNK, "digits");
        assert_eq!(shape.colons, COUNT_CHUNK, "colons");
        assert_eq!(shape.uppercase, COUNT_CHUNK, "uppercase");
        assert_eq!(shape.at_signs, COUNT_CHUNK, "at signs");
    }

    #[test]
    fn shape_finds_every_bigram() {
        // Every pair of bytes that occur in the families, at every position
        // of a value long enough to hold a prefixed token, including across
        // a chunk boundary.
        let mut bytes: Vec<u8> = BIGRAM_FIRST_BYTES
            .iter()
            .chain(&BIGRAM_SECOND_BYTES)
            .flat_map(|(bytes, _)| bytes.iter().copied())
            .collect();
        bytes.extend_from_slice(b"aZ9.");
        for &first in &bytes {
            for &second in &bytes {
                for position in [0, 7, MIN_PREFIXED_TOKEN_LEN - 2, COUNT_CHUNK - 1] {
                    let mut value = vec![b'.'; (position + 2).max(MIN_PREFIXED_TOKEN_LEN)];
                    value[position] = first;
                    value[position + 1] = second;
                    assert_eq!(
                        shape_of(&value).prefix_bigram,
                        has_prefix_bigram(&value),
                        "bigram {:?} at {position}",
                        String::from_utf8_lossy(&[first, second])
                    );
                }
            }
        }
    }

    #[test]
    fn shape_skips_bigrams_in_short_values() {
        assert!(!shape_of(b"AKIA1234").prefix_bigram, "short value");
        assert!(shape_of(b"AKIA1234AKIA1234").prefix_bigram, "16-byte value");
    }
}
