//! Counters of the user-space pipeline, published for `ztapi status`.
//!
//! The capture thread owns the live values and publishes a copy a few times
//! a second, so the API never contends with the hot path.

use std::{collections::VecDeque, sync::Mutex, time::Instant};

use serde::Serialize;

use crate::{flows::FlowCounters, sensitive::ClassificationCounters, streams::StreamCounters};

/// Everything the pipeline counts. Loss is never hidden: each way a byte or a
/// record can fail to become a transaction has a counter here or in the
/// kernel-side counters.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize)]
pub struct PipelineCounters {
    /// Ring-buffer records read.
    pub records: u64,
    /// Records that failed to decode.
    pub record_errors: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
    /// TLS calls whose payload was cut at the per-call cap.
    pub truncated_calls: u64,
    pub truncated_bytes: u64,
    pub transactions: u64,
    /// Transactions seen from both ends on this node and stored once.
    pub duplicates_merged: u64,
    pub store_errors: u64,
    pub retention_removed: u64,
    pub connections_open: u64,
    pub connections_opened: u64,
    pub connections_closed: u64,
    pub connections_evicted: u64,
    pub connections_expired: u64,
    pub unparsed_connections: u64,
    pub unparsed_bytes: u64,
    pub parse_errors: u64,
    pub parser_resyncs: u64,
    pub skipped_bytes: u64,
    pub unanswered_requests: u64,
    pub orphan_responses: u64,
    pub http2_frames: u64,
    pub http2_frame_errors: u64,
    pub http2_resyncs: u64,
    pub http2_skipped_bytes: u64,
    /// Header blocks that referenced table entries the parser never saw.
    pub http2_hpack_errors: u64,
    pub http2_partial_streams: u64,
    pub http2_reset_streams: u64,
    pub http2_evicted_streams: u64,
    /// Cleartext TCP flows tracked now.
    pub flows_open: u64,
    /// Cleartext flow table and reassembly counters.
    pub flows: FlowCounters,
    /// Sensitive-data scanning.
    #[serde(default)]
    pub classification: ClassificationCounters,
}

impl PipelineCounters {
    /// Copies the connection table's counters in.
    pub fn absorb(&mut self, streams: StreamCounters, open: usize) {
        self.connections_open = open as u64;
        self.connections_opened = streams.connections_opened;
        self.connections_closed = streams.connections_closed;
        self.connections_evicted = streams.connections_evicted;
        self.connections_expired = streams.connections_expired;
        self.unparsed_connections = streams.unparsed_connections;
        self.unparsed_bytes = streams.unparsed_bytes;
        self.parse_errors = streams.http1.parse_errors;
        self.parser_resyncs = streams.http1.resyncs;
        self.skipped_bytes = streams.http1.skipped_bytes;
        self.unanswered_requests = streams.http1.unanswered_requests;
        self.orphan_responses = streams.http1.orphan_responses;
        self.http2_frames = streams.http2.frames;
        self.http2_frame_errors = streams.http2.frame_errors;
        self.http2_resyncs = streams.http2.resyncs;
        self.http2_skipped_bytes = streams.http2.skipped_bytes;
        self.http2_hpack_errors = streams.http2.hpack_errors;
        self.http2_partial_streams = streams.http2.partial_streams;
        self.http2_reset_streams = streams.http2.reset_streams;
        self.http2_evicted_streams = streams.http2.evicted_streams;
    }
}

/// Window over which the event rate is averaged.
const RATE_WINDOW_SECONDS: f64 = 10.0;

/// The published counters and recent samples for rates.
pub struct PipelineStats {
    inner: Mutex<Published>,
}

struct Published {
    counters: PipelineCounters,
    samples: VecDeque<(Instant, u64)>,
}

impl Default for PipelineStats {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Published {
                counters: PipelineCounters::default(),
                samples: VecDeque::new(),
            }),
        }
    }
}

impl PipelineStats {
    pub fn publish(&self, counters: PipelineCounters) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        inner.samples.push_back((now, counters.records));
        while inner
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at).as_secs_f64() > RATE_WINDOW_SECONDS)
        {
            inner.samples.pop_front();
        }
        inner.counters = counters;
    }

    pub fn counters(&self) -> PipelineCounters {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .counters
    }

    /// Ring-buffer records per second over the last few seconds.
    pub fn events_per_second(&self) -> f64 {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match (inner.samples.front(), inner.samples.back()) {
            (Some((first_at, first)), Some((last_at, last))) if last_at > first_at => {
                (last - first) as f64 / last_at.duration_since(*first_at).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}
