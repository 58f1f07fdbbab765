//! Time the kernel spends running eBPF programs, from the kernel's own
//! per-program statistics (`BPF_ENABLE_STATS`), so a benchmark can tell the
//! programs' cost apart from the trap that runs them and from user space.

use std::{collections::BTreeMap, os::fd::OwnedFd, time::Duration};

use anyhow::Context as _;
use aya::{
    programs::loaded_programs,
    sys::{enable_stats, Stats},
};

/// Maximum length of a program name in the kernel (`BPF_OBJ_NAME_LEN` less
/// the NUL).
const KERNEL_NAME_LEN: usize = 15;

/// Program run-time statistics, on while this value lives. The kernel
/// counts only while some holder keeps them on, because counting costs two
/// clock reads per program run.
pub struct ProgramStats {
    _enabled: OwnedFd,
}

impl ProgramStats {
    pub fn enable() -> anyhow::Result<Self> {
        let enabled = enable_stats(Stats::RunTime).context(
            "cannot turn on eBPF run-time statistics (BPF_ENABLE_STATS needs Linux 5.8 and root)",
        )?;
        Ok(Self { _enabled: enabled })
    }

    /// Run time so far of each loaded program named in `names`, by name
    /// as the kernel keeps it (cut to 15 bytes).
    pub fn run_times(&self, names: &[&str]) -> anyhow::Result<BTreeMap<String, Duration>> {
        let mut times = BTreeMap::new();
        for program in loaded_programs() {
            let program = program.context("cannot read a loaded program's information")?;
            let Some(name) = program.name_as_str() else {
                continue;
            };
            if names
                .iter()
                .any(|wanted| &wanted[..wanted.len().min(KERNEL_NAME_LEN)] == name)
            {
                *times.entry(name.to_owned()).or_insert(Duration::ZERO) += program.run_time();
            }
        }
        Ok(times)
    }
}
