//! The byte-class prefilter that runs before any detector: one pass over a
//! value counts digits, colons, uppercase letters and `@`, and looks for the
//! bigrams that begin a literal-prefix token. The pattern detectors then run
//! only where these counts allow a match.

use super::MIN_PREFIXED_TOKEN_LEN;

/// Bit offsets of the four 16-bit counters in a [`SHAPE_COUNTS`] entry.
const DIGIT_LANE: u32 = 0;
const COLON_LANE: u32 = 16;
const UPPER_LANE: u32 = 32;
const AT_LANE: u32 = 48;

/// Per-byte increments of the packed counters, so that counting is one
/// table load and one addition per byte.
static SHAPE_COUNTS: [u64; 256] = {
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
    table
};

/// Bytes counted into one set of packed counters before they are unpacked,
/// so no 16-bit counter can overflow into the next.
const COUNT_CHUNK: usize = u16::MAX as usize;

/// First and second bytes of the bigrams that begin a literal prefix, as
/// family bits: `A` then one of `KSBCI` (AWS, Google), one of `pousrbtke`
/// then `_` (GitHub, Stripe), `xo` (Slack), `yJ` (JWT, whose `eyJ` is
/// base64 for `{"`) and `--` (PEM). A value without any of them cannot hold
/// a prefixed token, which spares the automaton most values.
static PREFIX_BIGRAM_FIRST: [u8; 256] = bigram_table(&[
    (b"A", 1),
    (b"pousrbtke", 2),
    (b"x", 4),
    (b"y", 8),
    (b"-", 16),
]);
static PREFIX_BIGRAM_SECOND: [u8; 256] =
    bigram_table(&[(b"KSBCI", 1), (b"_", 2), (b"o", 4), (b"J", 8), (b"-", 16)]);

const fn bigram_table(families: &[(&[u8], u8)]) -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut family = 0;
    while family < families.len() {
        let (bytes, bit) = families[family];
        let mut index = 0;
        while index < bytes.len() {
            table[bytes[index] as usize] |= bit;
            index += 1;
        }
        family += 1;
    }
    table
}

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
    for chunk in value.chunks(COUNT_CHUNK) {
        let mut lanes = 0u64;
        for &byte in chunk {
            lanes += SHAPE_COUNTS[usize::from(byte)];
        }
        let lane = |offset: u32| ((lanes >> offset) & 0xffff) as usize;
        shape.digits += lane(DIGIT_LANE);
        shape.colons += lane(COLON_LANE);
        shape.uppercase += lane(UPPER_LANE);
        shape.at_signs += lane(AT_LANE);
    }
    shape.prefix_bigram = value.len() >= MIN_PREFIXED_TOKEN_LEN
        && value.windows(2).any(|pair| {
            PREFIX_BIGRAM_FIRST[usize::from(pair[0])] & PREFIX_BIGRAM_SECOND[usize::from(pair[1])]
                != 0
        });
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
