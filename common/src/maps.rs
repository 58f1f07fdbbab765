//! Map names, map value types and the sensor's runtime configuration.

/// Ring buffer of [`crate::event`] records.
pub const EVENTS_MAP: &str = "EVENTS";
/// Per-CPU `u64` counters indexed by [`crate::Counter`].
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Single-slot array holding the [`SensorConfig`].
pub const CONFIG_MAP: &str = "CONFIG";
/// Hash of process ids to capture when [`SensorConfig::pid_filter`] is set.
pub const PID_FILTER_MAP: &str = "PID_FILTER";
/// LRU hash of [`crate::FlowKey`] to a flow verdict (`FLOW_CAPTURE`,
/// `FLOW_IGNORE`).
pub const FLOWS_MAP: &str = "FLOWS";

/// Runtime settings the daemon writes before it attaches any program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SensorConfig {
    /// Non-zero: capture only processes listed in `PID_FILTER`.
    pub pid_filter: u32,
    /// Process id of the daemon itself, never captured.
    pub daemon_pid: u32,
    /// Payload bytes sent per TLS call at most; the rest is counted as
    /// truncated. Clamped by the kernel side to
    /// `MAX_CHUNKS_PER_CALL * MAX_CHUNK_DATA`.
    pub max_call_bytes: u32,
    /// Unconsumed ring-buffer bytes above which a record wakes the consumer;
    /// below it records are sent without a wakeup and the daemon polls.
    pub wakeup_threshold: u32,
    /// Payload bytes sent per TCP packet at most; the rest is reported as
    /// a gap. Clamped like `max_call_bytes`.
    pub max_packet_bytes: u32,
    /// Where to find a socket's addresses from a file descriptor.
    pub offsets: KernelOffsets,
}

/// Byte offsets of the kernel struct fields the sensor follows from the
/// current task to a socket's addresses. They differ between kernel builds,
/// so the daemon reads them from the running kernel's BTF at start.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelOffsets {
    /// Non-zero when every offset below was found; else the sensor sends no
    /// socket records and the daemon falls back to `/proc`.
    pub valid: u32,
    /// `task_struct.files`
    pub task_files: u32,
    /// `files_struct.fdt`
    pub files_fdt: u32,
    /// `fdtable.fd`
    pub fdtable_fd: u32,
    /// `file.private_data`
    pub file_private_data: u32,
    /// `file.f_inode`
    pub file_inode: u32,
    /// `inode.i_mode`
    pub inode_mode: u32,
    /// `socket.sk`
    pub socket_sk: u32,
    /// `sock_common.skc_daddr`
    pub sock_daddr: u32,
    /// `sock_common.skc_rcv_saddr`
    pub sock_rcv_saddr: u32,
    /// `sock_common.skc_dport`
    pub sock_dport: u32,
    /// `sock_common.skc_num`
    pub sock_num: u32,
    /// `sock_common.skc_family`
    pub sock_family: u32,
    /// `sock_common.skc_v6_daddr`
    pub sock_v6_daddr: u32,
    /// `sock_common.skc_v6_rcv_saddr`
    pub sock_v6_rcv_saddr: u32,
    /// `sock.sk_protocol`
    pub sock_protocol: u32,
    /// `tcp_sock.bytes_received`
    pub tcp_bytes_received: u32,
    /// `tcp_sock.bytes_acked`
    pub tcp_bytes_acked: u32,
}

/// Key of the map that remembers which socket a TLS session uses.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SessionKey {
    pub pid: u32,
    pub reserved: u32,
    pub ssl: u64,
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: #[repr(C)] structs of integers with no padding, so every bit
    // pattern is a valid value.
    unsafe impl aya::Pod for super::SensorConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SessionKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for crate::FlowKey {}
}
