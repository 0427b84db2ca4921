//! Enterprise counting spread over [`ENTERPRISE_METER_SHARDS`] items.
//!
//! Free and Pro requests are counted on the user item by the one conditional update that also
//! checks the key and the limit. Enterprise has no limit, so its count need not be on the user
//! item: each request adds to one of N meter shards (`METER#<userId>#<n>`, each its own
//! partition) while a consistent read of the user item, sent at the same time, checks that the
//! key is live and the tier is still Enterprise; if not, the shard's count is given back. One
//! round trip, as before, and one user's writes are spread over N partitions instead of one
//! item's ~1,000 writes/s. The shards hold the same counters as the user item (`m#YYYY-MM`,
//! `n#<keyId>`, `t#<keyId>`), so [`Store::get_user`] adds them up with the same decoders.
use aws_sdk_dynamodb::types::ReturnValue;

use super::charge::Compensation;
use super::counters::{self, KeyUsage};
use super::schema::{self, profile_key, Item};
use super::users::UserRecord;
use super::{n, outcome_unknown, single_attempt, Store, StoreError};
use crate::apikey::KeyId;
use crate::domain::{Period, UserId};

/// Meter shards per Enterprise user.
pub const ENTERPRISE_METER_SHARDS: u32 = 8;

impl Store {
    /// Counts one Enterprise request on `shard` (the month, the key's use and last charge
    /// mark): the shard's month count after it. Sent once; an unknown outcome is compensated
    /// (only this very charge, by its mark).
    pub async fn charge_meter_shard(
        &self,
        user_id: &UserId,
        key_id: &KeyId,
        period: Period,
        shard: u32,
        mark: u64,
    ) -> Result<u64, StoreError> {
        let key = schema::meter_shard_key(user_id, shard);
        let month = counters::month(period);
        let key_count = counters::key_count(key_id.as_str());
        let key_mark = counters::key_mark(key_id.as_str());
        let result = self
            .update(key.clone())
            .update_expression("SET #t = :mark ADD #m :one, #n :one")
            .expression_attribute_names("#m", &month)
            .expression_attribute_names("#n", &key_count)
            .expression_attribute_names("#t", &key_mark)
            .expression_attribute_values(":mark", n(mark))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .customize()
            .config_override(single_attempt())
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .attributes
                .as_ref()
                .and_then(|item| counters::integer(item, &month))
                .unwrap_or(0)),
            Err(error) => {
                if outcome_unknown(&error) {
                    self.compensate(Compensation {
                        key,
                        counter: month,
                        mark_attribute: key_mark,
                        key_count_attribute: Some(key_count),
                        mark,
                        limit: None,
                    })
                    .await;
                }
                Err(error.into())
            }
        }
    }

    /// The user item alone, read consistently: what the Enterprise charge checks liveness on.
    pub(crate) async fn read_profile(
        &self,
        user_id: &UserId,
    ) -> Result<Option<UserRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(user_id)))
            .consistent_read(true)
            .send()
            .await?;
        output.item.map(UserRecord::from_item).transpose()
    }

    /// Adds an Enterprise user's meter shards to its record: months and key use (one
    /// consistent BatchGetItem of the N shards).
    pub(crate) async fn add_meter_shards(&self, user: &mut UserRecord) -> Result<(), StoreError> {
        for shard in self.meter_shards(&user.user_id).await? {
            for (label, count) in counters::months(&shard) {
                *user.monthly.entry(label).or_default() += count;
            }
            // A key has two attributes (`n#`, `t#`): each key once.
            let keys: std::collections::BTreeSet<&str> = counters::keys_with_use(&shard).collect();
            for key_id in keys {
                let Some(usage) = KeyUsage::of(&shard, key_id) else {
                    continue;
                };
                let entry = user.key_usage.entry(key_id.to_owned()).or_default();
                entry.count += usage.count;
                entry.mark = entry.mark.max(usage.mark);
            }
        }
        Ok(())
    }

    async fn meter_shards(&self, user_id: &UserId) -> Result<Vec<Item>, StoreError> {
        let keys = (0..ENTERPRISE_METER_SHARDS)
            .map(|shard| schema::meter_shard_key(user_id, shard))
            .collect();
        self.get_items_consistent(keys).await
    }
}
