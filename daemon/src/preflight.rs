//! Checks that run before anything is loaded, so a missing privilege or
//! kernel feature is reported by name instead of as a failed syscall.

use std::path::Path;

/// Capability numbers from include/uapi/linux/capability.h.
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Where the kernel exposes its own BTF.
pub const KERNEL_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// Parses the effective capability mask from `/proc/self/status` text.
pub fn effective_capabilities(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// Names of the capabilities the daemon needs and `mask` lacks.
/// Loading programs needs `CAP_BPF` and `CAP_PERFMON` (or `CAP_SYS_ADMIN` on
/// kernels before 5.8); reading other processes' maps and files under
/// `/proc/PID/root` needs `CAP_SYS_PTRACE` and `CAP_DAC_READ_SEARCH`;
/// attaching the cleartext socket hooks to a cgroup needs `CAP_NET_ADMIN`.
pub fn missing_capabilities(mask: u64, plaintext: bool) -> Vec<&'static str> {
    let has = |cap: u32| mask & (1 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_SYS_ADMIN) {
        if !has(CAP_BPF) {
            missing.push("CAP_BPF");
        }
        if !has(CAP_PERFMON) {
            missing.push("CAP_PERFMON");
        }
    }
    if !has(CAP_SYS_PTRACE) {
        missing.push("CAP_SYS_PTRACE");
    }
    if !has(CAP_DAC_READ_SEARCH) {
        missing.push("CAP_DAC_READ_SEARCH");
    }
    if plaintext && !has(CAP_NET_ADMIN) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    missing
}

/// Checks privileges and kernel support; the error says what to do.
pub fn check(plaintext: bool) -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|error| {
        anyhow::anyhow!("cannot read /proc/self/status: {error}; is /proc mounted?")
    })?;
    let mask = effective_capabilities(&status).unwrap_or(0);
    let missing = missing_capabilities(mask, plaintext);
    if !missing.is_empty() {
        anyhow::bail!(
            "ztapid lacks capabilities {}; run it as root, or grant them (for example \
             securityContext.capabilities.add in Kubernetes)",
            missing.join(", ")
        );
    }

    if !Path::new(KERNEL_BTF_PATH).exists() {
        anyhow::bail!(
            "kernel BTF not found at {KERNEL_BTF_PATH}: ztapid reads socket field offsets from it; \
             use a kernel built with CONFIG_DEBUG_INFO_BTF=y"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_mask_lacks_nothing() {
        assert!(missing_capabilities(0x1ff_ffff_ffff, true).is_empty());
    }

    #[test]
    fn empty_mask_names_each_capability() {
        assert_eq!(
            missing_capabilities(0, true),
            vec![
                "CAP_BPF",
                "CAP_PERFMON",
                "CAP_SYS_PTRACE",
                "CAP_DAC_READ_SEARCH",
                "CAP_NET_ADMIN"
            ]
        );
    }

    #[test]
    fn sys_admin_replaces_bpf_and_perfmon() {
        let mask = 1 << CAP_SYS_ADMIN | 1 << CAP_SYS_PTRACE | 1 << CAP_DAC_READ_SEARCH;
        assert!(missing_capabilities(mask, true).is_empty());
        assert_eq!(
            missing_capabilities(
                1 << CAP_SYS_PTRACE | 1 << CAP_DAC_READ_SEARCH | 1 << CAP_BPF | 1 << CAP_PERFMON,
                true
            ),
            vec!["CAP_NET_ADMIN"]
        );
        assert!(missing_capabilities(
            1 << CAP_SYS_PTRACE | 1 << CAP_DAC_READ_SEARCH | 1 << CAP_BPF | 1 << CAP_PERFMON,
            false
        )
        .is_empty());
    }

    #[test]
    fn capability_line_parsed() {
        let status = "Name:\tztapid\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_capabilities(status), Some(0x1ff_ffff_ffff));
        assert_eq!(effective_capabilities("Name: x\n"), None);
    }
}
