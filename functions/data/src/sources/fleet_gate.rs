//! Politeness across the fleet: arXiv asks for one request every 3 s from us as a whole, and N
//! containers each keeping their own interval would call it N times as often. A gated call
//! first reserves a slot in the table's gate item (`Store::reserve_gate_slot`), then waits for it.
//!
//! Owns `FleetGate` (the store, the upstream's gate name and the `nextSlot` last seen, so the
//! usual reservation is one conditional write without a read) and what its outcome means for a
//! source: a slot to start at, a `rate_limited` refusal when the slot would come after what is
//! left of the request's budget (a slot cannot be given back, so it is checked before it is
//! taken), or "unavailable": the gate item could not be used in time, the refusal is logged, and
//! the call goes by this container's own gate, as before the fleet gate existed. The
//! per-container gate stays in front in every case: it holds the back-offs an upstream orders and
//! the one-connection-at-a-time rule.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use harmonic_shared::clock::SystemClock;
use harmonic_shared::store::{GateRequest, GateReservation, Store, StoreError, GATE_ATTEMPTS};
use tokio::time::Instant;

use super::upstream::{interval_text, lock};
use super::SourceError;
use crate::model::SourceKind;

/// How much longer than the upstream's interval each slot is held, and how late its holder
/// may start in it. The holder starts its call only after the reservation's round trip (and
/// its own scheduling); without this, the next holder could start that much less than one
/// interval after it. 100 ms covers what three containers on one loaded test thread measured
/// (about 55 ms), and costs arXiv's 3 s interval 3 %.
pub(super) const SLOT_ALLOWANCE: Duration = Duration::from_millis(100);

/// Reservations made for one call: a slot that came back after its allowance (slow table) is
/// left unused and the next one taken, once; a second late one is used.
const RESERVATIONS_PER_CALL: u32 = 2;

/// What the fleet's gate decided for one call.
#[derive(Debug)]
pub(super) enum FleetSlot {
    /// The slot is ours: start the call at this instant.
    StartAt(Instant),
    /// No slot within this request's budget: the source fails `rate_limited` without calling.
    Refused(SourceError),
    /// The gate item could not be used (logged): go by this container's gate alone.
    Unavailable,
}

/// One upstream's fleet-wide gate.
pub(super) struct FleetGate {
    store: Store,
    upstream: &'static str,
    /// The `nextSlot` last seen; it only grows, so the latest value seen is kept.
    last_seen: Mutex<Option<DateTime<Utc>>>,
}

impl FleetGate {
    pub(super) fn new(store: Store, upstream: &'static str) -> Self {
        Self {
            store,
            upstream,
            last_seen: Mutex::new(None),
        }
    }

    /// Reserves a slot no later than `latest_start`, spaced `interval` from the others,
    /// giving up on the table after `timeout`.
    pub(super) async fn reserve(
        &self,
        kind: SourceKind,
        interval: Duration,
        latest_start: Instant,
        timeout: Duration,
    ) -> FleetSlot {
        // Boxed: the SDK's futures are deeply nested types, and every gated upstream call's
        // future would nest this one (past the compiler's layout depth limit in bigger callers).
        let reserving = Box::pin(self.reserve_in_time(kind, interval, wall_clock(latest_start)));
        let reservation = match tokio::time::timeout(timeout, reserving).await {
            Ok(Ok(reservation)) => reservation,
            Ok(Err(error)) => {
                tracing::warn!(source = %kind, gate = self.upstream, error = %error, "fleet politeness gate unusable; going by this container's gate");
                return FleetSlot::Unavailable;
            }
            Err(_) => {
                tracing::warn!(source = %kind, gate = self.upstream, timeout_ms = timeout.as_millis() as u64, "fleet politeness gate did not answer in time; going by this container's gate");
                return FleetSlot::Unavailable;
            }
        };
        match reservation {
            GateReservation::Reserved { start, .. } => FleetSlot::StartAt(monotonic(start)),
            GateReservation::TooLate { next_free, .. } => {
                let wait = (next_free - Utc::now()).to_std().unwrap_or_default();
                tracing::info!(source = %kind, wait_ms = wait.as_millis() as u64, "next fleet slot beyond the request's budget; not reserved");
                FleetSlot::Refused(SourceError::RateLimited(format!(
                    "{} allows one request every {} for the whole service; the next free slot is {} ms away, beyond this request's time budget; try again shortly",
                    kind.display_name(),
                    interval_text(interval),
                    wait.as_millis()
                )))
            }
            GateReservation::Contended { .. } => {
                tracing::info!(source = %kind, attempts = GATE_ATTEMPTS, "fleet slots taken by others on every attempt");
                FleetSlot::Refused(SourceError::RateLimited(format!(
                    "{} is in demand across the service right now (one request every {}); try again shortly",
                    kind.display_name(),
                    interval_text(interval)
                )))
            }
        }
    }

