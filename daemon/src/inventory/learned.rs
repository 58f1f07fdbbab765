//! The learned parameter rule: a path position whose literal values vary too
//! much to be fixed names becomes `{param}`.
//!
//! Templating alone keeps `/users/alice` and `/users/bob` apart, because
//! names have no shape that marks them as values. This rule counts values
//! over many requests: once one position under the same service, method and preceding
//! segments has carried more than [`PARAM_THRESHOLD`] distinct literals, every
//! later literal there becomes `{param}`, and the caller merges the endpoints
//! already counted under the old literals.
//!
//! Memory is bounded twice: a position stores at most [`PARAM_THRESHOLD`]
//! 8-byte value hashes, and at most [`position_capacity`] positions are kept,
//! evicting the least recently used.
//!
//! NOTE: an API with more than [`PARAM_THRESHOLD`] fixed names under one
//! prefix (`/api/users`, `/api/orders`, ...) is collapsed as well, because
//! distinct counts alone cannot tell many names from few values.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::fnv::{fnv1a, Fnv1a};
use super::recency::RecencyIndex;
use super::template::{is_placeholder, PARAM};

/// Number of distinct literals one position may carry and stay literal; the
/// next distinct value collapses it.
pub const PARAM_THRESHOLD: usize = 32;

/// Smallest number of positions tracked, whatever the endpoint limit.
const MIN_POSITION_CAPACITY: usize = 1024;

/// Returns how many positions to track for an inventory of `max_endpoints`:
/// four per endpoint, since each endpoint's template has a few literal
/// segments, and at least [`MIN_POSITION_CAPACITY`].
pub(super) fn position_capacity(max_endpoints: usize) -> usize {
    max_endpoints.saturating_mul(4).max(MIN_POSITION_CAPACITY)
}

/// Learned state of one position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum PositionState {
    /// FNV-1a hashes of the distinct literals seen so far, at most
    /// [`PARAM_THRESHOLD`] of them.
    Tracking(Vec<u64>),
    /// The position carries values, so its literals become `{param}`.
    Collapsed,
}

/// One tracked position and its place in the least-recently-used order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Position {
    state: PositionState,
    /// Tick of the position's last use; see [`RecencyIndex`].
    recency: u64,
}

/// Result of recording one literal at a position.
enum LiteralOutcome {
    Literal,
    Collapsed { newly: bool },
}

/// Learned positions, keyed by the FNV-1a hash of service, method and the
/// template segments before the position.
#[derive(Clone, Debug)]
pub(super) struct ParamRules {
    positions: HashMap<u64, Position>,
    recency: RecencyIndex<u64>,
    capacity: usize,
}

impl ParamRules {
    /// Creates rules that track at most `capacity` positions.
    pub(super) fn new(capacity: usize) -> Self {
        ParamRules {
            positions: HashMap::new(),
            recency: RecencyIndex::default(),
            capacity: capacity.max(1),
        }
    }

    /// Records the literal segments of one request and replaces those at
    /// collapsed positions with `{param}`, from the first segment to the last,
    /// so a collapse also changes the prefix of the positions after it.
    ///
    /// Returns the indexes of the positions that collapsed during this call.
    /// The caller must merge the endpoints whose templates carry a literal at
    /// such a position after the same prefix.
    pub(super) fn apply(
        &mut self,
        service: &str,
        method: &str,
        segments: &mut [String],
    ) -> Vec<usize> {
        let mut prefix = Fnv1a::new();
        prefix.write_part(service);
        prefix.write_part(method);
        let mut newly_collapsed = Vec::new();

        for (index, segment) in segments.iter_mut().enumerate() {
            if !is_placeholder(segment) {
                match self.record_literal(prefix.finish(), segment) {
                    LiteralOutcome::Literal => {}
                    LiteralOutcome::Collapsed { newly } => {
                        if newly {
                            newly_collapsed.push(index);
                        }
                        *segment = PARAM.to_string();
                    }
                }
            }
            prefix.write_part(segment);
        }
        newly_collapsed
    }

    /// Counts `literal` at the position `key`. The position collapses at its
    /// distinct value number [`PARAM_THRESHOLD`] + 1.
    fn record_literal(&mut self, key: u64, literal: &str) -> LiteralOutcome {
        let previous_tick = self.positions.get(&key).map(|position| position.recency);
        let tick = self.recency.touch(key, previous_tick);
        let is_new = previous_tick.is_none();
        let position = self.positions.entry(key).or_insert(Position {
            state: PositionState::Tracking(Vec::new()),
            recency: tick,
        });
        position.recency = tick;

        let value = fnv1a(literal.as_bytes());
        let outcome = match &mut position.state {
            PositionState::Collapsed => LiteralOutcome::Collapsed { newly: false },
            PositionState::Tracking(seen) if seen.contains(&value) => LiteralOutcome::Literal,
            PositionState::Tracking(seen) if seen.len() < PARAM_THRESHOLD => {
                seen.push(value);
                LiteralOutcome::Literal
            }
            PositionState::Tracking(_) => {
                position.state = PositionState::Collapsed;
                LiteralOutcome::Collapsed { newly: true }
            }
        };

        if is_new {
            self.evict_over_capacity();
        }
        outcome
    }

    fn evict_over_capacity(&mut self) {
        while self.positions.len() > self.capacity {
            let Some(oldest) = self.recency.pop_oldest() else {
                break;
            };
            self.positions.remove(&oldest);
        }
    }

    /// Returns the positions for a snapshot, least recently used first.
    pub(super) fn snapshot(&self) -> Vec<(u64, &Position)> {
        let mut entries: Vec<(u64, &Position)> = self
            .positions
            .iter()
            .map(|(&key, position)| (key, position))
            .collect();
        entries.sort_by_key(|(_, position)| position.recency);
        entries
    }

    /// Rebuilds rules from snapshot entries, keeping the most recently used
    /// `capacity` of them. Fails on a duplicate key or an over-full position.
    pub(super) fn from_snapshot(
        mut entries: Vec<(u64, Position)>,
        capacity: usize,
    ) -> Result<Self, String> {
        let mut rules = ParamRules::new(capacity);
        entries.sort_by_key(|(_, position)| position.recency);

        // Ticks are renumbered from zero in the stored order, so the restored
        // counter cannot collide with a stored tick.
        for (key, mut position) in entries {
            if let PositionState::Tracking(seen) = &position.state {
                if seen.len() > PARAM_THRESHOLD {
                    return Err(format!(
                        "learned position {key:016x} tracks {} values, more than the limit of {PARAM_THRESHOLD}",
                        seen.len()
                    ));
                }
            }
            if rules.positions.contains_key(&key) {
                return Err(format!("learned position {key:016x} appears twice"));
            }
            position.recency = rules.recency.touch(key, None);
            rules.positions.insert(key, position);
        }

        rules.evict_over_capacity();
        Ok(rules)
    }

    /// Number of positions tracked.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.positions.len()
    }
}
