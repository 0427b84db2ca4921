//! Usage items: one event per metered request (kept for the retention period by TTL) and
//! per-day counters maintained as requests happen, so analytics never reads every event.
//! Counter names and their decoding are [`super::counters`]'s.
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::counters::{self, DailyCounters, UsageStats};
use super::schema::{self, Item, EVENT_PREFIX};
use super::tallies::TOTALS_PARTITIONS;
use super::{item_key, s, Store, StoreError};
use crate::domain::{rfc3339, Period, UserId};

/// Whose requests these are: a user, or a demo caller identified by address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    User(UserId),
    Demo(String),
}

impl Subject {
    pub(crate) fn usage_pk(&self) -> String {
        match self {
            Subject::User(user_id) => schema::user_usage_pk(user_id),
            Subject::Demo(ip) => schema::demo_usage_pk(ip),
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

/// A usage event's own item: a unique key (time and a random nonce), written once, kept for the
/// retention period.
pub(crate) fn event_item(
    subject: &Subject,
    event: &UsageEvent,
    at: DateTime<Utc>,
    retention_days: u32,
) -> Result<Item, StoreError> {
    let item = EventItem {
        pk: subject.usage_pk(),
        sk: schema::event_sk(&rfc3339(at), rand::random()),
        event: event.clone(),
        ttl: (at + Duration::days(i64::from(retention_days))).timestamp(),
    };
    Ok(serde_dynamo::to_item(item)?)
}

/// BatchWriteItem takes at most 25 puts.
const BATCH_LIMIT: usize = 25;
/// How often unprocessed puts of a batch (throttled by DynamoDB) are sent again within one flush.
const UNPROCESSED_RETRIES: u32 = 3;

/// What a batch of puts left unwritten.
#[derive(Debug, Default)]
pub(crate) struct BatchOutcome {
    /// Puts not written: send them again later (every put here is idempotent).
    pub unwritten: Vec<Item>,
    /// The first error met, if any.
    pub error: Option<StoreError>,
}

impl Store {
    /// Writes `items` with BatchWriteItem, 25 at a time, the chunks concurrently. Every put of
    /// the product's after-response batch is idempotent (a unique event, or a container's
    /// absolute counts), so the SDK's retries and a resend of what is left are harmless.
    /// Puts DynamoDB leaves unprocessed are sent again a few times with a short back-off.
    /// The keys of `items` must be distinct (BatchWriteItem refuses duplicates).
    pub(crate) async fn put_batch(&self, items: Vec<Item>) -> BatchOutcome {
        let chunks: Vec<Vec<Item>> = items.chunks(BATCH_LIMIT).map(<[Item]>::to_vec).collect();
        let results =
            futures::future::join_all(chunks.into_iter().map(|chunk| self.put_chunk(chunk))).await;
        let mut outcome = BatchOutcome::default();
        for (unwritten, error) in results {
            outcome.unwritten.extend(unwritten);
            if outcome.error.is_none() {
                outcome.error = error;
            }
        }
        outcome
    }

    async fn put_chunk(&self, chunk: Vec<Item>) -> (Vec<Item>, Option<StoreError>) {
        let mut pending = chunk;
        for attempt in 0..=UNPROCESSED_RETRIES {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let requests = pending
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build();
                    put.map(|put| WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, _>>();
            let requests = match requests {
                Ok(requests) => requests,
                Err(error) => return (pending, Some(super::internal(error))),
            };
            let result = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await;
            match result {
                Ok(output) => {
                    pending = output
                        .unprocessed_items
                        .and_then(|mut tables| tables.remove(&self.table))
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|request| request.put_request.map(|put| put.item))
                        .collect();
                    if pending.is_empty() {
                        return (pending, None);
                    }
                }
                Err(error) => return (pending, Some(StoreError::from(error))),
            }
        }
        let left = pending.len();
        (
            pending,
            Some(StoreError::Unavailable(format!(
                "{left} put(s) left unprocessed (throttled)"
            ))),
        )
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
            query = query.set_exclusive_start_key(Some(item_key(subject.usage_pk(), sort_key)));
        }
        let output = query.send().await?;
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get(schema::SK)?.as_s().ok().cloned());
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

    /// A subject's day counters from `from` to `to` inclusive, one entry per day: the sum of
    /// the day's items (one per container that served the subject that day, and the single
    /// `DAY#<date>` item earlier versions kept). At most a few months: one paginated Query.
    pub async fn daily_counters(
        &self,
        subject: &Subject,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCounters>, StoreError> {
        let mut days: BTreeMap<String, DailyCounters> = BTreeMap::new();
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(subject.usage_pk()))
            .expression_attribute_values(":from", s(schema::day_sk(from)))
            .expression_attribute_values(":to", s(schema::day_items_end(to)));
        self.for_each_item(query, |item| {
            let day = counters::day(&item);
            days.entry(day.date.clone())
                .and_modify(|sum| sum.merge(&day))
                .or_insert(day);
            Ok(true)
        })
        .await?;
        Ok(days.into_values().collect())
    }

    /// The month's totals over every subject: the sum of every container's item in the
    /// month's totals partitions (read concurrently), and of the `SHARD#<n>` items earlier
    /// versions kept under one partition.
    pub async fn usage_stats(&self, period: Period) -> Result<UsageStats, StoreError> {
        let partitions = (0..TOTALS_PARTITIONS)
            .map(|partition| schema::usage_totals_pk(period, partition))
            .chain(std::iter::once(schema::usage_stats_pk(period)));
        let read =
            futures::future::try_join_all(partitions.map(|pk| self.partition_items(pk))).await?;
        let mut stats = UsageStats {
            period: period.label(),
            ..UsageStats::default()
        };
        for item in read.iter().flatten() {
            counters::add_usage_shard(&mut stats, item);
        }
        Ok(stats)
    }

    /// Every item of one partition (paginated).
    async fn partition_items(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk));
        self.for_each_item(query, |item| {
            items.push(item);
            Ok(true)
        })
        .await?;
        Ok(items)
    }
}
