//! Usage items: one event per metered request (kept for the retention period by TTL) and
//! per-day counters maintained as requests happen, so analytics never reads every event.
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use super::{n, number_attribute, random_shard, s, Store, StoreError, STATS_SHARDS, TTL_ATTRIBUTE};
use crate::domain::{rfc3339, Period, Tier, UserId};

/// Whose requests these are: a user, or a demo caller identified by address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    User(UserId),
    Demo(String),
}

impl Subject {
    pub(crate) fn usage_pk(&self) -> String {
        match self {
            Subject::User(user_id) => format!("USAGE#{user_id}"),
            Subject::Demo(ip) => format!("USAGE#DEMO#{ip}"),
        }
    }

    /// The id shown in `X-User-Id`.
    pub fn display_id(&self) -> String {
        match self {
            Subject::User(user_id) => user_id.to_string(),
            Subject::Demo(ip) => format!("demo:{ip}"),
        }
    }
}

/// One metered request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageEvent {
    pub timestamp: String,
    pub endpoint: String,
    pub method: String,
    pub sources: Vec<String>,
    /// Milliseconds.
    pub response_time: f64,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub key_id: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    event: UsageEvent,
    ttl: i64,
}

/// A day's counters for one subject.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DailyCounters {
    pub date: String,
    /// Billed requests.
    pub requests: u64,
    /// Requests we failed and refunded (not billed).
    pub refunded: u64,
    pub errors: u64,
    pub total_ms: f64,
    /// Source name → (count, errors, total ms).
    pub sources: BTreeMap<String, (u64, u64, f64)>,
    /// Endpoint → (count, errors, total ms).
    pub endpoints: BTreeMap<String, (u64, u64, f64)>,
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

const EVENT_PREFIX: &str = "EVT#";
const DAY_PREFIX: &str = "DAY#";

