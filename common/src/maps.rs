//! Map names, map value types and the sensor's runtime configuration.

/// Ring buffer of [`crate::event`] records.
pub const EVENTS_MAP: &str = "EVENTS";
/// Per-CPU `u64` counters indexed by [`crate::Counter`].
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Single-slot array holding the [`SensorConfig`].
pub const CONFIG_MAP: &str = "CONFIG";
/// Hash of process ids to capture when [`SensorConfig::pid_filter`] is set.
pub const PID_FILTER_MAP: &str = "PID_FILTER";

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
}
