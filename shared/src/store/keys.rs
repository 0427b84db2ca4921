//! Key items: one per key, found by id in one GetItem; a user's keys through gsi1; unrevoked
//! expiring keys through gsi2 (for the expired count); sharded counters for key statistics.
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::counters::{self, KEYS_GENERATED, KEYS_REVOKED};
use super::schema::{
    self, key_pk, owner_pk, DIRECTORY_EXPIRING, GSI2_PK, GSI2_SK, KEY_SK, KEY_STATS_PK,
    LAST_USED_AT, REVOKED_AT, ROTATED_TO, USAGE_COUNT,
};
use super::{item_key, n, random_shard, s, send_counter_update, KeyUsage, Store, StoreError};
use crate::apikey::KeyId;
use crate::domain::{rfc3339, UserId};

/// A key as stored: never the key itself, only its bcrypt hash.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    pub key_id: KeyId,
    pub user_id: UserId,
    pub hash: String,
    pub name: String,
    /// The user's tier when the key was issued: only a first guess for the hot path's
    /// conditional update (the user item holds the real tier).
    pub tier_hint: crate::domain::Tier,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When the key stopped (or, in a rotation's grace period, will stop) working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The key that replaced this one, when rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<KeyId>,
    /// The key its holder created it with (`None`: the admin or a sign-up created it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_with: Option<KeyId>,
    /// Requests counted with the key, moved here from the user item when the key stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_count: Option<u64>,
    /// The key's last use, moved here with `usage_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("key_id", &self.key_id)
            .field("user_id", &self.user_id)
            .field("hash", &"<redacted>")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct KeyItem<'a> {
    pk: String,
    sk: &'static str,
    #[serde(flatten)]
    record: &'a KeyRecord,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
}

/// What the key statistics count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    Generated,
    Revoked,
}

/// Totals over all keys, for the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyStats {
    pub generated: u64,
    pub active: u64,
    pub revoked: u64,
    pub expired: u64,
}

impl Store {
    fn key_key(&self, key_id: &KeyId) -> HashMap<String, AttributeValue> {
        item_key(key_pk(key_id), KEY_SK)
    }

