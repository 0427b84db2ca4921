//! A container's own running counts, written whole after the response.
//!
//! Counting with `ADD` needs one UpdateItem per counter item, and an `ADD` resent after a lost
//! answer counts twice. Instead each container keeps, in memory, the absolute counts of what it
//! served: per subject and day ([`DayTally`], item `USAGE#<subject>` / `DAY#<date>#C#<container>#<serial>`)
//! and per month for the admin totals ([`TotalsTally`], item `STATS#USAGE#<month>#<shard>` /
//! `C#<container>#<serial>`). Both are plain puts of absolute values: they travel in one
//! BatchWriteItem with the request's event, and a resend writes the same numbers again. Readers
//! sum the items of a day or a month (see [`super::usage`]).
//!
//! The encoding of the counter names is [`super::counters`]'s; this module only adds events up
//! and lays the sums out as items.
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, NaiveDate, Utc};

use super::counters::{self, DailyCounters, UsageStats, ERRORS, REFUNDED, REQUESTS, TOTAL_MS};
use super::n;
use super::schema::{self, item_key, Item};
use super::usage::{Subject, UsageEvent};
use crate::domain::{Period, Tier};

/// The admin totals are spread over this many partitions (`STATS#USAGE#<month>#<shard>`); each
/// container writes to one, chosen from its id.
pub const TOTALS_PARTITIONS: u32 = 16;

/// One subject's day as this container counted it.
#[derive(Debug, Clone, PartialEq)]
pub struct DayTally {
    pub(crate) pk: String,
    pub(crate) sk: String,
    pub(crate) counters: DailyCounters,
    /// Epoch seconds after which DynamoDB may delete the item.
    ttl: i64,
}

impl DayTally {
    /// An empty tally of `subject`'s `day`, owned by `container` (`serial` tells apart the tallies
    /// one container starts for the same day, e.g. after it let an earlier one go).
    pub(crate) fn new(
        subject: &Subject,
        day: NaiveDate,
        container: &str,
        serial: u64,
        retention_days: u32,
    ) -> Self {
        let end_of_day = day
            .succ_opt()
            .unwrap_or(day)
            .and_hms_opt(0, 0, 0)
            .map(|midnight| midnight.and_utc())
            .unwrap_or_else(Utc::now);
        Self {
            pk: subject.usage_pk(),
            sk: schema::container_day_sk(day, container, serial),
            counters: DailyCounters {
                date: day.format("%Y-%m-%d").to_string(),
                ..DailyCounters::default()
            },
            ttl: (end_of_day + Duration::days(i64::from(retention_days))).timestamp(),
        }
    }

    /// Adds one request. A refunded request (`billed == false`) counts as `refunded`.
    pub(crate) fn add(&mut self, event: &UsageEvent, billed: bool) {
        let day = &mut self.counters;
        let failed = u64::from(event.status >= 400);
        if billed {
            day.requests += 1;
        } else {
            day.refunded += 1;
        }
        day.errors += failed;
        day.total_ms += event.response_time;
        for source in &event.sources {
            let calls = day.sources.entry(source.clone()).or_default();
            calls.count += 1;
            calls.errors += failed;
            calls.total_ms += event.response_time;
        }
        let endpoint = format!("{} {}", event.method, event.endpoint);
        let calls = day.endpoints.entry(endpoint).or_default();
        calls.count += 1;
        calls.errors += failed;
        calls.total_ms += event.response_time;
    }

    /// The whole item, absolute values.
    pub(crate) fn to_item(&self) -> Item {
        let day = &self.counters;
        let mut item = item_key(&self.pk, &self.sk);
        item.insert(schema::TTL.to_owned(), n(self.ttl));
        item.insert(REQUESTS.to_owned(), n(day.requests));
        item.insert(REFUNDED.to_owned(), n(day.refunded));
        item.insert(ERRORS.to_owned(), n(day.errors));
        item.insert(TOTAL_MS.to_owned(), milliseconds(day.total_ms));
        let calls = day
            .sources
            .iter()
            .map(|(name, calls)| (counters::source_calls(name), calls))
            .chain(day.endpoints.iter().map(|(name, calls)| {
                let (method, path) = name.split_once(' ').unwrap_or((name.as_str(), ""));
                (counters::endpoint_calls(method, path), calls)
            }));
        for (names, calls) in calls {
            item.insert(names.count, n(calls.count));
            item.insert(names.errors, n(calls.errors));
            item.insert(names.total_ms, milliseconds(calls.total_ms));
        }
        item
    }
}

