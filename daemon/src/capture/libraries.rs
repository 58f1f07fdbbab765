//! Discovery of TLS libraries mapped by running processes.
//!
//! Each scan reads `/proc/PID/maps` of every process (or of the `--pid`
//! list), keeps the mappings of OpenSSL's libssl, and identifies each file by
//! device and inode, so a library shared by many processes, or the same file
//! seen through several container roots, is hooked once. The path used for
//! attaching goes through `/proc/PID/root`, which reaches files inside a
//! container's mount namespace from the host.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Identity of a mapped file: the device and inode from `/proc/PID/maps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId {
    pub device_major: u32,
    pub device_minor: u32,
    pub inode: u64,
}

impl std::fmt::Display for FileId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{:02x}:{:02x}:{}",
            self.device_major, self.device_minor, self.inode
        )
    }
}

/// A TLS library found in a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundLibrary {
    pub id: FileId,
    /// Path as the process sees it, for display.
    pub path: String,
    /// Path the daemon can open: `/proc/PID/root` + `path`.
    pub attach_path: PathBuf,
    /// Processes mapping it in this scan.
    pub pids: BTreeSet<u32>,
}

/// Whether a mapped file is a TLS library the sensor can hook.
pub fn is_tls_library(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("libssl.so")
}

/// Parses one line of `/proc/PID/maps` into the device, inode and path of a
/// TLS library, or `None` for any other mapping.
pub fn parse_maps_line(line: &str) -> Option<(FileId, &str)> {
    // address perms offset dev inode pathname
    let mut fields = line.splitn(6, ' ');
    let _address = fields.next()?;
    let _perms = fields.next()?;
    let _offset = fields.next()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let device_major = u32::from_str_radix(major, 16).ok()?;
    let device_minor = u32::from_str_radix(minor, 16).ok()?;
    let inode: u64 = fields.next()?.parse().ok()?;
    let path = fields.next()?.trim_start();
    if inode == 0 || !path.starts_with('/') || path.ends_with(" (deleted)") || !is_tls_library(path)
    {
        return None;
    }
    Some((
        FileId {
            device_major,
            device_minor,
            inode,
        },
        path,
    ))
}

/// Scans `proc_root` (normally `/proc`) for processes mapping a TLS library.
/// With a non-empty `only_pids`, only those processes are read. Processes
/// that exit during the scan, or whose maps are unreadable, are skipped.
pub fn scan(proc_root: &Path, only_pids: &[u32]) -> Vec<FoundLibrary> {
    let pids: Vec<u32> = if only_pids.is_empty() {
        match fs::read_dir(proc_root) {
            Ok(entries) => entries
                .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        only_pids.to_vec()
    };

    let mut found: BTreeMap<FileId, FoundLibrary> = BTreeMap::new();
    for pid in pids {
        let Ok(maps) = fs::read_to_string(proc_root.join(pid.to_string()).join("maps")) else {
            continue;
        };
        for line in maps.lines() {
            let Some((id, path)) = parse_maps_line(line) else {
                continue;
            };
            let library = found.entry(id).or_insert_with(|| FoundLibrary {
                id,
                path: path.to_owned(),
                attach_path: proc_root
                    .join(pid.to_string())
                    .join("root")
                    .join(path.trim_start_matches('/')),
                pids: BTreeSet::new(),
            });
            library.pids.insert(pid);
        }
    }
    found.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_line_with_libssl_parsed() {
        let line = "7f1c2a400000-7f1c2a45d000 r--p 00000000 fd:01 1835157                    /usr/lib/x86_64-linux-gnu/libssl.so.3";
        let (id, path) = parse_maps_line(line).expect("libssl mapping must be recognised");
        assert_eq!(id.inode, 1_835_157);
        assert_eq!((id.device_major, id.device_minor), (0xfd, 0x01));
        assert_eq!(path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
    }

    #[test]
    fn other_mappings_ignored() {
        let lines = [
            "7f1c2a400000-7f1c2a45d000 r--p 00000000 fd:01 1835158 /usr/lib/x86_64-linux-gnu/libcrypto.so.3",
            "7ffd1c9e1000-7ffd1ca02000 rw-p 00000000 00:00 0                          [stack]",
            "7f1c2a400000-7f1c2a45d000 r--p 00000000 fd:01 1835157 /usr/lib/libssl.so.3 (deleted)",
            "garbage",
            "",
        ];
        for line in lines {
            assert!(parse_maps_line(line).is_none(), "must ignore {line:?}");
        }
    }

    #[test]
    fn scan_of_fake_proc_groups_pids_by_file() {
        let root = std::env::temp_dir().join(format!("ztapi-proc-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (pid, inode) in [(10, 5), (11, 5), (12, 6)] {
            let dir = root.join(pid.to_string());
            fs::create_dir_all(&dir).unwrap();
            let maps = format!("7f00-7f10 r-xp 00000000 08:02 {inode} /usr/lib/libssl.so.3\n");
            fs::write(dir.join("maps"), maps).unwrap();
        }
        fs::create_dir_all(root.join("self")).unwrap();

        let found = scan(&root, &[]);
        assert_eq!(found.len(), 2, "two distinct files: {found:?}");
        assert_eq!(found[0].pids, BTreeSet::from([10, 11]));
        assert_eq!(found[1].pids, BTreeSet::from([12]));
        let attach_path = &found[0].attach_path;
        let through_either = ["10", "11"]
            .iter()
            .any(|pid| *attach_path == root.join(pid).join("root/usr/lib/libssl.so.3"));
        assert!(
            through_either,
            "attach path goes through a mapping process's root: {attach_path:?}"
        );

        let only = scan(&root, &[12]);
        assert_eq!(only.len(), 1, "--pid limits the scan");
        fs::remove_dir_all(&root).unwrap();
    }
}