    /// Stores a new key item, refused (`ConditionFailed`) if the id is taken. The key does not
    /// work until [`Store::activate_key`] lists it on its user.
    pub async fn put_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let item = KeyItem {
            pk: key_pk(&record.key_id),
            sk: KEY_SK,
            record,
            gsi1pk: owner_pk(&record.user_id),
            gsi1sk: schema::owner_sk(&record.created_at, &record.key_id),
            gsi2pk: record.expires_at.as_ref().map(|_| DIRECTORY_EXPIRING),
            gsi2sk: record
                .expires_at
                .as_ref()
                .map(|at| schema::expiring_sk(at, &record.key_id)),
        };
        self.put_new(item).await
    }

    pub async fn get_key(&self, key_id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key_key(key_id)))
            .consistent_read(true)
            .send()
            .await?;
        Ok(output.item.map(serde_dynamo::from_item).transpose()?)
    }

    /// Removes a key item that never became live (its creation failed half-way).
    pub async fn delete_key_item(&self, key_id: &KeyId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key_key(key_id)))
            .send()
            .await?;
        Ok(())
    }

    /// Marks a key revoked at `at` (once: a second call returns the first revocation time) and
    /// takes it out of the expiring-keys index. Returns the effective revocation time and
    /// whether this call did it.
    pub async fn mark_key_revoked(
        &self,
        key_id: &KeyId,
        at: DateTime<Utc>,
        rotated_to: Option<&KeyId>,
        usage: Option<KeyUsage>,
    ) -> Result<(String, bool), StoreError> {
        if let Some(usage) = usage {
            self.archive_key_usage(key_id, usage).await;
        }
        let mut request = self
            .update(self.key_key(key_id))
            // A scheduled revocation (rotation grace period) may be brought forward.
            .condition_expression(format!(
                "attribute_exists(pk) AND (attribute_not_exists({REVOKED_AT}) OR {REVOKED_AT} > :at)"
            ))
            .expression_attribute_values(":at", s(rfc3339(at)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld);
        request = match rotated_to {
            Some(next) => request
                .update_expression(format!(
                    "SET {REVOKED_AT} = :at, {ROTATED_TO} = :next REMOVE {GSI2_PK}, {GSI2_SK}"
                ))
                .expression_attribute_values(":next", s(next.as_str())),
            None => request.update_expression(format!(
                "SET {REVOKED_AT} = :at REMOVE {GSI2_PK}, {GSI2_SK}"
            )),
        };
        match request.send().await.map_err(StoreError::from) {
            Ok(output) => {
                let first_time = output
                    .attributes()
                    .is_none_or(|old| !old.contains_key(REVOKED_AT));
                if first_time {
                    self.bump_key_stats(KeyEvent::Revoked).await;
                }
                Ok((rfc3339(at), first_time))
            }
            Err(StoreError::ConditionFailed) => {
                let existing = self
                    .get_key(key_id)
                    .await?
                    .and_then(|record| record.revoked_at)
                    .ok_or_else(|| StoreError::Internal("revoked key vanished".into()))?;
                Ok((existing, false))
            }
            Err(other) => Err(other),
        }
    }

    /// Moves a stopped key's use from the user item onto its key item (best effort: a failure
    /// loses only the display of a revoked key's count, never a charge).
    pub async fn archive_key_usage(&self, key_id: &KeyId, usage: KeyUsage) {
        let mut request = self
            .update(self.key_key(key_id))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":n", n(usage.count));
        request = match usage.last_used_at() {
            Some(at) => request
                .update_expression(format!("SET {USAGE_COUNT} = :n, {LAST_USED_AT} = :at"))
                .expression_attribute_values(":at", s(at)),
            None => request.update_expression(format!("SET {USAGE_COUNT} = :n")),
        };
        if let Err(error) = request.send().await {
            tracing::warn!(key_id = %key_id, error = %StoreError::from(error), "key use not archived");
        }
    }

    /// A user's keys, newest first (gsi1), at most `max`.
    pub async fn list_keys(
        &self,
        user_id: &UserId,
        max: usize,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let mut keys = Vec::new();
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::GSI_OWNER)
            .key_condition_expression("gsi1pk = :owner")
            .expression_attribute_values(":owner", s(owner_pk(user_id)))
            .scan_index_forward(false);
        self.for_each_item(query, |item| {
            keys.push(serde_dynamo::from_item(item)?);
            Ok(keys.len() < max)
        })
        .await?;
        Ok(keys)
    }

    /// Counts a key event on a random shard. Statistics must never
    /// fail the request that caused them, so a failure is logged and dropped.
    ///
    /// Sent once; if the answer is lost it is sent once more, and the event id it leaves on the
    /// shard (`last`) makes that copy a no-op when the first one was applied.
    pub async fn bump_key_stats(&self, event_kind: KeyEvent) {
        let counter = match event_kind {
            KeyEvent::Generated => KEYS_GENERATED,
            KeyEvent::Revoked => KEYS_REVOKED,
        };
        let shard = schema::shard_sk(random_shard());
        let event: u64 = rand::random();
        let result = send_counter_update(|| {
            self.update(item_key(KEY_STATS_PK, &shard))
                .update_expression("SET #last = :event ADD #c :one")
                .condition_expression("attribute_not_exists(#last) OR #last <> :event")
                .expression_attribute_names("#c", counter)
                .expression_attribute_names("#last", schema::LAST_EVENT)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":event", n(event))
        })
        .await;
        if let Err(error) = result {
            tracing::warn!(counter, error = %error, "key statistics not counted");
        }
    }

    /// Totals over every key: shard sums plus a count of unrevoked keys past their expiry.
    pub async fn key_stats(&self, now: DateTime<Utc>) -> Result<KeyStats, StoreError> {
        let shards = self.shards(KEY_STATS_PK.to_owned()).await?;
        let generated = counters::sum(&shards, KEYS_GENERATED);
        let revoked = counters::sum(&shards, KEYS_REVOKED);
        let expired = self
            .count_in_directory(DIRECTORY_EXPIRING, Some(&rfc3339(now)))
            .await?;
        Ok(KeyStats {
            generated,
            active: generated.saturating_sub(revoked + expired),
            revoked,
            expired,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde names the item's attributes; the expressions use the schema's constants.
    #[test]
    fn the_key_item_is_named_as_the_schema_says() {
        let key_id = KeyId::parse("AbCdEfGhIj").unwrap();
        let record = KeyRecord {
            key_id: key_id.clone(),
            user_id: UserId::parse("alice").unwrap(),
            hash: "$2b$04$hash".into(),
            name: "default".into(),
            tier_hint: crate::domain::Tier::Free,
            created_at: "2026-11-30T00:00:00.000Z".into(),
            expires_at: Some("2027-11-30T00:00:00.000Z".into()),
            revoked_at: Some("2026-12-01T00:00:00.000Z".into()),
            rotated_to: Some(key_id),
            created_with: None,
            usage_count: Some(3),
            last_used_at: Some("2026-11-30T12:00:00.000Z".into()),
        };
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&record).unwrap();
        for name in [REVOKED_AT, ROTATED_TO, USAGE_COUNT, LAST_USED_AT] {
            assert!(item.contains_key(name), "{name} in {:?}", item.keys());
        }
    }
}
