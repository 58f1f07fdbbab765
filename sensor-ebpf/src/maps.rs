//! Maps shared by the sensor's programs, and the small helpers around them.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use common::{
    counters::COUNTER_COUNT,
    event::{ChunkScratch, SegmentScratch},
    maps::{SensorConfig, SessionKey},
    Counter, FlowKey,
};

/// Default ring buffer size; the daemon resizes it at load time.
const EVENTS_DEFAULT_BYTES: u32 = 8 * 1024 * 1024;

/// Threads inside a hooked TLS call at once, system-wide.
const MAX_ACTIVE_CALLS: u32 = 16_384;

/// TLS sessions whose socket is remembered; the least recently used go first.
const MAX_SESSIONS: u32 = 65_536;

/// Established TCP sockets whose flow key is remembered for their close.
const MAX_ESTABLISHED: u32 = 131_072;

/// TCP flows with a remembered verdict; the least recently used go first.
const MAX_FLOWS: u32 = 131_072;

/// Processes `--pid` can name.
const MAX_FILTERED_PIDS: u32 = 1024;

#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_DEFAULT_BYTES, 0);

#[map(name = "COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

#[map(name = "CONFIG")]
pub static CONFIG: Array<SensorConfig> = Array::with_max_entries(1, 0);

#[map(name = "PID_FILTER")]
pub static PID_FILTER: HashMap<u32, u8> = HashMap::with_max_entries(MAX_FILTERED_PIDS, 0);

/// The call in progress on each thread, keyed by `pid_tgid`: written at a
/// TLS function's entry, read by the syscall hook and at the return.
#[map(name = "ACTIVE_CALLS")]
pub static ACTIVE_CALLS: HashMap<u64, ActiveCall> = HashMap::with_max_entries(MAX_ACTIVE_CALLS, 0);

/// Socket fd last used by each TLS session. Needed because `SSL_read` often
/// returns bytes buffered by an earlier call and makes no syscall itself.
#[map(name = "SESSION_FDS")]
pub static SESSION_FDS: LruHashMap<SessionKey, i32> = LruHashMap::with_max_entries(MAX_SESSIONS, 0);

#[map(name = "SCRATCH")]
pub static SCRATCH: PerCpuArray<ChunkScratch> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "SEGMENT_SCRATCH")]
pub static SEGMENT_SCRATCH: PerCpuArray<SegmentScratch> = PerCpuArray::with_max_entries(1, 0);

/// Flow key of each established TCP socket, keyed by `struct sock` address:
/// by the time a socket reaches CLOSE, the kernel has already cleared one
/// of its ports, so the key is taken when it becomes ESTABLISHED.
#[map(name = "ESTABLISHED")]
pub static ESTABLISHED: LruHashMap<u64, EstablishedFlow> =
    LruHashMap::with_max_entries(MAX_ESTABLISHED, 0);

/// What [`ESTABLISHED`] remembers of a socket.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EstablishedFlow {
    pub flow: FlowKey,
    pub local_is_a: u32,
}

/// TCP flows seen, with the daemon's verdict (`FLOW_CAPTURE`, `FLOW_IGNORE`).
#[map(name = "FLOWS")]
pub static FLOWS: LruHashMap<FlowKey, u32> = LruHashMap::with_max_entries(MAX_FLOWS, 0);

/// Arguments of a TLS call saved at entry for its return probe.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ActiveCall {
    pub ssl: u64,
    /// Plaintext buffer passed to the call.
    pub buffer: u64,
    /// `size_t *` out-parameter of the `_ex` variants, else 0.
    pub length_out: u64,
    /// A `common::TlsCallKind` value.
    pub kind: u32,
    /// Socket fd seen in a syscall during this call, or -1.
    pub fd: i32,
}

/// Adds `value` to this CPU's slot of `counter`.
#[inline(always)]
pub fn count(counter: Counter, value: u64) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot, and eBPF programs are not preempted on the
        // CPU while they run, so no other writer touches it.
        unsafe { *slot += value };
    }
}

/// The daemon's settings, or defaults before it has written them.
#[inline(always)]
pub fn config() -> SensorConfig {
    CONFIG.get(0).copied().unwrap_or_default()
}

/// Whether process `pid` is captured under the current settings.
#[inline(always)]
pub fn is_captured(config: &SensorConfig, pid: u32) -> bool {
    if pid == config.daemon_pid {
        return false;
    }
    if config.pid_filter == 0 {
        return true;
    }
    PID_FILTER.get_ptr(pid).is_some()
}
