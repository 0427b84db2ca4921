//! Fleet-wide politeness gates: one item per upstream whose terms limit us as a whole client
//! (arXiv: one request every 3 s), shared by every container, where a per-container gate would
//! let N containers call N times as often.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `GATE#<upstream>` | `GATE` | `nextSlot` (epoch ms: the earliest start of the next call) |
//!
//! A container reserves a slot with one optimistic conditional `UpdateItem`: it plans from the
//! `nextSlot` it assumes (the last value it saw, or none), takes `slot = max(now, nextSlot)` and
//! writes `nextSlot = slot + spacing` only if the item still holds the value it planned from.
//! Refused, it reads the item (a strongly consistent `GetItem`: dynalite ignores
//! `ReturnValuesOnConditionCheckFailure`, so the refusal itself never carries it) and plans
//! again, [`GATE_ATTEMPTS`] times at most. A slot later than the caller's latest start is
//! never reserved (a slot cannot be given back). `nextSlot` only grows, so a plan from an older
//! value is never too early: if it is already too late, the current value is later still.
//!
//! The item has no TTL: one small item per gated upstream, for good.
use chrono::{DateTime, Utc};
use std::time::Duration;

use super::schema::{gate_pk, item_key, Item, GATE_SK, NEXT_SLOT};
use super::{n, single_attempt, Store, StoreError};
use crate::clock::Clock;

/// Plans tried before giving up when other containers keep taking the slot just planned.
pub const GATE_ATTEMPTS: u32 = 5;

/// What a caller asks of a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateRequest<'a> {
    /// The gated upstream (`arxiv`): the item is `GATE#<upstream>`.
    pub upstream: &'a str,
    /// How long a slot is held: the next caller starts this long after this one.
    pub spacing: Duration,
    /// The latest start this caller can use (its deadline less the time the call needs).
    pub latest_start: DateTime<Utc>,
    /// The `nextSlot` the caller last saw, to plan the first attempt without a read.
    pub assumed_next_slot: Option<DateTime<Utc>>,
}

/// The outcome of [`Store::reserve_gate_slot`]. Each carries the `nextSlot` last seen, for the
/// caller's next first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateReservation {
    /// The slot is this caller's: start the call at `start`; `next_slot` is what the item holds.
    Reserved {
        start: DateTime<Utc>,
        next_slot: DateTime<Utc>,
    },
    /// The next free slot starts at `next_free`, after the caller's latest start: nothing reserved.
    TooLate {
        next_free: DateTime<Utc>,
        next_slot: Option<DateTime<Utc>>,
    },
    /// Other callers took the planned slot [`GATE_ATTEMPTS`] times in a row: nothing reserved.
    Contended { next_slot: Option<DateTime<Utc>> },
}

impl GateReservation {
    /// The `nextSlot` this reservation saw or wrote.
    pub fn next_slot(&self) -> Option<DateTime<Utc>> {
        match *self {
            GateReservation::Reserved { next_slot, .. } => Some(next_slot),
            GateReservation::TooLate { next_slot, .. }
            | GateReservation::Contended { next_slot } => next_slot,
        }
    }
}

/// One attempt's plan, in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotPlan {
    /// Write `next_slot` and start at `start`.
    Take { start: i64, next_slot: i64 },
    /// The first free slot, `start`, is after the latest start.
    TooLate { start: i64 },
}

/// The slot a caller at `now` gets when the gate holds `seen`: the later of the two, if it is
/// no later than `latest_start`, holding the gate for `spacing` from its start.
fn plan_slot(now: i64, seen: Option<i64>, spacing: i64, latest_start: i64) -> SlotPlan {
    let start = seen.map_or(now, |seen| seen.max(now));
    if start > latest_start {
        SlotPlan::TooLate { start }
    } else {
        SlotPlan::Take {
            start,
            next_slot: start.saturating_add(spacing),
        }
    }
}

fn from_millis(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| StoreError::Corrupt(format!("{NEXT_SLOT} {millis} is not a time")))
}

