//! Counter attributes, encoded and decoded in this one module. Some counters carry data in
//! their names: a user's or demo caller's month (`m#YYYY-MM`), a live key's use (`n#<keyId>`)
//! and last charge mark (`t#<keyId>`), a usage shard's count per tier (`tier|<tier>`), a day's
//! calls per source or endpoint (`src|<name>|n`, `…|err`, `…|ms`; `ep|<METHOD> <path>|…`).
//! The writers build names with the encoders below and the readers decode whole items into
//! named integer structs with the decoders below; nothing else spells a counter name.
//!
//! Counts are integers and decode as `u64` (a count taken below zero reads 0). Milliseconds are
//! sums of fractional response times (`12.34`), so they stay decimals (`f64`).
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::schema::{self, Item};
use crate::domain::{rfc3339, Period};

// Plain counters of the day items, usage shards and key-statistics shards.
pub(crate) const REQUESTS: &str = "requests";
pub(crate) const REFUNDED: &str = "refunded";
pub(crate) const ERRORS: &str = "errors";
pub(crate) const TOTAL_MS: &str = "totalMs";
pub(crate) const KEYS_GENERATED: &str = "generated";
pub(crate) const KEYS_REVOKED: &str = "revoked";

const MONTH: &str = "m#";
const KEY_COUNT: &str = "n#";
const KEY_MARK: &str = "t#";
const TIER_TOTAL: &str = "tier|";
const SOURCE: &str = "src|";
const ENDPOINT: &str = "ep|";
const CALLS: &str = "|n";
const CALL_ERRORS: &str = "|err";
const CALL_MS: &str = "|ms";

/// `m#YYYY-MM`: requests counted in a month.
pub(crate) fn month(period: Period) -> String {
    format!("{MONTH}{}", period.label())
}

/// `n#<keyId>`: requests counted with a live key (lifetime, refunds taken back).
pub(crate) fn key_count(key_id: &str) -> String {
    format!("{KEY_COUNT}{key_id}")
}

/// `t#<keyId>`: the key's last charge mark (see [`charge_mark`]).
pub(crate) fn key_mark(key_id: &str) -> String {
    format!("{KEY_MARK}{key_id}")
}

/// `tier|<tier>`: a usage shard's billed requests of one tier (`demo` for demo callers).
pub(crate) fn tier_total(tier_label: &str) -> String {
    format!("{TIER_TOTAL}{tier_label}")
}

/// The three counters of one source or endpoint on a day item.
pub(crate) struct CallNames {
    pub count: String,
    pub errors: String,
    pub total_ms: String,
}

fn call_names(stem: &str) -> CallNames {
    CallNames {
        count: format!("{stem}{CALLS}"),
        errors: format!("{stem}{CALL_ERRORS}"),
        total_ms: format!("{stem}{CALL_MS}"),
    }
}

pub(crate) fn source_calls(source: &str) -> CallNames {
    call_names(&format!("{SOURCE}{source}"))
}

pub(crate) fn endpoint_calls(method: &str, endpoint: &str) -> CallNames {
    call_names(&format!("{ENDPOINT}{method} {endpoint}"))
}

/// An integer counter of a raw item (absent or not an integer: `None`; below zero: 0).
pub(crate) fn integer(item: &Item, name: &str) -> Option<u64> {
    let text = item.get(name)?.as_n().ok()?;
    let value: i128 = text.parse().ok()?;
    Some(u64::try_from(value.max(0)).unwrap_or(u64::MAX))
}

/// A decimal counter (summed milliseconds) of a raw item.
pub(crate) fn decimal(item: &Item, name: &str) -> Option<f64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// Calls of one source or endpoint in a day.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallCounters {
    pub count: u64,
    pub errors: u64,
    /// Sum of the calls' response times (fractional milliseconds).
    pub total_ms: f64,
}

/// A day's counters for one subject.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyCounters {
    pub date: String,
    /// Billed requests.
    pub requests: u64,
    /// Requests we failed and refunded (not billed).
    pub refunded: u64,
    pub errors: u64,
    pub total_ms: f64,
    pub sources: BTreeMap<String, CallCounters>,
    pub endpoints: BTreeMap<String, CallCounters>,
}

impl CallCounters {
    fn merge(&mut self, other: &CallCounters) {
        self.count += other.count;
        self.errors += other.errors;
        self.total_ms += other.total_ms;
    }
}

impl DailyCounters {
    /// Adds another item of the same day (each container writes its own).
    pub(crate) fn merge(&mut self, other: &DailyCounters) {
        self.requests += other.requests;
        self.refunded += other.refunded;
        self.errors += other.errors;
        self.total_ms += other.total_ms;
        for (name, calls) in &other.sources {
            self.sources.entry(name.clone()).or_default().merge(calls);
        }
        for (name, calls) in &other.endpoints {
            self.endpoints.entry(name.clone()).or_default().merge(calls);
        }
    }
}

