//! User items: the tier, the live keys and the monthly counters, all on one item so that one
//! conditional update can check "this key is live, the tier is what I think, the count is under
//! the limit" and count the request.
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::{n, number_attribute, s, Store, StoreError};
use crate::apikey::KeyId;
use crate::domain::{rfc3339, Period, Tier, UserId};

const PROFILE: &str = "PROFILE";
pub(crate) const DIRECTORY_USERS: &str = "DIR#USERS";

pub(crate) fn user_pk(user_id: &UserId) -> String {
    format!("USER#{user_id}")
}

fn demo_pk(ip: &str) -> String {
    format!("DEMO#{ip}")
}

fn month_attribute(period: Period) -> String {
    format!("m#{}", period.label())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserItem {
    pk: String,
    sk: String,
    user_id: UserId,
    tier: Tier,
    created_at: String,
    /// Key id → epoch second the key stops working (expiry, or a scheduled revocation).
    #[serde(default)]
    live_keys: HashMap<String, i64>,
    /// Key id → RFC 3339 instant of its last metered use.
    #[serde(default)]
    key_last_used: HashMap<String, String>,
    gsi2pk: String,
    gsi2sk: String,
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub user_id: UserId,
    pub tier: Tier,
    pub created_at: String,
    pub live_keys: HashMap<String, i64>,
    pub key_last_used: HashMap<String, String>,
    /// Requests counted per period label (`YYYY-MM`).
    pub monthly: HashMap<String, u64>,
}

impl UserRecord {
    pub fn used_in(&self, period: Period) -> u64 {
        self.monthly.get(&period.label()).copied().unwrap_or(0)
    }

    /// Whether the key works at `now`: listed live and not past its expiry.
    pub fn key_is_live(&self, key_id: &KeyId, now: DateTime<Utc>) -> bool {
        self.live_keys
            .get(key_id.as_str())
            .is_some_and(|until| *until > now.timestamp())
    }

    pub fn live_key_count(&self, now: DateTime<Utc>) -> usize {
        self.live_keys
            .values()
            .filter(|until| **until > now.timestamp())
            .count()
    }

    fn from_item(item: HashMap<String, AttributeValue>) -> Result<Self, StoreError> {
        let monthly = item
            .keys()
            .filter_map(|name| {
                let label = name.strip_prefix("m#")?;
                let count = number_attribute(&item, name)?;
                Some((label.to_owned(), count.max(0.0) as u64))
            })
            .collect();
        let decoded: UserItem = serde_dynamo::from_item(item)?;
        Ok(Self {
            user_id: decoded.user_id,
            tier: decoded.tier,
            created_at: decoded.created_at,
            live_keys: decoded.live_keys,
            key_last_used: decoded.key_last_used,
            monthly,
        })
    }
}

/// The charge's updates are sent once: an SDK retry of an `ADD` that the server did apply
/// (but whose answer was lost) would count the request twice.
fn single_attempt() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

/// Whether a failed request may nevertheless have been applied by the server.
fn outcome_unknown<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool {
    use aws_sdk_dynamodb::error::SdkError;
    matches!(
        error,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) | SdkError::DispatchFailure(_)
    )
}

/// Why a charge was refused by its condition, found by reading the user item afterwards.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargeRefusal {
    /// No such user, or the key is not live (revoked, expired, never activated).
    KeyNotLive,
    /// The stored tier differs from the one assumed: retry with it.
    TierChanged(Tier),
    /// The month's limit is reached.
    QuotaExhausted { used: u64 },
    /// Nothing explains the refusal any more (the state changed in between): retry.
    Transient,
}

