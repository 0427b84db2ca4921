//! User items: the profile (tier, provenance, creation) and the user directory (gsi2
//! `DIR#USERS`, by user id). The same item carries the live-key set ([`super::live_keys`]) and
//! the monthly counters ([`super::charge`]), so that one conditional update can check "this key
//! is live, the tier is what I think, the count is under the limit" and count the request.
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::counters::{self, KeyUsage};
use super::schema::{self, profile_key, Item, DIRECTORY_USERS, PROFILE};
use super::{n, s, Store, StoreError};
use crate::domain::{rfc3339, Period, Tier, UserId};

/// How a user came to exist: a sign-up (with its time and client address) or the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "lowercase")]
pub enum CreatedBy {
    Signup { at: String, ip: String },
    Admin { at: String },
}

impl CreatedBy {
    pub fn is_admin(&self) -> bool {
        matches!(self, CreatedBy::Admin { .. })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserItem {
    pk: String,
    sk: String,
    tier: Tier,
    created_at: String,
    /// `None` only for users stored before provenance was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_by: Option<CreatedBy>,
    /// Key id → epoch second the key stops working (expiry, or a scheduled revocation).
    #[serde(default)]
    live_keys: HashMap<String, i64>,
    gsi2pk: String,
    gsi2sk: String,
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub user_id: UserId,
    pub tier: Tier,
    pub created_at: String,
    pub created_by: Option<CreatedBy>,
    pub live_keys: HashMap<String, i64>,
    /// Use of the keys that have entries on the item (live ones, and stopped ones not pruned yet).
    pub key_usage: HashMap<String, KeyUsage>,
    /// Requests counted per period label (`YYYY-MM`).
    pub monthly: HashMap<String, u64>,
}

impl UserRecord {
    pub fn used_in(&self, period: Period) -> u64 {
        self.monthly.get(&period.label()).copied().unwrap_or(0)
    }

    pub(crate) fn from_item(item: Item) -> Result<Self, StoreError> {
        let key_usage = counters::keys_with_use(&item)
            .filter_map(|key_id| Some((key_id.to_owned(), KeyUsage::of(&item, key_id)?)))
            .collect();
        let monthly = counters::months(&item);
        let decoded: UserItem = serde_dynamo::from_item(item)?;
        Ok(Self {
            // The id is in the keys (`pk`, `gsi2sk`): not stored a third time (item size).
            user_id: UserId::parse(&decoded.gsi2sk).map_err(StoreError::Corrupt)?,
            tier: decoded.tier,
            created_at: decoded.created_at,
            created_by: decoded.created_by,
            live_keys: decoded.live_keys,
            key_usage,
            monthly,
        })
    }
}

impl Store {
    /// A user, read consistently, with its Enterprise meter shards added (months and key use;
    /// see [`super::enterprise`]).
    pub async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let Some(mut user) = self.read_profile(user_id).await? else {
            return Ok(None);
        };
        if user.tier == Tier::Enterprise {
            self.add_meter_shards(&mut user).await?;
        }
        Ok(Some(user))
    }

    /// Creates a user only if none exists (atomic: a sign-up and the admin racing for one id
    /// cannot both create it). `Ok(false)`: the user exists.
    pub async fn create_user_if_absent(
        &self,
        user_id: &UserId,
        tier: Tier,
        created_by: CreatedBy,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = UserItem {
            pk: schema::user_pk(user_id),
            sk: PROFILE.to_owned(),
            tier,
            created_at: rfc3339(now),
            created_by: Some(created_by),
            live_keys: HashMap::new(),
            gsi2pk: DIRECTORY_USERS.to_owned(),
            gsi2sk: user_id.to_string(),
        };
        match self.put_new(item).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Changes an existing user's tier (the admin's explicit action). Returns the tier it had
    /// and the user as it is now; `None` when there is no such user.
    pub async fn set_tier(
        &self,
        user_id: &UserId,
        tier: Tier,
    ) -> Result<Option<(Tier, UserRecord)>, StoreError> {
        let result = self
            .update(profile_key(user_id))
            .update_expression("SET tier = :tier")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":tier", s(tier.as_str()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result.map_err(StoreError::from) {
            Ok(output) => {
                let item = output
                    .attributes
                    .ok_or_else(|| StoreError::Internal("update returned no attributes".into()))?;
                let mut user = UserRecord::from_item(item)?;
                let previous = user.tier;
                user.tier = tier;
                Ok(Some((previous, user)))
            }
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Removes a user that holds no key: undoes a sign-up whose key could not be activated.
    pub async fn delete_user_if_keyless(&self, user_id: &UserId) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(user_id)))
            .condition_expression("size(liveKeys) = :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result.map_err(StoreError::from) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Sets a user's count for `period` back to zero (admin reset).
    pub async fn reset_month(&self, user_id: &UserId, period: Period) -> Result<(), StoreError> {
        self.update(profile_key(user_id))
            .update_expression("REMOVE #m")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#m", counters::month(period))
            .send()
            .await?;
        Ok(())
    }

    /// One page of the user directory (gsi2), by user id, then the users themselves.
    pub async fn users_page(
        &self,
        limit: i32,
        after: Option<&UserId>,
    ) -> Result<(Vec<UserRecord>, Option<UserId>), StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::GSI_DIRECTORY)
            .key_condition_expression("gsi2pk = :dir")
            .expression_attribute_values(":dir", s(DIRECTORY_USERS))
            .limit(limit);
        if let Some(after) = after {
            query = query.set_exclusive_start_key(Some(HashMap::from([
                (schema::PK.to_owned(), s(schema::user_pk(after))),
                (schema::SK.to_owned(), s(PROFILE)),
                (schema::GSI2_PK.to_owned(), s(DIRECTORY_USERS)),
                (schema::GSI2_SK.to_owned(), s(after.as_str())),
            ])));
        }
        let output = query.send().await?;
        let ids: Vec<UserId> = output
            .items()
            .iter()
            .filter_map(|item| item.get(schema::GSI2_SK)?.as_s().ok())
            .filter_map(|id| UserId::parse(id).ok())
            .collect();
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get(schema::GSI2_SK)?.as_s().ok())
            .and_then(|id| UserId::parse(id).ok());
        let users = self.get_users(&ids).await?;
        Ok((users, next))
    }

