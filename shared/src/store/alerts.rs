//! Quota threshold crossings: one item per user, month and threshold, written once
//! (`attribute_not_exists`), so that an alert is sent once whatever the concurrency or refunds.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `ALERTS#<userId>` | `QUOTA#<YYYY-MM>#<threshold, 3 digits>` | `userId`, `tier`, `threshold`, `used`, `limit`, `month`, `at`, `ttl` |
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::schema::{alerts_pk, crossing_month_prefix, crossing_sk};
use super::{s, Store, StoreError};
use crate::domain::{Period, UserId};
use crate::quota_alerts::QuotaCrossing;

/// A crossing as the usage endpoint shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaCrossingRecord {
    pub threshold: u8,
    pub used: u64,
    pub limit: u64,
    pub month: String,
    pub at: String,
}

#[derive(Serialize)]
struct CrossingItem<'a> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    crossing: &'a QuotaCrossing,
    ttl: i64,
}

impl Store {
    /// Records the crossing unless its user, month and threshold already have one
    /// (`StoreError::ConditionFailed` then). Kept until the month's end plus the retention.
    pub async fn record_quota_crossing(
        &self,
        crossing: &QuotaCrossing,
        period: Period,
        now: DateTime<Utc>,
        retention_days: u32,
    ) -> Result<(), StoreError> {
        let expires = period.end().max(now) + chrono::Duration::days(i64::from(retention_days));
        let item = CrossingItem {
            pk: alerts_pk(&crossing.user_id),
            sk: crossing_sk(period, crossing.threshold),
            crossing,
            ttl: expires.timestamp(),
        };
        self.put_new(item).await
    }

    /// The month's crossings of a user, lowest threshold first (at most two items).
    pub async fn quota_crossings(
        &self,
        user_id: &UserId,
        period: Period,
    ) -> Result<Vec<QuotaCrossingRecord>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :month)")
            .expression_attribute_values(":pk", s(alerts_pk(user_id)))
            .expression_attribute_values(":month", s(crossing_month_prefix(period)))
            .consistent_read(true)
            .send()
            .await?;
        output
            .items()
            .iter()
            .map(|item| Ok(serde_dynamo::from_item(item.clone())?))
            .collect()
    }
}
