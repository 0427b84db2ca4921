//! Work after the response: the usage a request leaves (its event, the subject's day counters,
//! the month's admin totals) and other deferred puts, sent after the client has its answer.
//!
//! The request path only hands its record over ([`AfterResponse::record_usage`], no I/O): the
//! client waits for the meter's one conditional update and nothing else. After the response
//! (see [`lambda`]: an internal Lambda extension, the runtime's pattern for work after the
//! response) [`AfterResponse::flush`] sends everything queued as ONE BatchWriteItem (25 puts
//! per request; usually the event, one day item and one totals item: 3 puts, 1 request).
//!
//! Nothing is lost or counted twice:
//! - each record is added once, under a lock, to this container's absolute tallies
//!   ([`crate::store::DayTally`], [`crate::store::TotalsTally`]); the items written are those
//!   absolute values, so a put sent twice writes the same numbers;
//! - events are unique items (time + nonce): a resend rewrites the same item;
//! - what a flush could not write (storage down, throttled, unprocessed) stays queued, is logged
//!   and counted (`UsageFlushFailures`), and goes with the next flush: the next invocation of
//!   this container, or the idle flush below;
//! - flushes run one at a time, so an older snapshot of a tally is never written after a newer one.
//!
//! What stays in memory is bounded: tallies of past days are let go once written, and at most
//! [`MAX_QUEUED_PUTS`] puts wait for storage (beyond that the oldest events are dropped, logged
//! as errors: a storage outage longer than that many requests).
//!
//! Locally (`cargo lambda watch`) the emulator hands the extension invocation N's event only
//! when N+1 begins, so without another request the last one would wait; `USAGE_FLUSH_IDLE_MS`
//! (set by `make run` and the e2e suite, unset on Lambda, where a frozen sandbox would never
//! run it) flushes that long after the last record.
pub mod lambda;

use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

use crate::domain::{Period, Tier};
use crate::store::{event_item, DayTally, DeferredPut, Store, Subject, TotalsTally, UsageEvent};

/// Puts that may wait for storage before the oldest queued events are dropped.
pub const MAX_QUEUED_PUTS: usize = 20_000;
/// Tallies kept in memory before written ones are let go (a new tally of the same day starts
/// a new item).
const MAX_TALLIES: usize = 20_000;

/// One metered request's usage, handed over on the request path.
#[derive(Debug, Clone)]
pub struct UsageRecord {
    pub subject: Subject,
    /// `None` for demo callers.
    pub tier: Option<Tier>,
    pub event: UsageEvent,
    /// `false` when the request was refunded (it counts as `refunded`).
    pub billed: bool,
    pub at: DateTime<Utc>,
}

/// What one flush did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Puts written.
    pub written: usize,
    /// Puts left queued for the next flush.
    pub left: usize,
}

/// An item's primary key (pk, sk).
type ItemKey = (String, String);

/// Where a put of a flush came from, so that an unwritten one goes back to its place.
enum Origin {
    Event,
    Other,
    Day((String, NaiveDate)),
    Month(Period),
}

#[derive(Default)]
struct Queue {
    events: Vec<DeferredPut>,
    other: BTreeMap<ItemKey, DeferredPut>,
    days: BTreeMap<(String, NaiveDate), DayTally>,
    months: BTreeMap<Period, TotalsTally>,
    /// Tallies changed since their last write.
    dirty_days: BTreeSet<(String, NaiveDate)>,
    dirty_months: BTreeSet<Period>,
}

/// One per container: the queue of work after the response and its flush.
pub struct AfterResponse {
    store: Store,
    /// This container's id in its tally items' keys (random per container).
    container: String,
    retention_days: u32,
    serials: AtomicU64,
    queue: Mutex<Queue>,
    flushing: tokio::sync::Mutex<()>,
    idle_flush: Option<Duration>,
    recorded: Notify,
}

impl AfterResponse {
    pub fn new(store: Store, retention_days: u32, idle_flush: Option<Duration>) -> Self {
        Self {
            store,
            container: format!("{:016x}", rand::random::<u64>()),
            retention_days,
            serials: AtomicU64::new(1),
            queue: Mutex::default(),
            flushing: tokio::sync::Mutex::new(()),
            idle_flush,
            recorded: Notify::new(),
        }
    }

