//! Counters under a limit on an item of their own: a demo caller's month (`DEMO#<group>`,
//! `PROFILE`) and a client address's sign-ups of the day (`SIGNUP#<group>`, `DAY#…`). One
//! conditional `ADD` each, so concurrent requests from one address never exceed the limit.
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::charge::Compensation;
use super::counters;
use super::{item_key, n, outcome_unknown, schema, single_attempt, Store, StoreError};
use crate::domain::{ClientGroup, Period};

/// The answer to a demo caller's charge.
#[derive(Debug, Clone, PartialEq)]
pub enum DemoCharge {
    /// Counted: the month's count after this request.
    Admitted { used: u64 },
    /// The month's limit is reached: the count as it stands.
    QuotaExhausted { used: u64 },
}

/// The answer to a count under a limit.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitedCount {
    /// Counted: the count after this one.
    Counted(u64),
    AtLimit,
}

/// A counter under a limit on an item of its own, with a TTL.
struct CountedItem {
    pk: String,
    sk: String,
    counter: String,
    limit: u64,
    expires: i64,
    mark: u64,
}

impl Store {
    /// Counts a demo request for a client group, or finds the month's limit reached. Sent once,
    /// compensated like a key holder's charge.
    pub async fn charge_demo(
        &self,
        group: &ClientGroup,
        limit: u64,
        now: DateTime<Utc>,
        retention_days: u32,
        mark: u64,
    ) -> Result<DemoCharge, StoreError> {
        let period = Period::containing(now);
        let expires = period.end().timestamp() + i64::from(retention_days) * 86_400;
        let counted = self
            .count_under_limit(CountedItem {
                pk: schema::demo_pk(group.as_str()),
                sk: schema::PROFILE.to_owned(),
                counter: counters::month(period),
                limit,
                expires,
                mark,
            })
            .await?;
        match counted {
            LimitedCount::Counted(used) => Ok(DemoCharge::Admitted { used }),
            LimitedCount::AtLimit => Ok(DemoCharge::QuotaExhausted {
                used: self.demo_used(group, period).await?,
            }),
        }
    }

    /// Counts a sign-up for a client group on the current UTC day, or finds the day's limit
    /// reached.
    pub async fn count_signup(
        &self,
        group: &ClientGroup,
        limit: u32,
        now: DateTime<Utc>,
        mark: u64,
    ) -> Result<LimitedCount, StoreError> {
        let expires = (now + chrono::Duration::days(2)).timestamp();
        self.count_under_limit(CountedItem {
            pk: schema::signup_pk(group.as_str()),
            sk: schema::day_sk(now.date_naive()),
            counter: schema::SIGNUPS.to_owned(),
            limit: u64::from(limit),
            expires,
            mark,
        })
        .await
    }

    /// One conditional `ADD` under a limit on a counter item with a TTL, sent once; an unknown
    /// outcome is compensated only if the mark shows it was applied (or it may still be).
    async fn count_under_limit(&self, item: CountedItem) -> Result<LimitedCount, StoreError> {
        let result = self
            .update(item_key(&item.pk, &item.sk))
            .update_expression("SET #ttl = :ttl, #mk = :mark ADD #m :one")
            .condition_expression("attribute_not_exists(#m) OR #m < :limit")
            .expression_attribute_names("#m", &item.counter)
            .expression_attribute_names("#mk", schema::COUNTER_MARK)
            .expression_attribute_names("#ttl", schema::TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(item.limit))
            .expression_attribute_values(":ttl", n(item.expires))
            .expression_attribute_values(":mark", n(item.mark))
            .return_values(ReturnValue::UpdatedNew)
            .customize()
            .config_override(single_attempt())
            .send()
            .await;
        if let Err(error) = &result {
            if outcome_unknown(error) {
                self.compensate(Compensation {
                    key: item_key(&item.pk, &item.sk),
                    counter: item.counter.clone(),
                    mark_attribute: schema::COUNTER_MARK.to_owned(),
                    key_count_attribute: None,
                    mark: item.mark,
                    limit: Some(item.limit),
                })
                .await;
            }
        }
        match result.map_err(StoreError::from) {
            Ok(output) => Ok(LimitedCount::Counted(
                output
                    .attributes
                    .as_ref()
                    .and_then(|values| counters::integer(values, &item.counter))
                    .unwrap_or(0),
            )),
            Err(StoreError::ConditionFailed) => Ok(LimitedCount::AtLimit),
            Err(other) => Err(other),
        }
    }

    /// A demo caller's count for a period.
    pub async fn demo_used(&self, group: &ClientGroup, period: Period) -> Result<u64, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(
                schema::demo_pk(group.as_str()),
                schema::PROFILE,
            )))
            .consistent_read(true)
            .send()
            .await?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| counters::integer(item, &counters::month(period)))
            .unwrap_or(0))
    }
}
