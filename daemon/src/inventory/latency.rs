//! Latency histogram with log-linear buckets: fixed memory per endpoint,
//! mergeable, serialisable, and percentiles within about 1.6 % of the exact
//! value.
//!
//! Values below 32 get one bucket each. Above, every power-of-two range
//! `[2^k, 2^(k+1))` is split into 32 equal buckets, so a bucket's width is at
//! most 1/32 of its lower bound. A percentile is reported as its bucket's
//! midpoint, which is at most half a width, 1/64 or about 1.6 %, from any value
//! in the bucket. This is the layout HdrHistogram uses, with 5 sub-bucket bits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Number of bits of each value kept below its leading one bit.
const SUB_BUCKET_BITS: u32 = 5;

/// Buckets per power-of-two range, and the count of exact low buckets.
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;

/// Number of buckets needed to cover every `u64`: the exact low range, plus
/// one group of 32 for each power of two from 2^5 to 2^63.
pub const BUCKET_COUNT: usize = ((64 - SUB_BUCKET_BITS + 1) as usize) << SUB_BUCKET_BITS;

/// Histogram of latencies in microseconds (any `u64` unit works).
///
/// Only non-empty buckets are stored, because one endpoint's latencies
/// usually fall in a few dozen of the 1 920 buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HistogramFields")]
pub struct LatencyHistogram {
    count: u64,
    min: u64,
    max: u64,
    /// Count per bucket index, non-zero counts only.
    buckets: BTreeMap<u16, u64>,
}

/// The serialised fields of [`LatencyHistogram`], checked before use so a
/// corrupt snapshot cannot produce a histogram that misreports or panics.
#[derive(Deserialize)]
struct HistogramFields {
    count: u64,
    min: u64,
    max: u64,
    buckets: BTreeMap<u16, u64>,
}

impl TryFrom<HistogramFields> for LatencyHistogram {
    type Error = String;

    fn try_from(fields: HistogramFields) -> Result<Self, Self::Error> {
        let mut total: u64 = 0;
        for (&index, &count) in &fields.buckets {
            if usize::from(index) >= BUCKET_COUNT {
                return Err(format!(
                    "histogram bucket {index} is out of range 0..{BUCKET_COUNT}"
                ));
            }
            if count == 0 {
                return Err(format!("histogram bucket {index} has a count of 0"));
            }
            total = total
                .checked_add(count)
                .ok_or("histogram bucket counts overflow u64")?;
        }
        if total != fields.count {
            return Err(format!(
                "histogram count {} does not match its bucket total {total}",
                fields.count
            ));
        }

        let first = fields.buckets.keys().next().copied();
        let last = fields.buckets.keys().next_back().copied();
        if total > 0
            && (fields.min > fields.max
                || first != Some(bucket_index(fields.min))
                || last != Some(bucket_index(fields.max)))
        {
            return Err(format!(
                "histogram min {} and max {} do not match its buckets",
                fields.min, fields.max
            ));
        }

        Ok(LatencyHistogram {
            count: fields.count,
            min: fields.min,
            max: fields.max,
            buckets: fields.buckets,
        })
    }
}

impl LatencyHistogram {
    /// Creates an empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value.
    pub fn record(&mut self, value: u64) {
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count = self.count.saturating_add(1);

        let bucket = self.buckets.entry(bucket_index(value)).or_insert(0);
        *bucket = bucket.saturating_add(1);
    }

    /// Adds every value of `other` to this histogram.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            self.min = other.min;
            self.max = other.max;
        } else {
            self.min = self.min.min(other.min);
            self.max = self.max.max(other.max);
        }
        self.count = self.count.saturating_add(other.count);

        for (&index, &count) in &other.buckets {
            let bucket = self.buckets.entry(index).or_insert(0);
            *bucket = bucket.saturating_add(count);
        }
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Smallest value recorded, exact.
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest value recorded, exact.
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// Returns the value at `quantile` (0.0 to 1.0, so 0.99 for p99) by the
    /// nearest-rank method, or `None` when the histogram is empty.
    ///
    /// The first and last rank give the exact min and max. Other ranks give
    /// the midpoint of the bucket holding them, clamped to the min and max,
    /// which is within 1/64 of the exact value. A
    /// quantile outside 0.0 to 1.0, or NaN, is clamped into that range.
    pub fn percentile(&self, quantile: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }

        let quantile = if quantile.is_nan() {
            0.0
        } else {
            quantile.clamp(0.0, 1.0)
        };
        // The float cast saturates, and ranks beyond 2^53 lose precision,
        // which is far below the bucket resolution.
        let rank = ((quantile * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == 1 {
            return Some(self.min);
        }
        if rank == self.count {
            return Some(self.max);
        }

        let mut seen: u64 = 0;
        for (&index, &count) in &self.buckets {
            seen = seen.saturating_add(count);
            if seen >= rank {
                return Some(bucket_midpoint(index).clamp(self.min, self.max));
            }
        }
        // Unreachable while the bucket counts sum to `count`, which
        // deserialisation checks and `record` and `merge` keep.
        Some(self.max)
    }
}

/// Returns the index of the bucket that contains `value`.
fn bucket_index(value: u64) -> u16 {
    if value < SUB_BUCKETS {
        return value as u16;
    }
    // `value >= 32`, so its leading one bit is at position 5 or higher.
    let magnitude = 63 - value.leading_zeros();
    let shift = magnitude - SUB_BUCKET_BITS;
    let sub_bucket = (value >> shift) - SUB_BUCKETS;
    let group = u64::from(shift) + 1;
    ((group << SUB_BUCKET_BITS) | sub_bucket) as u16
}

/// Returns the middle of the values that bucket `index` holds.
fn bucket_midpoint(index: u16) -> u64 {
    let index = u64::from(index);
    if index < SUB_BUCKETS {
        return index;
    }
    let shift = (index >> SUB_BUCKET_BITS) - 1;
    let sub_bucket = index & (SUB_BUCKETS - 1);
    let lower = (SUB_BUCKETS + sub_bucket) << shift;
    let width = 1u64 << shift;
    lower + (width - 1) / 2
}