    /// This container's id as its tally items carry it.
    pub fn container(&self) -> &str {
        &self.container
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands a request's usage over: counted now (in memory), written by the next flush.
    pub fn record_usage(&self, record: UsageRecord) {
        let event = match event_item(
            &record.subject,
            &record.event,
            record.at,
            self.retention_days,
        ) {
            Ok(item) => DeferredPut::new(item),
            Err(error) => {
                tracing::error!(error = %error, "usage event does not encode; counted without its event");
                self.count(&record);
                return;
            }
        };
        self.count(&record);
        let mut queue = self.queue();
        queue.events.push(event);
        let overflow = queue.events.len().saturating_sub(MAX_QUEUED_PUTS);
        if overflow > 0 {
            queue.events.drain(..overflow);
            crate::ops_metrics::usage_events_dropped(overflow as u64);
            tracing::error!(
                dropped = overflow,
                "usage events dropped: storage has refused them for too long"
            );
        }
        drop(queue);
        self.recorded.notify_one();
    }

    /// Adds a record to this container's tallies (once: the caller holds no other copy).
    fn count(&self, record: &UsageRecord) {
        let day = record.at.date_naive();
        let period = Period::containing(record.at);
        let mut queue = self.queue();
        let day_key = (record.subject.usage_pk(), day);
        let serial = || self.serials.fetch_add(1, Ordering::Relaxed);
        queue
            .days
            .entry(day_key.clone())
            .or_insert_with(|| {
                DayTally::new(
                    &record.subject,
                    day,
                    &self.container,
                    serial(),
                    self.retention_days,
                )
            })
            .add(&record.event, record.billed);
        queue.dirty_days.insert(day_key);
        queue
            .months
            .entry(period)
            .or_insert_with(|| TotalsTally::new(period, &self.container, serial()))
            .add(record.tier, &record.event, record.billed);
        queue.dirty_months.insert(period);
    }

    /// Queues another put for after the response (e.g. a shared cache entry). A later put of
    /// the same item replaces an earlier one still queued.
    pub fn defer_put(&self, put: DeferredPut) {
        let Some(key) = put.key() else {
            tracing::error!("deferred put without a primary key; dropped");
            return;
        };
        self.queue().other.insert(key, put);
        self.recorded.notify_one();
    }

    /// Whether anything waits to be written.
    pub fn has_pending(&self) -> bool {
        let queue = self.queue();
        !(queue.events.is_empty()
            && queue.other.is_empty()
            && queue.dirty_days.is_empty()
            && queue.dirty_months.is_empty())
    }

    /// Writes everything queued: one BatchWriteItem per 25 puts. What could not be written
    /// stays queued for the next flush (logged). Never fails the caller.
    pub async fn flush(&self) -> FlushReport {
        let _one_at_a_time = self.flushing.lock().await;
        let batch = self.take_batch();
        if batch.is_empty() {
            return FlushReport::default();
        }
        let sent = batch.len();
        let mut origins: HashMap<ItemKey, Origin> = HashMap::with_capacity(sent);
        let mut items = Vec::with_capacity(sent);
        for (origin, put) in batch {
            if let Some(key) = put.key() {
                origins.insert(key, origin);
            }
            items.push(put.item);
        }
        let outcome = self.store.put_batch(items).await;
        let left = outcome.unwritten.len();
        if let Some(error) = &outcome.error {
            crate::ops_metrics::usage_flush_failure();
            tracing::warn!(error = %error, sent, left, "usage not written yet; retried with the next flush");
        }
        let unwritten = outcome
            .unwritten
            .into_iter()
            .map(DeferredPut::new)
            .filter_map(|put| {
                let origin = origins.remove(&put.key()?)?;
                Some((origin, put))
            });
        self.settle(unwritten.collect());
        FlushReport {
            written: sent - left,
            left,
        }
    }

    /// Takes the queued puts: events, other puts, and a snapshot of every changed tally.
    fn take_batch(&self) -> Vec<(Origin, DeferredPut)> {
        let mut queue = self.queue();
        let mut batch: Vec<(Origin, DeferredPut)> = std::mem::take(&mut queue.events)
            .into_iter()
            .map(|put| (Origin::Event, put))
            .collect();
        batch.extend(
            std::mem::take(&mut queue.other)
                .into_values()
                .map(|put| (Origin::Other, put)),
        );
        for key in std::mem::take(&mut queue.dirty_days) {
            if let Some(tally) = queue.days.get(&key) {
                let put = DeferredPut::new(tally.to_item());
                batch.push((Origin::Day(key), put));
            }
        }
        for period in std::mem::take(&mut queue.dirty_months) {
            if let Some(tally) = queue.months.get(&period) {
                let put = DeferredPut::new(tally.to_item());
                batch.push((Origin::Month(period), put));
            }
        }
        batch
    }

    /// After a flush: what was not written goes back to the queue (a tally is marked changed
    /// again, so that its next write carries its then current absolute counts); written
    /// tallies of past days and months are let go.
    fn settle(&self, unwritten: Vec<(Origin, DeferredPut)>) {
        let mut queue = self.queue();
        for (origin, put) in unwritten {
            match origin {
                Origin::Event => queue.events.push(put),
                Origin::Other => {
                    if let Some(key) = put.key() {
                        queue.other.entry(key).or_insert(put);
                    }
                }
                Origin::Day(key) => {
                    queue.dirty_days.insert(key);
                }
                Origin::Month(period) => {
                    queue.dirty_months.insert(period);
                }
            }
        }
        let now = Utc::now();
        let yesterday = (now - chrono::Duration::days(1)).date_naive();
        let this_month = Period::containing(now);
        let Queue {
            days,
            dirty_days,
            months,
            dirty_months,
            ..
        } = &mut *queue;
        let crowded = days.len() > MAX_TALLIES;
        days.retain(|key, _| dirty_days.contains(key) || (!crowded && key.1 >= yesterday));
        months.retain(|period, _| dirty_months.contains(period) || *period >= this_month);
    }

    /// Locally only (`USAGE_FLUSH_IDLE_MS`): flushes that long after the last record. Runs
    /// until the process ends.
    pub async fn flush_when_idle(self: Arc<Self>) {
        let Some(idle) = self.idle_flush else { return };
        loop {
            self.recorded.notified().await;
            tokio::time::sleep(idle).await;
            if self.has_pending() {
                self.flush().await;
            }
        }
    }

    /// The store this queue writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl std::fmt::Debug for AfterResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfterResponse")
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}