/// Totals of a month over every subject, for the admin.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageStats {
    pub period: String,
    /// Billed requests.
    pub requests: u64,
    /// Requests we failed and refunded (not billed).
    pub refunded: u64,
    pub errors: u64,
    pub by_tier: BTreeMap<String, u64>,
}

/// A user item's months: period label (`YYYY-MM`) → requests counted.
pub(crate) fn months(item: &Item) -> HashMap<String, u64> {
    item.keys()
        .filter_map(|name| {
            let label = name.strip_prefix(MONTH)?;
            Some((label.to_owned(), integer(item, name)?))
        })
        .collect()
}

/// The ids of the keys that have a use counter or a mark on a user item.
pub(crate) fn keys_with_use(item: &Item) -> impl Iterator<Item = &str> {
    item.keys().filter_map(|name| {
        name.strip_prefix(KEY_COUNT)
            .or_else(|| name.strip_prefix(KEY_MARK))
    })
}

/// A charge's mark: the instant in epoch microseconds, whose sub-millisecond digits are random.
/// It is the key's last use (to the millisecond) and, being unique per charge, lets a
/// compensation or a refund recognise its own charge.
pub fn charge_mark(now: DateTime<Utc>) -> u64 {
    use rand::Rng;
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    millis * 1000 + rand::rng().random_range(1..1000)
}

/// The instant a charge mark was made (to the millisecond), as RFC 3339.
fn mark_instant(mark: u64) -> Option<String> {
    let millis = i64::try_from(mark / 1000).ok()?;
    DateTime::<Utc>::from_timestamp_millis(millis).map(rfc3339)
}

/// A live key's use as the user item holds it (moved to the key item when the key stops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    pub count: u64,
    /// The last charge's mark; 0 if never used.
    pub mark: u64,
}

impl KeyUsage {
    pub fn last_used_at(&self) -> Option<String> {
        (self.mark > 0).then(|| mark_instant(self.mark)).flatten()
    }

    /// A key's count and mark on a user item, if it has either.
    pub(crate) fn of(item: &Item, key_id: &str) -> Option<Self> {
        let count = integer(item, &key_count(key_id));
        let mark = integer(item, &key_mark(key_id));
        (count.is_some() || mark.is_some()).then(|| Self {
            count: count.unwrap_or(0),
            mark: mark.unwrap_or(0),
        })
    }
}

/// A day item of a subject's usage partition.
pub(crate) fn day(item: &Item) -> DailyCounters {
    let count = |name: &str| integer(item, name).unwrap_or(0);
    let date = item
        .get(schema::SK)
        .and_then(|v| v.as_s().ok())
        .and_then(|sk| sk.strip_prefix(schema::DAY_PREFIX))
        .and_then(|rest| rest.split('#').next())
        .unwrap_or_default()
        .to_owned();
    let mut counters = DailyCounters {
        date,
        requests: count(REQUESTS),
        refunded: count(REFUNDED),
        errors: count(ERRORS),
        total_ms: decimal(item, TOTAL_MS).unwrap_or(0.0),
        ..DailyCounters::default()
    };
    for name in item.keys() {
        let Some(stem) = name.strip_suffix(CALLS) else {
            continue;
        };
        let names = call_names(stem);
        let calls = CallCounters {
            count: count(&names.count),
            errors: count(&names.errors),
            total_ms: decimal(item, &names.total_ms).unwrap_or(0.0),
        };
        if let Some(source) = stem.strip_prefix(SOURCE) {
            counters.sources.insert(source.to_owned(), calls);
        } else if let Some(endpoint) = stem.strip_prefix(ENDPOINT) {
            counters.endpoints.insert(endpoint.to_owned(), calls);
        }
    }
    counters
}

/// Adds one usage shard of a month to its totals.
pub(crate) fn add_usage_shard(stats: &mut UsageStats, shard: &Item) {
    let count = |name: &str| integer(shard, name).unwrap_or(0);
    stats.requests += count(REQUESTS);
    stats.errors += count(ERRORS);
    stats.refunded += count(REFUNDED);
    for name in shard.keys() {
        if let Some(tier) = name.strip_prefix(TIER_TOTAL) {
            *stats.by_tier.entry(tier.to_owned()).or_default() += count(name);
        }
    }
}

/// The sum of one counter over shards.
pub(crate) fn sum(shards: &[Item], name: &str) -> u64 {
    shards.iter().filter_map(|shard| integer(shard, name)).sum()
}

#[cfg(test)]
#[path = "counters_tests.rs"]
mod tests;