    /// A reservation whose slot is still usable when it comes back (see [`SLOT_ALLOWANCE`]).
    async fn reserve_in_time(
        &self,
        kind: SourceKind,
        interval: Duration,
        latest_start: DateTime<Utc>,
    ) -> Result<GateReservation, StoreError> {
        let mut reservation = self.reserve_once(interval, latest_start).await?;
        for _ in 1..RESERVATIONS_PER_CALL {
            let GateReservation::Reserved { start, .. } = reservation else {
                break;
            };
            let late = (Utc::now() - start).to_std().unwrap_or_default();
            if late <= SLOT_ALLOWANCE {
                break;
            }
            tracing::info!(source = %kind, late_ms = late.as_millis() as u64, "fleet slot came back after its allowance; taking the next one");
            reservation = self.reserve_once(interval, latest_start).await?;
        }
        Ok(reservation)
    }

    async fn reserve_once(
        &self,
        interval: Duration,
        latest_start: DateTime<Utc>,
    ) -> Result<GateReservation, StoreError> {
        let request = GateRequest {
            upstream: self.upstream,
            spacing: interval + SLOT_ALLOWANCE,
            latest_start,
            assumed_next_slot: *lock(&self.last_seen),
        };
        let reservation = self.store.reserve_gate_slot(request, &SystemClock).await?;
        self.remember(reservation.next_slot());
        Ok(reservation)
    }

    fn remember(&self, seen: Option<DateTime<Utc>>) {
        let mut last_seen = lock(&self.last_seen);
        if seen > *last_seen {
            *last_seen = seen;
        }
    }
}

/// The wall-clock time of a monotonic instant (the gate item is shared by machines, which
/// agree on wall-clock time only).
fn wall_clock(instant: Instant) -> DateTime<Utc> {
    let now = Instant::now();
    let wall = Utc::now();
    let offset = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    if instant >= now {
        wall.checked_add_signed(offset(instant - now))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    } else {
        wall.checked_sub_signed(offset(now - instant))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// The monotonic instant of a wall-clock time, for `sleep_until` (a time in the past is now).
fn monotonic(at: DateTime<Utc>) -> Instant {
    let now = Instant::now();
    match (at - Utc::now()).to_std() {
        Ok(ahead) => now.checked_add(ahead).unwrap_or(now),
        Err(_) => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_and_monotonic_instants_convert_both_ways() {
        let later = Instant::now() + Duration::from_secs(5);
        let there_and_back = monotonic(wall_clock(later));
        let drift = if there_and_back > later {
            there_and_back - later
        } else {
            later - there_and_back
        };
        assert!(drift < Duration::from_millis(50), "{drift:?}");
    }

    #[test]
    fn a_wall_clock_time_in_the_past_is_now() {
        let before = Instant::now();
        let at = monotonic(Utc::now() - chrono::Duration::seconds(10));
        assert!(at >= before && at <= Instant::now());
    }
}