impl Store {
    /// Records a metered request: the event, the subject's day counters and the month's
    /// sharded totals, written concurrently. A request that was refunded (`billed == false`)
    /// counts as `refunded`, apart from the billed `requests`.
    ///
    /// The event is a put of a unique item (a retry rewrites the same item). The two counter
    /// updates are sent once, and once more only when the answer is lost; the event's sort key
    /// they leave (`last`) makes a second copy a no-op, so counts are never doubled.
    pub async fn record_usage(
        &self,
        subject: &Subject,
        tier: Option<Tier>,
        event: &UsageEvent,
        billed: bool,
        now: DateTime<Utc>,
        retention_days: u32,
    ) -> Result<(), StoreError> {
        let expires = (now + Duration::days(i64::from(retention_days))).timestamp();
        let nonce: u32 = rand::random();
        let event_sk = format!("{EVENT_PREFIX}{}#{nonce:08x}", rfc3339(now));
        let item = EventItem {
            pk: subject.usage_pk(),
            sk: event_sk.clone(),
            event: event.clone(),
            ttl: expires,
        };
        let put_event = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item)?))
            .send();

        let failed = u64::from(event.status >= 400);
        let counted = if billed { "requests" } else { "refunded" };
        let mut additions = vec![
            format!("{counted} :one"),
            "errors :err".to_owned(),
            "totalMs :ms".to_owned(),
        ];
        let mut names = Vec::new();
        for source in &event.sources {
            names.push(format!("src|{source}"));
        }
        names.push(format!("ep|{} {}", event.method, event.endpoint));
        for index in 0..names.len() {
            additions.push(format!("#c{index} :one, #e{index} :err, #t{index} :ms"));
        }
        let day_update = format!("SET #ttl = :ttl, #last = :evt ADD {}", additions.join(", "));
        let day_sk = format!("{DAY_PREFIX}{}", now.format("%Y-%m-%d"));
        let update_day = super::send_counter_update(|| {
            let mut day = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(subject.usage_pk()))
                .key("sk", s(&day_sk))
                .update_expression(&day_update)
                .condition_expression("attribute_not_exists(#last) OR #last <> :evt")
                .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                .expression_attribute_names("#last", "last")
                .expression_attribute_values(":evt", s(&event_sk))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":err", n(failed))
                .expression_attribute_values(":ms", n(event.response_time))
                .expression_attribute_values(":ttl", n(expires));
            for (index, prefix) in names.iter().enumerate() {
                day = day
                    .expression_attribute_names(format!("#c{index}"), format!("{prefix}|n"))
                    .expression_attribute_names(format!("#e{index}"), format!("{prefix}|err"))
                    .expression_attribute_names(format!("#t{index}"), format!("{prefix}|ms"));
            }
            day
        });

        let tier_label = tier.map_or("demo", Tier::as_str);
        let totals_pk = format!("STATS#USAGE#{}", Period::containing(now).label());
        let totals_sk = format!("SHARD#{}", random_shard());
        let totals_update = if billed {
            "SET #last = :evt ADD requests :one, errors :err, #tier :one"
        } else {
            "SET #last = :evt ADD refunded :one, errors :err"
        };
        let update_totals = super::send_counter_update(|| {
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&totals_pk))
                .key("sk", s(&totals_sk))
                .update_expression(totals_update)
                .condition_expression("attribute_not_exists(#last) OR #last <> :evt")
                .expression_attribute_names("#last", "last")
                .expression_attribute_values(":evt", s(&event_sk))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":err", n(failed));
            if billed {
                request.expression_attribute_names("#tier", format!("tier|{tier_label}"))
            } else {
                request
            }
        });

        let (event_result, day_result, totals_result) =
            tokio::join!(put_event, update_day, update_totals);
        event_result?;
        day_result?;
        totals_result?;
        Ok(())
    }

    /// A subject's events, newest first, `limit` at a time after the cursor (an event sort key).
    pub async fn usage_history(
        &self,
        subject: &Subject,
        limit: i32,
        before: Option<&str>,
    ) -> Result<(Vec<UsageEvent>, Option<String>), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :evt)")
            .expression_attribute_values(":pk", s(subject.usage_pk()))
            .expression_attribute_values(":evt", s(EVENT_PREFIX))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(sort_key) = before {
            query = query.set_exclusive_start_key(Some(HashMap::from([
                ("pk".to_owned(), s(subject.usage_pk())),
                ("sk".to_owned(), s(sort_key)),
            ])));
        }
        let output = query.send().await?;
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get("sk")?.as_s().ok().cloned());
        let events = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item::<_, EventItem>(item).map(|i| i.event))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((events, next))
    }

    /// Whether a history cursor is an event sort key (anything else is refused before use).
    pub fn is_event_sort_key(candidate: &str) -> bool {
        candidate.starts_with(EVENT_PREFIX)
            && candidate.len() < 80
            && candidate
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"#:.-TZ".contains(&b))
    }

    /// A subject's day counters from `from` to `to` inclusive (at most a few months: one Query).
    pub async fn daily_counters(
        &self,
        subject: &Subject,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCounters>, StoreError> {
        let mut days = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(subject.usage_pk()))
                .expression_attribute_values(":from", s(format!("{DAY_PREFIX}{from}")))
                .expression_attribute_values(":to", s(format!("{DAY_PREFIX}{to}")))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for item in output.items.unwrap_or_default() {
                days.push(decode_day(&item));
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(days);
            }
        }
    }

    /// The month's totals over every subject (sums of the shards).
    pub async fn usage_stats(&self, period: Period) -> Result<UsageStats, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("STATS#USAGE#{}", period.label())))
            .limit(STATS_SHARDS as i32)
            .send()
            .await?;
        let mut stats = UsageStats {
            period: period.label(),
            ..UsageStats::default()
        };
        for item in output.items() {
            stats.requests += number_attribute(item, "requests").unwrap_or(0.0) as u64;
            stats.errors += number_attribute(item, "errors").unwrap_or(0.0) as u64;
            stats.refunded += number_attribute(item, "refunded").unwrap_or(0.0) as u64;
            for name in item.keys() {
                if let Some(tier) = name.strip_prefix("tier|") {
                    *stats.by_tier.entry(tier.to_owned()).or_default() +=
                        number_attribute(item, name).unwrap_or(0.0) as u64;
                }
            }
        }
        Ok(stats)
    }
}

fn decode_day(item: &HashMap<String, AttributeValue>) -> DailyCounters {
    let number = |name: &str| number_attribute(item, name).unwrap_or(0.0);
    let date = item
        .get("sk")
        .and_then(|v| v.as_s().ok())
        .and_then(|sk| sk.strip_prefix(DAY_PREFIX))
        .unwrap_or_default()
        .to_owned();
    let mut counters = DailyCounters {
        date,
        requests: number("requests") as u64,
        refunded: number("refunded") as u64,
        errors: number("errors") as u64,
        total_ms: number("totalMs"),
        ..DailyCounters::default()
    };
    for name in item.keys() {
        let Some(stem) = name.strip_suffix("|n") else {
            continue;
        };
        let triple = (
            number(name) as u64,
            number(&format!("{stem}|err")) as u64,
            number(&format!("{stem}|ms")),
        );
        if let Some(source) = stem.strip_prefix("src|") {
            counters.sources.insert(source.to_owned(), triple);
        } else if let Some(endpoint) = stem.strip_prefix("ep|") {
            counters.endpoints.insert(endpoint.to_owned(), triple);
        }
    }
    counters
}
