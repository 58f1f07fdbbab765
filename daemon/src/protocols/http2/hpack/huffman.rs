//! The HPACK Huffman code (RFC 7541 section 5.2 and Appendix B).
//!
//! The code of Appendix B is canonical: sorting the symbols by code length,
//! then by value, and counting up gives each symbol its code. So the table
//! below lists only which symbols have which length, and decoding walks the
//! lengths as a canonical decoder does, one bit at a time.

use std::sync::OnceLock;

use super::HpackError;

/// The end-of-string symbol, which must not appear in a string.
const EOS: u16 = 256;

/// Symbols by code length, from RFC 7541 Appendix B. Symbols 0 to 255 are
/// octets, and 256 is EOS.
const SYMBOLS_BY_LENGTH: &[(u8, &[u16])] = &[
    (5, &[48, 49, 50, 97, 99, 101, 105, 111, 115, 116]),
    (
        6,
        &[
            32, 37, 45, 46, 47, 51, 52, 53, 54, 55, 56, 57, 61, 65, 95, 98, 100, 102, 103, 104,
            108, 109, 110, 112, 114, 117,
        ],
    ),
    (
        7,
        &[
            58, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86,
            87, 89, 106, 107, 113, 118, 119, 120, 121, 122,
        ],
    ),
    (8, &[38, 42, 44, 59, 88, 90]),
    (10, &[33, 34, 40, 41, 63]),
    (11, &[39, 43, 124]),
    (12, &[35, 62]),
    (13, &[0, 36, 64, 91, 93, 126]),
    (14, &[94, 125]),
    (15, &[60, 96, 123]),
    (19, &[92, 195, 208]),
    (20, &[128, 130, 131, 162, 184, 194, 224, 226]),
    (
        21,
        &[
            153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230,
        ],
    ),
    (
        22,
        &[
            129, 132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170, 173, 178, 181, 185,
            186, 187, 189, 190, 196, 198, 228, 232, 233,
        ],
    ),
    (
        23,
        &[
            1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166,
            168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239,
        ],
    ),
    (
        24,
        &[9, 142, 144, 145, 148, 159, 171, 206, 215, 225, 236, 237],
    ),
    (25, &[199, 207, 234, 235]),
    (
        26,
        &[
            192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255,
        ],
    ),
    (
        27,
        &[
            203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252,
            253, 254,
        ],
    ),
    (
        28,
        &[
            2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28,
            29, 30, 31, 127, 220, 249,
        ],
    ),
    (30, &[10, 13, 22, 256]),
];

const MAX_CODE_LENGTH: usize = 30;

/// Canonical decoding tables: for each code length, the first code of that
/// length, and where its symbols start in `symbols`.
struct CanonicalCode {
    first_code: [u32; MAX_CODE_LENGTH + 1],
    count: [u32; MAX_CODE_LENGTH + 1],
    first_symbol: [usize; MAX_CODE_LENGTH + 1],
    symbols: Vec<u16>,
}

fn canonical_code() -> &'static CanonicalCode {
    static CODE: OnceLock<CanonicalCode> = OnceLock::new();
    CODE.get_or_init(|| {
        let mut code = CanonicalCode {
            first_code: [0; MAX_CODE_LENGTH + 1],
            count: [0; MAX_CODE_LENGTH + 1],
            first_symbol: [0; MAX_CODE_LENGTH + 1],
            symbols: Vec::with_capacity(257),
        };

        let mut next_code: u32 = 0;
        let mut previous_length = 0;
        for &(length, symbols) in SYMBOLS_BY_LENGTH {
            let length = usize::from(length);
            next_code <<= length - previous_length;
            code.first_code[length] = next_code;
            code.count[length] = symbols.len() as u32;
            code.first_symbol[length] = code.symbols.len();
            code.symbols.extend_from_slice(symbols);
            next_code += symbols.len() as u32;
            previous_length = length;
        }

        code
    })
}

/// Decodes a Huffman-coded string literal. Fails on the EOS symbol, on
/// padding longer than 7 bits, and on padding that is not the most
/// significant bits of EOS (all ones), as RFC 7541 section 5.2 requires.
pub(super) fn decode(encoded: &[u8]) -> Result<Vec<u8>, HpackError> {
    let table = canonical_code();
    // Huffman codes are at least 5 bits, so the output is at most 8/5 of the
    // input.
    let mut output = Vec::with_capacity(encoded.len() * 8 / 5 + 1);
    let mut code: u32 = 0;
    let mut length = 0;
    let mut pending_all_ones = true;

    for &byte in encoded {
        for shift in (0..8).rev() {
            let bit = u32::from((byte >> shift) & 1);
            code = (code << 1) | bit;
            length += 1;
            pending_all_ones &= bit == 1;

            if length > MAX_CODE_LENGTH {
                return Err(HpackError::InvalidHuffman);
            }
            // Codes of one length are consecutive numbers in a canonical
            // code, so a code of this length is an offset into its range.
            let offset = code.wrapping_sub(table.first_code[length]);
            if code >= table.first_code[length] && offset < table.count[length] {
                let symbol = table.symbols[table.first_symbol[length] + offset as usize];
                if symbol == EOS {
                    return Err(HpackError::InvalidHuffman);
                }
                output.push(symbol as u8);
                code = 0;
                length = 0;
                pending_all_ones = true;
            }
        }
    }

    if length > 7 || !pending_all_ones {
        return Err(HpackError::InvalidHuffman);
    }
    Ok(output)
}

#[cfg(test)]
pub(in super::super) fn encode_for_test(input: &[u8]) -> Vec<u8> {
    let table = canonical_code();
    let mut bits: u64 = 0;
    let mut bit_count = 0;
    let mut output = Vec::new();

    for &byte in input {
        let Some(index) = table
            .symbols
            .iter()
            .position(|&symbol| symbol == u16::from(byte))
        else {
            continue;
        };
        let Some(length) = (1..=MAX_CODE_LENGTH).find(|&length| {
            index >= table.first_symbol[length]
                && index < table.first_symbol[length] + table.count[length] as usize
                && table.count[length] > 0
        }) else {
            continue;
        };
        let code = table.first_code[length] + (index - table.first_symbol[length]) as u32;
        bits = (bits << length) | u64::from(code);
        bit_count += length;
        while bit_count >= 8 {
            bit_count -= 8;
            output.push((bits >> bit_count) as u8);
        }
    }

    if bit_count > 0 {
        let padding = 8 - bit_count;
        output.push(((bits << padding) as u8) | ((1u8 << padding) - 1));
    }
    output
}