    /// Reads several users at once (BatchGetItem, 100 at a time), in the order given.
    pub async fn get_users(&self, ids: &[UserId]) -> Result<Vec<UserRecord>, StoreError> {
        let keys = ids.iter().map(profile_key).collect();
        let mut found: HashMap<String, UserRecord> = HashMap::new();
        for item in self.get_items_consistent(keys).await? {
            let user = UserRecord::from_item(item)?;
            found.insert(user.user_id.to_string(), user);
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id.as_str()))
            .collect())
    }

    /// Counts the users in the directory (admin statistics; KEYS_ONLY index, paginated).
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        self.count_in_directory(DIRECTORY_USERS, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde names the item's attributes; the expressions use the schema's constants.
    #[test]
    fn the_user_item_is_named_as_the_schema_says() {
        let item: Item = serde_dynamo::to_item(UserItem {
            pk: "USER#alice".into(),
            sk: PROFILE.into(),
            tier: Tier::Free,
            created_at: "2026-11-30T00:00:00.000Z".into(),
            created_by: None,
            live_keys: HashMap::new(),
            gsi2pk: DIRECTORY_USERS.into(),
            gsi2sk: "alice".into(),
        })
        .unwrap();
        for name in [
            schema::PK,
            schema::SK,
            schema::TIER,
            schema::LIVE_KEYS,
            schema::GSI2_PK,
            schema::GSI2_SK,
        ] {
            assert!(item.contains_key(name), "{name} in {:?}", item.keys());
        }
    }
}
