//! The segment log: append-only files in the data directory that hold the
//! encoded segments, while sled keeps only where each one lies.
//!
//! sled keeps memory in proportion to the data it stores and rewrites tree
//! nodes on insert, so the bulk of the store stays out of it. A file takes
//! segments until it passes [`FILE_BYTES`]; the next segment starts a new
//! file, named after the first transaction id it contains. Retention deletes
//! whole files once none of their segments is listed any more, so the disk
//! keeps at most one file more than the retention limits require.

use std::{
    fs::{File, OpenOptions},
    io::{ErrorKind, Write as _},
    os::unix::fs::{FileExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
    sync::Mutex,
};

use anyhow::{bail, Context as _};

/// Size at which a segment file is closed and the next one started.
pub const FILE_BYTES: u64 = 32 * 1024 * 1024;

const SUFFIX: &str = ".seg";

/// The place of one segment: its file (named by the file's first transaction
/// id), the offset in that file and the length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: u64,
    pub offset: u64,
    pub length: u32,
}

/// Length of an encoded [`Location`], in bytes.
pub const LOCATION_BYTES: usize = 20;

impl Location {
    pub fn to_bytes(self) -> [u8; LOCATION_BYTES] {
        let mut bytes = [0u8; LOCATION_BYTES];
        bytes[..8].copy_from_slice(&self.file.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.offset.to_be_bytes());
        bytes[16..].copy_from_slice(&self.length.to_be_bytes());
        bytes
    }

    pub fn parse(bytes: &[u8]) -> anyhow::Result<Self> {
        if bytes.len() < LOCATION_BYTES {
            bail!(
                "segment location of {} bytes, {LOCATION_BYTES} expected",
                bytes.len()
            );
        }
        Ok(Self {
            file: u64::from_be_bytes(bytes[..8].try_into()?),
            offset: u64::from_be_bytes(bytes[8..16].try_into()?),
            length: u32::from_be_bytes(bytes[16..20].try_into()?),
        })
    }
}

/// The file segments are appended to now.
struct OpenFile {
    name: u64,
    file: File,
    length: u64,
}

pub struct SegmentLog {
    dir: PathBuf,
    current: Mutex<Option<OpenFile>>,
}

impl SegmentLog {
    /// Opens the log in `dir`, creating it with mode 0700. Writes go to a
    /// new file, so a file cut short by a crash is never appended to.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create segment directory {}", dir.display()))?;
        super::set_mode(dir, 0o700)?;
        Ok(Self {
            dir: dir.to_owned(),
            current: Mutex::new(None),
        })
    }

    fn path(&self, name: u64) -> PathBuf {
        self.dir.join(format!("{name:020}{SUFFIX}"))
    }

    /// Appends one encoded segment whose first transaction is `first_id`.
    pub fn append(&self, first_id: u64, bytes: &[u8]) -> anyhow::Result<Location> {
        let mut current = self.lock();
        if current
            .as_ref()
            .is_none_or(|open| open.length >= FILE_BYTES)
        {
            let path = self.path(first_id);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create segment file {}", path.display()))?;
            let length = file.metadata()?.len();
            *current = Some(OpenFile {
                name: first_id,
                file,
                length,
            });
        }
        let Some(open) = current.as_mut() else {
            unreachable!("a segment file was opened above");
        };

        let location = Location {
            file: open.name,
            offset: open.length,
            length: u32::try_from(bytes.len()).context("segment over 4 GiB")?,
        };
        if let Err(error) = open.file.write_all(bytes) {
            // The file's length is unknown after a partial write; the next
            // segment starts a new file rather than guess.
            let path = self.path(open.name);
            *current = None;
            return Err(error).with_context(|| format!("cannot write to {}", path.display()));
        }
        open.length += bytes.len() as u64;
        Ok(location)
    }

    /// Reads the segment at `location`, or `None` when retention deleted
    /// its file a moment ago.
    pub fn read(&self, location: Location) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self.path(location.file);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot open {}", path.display()))
            }
        };
        let mut bytes = vec![0u8; location.length as usize];
        file.read_exact_at(&mut bytes, location.offset)
            .with_context(|| {
                format!(
                    "segment at {}+{} in {} is cut short",
                    location.offset,
                    location.length,
                    path.display()
                )
            })?;
        Ok(Some(bytes))
    }

    /// Deletes every file named below `first_kept`, except the one being
    /// written. Returns how many went.
    pub fn remove_files_before(&self, first_kept: u64) -> anyhow::Result<usize> {
        let writing = self.lock().as_ref().map(|open| open.name);
        let mut removed = 0;
        for name in self.file_names()? {
            if name < first_kept && Some(name) != writing {
                let path = self.path(name);
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(error) if error.kind() == ErrorKind::NotFound => {}
                    Err(error) => {
                        return Err(error)
                            .with_context(|| format!("cannot delete {}", path.display()))
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Names of the segment files, in no particular order.
    pub fn file_names(&self) -> anyhow::Result<Vec<u64>> {
        let mut names = Vec::new();
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(stem) = file_name
                .to_str()
                .and_then(|name| name.strip_suffix(SUFFIX))
            else {
                continue;
            };
            if let Ok(name) = stem.parse() {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Bytes in the segment files.
    pub fn size_on_disk(&self) -> u64 {
        self.file_names()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|name| std::fs::metadata(self.path(name)).ok())
            .map(|metadata| metadata.len())
            .sum()
    }

    /// Writes the file being appended to through to the disk.
    pub fn sync(&self) -> anyhow::Result<()> {
        if let Some(open) = self.lock().as_ref() {
            open.file.sync_data()?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<OpenFile>> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
