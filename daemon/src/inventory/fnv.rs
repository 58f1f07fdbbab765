//! 64-bit FNV-1a, the hash behind endpoint ids and the keys of learned
//! parameter positions.
//!
//! The standard library's hashers are seeded per process, so they cannot give
//! ids that match across restarts and machines. FNV-1a is fixed by its offset
//! basis and prime alone, and is fast on the short strings hashed here.

/// FNV-1a 64-bit offset basis, as defined by Fowler, Noll and Vo.
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV 64-bit prime, 2^40 + 2^8 + 0xb3.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Separator written between the parts of a composite key. It is 0xFF, which
/// never occurs in UTF-8, so ("ab", "c") and ("a", "bc") hash differently.
pub(crate) const SEPARATOR: u8 = 0xff;

/// Incremental FNV-1a 64-bit state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv1a(u64);

impl Fnv1a {
    /// Starts a hash at the offset basis.
    pub(crate) fn new() -> Self {
        Fnv1a(OFFSET_BASIS)
    }

    /// Mixes `bytes` into the hash, one byte at a time: XOR, then multiply.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// Mixes in `part` followed by [`SEPARATOR`].
    pub(crate) fn write_part(&mut self, part: &str) {
        self.write(part.as_bytes());
        self.write(&[SEPARATOR]);
    }

    /// Returns the hash of everything written so far; the state stays usable.
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// Returns the FNV-1a 64-bit hash of `bytes`.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = Fnv1a::new();
    hash.write(bytes);
    hash.finish()
}
