//! Usage items: one event per metered request (kept for the retention period by TTL) and
//! per-day counters maintained as requests happen, so analytics never reads every event.
//! Counter names and their decoding are [`super::counters`]'s.
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::counters::{self, DailyCounters, UsageStats, ERRORS, REFUNDED, REQUESTS, TOTAL_MS};
use super::schema::{self, EVENT_PREFIX};
use super::{item_key, n, random_shard, s, Store, StoreError};
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
        let event_sk = schema::event_sk(&rfc3339(now), nonce);
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
        let counted = if billed { REQUESTS } else { REFUNDED };
        let mut additions = vec![
            format!("{counted} :one"),
            format!("{ERRORS} :err"),
            format!("{TOTAL_MS} :ms"),
        ];
        let mut names: Vec<counters::CallNames> = event
            .sources
            .iter()
            .map(|source| counters::source_calls(source))
            .collect();
        names.push(counters::endpoint_calls(&event.method, &event.endpoint));
        for index in 0..names.len() {
            additions.push(format!("#c{index} :one, #e{index} :err, #t{index} :ms"));
        }
        let day_update = format!("SET #ttl = :ttl, #last = :evt ADD {}", additions.join(", "));
        let day_sk = schema::day_sk(now.date_naive());
        let update_day = super::send_counter_update(|| {
            let mut day = self
                .update(item_key(subject.usage_pk(), &day_sk))
                .update_expression(&day_update)
                .condition_expression("attribute_not_exists(#last) OR #last <> :evt")
                .expression_attribute_names("#ttl", schema::TTL)
                .expression_attribute_names("#last", schema::LAST_EVENT)
                .expression_attribute_values(":evt", s(&event_sk))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":err", n(failed))
                .expression_attribute_values(":ms", n(event.response_time))
                .expression_attribute_values(":ttl", n(expires));
            for (index, call) in names.iter().enumerate() {
                day = day
                    .expression_attribute_names(format!("#c{index}"), &call.count)
                    .expression_attribute_names(format!("#e{index}"), &call.errors)
                    .expression_attribute_names(format!("#t{index}"), &call.total_ms);
            }
            day
        });

        let tier_label = tier.map_or("demo", Tier::as_str);
        let totals_pk = schema::usage_stats_pk(Period::containing(now));
        let totals_sk = schema::shard_sk(random_shard());
        let totals_update = if billed {
            format!("SET #last = :evt ADD {REQUESTS} :one, {ERRORS} :err, #tier :one")
        } else {
            format!("SET #last = :evt ADD {REFUNDED} :one, {ERRORS} :err")
        };
        let update_totals = super::send_counter_update(|| {
            let request = self
                .update(item_key(&totals_pk, &totals_sk))
                .update_expression(&totals_update)
                .condition_expression("attribute_not_exists(#last) OR #last <> :evt")
                .expression_attribute_names("#last", schema::LAST_EVENT)
                .expression_attribute_values(":evt", s(&event_sk))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":err", n(failed));
            if billed {
                request.expression_attribute_names("#tier", counters::tier_total(tier_label))
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

    /// A subject's day counters from `from` to `to` inclusive (at most a few months: one Query).
    pub async fn daily_counters(
        &self,
        subject: &Subject,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCounters>, StoreError> {
        let mut days = Vec::new();
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(subject.usage_pk()))
            .expression_attribute_values(":from", s(schema::day_sk(from)))
            .expression_attribute_values(":to", s(schema::day_sk(to)));
        self.for_each_item(query, |item| {
            days.push(counters::day(&item));
            Ok(true)
        })
        .await?;
        Ok(days)
    }

    /// The month's totals over every subject (sums of the shards).
    pub async fn usage_stats(&self, period: Period) -> Result<UsageStats, StoreError> {
        let mut stats = UsageStats {
            period: period.label(),
            ..UsageStats::default()
        };
        for shard in self.shards(schema::usage_stats_pk(period)).await? {
            counters::add_usage_shard(&mut stats, &shard);
        }
        Ok(stats)
    }
}