impl Store {
    fn user_key(&self, pk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(PROFILE))])
    }

    pub async fn get_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .consistent_read(true)
            .send()
            .await?;
        output.item.map(UserRecord::from_item).transpose()
    }

    /// Creates a user only if none exists (atomic sign-up). `Ok(false)`: the user exists.
    pub async fn create_user_if_absent(
        &self,
        user_id: &UserId,
        tier: Tier,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item = UserItem {
            pk: user_pk(user_id),
            sk: PROFILE.to_owned(),
            user_id: user_id.clone(),
            tier,
            created_at: rfc3339(now),
            live_keys: HashMap::new(),
            key_last_used: HashMap::new(),
            gsi2pk: DIRECTORY_USERS.to_owned(),
            gsi2sk: user_id.to_string(),
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result.map_err(StoreError::from) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Creates the user if needed and sets its tier when given (the admin's path).
    pub async fn upsert_user(
        &self,
        user_id: &UserId,
        tier: Option<Tier>,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, StoreError> {
        let tier_expression = if tier.is_some() {
            "tier = :tier"
        } else {
            "tier = if_not_exists(tier, :tier)"
        };
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .update_expression(format!(
                "SET {tier_expression}, userId = :uid, createdAt = if_not_exists(createdAt, :now), \
                 liveKeys = if_not_exists(liveKeys, :empty), \
                 keyLastUsed = if_not_exists(keyLastUsed, :empty), gsi2pk = :dir, gsi2sk = :uid"
            ))
            .expression_attribute_values(":tier", s(tier.unwrap_or(Tier::Free).as_str()))
            .expression_attribute_values(":uid", s(user_id.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":dir", s(DIRECTORY_USERS))
            .return_values(ReturnValue::AllNew)
            .send()
            .await?;
        let item = output
            .attributes
            .ok_or_else(|| StoreError::Internal("update returned no attributes".into()))?;
        UserRecord::from_item(item)
    }

    /// Removes a user that holds no key: undoes a sign-up whose key could not be activated.
    pub async fn delete_user_if_keyless(&self, user_id: &UserId) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .condition_expression("size(liveKeys) = :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result.map_err(StoreError::from) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Makes a key live on its user, refused (`ConditionFailed`) when the user already holds
    /// `max_live` entries or does not exist.
    pub async fn activate_key(
        &self,
        user_id: &UserId,
        key_id: &KeyId,
        until_epoch: i64,
        max_live: u32,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .update_expression("SET liveKeys.#kid = :until")
            .condition_expression("attribute_exists(pk) AND size(liveKeys) < :max")
            .expression_attribute_names("#kid", key_id.as_str())
            .expression_attribute_values(":until", n(until_epoch))
            .expression_attribute_values(":max", n(max_live))
            .send()
            .await?;
        Ok(())
    }

    /// Drops live-key entries that have expired, so they stop counting against the limit.
    pub async fn prune_expired_keys(
        &self,
        user: &UserRecord,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let expired: Vec<&String> = user
            .live_keys
            .iter()
            .filter(|(_, until)| **until <= now.timestamp())
            .map(|(id, _)| id)
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(&user.user_id))));
        let mut removals = Vec::new();
        let mut conditions = Vec::new();
        for (index, id) in expired.iter().enumerate() {
            removals.push(format!("liveKeys.#k{index}"));
            conditions.push(format!("liveKeys.#k{index} <= :now"));
            request = request.expression_attribute_names(format!("#k{index}"), id.as_str());
        }
        let result = request
            .update_expression(format!("REMOVE {}", removals.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match result.map_err(StoreError::from) {
            Ok(_) => Ok(expired.len()),
            Err(StoreError::ConditionFailed) => Ok(0),
            Err(other) => Err(other),
        }
    }

    /// Stops a key at `until_epoch` (now or later, for a rotation's grace period). A key that is
    /// already not live stays that way. Returns whether the key was live.
    pub async fn deactivate_key(
        &self,
        user_id: &UserId,
        key_id: &KeyId,
        until_epoch: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .expression_attribute_names("#kid", key_id.as_str());
        let request = if until_epoch <= now.timestamp() {
            request
                .update_expression("REMOVE liveKeys.#kid")
                .condition_expression("attribute_exists(liveKeys.#kid)")
        } else {
            request
                .update_expression("SET liveKeys.#kid = :until")
                .condition_expression("liveKeys.#kid > :until")
                .expression_attribute_values(":until", n(until_epoch))
        };
        match request.send().await.map_err(StoreError::from) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The hot path: one conditional update that checks the key is live, the tier is the one
    /// assumed and the month's count is under `limit` (no limit: Enterprise), then counts the
    /// request and records the key's last use. Returns the month's count after this request.
    pub async fn charge_key_holder(
        &self,
        user_id: &UserId,
        key_id: &KeyId,
        assumed_tier: Tier,
        limit: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let month = month_attribute(Period::containing(now));
        let mut condition = "liveKeys.#kid > :nowEpoch AND tier = :tier".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .update_expression("SET keyLastUsed.#kid = :nowText ADD #m :one")
            .expression_attribute_names("#kid", key_id.as_str())
            .expression_attribute_names("#m", &month)
            .expression_attribute_values(":nowEpoch", n(now.timestamp()))
            .expression_attribute_values(":nowText", s(rfc3339(now)))
            .expression_attribute_values(":tier", s(assumed_tier.as_str()))
            .expression_attribute_values(":one", n(1));
        if let Some(limit) = limit {
            condition.push_str(" AND (attribute_not_exists(#m) OR #m < :limit)");
            request = request.expression_attribute_values(":limit", n(limit));
        }
        let result = request
            .condition_expression(condition)
            .return_values(ReturnValue::UpdatedNew)
            .customize()
            .config_override(single_attempt())
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .attributes
                .as_ref()
                .and_then(|item| number_attribute(item, &month))
                .unwrap_or(0.0) as u64),
            Err(error) => {
                if outcome_unknown(&error) {
                    self.compensate(user_pk(user_id), &month).await;
                }
                Err(error.into())
            }
        }
    }

    /// A charge whose outcome is unknown (timed out, or its answer was lost) may still be
    /// applied by the server: one refund is sent after it, so that a server that queued the
    /// charge applies both. If the charge never arrived, the refund's `> 0` condition keeps
    /// any error in the customer's favour.
    async fn compensate(&self, pk: String, month: &str) {
        if let Err(error) = self.take_back_one(pk, month, Some(single_attempt())).await {
            tracing::warn!(error = %error, "compensating refund of an unconfirmed charge not confirmed either");
        }
    }

    /// Explains a refused charge from a fresh read of the user item.
    pub async fn explain_refusal(
        &self,
        user_id: &UserId,
        key_id: &KeyId,
        assumed_tier: Tier,
        limit: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<ChargeRefusal, StoreError> {
        let Some(user) = self.get_user(user_id).await? else {
            return Ok(ChargeRefusal::KeyNotLive);
        };
        if !user.key_is_live(key_id, now) {
            return Ok(ChargeRefusal::KeyNotLive);
        }
        if user.tier != assumed_tier {
            return Ok(ChargeRefusal::TierChanged(user.tier));
        }
        let used = user.used_in(Period::containing(now));
        match limit {
            Some(limit) if used >= limit => Ok(ChargeRefusal::QuotaExhausted { used }),
            _ => Ok(ChargeRefusal::Transient),
        }
    }

    /// Counts a demo request for a client address: `Ok(Ok(used))`, or `Ok(Err(used))` when the
    /// month's limit is already reached.
    pub async fn charge_demo(
        &self,
        ip: &str,
        limit: u64,
        now: DateTime<Utc>,
        retention_days: u32,
    ) -> Result<Result<u64, u64>, StoreError> {
        let period = Period::containing(now);
        let month = month_attribute(period);
        let expires = period.end().timestamp() + i64::from(retention_days) * 86_400;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(demo_pk(ip))))
            .update_expression("SET #ttl = :ttl ADD #m :one")
            .condition_expression("attribute_not_exists(#m) OR #m < :limit")
            .expression_attribute_names("#m", &month)
            .expression_attribute_names("#ttl", super::TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", n(expires))
            .return_values(ReturnValue::UpdatedNew)
            .customize()
            .config_override(single_attempt())
            .send()
            .await;
        if let Err(error) = &result {
            if outcome_unknown(error) {
                self.compensate(demo_pk(ip), &month).await;
            }
        }
        match result.map_err(StoreError::from) {
            Ok(output) => Ok(Ok(output
                .attributes
                .as_ref()
                .and_then(|item| number_attribute(item, &month))
                .unwrap_or(0.0) as u64)),
            Err(StoreError::ConditionFailed) => Ok(Err(self.demo_used(ip, period).await?)),
            Err(other) => Err(other),
        }
    }

    /// A demo caller's count for a period.
    pub async fn demo_used(&self, ip: &str, period: Period) -> Result<u64, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(demo_pk(ip))))
            .consistent_read(true)
            .send()
            .await?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| number_attribute(item, &month_attribute(period)))
            .unwrap_or(0.0) as u64)
    }

    /// Gives back one counted request of `period` (a request we failed is not charged).
    pub async fn refund(&self, subject: &super::Subject, period: Period) -> Result<(), StoreError> {
        let pk = match subject {
            super::Subject::User(user_id) => user_pk(user_id),
            super::Subject::Demo(ip) => demo_pk(ip),
        };
        self.take_back_one(pk, &month_attribute(period), None).await
    }

    /// `ADD #m -1` while the count is above zero; `overrides` can make it a single attempt.
    async fn take_back_one(
        &self,
        pk: String,
        month: &str,
        overrides: Option<aws_sdk_dynamodb::config::Builder>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(pk)))
            .update_expression("ADD #m :minus")
            .condition_expression("#m > :zero")
            .expression_attribute_names("#m", month)
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0));
        let result = match overrides {
            Some(config) => request.customize().config_override(config).send().await,
            None => request.send().await,
        };
        match result.map_err(StoreError::from) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Sets a user's count for `period` back to zero (admin reset).
    pub async fn reset_month(&self, user_id: &UserId, period: Period) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .update_expression("REMOVE #m")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#m", month_attribute(period))
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
            .index_name(super::GSI_DIRECTORY)
            .key_condition_expression("gsi2pk = :dir")
            .expression_attribute_values(":dir", s(DIRECTORY_USERS))
            .limit(limit);
        if let Some(after) = after {
            query = query.set_exclusive_start_key(Some(HashMap::from([
                ("pk".to_owned(), s(user_pk(after))),
                ("sk".to_owned(), s(PROFILE)),
                ("gsi2pk".to_owned(), s(DIRECTORY_USERS)),
                ("gsi2sk".to_owned(), s(after.as_str())),
            ])));
        }
        let output = query.send().await?;
        let ids: Vec<UserId> = output
            .items()
            .iter()
            .filter_map(|item| item.get("gsi2sk")?.as_s().ok())
            .filter_map(|id| UserId::parse(id).ok())
            .collect();
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get("gsi2sk")?.as_s().ok())
            .and_then(|id| UserId::parse(id).ok());
        let users = self.get_users(&ids).await?;
        Ok((users, next))
    }

    /// Reads several users at once (BatchGetItem, 100 at a time), in the order given.
    pub async fn get_users(&self, ids: &[UserId]) -> Result<Vec<UserRecord>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found: HashMap<String, UserRecord> = HashMap::new();
        for chunk in ids.chunks(100) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            for id in chunk {
                keys = keys.keys(self.user_key(user_pk(id)));
            }
            let mut pending = Some(HashMap::from([(
                self.table.clone(),
                keys.build()
                    .map_err(|e| StoreError::Internal(e.to_string()))?,
            )]));
            let mut rounds = 0;
            while let Some(request) = pending.take().filter(|r| !r.is_empty()) {
                rounds += 1;
                if rounds > 5 {
                    return Err(StoreError::Unavailable("batch read kept throttling".into()));
                }
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await?;
                for item in output
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    let user = UserRecord::from_item(item)?;
                    found.insert(user.user_id.to_string(), user);
                }
                pending = output.unprocessed_keys;
            }
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