impl Store {
    /// Reserves the next slot of `request.upstream`'s gate, or says why not (see the module
    /// documentation). Storage errors are returned; the caller decides how to do without.
    pub async fn reserve_gate_slot(
        &self,
        request: GateRequest<'_>,
        clock: &dyn Clock,
    ) -> Result<GateReservation, StoreError> {
        let key = item_key(gate_pk(request.upstream), GATE_SK);
        let spacing = i64::try_from(request.spacing.as_millis()).unwrap_or(i64::MAX);
        let latest_start = request.latest_start.timestamp_millis();
        let mut seen = request.assumed_next_slot.map(|at| at.timestamp_millis());
        for _ in 0..GATE_ATTEMPTS {
            let now = clock.now().timestamp_millis();
            let (start, next_slot) = match plan_slot(now, seen, spacing, latest_start) {
                SlotPlan::TooLate { start } => {
                    return Ok(GateReservation::TooLate {
                        next_free: from_millis(start)?,
                        next_slot: seen.map(from_millis).transpose()?,
                    })
                }
                SlotPlan::Take { start, next_slot } => (start, next_slot),
            };
            let update = self
                .update(key.clone())
                .update_expression("SET #next = :next")
                .expression_attribute_names("#next", NEXT_SLOT)
                .expression_attribute_values(":next", n(next_slot));
            let update = match seen {
                None => update.condition_expression("attribute_not_exists(#next)"),
                Some(seen) => update
                    .condition_expression("attribute_not_exists(#next) OR #next = :seen")
                    .expression_attribute_values(":seen", n(seen)),
            };
            // One attempt: an SDK retry of a write that was applied would be refused by its own
            // condition and then plan a second slot.
            match update
                .customize()
                .config_override(single_attempt())
                .send()
                .await
                .map_err(StoreError::from)
            {
                Ok(_) => {
                    return Ok(GateReservation::Reserved {
                        start: from_millis(start)?,
                        next_slot: from_millis(next_slot)?,
                    })
                }
                Err(StoreError::ConditionFailed) => seen = self.gate_next_slot(&key).await?,
                Err(other) => return Err(other),
            }
        }
        Ok(GateReservation::Contended {
            next_slot: seen.map(from_millis).transpose()?,
        })
    }

    /// The gate's `nextSlot` (epoch ms), read strongly consistent; `None` while it has none.
    async fn gate_next_slot(&self, key: &Item) -> Result<Option<i64>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .projection_expression("#next")
            .expression_attribute_names("#next", NEXT_SLOT)
            .send()
            .await?;
        let Some(value) = output.item.as_ref().and_then(|item| item.get(NEXT_SLOT)) else {
            return Ok(None);
        };
        value
            .as_n()
            .ok()
            .and_then(|text| text.parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("{NEXT_SLOT} is not an integer")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACING: i64 = 3_000;

    #[test]
    fn a_free_gate_gives_the_slot_now() {
        assert_eq!(
            plan_slot(1_000, None, SPACING, 1_000),
            SlotPlan::Take {
                start: 1_000,
                next_slot: 4_000
            }
        );
    }

    #[test]
    fn a_slot_that_has_passed_starts_now_not_in_the_past() {
        assert_eq!(
            plan_slot(10_000, Some(2_000), SPACING, 10_500),
            SlotPlan::Take {
                start: 10_000,
                next_slot: 13_000
            }
        );
    }

    #[test]
    fn a_taken_gate_gives_its_next_slot_when_the_caller_can_wait_that_long() {
        assert_eq!(
            plan_slot(10_000, Some(11_200), SPACING, 11_200),
            SlotPlan::Take {
                start: 11_200,
                next_slot: 14_200
            },
            "a slot exactly at the latest start is still usable"
        );
    }

    #[test]
    fn a_slot_after_the_latest_start_is_not_taken() {
        assert_eq!(
            plan_slot(10_000, Some(11_201), SPACING, 11_200),
            SlotPlan::TooLate { start: 11_201 }
        );
    }

    #[test]
    fn slot_arithmetic_saturates_instead_of_overflowing() {
        assert_eq!(
            plan_slot(0, Some(i64::MAX - 1), SPACING, i64::MAX),
            SlotPlan::Take {
                start: i64::MAX - 1,
                next_slot: i64::MAX
            }
        );
    }

    #[test]
    fn every_outcome_reports_the_next_slot_it_saw() {
        let at = |millis| DateTime::from_timestamp_millis(millis).unwrap();
        let reserved = GateReservation::Reserved {
            start: at(1),
            next_slot: at(2),
        };
        let too_late = GateReservation::TooLate {
            next_free: at(5),
            next_slot: Some(at(5)),
        };
        assert_eq!(reserved.next_slot(), Some(at(2)));
        assert_eq!(too_late.next_slot(), Some(at(5)));
        assert_eq!(
            GateReservation::Contended { next_slot: None }.next_slot(),
            None
        );
    }
}
