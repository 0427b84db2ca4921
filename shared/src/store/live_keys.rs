//! The live-key set on a user item: `liveKeys` (key id → the epoch second the key stops
//! working) and, per listed key, its use (`n#<keyId>`) and last charge mark (`t#<keyId>`).
//! The item stays small whatever happens: only live keys (at most `MAX_KEYS_PER_USER`, plus one
//! in a rotation's grace period) have entries on it; a revoked or pruned key's use moves to its
//! key item.
//!
//! The liveness rule is written here once, in Rust ([`live_at`], [`UserRecord::key_is_live`])
//! and as the condition the charge sends ([`LIVE_CONDITION`]).
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::counters::{self, KeyUsage};
use super::schema::{self, profile_key};
use super::users::UserRecord;
use super::{n, Store, StoreError};
use crate::apikey::KeyId;
use crate::domain::UserId;

/// A key is live while its entry's epoch second is after now (`#kid` the key id, `:nowEpoch`
/// now): the expression of [`live_at`].
pub(crate) const LIVE_CONDITION: &str = "liveKeys.#kid > :nowEpoch";

/// Whether a key whose entry says `until` works at `now`.
fn live_at(until: i64, now: DateTime<Utc>) -> bool {
    until > now.timestamp()
}

impl UserRecord {
    /// Whether the key works at `now`: listed live and not past its expiry.
    pub fn key_is_live(&self, key_id: &KeyId, now: DateTime<Utc>) -> bool {
        self.live_keys
            .get(key_id.as_str())
            .is_some_and(|until| live_at(*until, now))
    }

    pub fn live_key_count(&self, now: DateTime<Utc>) -> usize {
        self.live_keys
            .values()
            .filter(|until| live_at(**until, now))
            .count()
    }
}

impl Store {
    /// Makes a key live on its user, refused (`ConditionFailed`) when the user already holds
    /// `max_live` entries or does not exist.
    pub async fn activate_key(
        &self,
        user_id: &UserId,
        key_id: &KeyId,
        until_epoch: i64,
        max_live: u32,
    ) -> Result<(), StoreError> {
        self.update(profile_key(user_id))
            .update_expression("SET liveKeys.#kid = :until")
            .condition_expression("attribute_exists(pk) AND size(liveKeys) < :max")
            .expression_attribute_names("#kid", key_id.as_str())
            .expression_attribute_values(":until", n(until_epoch))
            .expression_attribute_values(":max", n(max_live))
            .send()
            .await?;
        Ok(())
    }

    /// Drops the entries of keys that have expired (and of rotated keys past their grace
    /// period), so they stop counting against the limit; their use moves to their key items.
    pub async fn prune_expired_keys(
        &self,
        user: &UserRecord,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let expired: Vec<KeyId> = user
            .live_keys
            .iter()
            .filter(|(_, until)| !live_at(**until, now))
            .filter_map(|(id, _)| KeyId::parse(id))
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let mut request = self.update(profile_key(&user.user_id));
        let mut removals = Vec::new();
        let mut conditions = Vec::new();
        for (index, id) in expired.iter().enumerate() {
            removals.push(format!(
                "{}.#k{index}, #n{index}, #t{index}",
                schema::LIVE_KEYS
            ));
            // Not live any more: the negation of `LIVE_CONDITION`.
            conditions.push(format!("{}.#k{index} <= :now", schema::LIVE_KEYS));
            request = request
                .expression_attribute_names(format!("#k{index}"), id.as_str())
                .expression_attribute_names(format!("#n{index}"), counters::key_count(id.as_str()))
                .expression_attribute_names(format!("#t{index}"), counters::key_mark(id.as_str()));
        }
        let result = request
            .update_expression(format!("REMOVE {}", removals.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result.map_err(StoreError::from) {
            Ok(output) => {
                let old = output.attributes.unwrap_or_default();
                for id in &expired {
                    if let Some(usage) = KeyUsage::of(&old, id.as_str()) {
                        self.archive_key_usage(id, usage).await;
                    }
                }
                Ok(expired.len())
            }
            Err(StoreError::ConditionFailed) => Ok(0),
            Err(other) => Err(other),
        }
    }

    /// Stops a key at `until_epoch` (now or later, for a rotation's grace period). A key that is
    /// already not live stays that way. When it stops now, its entries leave the user item and
    /// its use is returned (for its key item); a grace period keeps them until it ends.
    pub async fn deactivate_key(
        &self,
        user_id: &UserId,
        key_id: &KeyId,
        until_epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<KeyUsage>, StoreError> {
        let request = self
            .update(profile_key(user_id))
            .expression_attribute_names("#kid", key_id.as_str());
        let stops_now = until_epoch <= now.timestamp();
        let request = if stops_now {
            request
                .update_expression("REMOVE liveKeys.#kid, #n, #t")
                .condition_expression("attribute_exists(liveKeys.#kid)")
                .expression_attribute_names("#n", counters::key_count(key_id.as_str()))
                .expression_attribute_names("#t", counters::key_mark(key_id.as_str()))
                .return_values(ReturnValue::AllOld)
        } else {
            request
                .update_expression("SET liveKeys.#kid = :until")
                .condition_expression("liveKeys.#kid > :until")
                .expression_attribute_values(":until", n(until_epoch))
        };
        match request.send().await.map_err(StoreError::from) {
            Ok(output) if stops_now => Ok(Some(
                output
                    .attributes
                    .as_ref()
                    .and_then(|old| KeyUsage::of(old, key_id.as_str()))
                    .unwrap_or_default(),
            )),
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
