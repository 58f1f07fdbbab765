//! Probes that do nothing, for `cargo xtask bench`: attached to the same
//! libssl functions as the sensor, they measure the cost of the uprobe and
//! uretprobe traps alone, which no capture can avoid. The daemon never
//! loads them.

use aya_ebpf::{
    macros::{uprobe, uretprobe},
    programs::{ProbeContext, RetProbeContext},
};

/// Entry probe that returns at once.
#[uprobe]
pub fn bench_noop_entry(_ctx: ProbeContext) -> u32 {
    0
}

/// Return probe that returns at once.
#[uretprobe]
pub fn bench_noop_return(_ctx: RetProbeContext) -> u32 {
    0
}
