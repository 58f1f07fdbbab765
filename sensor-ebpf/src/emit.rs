//! Record assembly: copies a TLS call's plaintext from the process into
//! per-CPU scratch space and sends it to the ring buffer in chunks.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{bpf_get_current_comm, bpf_ktime_get_ns, generated::bpf_probe_read_user},
};
use common::{
    event::{ChunkScratch, SessionEnd, MAX_CHUNKS_PER_CALL, MAX_CHUNK_DATA},
    maps::SensorConfig,
    ChunkHeader, Counter, Direction, EventKind, SessionSocket,
};

use crate::maps::{count, EVENTS, SCRATCH};

const HEADER_LEN: usize = core::mem::size_of::<ChunkHeader>();
const MAX_CALL_BYTES: u32 = MAX_CHUNKS_PER_CALL * MAX_CHUNK_DATA as u32;

/// A finished TLS call whose plaintext is to be sent.
pub struct Call {
    pub pid_tgid: u64,
    pub ssl: u64,
    pub fd: i32,
    pub direction: Direction,
    pub buffer: u64,
    pub length: u32,
}

/// Sends `call`'s bytes as up to `MAX_CHUNKS_PER_CALL` records and counts
/// what the per-call cap cuts off.
#[inline(always)]
pub fn send_call(config: &SensorConfig, call: &Call) {
    count(Counter::TlsCalls, 1);

    let mut cap = config.max_call_bytes;
    if cap == 0 || cap > MAX_CALL_BYTES {
        cap = MAX_CALL_BYTES;
    }
    let sent_len = if call.length > cap { cap } else { call.length };
    let truncated_len = call.length - sent_len;
    if truncated_len > 0 {
        count(Counter::TruncatedCalls, 1);
        count(Counter::TruncatedBytes, truncated_len as u64);
    }

    let Some(scratch) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: the per-CPU scratch slot belongs to this program run alone.
    let scratch: &mut ChunkScratch = unsafe { &mut *scratch };

    scratch.header = ChunkHeader {
        kind: EventKind::TlsChunk as u32,
        pid: (call.pid_tgid >> 32) as u32,
        tid: call.pid_tgid as u32,
        direction: call.direction as u32,
        // SAFETY: the helper has no preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        ssl: call.ssl,
        fd: call.fd,
        data_len: 0,
        call_offset: 0,
        call_len: call.length,
        truncated_len,
        comm: bpf_get_current_comm().unwrap_or_default(),
        reserved: 0,
    };

    for index in 0..MAX_CHUNKS_PER_CALL {
        let offset = index * MAX_CHUNK_DATA as u32;
        if offset >= sent_len {
            break;
        }
        let remaining = sent_len - offset;
        if remaining == 0 {
            break;
        }
        // The verifier needs a length it can prove is in 1..=MAX_CHUNK_DATA
        // for the read helper; MAX_CHUNK_DATA is a power of two.
        let chunk_len = ((remaining - 1) & (MAX_CHUNK_DATA as u32 - 1)) + 1;
        let chunk_len = if remaining > MAX_CHUNK_DATA as u32 {
            MAX_CHUNK_DATA as u32
        } else {
            chunk_len
        };

        // SAFETY: the destination is the scratch data array, at least
        // chunk_len bytes long; the source is a user pointer the helper
        // reads with fault handling.
        let read = unsafe {
            bpf_probe_read_user(
                scratch.data.as_mut_ptr().cast(),
                chunk_len,
                (call.buffer + offset as u64) as *const _,
            )
        };
        if read != 0 {
            count(Counter::ReadFaults, 1);
            return;
        }

        scratch.header.data_len = chunk_len;
        scratch.header.call_offset = offset;
        let record_len = HEADER_LEN + chunk_len as usize;
        // SAFETY: record_len is at most the size of ChunkScratch, which is
        // the header followed by the data array without padding.
        let record = unsafe {
            core::slice::from_raw_parts((scratch as *const ChunkScratch).cast::<u8>(), record_len)
        };
        output(config, record);
    }
}

/// Sends the end of a TLS session.
#[inline(always)]
pub fn send_session_end(config: &SensorConfig, pid: u32, ssl: u64) {
    let record = SessionEnd {
        kind: EventKind::TlsSessionEnd as u32,
        pid,
        // SAFETY: the helper has no preconditions.
        timestamp_ns: unsafe { bpf_ktime_get_ns() },
        ssl,
    };
    count(Counter::SessionEnds, 1);
    // SAFETY: SessionEnd is repr(C) without padding, so all its bytes are
    // initialised.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (&record as *const SessionEnd).cast::<u8>(),
            core::mem::size_of::<SessionEnd>(),
        )
    };
    output(config, bytes);
}

/// Sends the socket a TLS session uses.
#[inline(always)]
pub fn send_socket(config: &SensorConfig, record: &SessionSocket) {
    // SAFETY: SessionSocket is repr(C) without padding.
    let bytes = unsafe {
        core::slice::from_raw_parts(
            (record as *const SessionSocket).cast::<u8>(),
            core::mem::size_of::<SessionSocket>(),
        )
    };
    output(config, bytes);
}

/// Writes one record without waking the consumer, unless the unconsumed data
/// passed the configured threshold: a wakeup per record costs several
/// microseconds of `irq_work`, while the daemon polls on a short timer anyway.
#[inline(always)]
fn output(config: &SensorConfig, record: &[u8]) {
    let pending = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    let flags = if config.wakeup_threshold != 0 && pending >= config.wakeup_threshold as u64 {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    match EVENTS.output::<[u8]>(record, flags as u64) {
        Ok(()) => count(Counter::RecordsSent, 1),
        Err(_) => count(Counter::RingbufDrops, 1),
    }
}

/// Writes the first `len` bytes at `record`, which must point into a map
/// value or the stack and be at least `len` bytes long.
#[inline(always)]
pub fn output_record(config: &SensorConfig, record: *const u8, len: usize) {
    // SAFETY: the caller guarantees `len` readable bytes at `record`.
    let bytes = unsafe { core::slice::from_raw_parts(record, len) };
    output(config, bytes);
}
