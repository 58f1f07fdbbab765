//! Indexes into the per-CPU counter array the eBPF programs increment.
//!
//! The kernel side cannot use atomics on `bpfel-unknown-none`, so each CPU
//! has its own slot and the daemon sums them.

/// One counter of the `COUNTERS` per-CPU array. Values are stable.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// TLS read and write calls that moved plaintext.
    TlsCalls = 0,
    /// Records of every kind written to the ring buffer.
    RecordsSent = 1,
    /// Records lost because the ring buffer was full.
    RingbufDrops = 2,
    /// Calls whose bytes exceeded the per-call cap.
    TruncatedCalls = 3,
    /// Bytes not sent because of the per-call cap.
    TruncatedBytes = 4,
    /// Payload reads from user memory that failed (page not resident, or a
    /// bad pointer); the chunk is dropped.
    ReadFaults = 5,
    /// Calls that returned with no entry record, because the probe was
    /// attached mid-call or the entry map was full.
    UnmatchedReturns = 6,
    /// Session-end records written.
    SessionEnds = 7,
    /// TCP payload records written.
    SegmentsSent = 8,
    /// TCP payload bytes of flows the daemon marked as ignored.
    IgnoredBytes = 9,
    /// TCP payload bytes not sent because of the per-packet cap.
    TruncatedSegmentBytes = 10,
    /// Packets the socket hooks could not parse (IP options, fragments).
    UnparsedPackets = 11,
    /// TCP state records written.
    StateChanges = 12,
}

/// Number of slots in the counter array.
pub const COUNTER_COUNT: u32 = 13;

impl Counter {
    /// Every counter, in index order, for the daemon's report.
    pub const ALL: [Counter; COUNTER_COUNT as usize] = [
        Counter::TlsCalls,
        Counter::RecordsSent,
        Counter::RingbufDrops,
        Counter::TruncatedCalls,
        Counter::TruncatedBytes,
        Counter::ReadFaults,
        Counter::UnmatchedReturns,
        Counter::SessionEnds,
        Counter::SegmentsSent,
        Counter::IgnoredBytes,
        Counter::TruncatedSegmentBytes,
        Counter::UnparsedPackets,
        Counter::StateChanges,
    ];

    /// Stable snake_case name used by the daemon's API and the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::TlsCalls => "tls_calls",
            Counter::RecordsSent => "records_sent",
            Counter::RingbufDrops => "ringbuf_drops",
            Counter::TruncatedCalls => "truncated_calls",
            Counter::TruncatedBytes => "truncated_bytes",
            Counter::ReadFaults => "read_faults",
            Counter::UnmatchedReturns => "unmatched_returns",
            Counter::SessionEnds => "session_ends",
            Counter::SegmentsSent => "segments_sent",
            Counter::IgnoredBytes => "ignored_bytes",
            Counter::TruncatedSegmentBytes => "truncated_segment_bytes",
            Counter::UnparsedPackets => "unparsed_packets",
            Counter::StateChanges => "state_changes",
        }
    }
}
