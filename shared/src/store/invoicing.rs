//! What invoicing needs beyond the usage items: the per-day count of refunded requests
//! (`refunded` on the `DAY#YYYY-MM-DD` counters), so that an export can show billed =
//! requests − refunded for every day.
use chrono::{DateTime, Duration, Utc};

use super::{n, s, Store, StoreError, Subject, TTL_ATTRIBUTE};

/// The day-counter attribute counting the requests given back (we failed them).
pub const REFUNDED_ATTRIBUTE: &str = "refunded";

impl Store {
    /// Counts one refunded request on the subject's counters of the day of `now`.
    pub async fn count_refund_on_day(
        &self,
        subject: &Subject,
        now: DateTime<Utc>,
        retention_days: u32,
    ) -> Result<(), StoreError> {
        let expires = (now + Duration::days(i64::from(retention_days))).timestamp();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(subject.usage_pk()))
            .key("sk", s(format!("DAY#{}", now.format("%Y-%m-%d"))))
            .update_expression("SET #ttl = :ttl ADD #refunded :one")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#refunded", REFUNDED_ATTRIBUTE)
            .expression_attribute_values(":ttl", n(expires))
            .expression_attribute_values(":one", n(1))
            .send()
            .await?;
        Ok(())
    }
}
