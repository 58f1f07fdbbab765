//! Keyed fingerprints of sensitive values: HMAC-SHA256 under a secret key
//! that never leaves the node.
//!
//! The same value gives the same fingerprint on one node, so findings can be
//! correlated across endpoints and time, while the key stops anyone holding
//! the stored fingerprints from confirming a guessed value (a plain hash of a
//! card number can be brute-forced in minutes).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{
    de::{self, Unexpected, Visitor},
    ser::Error as _,
    Deserialize, Deserializer, Serialize, Serializer,
};
use sha2::Sha256;

/// Length of the fingerprint key, in bytes.
pub const KEY_LEN: usize = 32;

/// Number of leading HMAC bytes kept in a fingerprint: 128 bits make an
/// accidental collision between two values negligible.
pub(crate) const FINGERPRINT_BYTES: usize = 16;

/// Error loading or creating a fingerprint key file.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintKeyError {
    #[error("failed to {action} fingerprint key file {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "fingerprint key file {} has mode {mode:04o}, which gives group or other users access; \
         run `chmod 600` on it, or delete it to have a new key created",
        .path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "fingerprint key file {} is {size} bytes, expected {KEY_LEN}; \
         delete it to have a new key created (existing fingerprints will no longer match)",
        .path.display()
    )]
    Size { path: PathBuf, size: u64 },
    #[error("fingerprint key path {} is not a regular file", .path.display())]
    NotAFile { path: PathBuf },
}

/// Computes keyed fingerprints of values with HMAC-SHA256.
#[derive(Clone)]
pub struct Fingerprinter {
    /// HMAC state after the key, cloned for each value, because keying costs
    /// two of the four SHA-256 blocks of a short value's HMAC.
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Fingerprinter { key: <withheld> }")
    }
}

impl Fingerprinter {
    /// Reads the key from `path`, or creates the file with 32 bytes from
    /// `/dev/urandom` and mode 0600 when it does not exist.
    ///
    /// An existing file is rejected when group or other users have any
    /// permission on it, when it is not exactly 32 bytes, or when `path` is a
    /// symbolic link.
    pub fn load_or_create(path: &Path) -> Result<Self, FingerprintKeyError> {
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path);

        match created {
            Ok(file) => Self::create(path, file),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Self::load(path),
            Err(source) => Err(FingerprintKeyError::Io {
                action: "create",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Returns a fingerprinter with a known key, for tests and for keys kept
    /// elsewhere.
    pub fn from_key(key: [u8; KEY_LEN]) -> Self {
        let keyed =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC accepts keys of any length");
        Self { keyed }
    }

    /// Returns the fingerprint of `value` as a `data_type` value. The type
    /// name is part of the message, so equal bytes of two types do not share
    /// a fingerprint.
    pub fn fingerprint(&self, data_type: &str, value: &[u8]) -> Fingerprint {
        Fingerprint(self.fingerprint_bytes(data_type, value))
    }

    /// Returns the fingerprint of `value` as a `data_type` value, as bytes.
    pub(crate) fn fingerprint_bytes(
        &self,
        data_type: &str,
        value: &[u8],
    ) -> [u8; FINGERPRINT_BYTES] {
        let mut mac = self.keyed.clone();
        mac.update(data_type.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        let digest = mac.finalize().into_bytes();

        let mut fingerprint = [0u8; FINGERPRINT_BYTES];
        fingerprint.copy_from_slice(&digest[..FINGERPRINT_BYTES]);
        fingerprint
    }

    fn create(path: &Path, mut file: File) -> Result<Self, FingerprintKeyError> {
        let io_error = |action, source| FingerprintKeyError::Io {
            action,
            path: path.to_path_buf(),
            source,
        };

        let mut key = [0u8; KEY_LEN];
        let written = File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut key))
            .map_err(|source| io_error("read /dev/urandom for", source))
            .and_then(|()| {
                file.write_all(&key)
                    .and_then(|()| file.sync_all())
                    .map_err(|source| io_error("write", source))
            });

        if let Err(error) = written {
            // An empty or partial key file would be rejected at the next
            // start, so it is removed while its creator still knows it is bad.
            let _ = std::fs::remove_file(path);
            return Err(error);
        }
        Ok(Self::from_key(key))
    }

    fn load(path: &Path) -> Result<Self, FingerprintKeyError> {
        let io_error = |action, source| FingerprintKeyError::Io {
            action,
            path: path.to_path_buf(),
            source,
        };

        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|source| io_error("open", source))?;
        let metadata = file
            .metadata()
            .map_err(|source| io_error("inspect", source))?;

        if !metadata.is_file() {
            return Err(FingerprintKeyError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let mode = metadata.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(FingerprintKeyError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        if metadata.size() != KEY_LEN as u64 {
            return Err(FingerprintKeyError::Size {
                path: path.to_path_buf(),
                size: metadata.size(),
            });
        }

        let mut key = [0u8; KEY_LEN];
        file.read_exact(&mut key)
            .map_err(|source| io_error("read", source))?;
        Ok(Self::from_key(key))
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// A keyed fingerprint: the first 16 bytes of a value's HMAC-SHA256.
///
/// Kept as bytes, so a finding's fingerprints need no allocation each. It
/// reads as 32 lowercase hex digits in JSON and on the command line, and is
/// stored as 16 raw bytes in binary formats.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; FINGERPRINT_BYTES]);

impl Fingerprint {
    fn write_hex(&self, hex: &mut [u8; FINGERPRINT_BYTES * 2]) {
        for (index, byte) in self.0.iter().enumerate() {
            hex[2 * index] = HEX_DIGITS[usize::from(byte >> 4)];
            hex[2 * index + 1] = HEX_DIGITS[usize::from(byte & 0x0f)];
        }
    }

    /// Parses 32 hex digits, in either case.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != FINGERPRINT_BYTES * 2 {
            return None;
        }
        let mut bytes = [0u8; FINGERPRINT_BYTES];
        for (index, pair) in hex.as_bytes().chunks_exact(2).enumerate() {
            let digit = |byte: u8| char::from(byte).to_digit(16);
            bytes[index] = (digit(pair[0])? << 4 | digit(pair[1])?) as u8;
        }
        Some(Self(bytes))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = [0u8; FINGERPRINT_BYTES * 2];
        self.write_hex(&mut hex);
        // Every byte written is an ASCII hex digit.
        formatter.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Fingerprint({self})")
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let mut hex = [0u8; FINGERPRINT_BYTES * 2];
            self.write_hex(&mut hex);
            serializer.serialize_str(std::str::from_utf8(&hex).map_err(S::Error::custom)?)
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FingerprintVisitor;

        impl Visitor<'_> for FingerprintVisitor {
            type Value = Fingerprint;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    formatter,
                    "{} hex digits or {FINGERPRINT_BYTES} bytes",
                    FINGERPRINT_BYTES * 2
                )
            }

            fn visit_str<E: de::Error>(self, hex: &str) -> Result<Fingerprint, E> {
                Fingerprint::from_hex(hex)
                    .ok_or_else(|| E::invalid_value(Unexpected::Str(hex), &self))
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Fingerprint, E> {
                let bytes = bytes
                    .try_into()
                    .map_err(|_| E::invalid_length(bytes.len(), &self))?;
                Ok(Fingerprint(bytes))
            }
        }

        if deserializer.is_human_readable() {
            deserializer.deserialize_str(FingerprintVisitor)
        } else {
            deserializer.deserialize_bytes(FingerprintVisitor)
        }
    }
}