/// One month's admin totals as this container counted them.
#[derive(Debug, Clone, PartialEq)]
pub struct TotalsTally {
    pk: String,
    sk: String,
    pub(crate) totals: UsageStats,
}

impl TotalsTally {
    pub(crate) fn new(period: Period, container: &str, serial: u64) -> Self {
        Self {
            pk: schema::usage_totals_pk(period, totals_partition(container)),
            sk: schema::container_sk(container, serial),
            totals: UsageStats {
                period: period.label(),
                ..UsageStats::default()
            },
        }
    }

    /// Adds one request of a subject of `tier` (`None`: a demo caller).
    pub(crate) fn add(&mut self, tier: Option<Tier>, event: &UsageEvent, billed: bool) {
        let totals = &mut self.totals;
        totals.errors += u64::from(event.status >= 400);
        if billed {
            totals.requests += 1;
            let label = tier.map_or("demo", Tier::as_str);
            *totals.by_tier.entry(label.to_owned()).or_default() += 1;
        } else {
            totals.refunded += 1;
        }
    }

    pub(crate) fn to_item(&self) -> Item {
        let totals = &self.totals;
        let mut item = item_key(&self.pk, &self.sk);
        item.insert(REQUESTS.to_owned(), n(totals.requests));
        item.insert(REFUNDED.to_owned(), n(totals.refunded));
        item.insert(ERRORS.to_owned(), n(totals.errors));
        for (tier, count) in &totals.by_tier {
            item.insert(counters::tier_total(tier), n(count));
        }
        item
    }
}

/// Which totals partition a container writes to: spread by its (random) id.
pub(crate) fn totals_partition(container: &str) -> u32 {
    let folded = container.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    });
    folded % TOTALS_PARTITIONS
}

/// Summed milliseconds, kept to the hundredth (the events' precision) so that the number
/// DynamoDB stores is short and exact.
fn milliseconds(value: f64) -> AttributeValue {
    n((value * 100.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use chrono::TimeZone;

    fn event(sources: &[&str], status: u16, ms: f64) -> UsageEvent {
        UsageEvent {
            timestamp: "2026-12-02T10:00:00.000Z".into(),
            endpoint: "/api/v1/data".into(),
            method: "POST".into(),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            response_time: ms,
            status,
            bytes_in: 1,
            bytes_out: 2,
            key_id: None,
        }
    }

    #[test]
    fn a_day_tally_writes_absolute_counts_that_decode_to_the_same_day() {
        let subject = Subject::User(UserId::parse("alice").unwrap());
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let mut tally = DayTally::new(&subject, day, "c0ffee", 7, 90);
        tally.add(&event(&["wiki", "arxiv"], 200, 10.5), true);
        tally.add(&event(&["wiki"], 502, 1.25), false);
        let item = tally.to_item();
        assert_eq!(
            item[schema::SK].as_s().unwrap(),
            "DAY#2026-12-02#C#c0ffee#7"
        );
        let decoded = counters::day(&item);
        assert_eq!(decoded, tally.counters);
        assert_eq!(
            (decoded.requests, decoded.refunded, decoded.errors),
            (1, 1, 1)
        );
        assert_eq!(decoded.sources["wiki"].count, 2);
        assert_eq!(decoded.sources["wiki"].errors, 1);
        assert_eq!(decoded.endpoints["POST /api/v1/data"].count, 2);
        assert_eq!(decoded.total_ms, 11.75);
    }

    #[test]
    fn a_totals_tally_counts_billed_requests_by_tier_and_refunds_apart() {
        let period = Period::containing(Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap());
        let mut tally = TotalsTally::new(period, "c0ffee", 1);
        tally.add(Some(Tier::Pro), &event(&["wiki"], 200, 1.0), true);
        tally.add(None, &event(&["wiki"], 200, 1.0), true);
        tally.add(Some(Tier::Pro), &event(&["wiki"], 502, 1.0), false);
        let mut read = UsageStats::default();
        counters::add_usage_shard(&mut read, &tally.to_item());
        assert_eq!((read.requests, read.refunded, read.errors), (2, 1, 1));
        assert_eq!(read.by_tier["pro"], 1);
        assert_eq!(read.by_tier["demo"], 1);
        let pk = tally.to_item()[schema::PK].as_s().unwrap().clone();
        assert!(pk.starts_with("STATS#USAGE#2026-12#"), "{pk}");
    }

    #[test]
    fn containers_spread_over_every_totals_partition() {
        let used: std::collections::BTreeSet<u32> = (0..2000)
            .map(|index| totals_partition(&format!("{:016x}", index * 7919)))
            .collect();
        assert_eq!(used.len(), TOTALS_PARTITIONS as usize);
    }
}
