//! User items: the tier, the live keys, each live key's use and the monthly counters, all on one
//! item so that one conditional update can check "this key is live, the tier is what I think, the
//! count is under the limit" and count the request.
//!
//! The item stays small whatever happens: only live keys (at most `MAX_KEYS_PER_USER`, plus one
//! in a rotation's grace period) have entries on it; a revoked or pruned key's use moves to its
//! key item.
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::{n, number_attribute, outcome_unknown, s, single_attempt, Store, StoreError};
use crate::apikey::KeyId;
use crate::domain::{rfc3339, ClientGroup, Period, Tier, UserId};

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

/// `n#<keyId>`: requests counted with a live key (lifetime, refunds taken back).
fn key_count_attribute(key_id: &KeyId) -> String {
    format!("n#{key_id}")
}

/// `t#<keyId>`: the key's last charge mark (see [`charge_mark`]).
fn key_mark_attribute(key_id: &KeyId) -> String {
    format!("t#{key_id}")
}

/// A charge's mark: the instant in epoch microseconds, whose sub-millisecond digits are random.
/// It is the key's last use (to the millisecond) and, being unique per charge, lets a
/// compensation or a refund recognise its own charge.
pub fn charge_mark(now: DateTime<Utc>) -> u64 {
    use rand::Rng;
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    millis * 1000 + rand::rng().random_range(1..1000)
}

fn mark_instant(mark: u64) -> Option<String> {
    let millis = i64::try_from(mark / 1000).ok()?;
    DateTime::<Utc>::from_timestamp_millis(millis).map(rfc3339)
}

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

/// A live key's use as the user item holds it (moved to the key item when the key stops).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUsage {
    pub count: u64,
    /// The last charge's mark; 0 if never used.
    pub mark: u64,
}

impl KeyUsage {
    pub fn last_used_at(&self) -> Option<String> {
        (self.mark > 0).then(|| mark_instant(self.mark)).flatten()
    }

    fn of(item: &HashMap<String, AttributeValue>, key_id: &str) -> Option<Self> {
        let count = number_attribute(item, &format!("n#{key_id}"));
        let mark = item
            .get(&format!("t#{key_id}"))
            .and_then(|value| value.as_n().ok())
            .and_then(|text| text.parse::<u64>().ok());
        (count.is_some() || mark.is_some()).then(|| Self {
            count: count.unwrap_or(0.0).max(0.0) as u64,
            mark: mark.unwrap_or(0),
        })
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
        let key_usage = item
            .keys()
            .filter_map(|name| name.strip_prefix("n#").or_else(|| name.strip_prefix("t#")))
            .filter_map(|key_id| Some((key_id.to_owned(), KeyUsage::of(&item, key_id)?)))
            .collect();
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

/// Attribute of a counter item holding the mark of its last count.
const COUNTER_MARK: &str = "mk";
/// Attribute of a user or demo item holding the id of its last refund.
const REFUND_MARK: &str = "rf";

/// What a compensation takes back, and how it recognises its own charge.
struct Compensation {
    pk: String,
    month: String,
    mark_attribute: String,
    count_attribute: Option<String>,
    mark: u64,
    limit: Option<u64>,
}

/// A counter under a limit on an item of its own (demo callers, sign-ups per address).
struct CountedItem {
    pk: String,
    sk: String,
    counter: String,
    limit: u64,
    expires: i64,
    mark: u64,
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
            pk: user_pk(user_id),
            sk: PROFILE.to_owned(),
            tier,
            created_at: rfc3339(now),
            created_by: Some(created_by),
            live_keys: HashMap::new(),
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

    /// Changes an existing user's tier (the admin's explicit action). Returns the tier it had
    /// and the user as it is now; `None` when there is no such user.
    pub async fn set_tier(
        &self,
        user_id: &UserId,
        tier: Tier,
    ) -> Result<Option<(Tier, UserRecord)>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
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
            .filter(|(_, until)| **until <= now.timestamp())
            .filter_map(|(id, _)| KeyId::parse(id))
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
            removals.push(format!("liveKeys.#k{index}, #n{index}, #t{index}"));
            conditions.push(format!("liveKeys.#k{index} <= :now"));
            request = request
                .expression_attribute_names(format!("#k{index}"), id.as_str())
                .expression_attribute_names(format!("#n{index}"), key_count_attribute(id))
                .expression_attribute_names(format!("#t{index}"), key_mark_attribute(id));
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
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .expression_attribute_names("#kid", key_id.as_str());
        let stops_now = until_epoch <= now.timestamp();
        let request = if stops_now {
            request
                .update_expression("REMOVE liveKeys.#kid, #n, #t")
                .condition_expression("attribute_exists(liveKeys.#kid)")
                .expression_attribute_names("#n", key_count_attribute(key_id))
                .expression_attribute_names("#t", key_mark_attribute(key_id))
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

    /// The hot path: one conditional update that checks the key is live, the tier is the one
    /// assumed and the month's count is under `limit` (no limit: Enterprise), then counts the
    /// request, and the key's use and last-use mark on the same item (no second write).
    /// Returns the month's count after this request.
    ///
    /// Sent once. If its outcome is unknown (timed out, answer lost), one compensation follows
    /// that only takes back this very charge (see [`Store::compensate_charge`]).
    pub async fn charge_key_holder(
        &self,
        user_id: &UserId,
        key_id: &KeyId,
        assumed_tier: Tier,
        limit: Option<u64>,
        now: DateTime<Utc>,
        mark: u64,
    ) -> Result<u64, StoreError> {
        let month = month_attribute(Period::containing(now));
        let mut condition = "liveKeys.#kid > :nowEpoch AND tier = :tier".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(user_pk(user_id))))
            .update_expression("SET #t = :mark ADD #m :one, #n :one")
            .expression_attribute_names("#kid", key_id.as_str())
            .expression_attribute_names("#m", &month)
            .expression_attribute_names("#n", key_count_attribute(key_id))
            .expression_attribute_names("#t", key_mark_attribute(key_id))
            .expression_attribute_values(":nowEpoch", n(now.timestamp()))
            .expression_attribute_values(":mark", n(mark))
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
                    let target = Compensation {
                        pk: user_pk(user_id),
                        month,
                        mark_attribute: key_mark_attribute(key_id),
                        count_attribute: Some(key_count_attribute(key_id)),
                        mark,
                        limit,
                    };
                    self.compensate_charge(target).await;
                }
                Err(error.into())
            }
        }
    }

    /// Takes back a charge whose outcome is unknown, and only if it can have been ours: its mark
    /// is on the item (the charge was applied), or the count is still under the limit (the
    /// charge may be queued behind us: a server that applies both ends with the right count).
    /// A charge refused at the limit leaves neither, so a lost refusal is never compensated
    /// below the real count. Sent once; if this is lost too, the error is at most one request.
    async fn compensate_charge(&self, target: Compensation) {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(target.pk)))
            .expression_attribute_names("#m", &target.month)
            .expression_attribute_names("#mk", &target.mark_attribute)
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":mark", n(target.mark))
            .expression_attribute_values(":unmark", n(target.mark - 1));
        let mut update = "SET #mk = :unmark ADD #m :minus".to_owned();
        if let Some(count) = &target.count_attribute {
            update.push_str(", #n :minus");
            request = request.expression_attribute_names("#n", count);
        }
        let condition = match target.limit {
            Some(limit) => {
                request = request.expression_attribute_values(":limit", n(limit));
                "#mk = :mark OR (#m > :zero AND #m < :limit)"
            }
            None => "#mk = :mark OR #m > :zero",
        };
        let result = request
            .update_expression(update)
            .condition_expression(condition)
            .customize()
            .config_override(single_attempt())
            .send()
            .await;
        match result.map_err(StoreError::from) {
            Ok(_) | Err(StoreError::ConditionFailed) => {}
            Err(error) => {
                tracing::warn!(error = %error, "compensation of an unconfirmed charge not confirmed either")
            }
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

    /// Counts a demo request for a client group: `Ok(Ok(used))`, or `Ok(Err(used))` when the
    /// month's limit is already reached. Sent once, compensated like a key holder's charge.
    pub async fn charge_demo(
        &self,
        group: &ClientGroup,
        limit: u64,
        now: DateTime<Utc>,
        retention_days: u32,
        mark: u64,
    ) -> Result<Result<u64, u64>, StoreError> {
        let period = Period::containing(now);
        let month = month_attribute(period);
        let expires = period.end().timestamp() + i64::from(retention_days) * 86_400;
        let counted = self
            .count_under_limit(CountedItem {
                pk: demo_pk(group.as_str()),
                sk: PROFILE.to_owned(),
                counter: month,
                limit,
                expires,
                mark,
            })
            .await?;
        match counted {
            Ok(used) => Ok(Ok(used)),
            Err(()) => Ok(Err(self.demo_used(group, period).await?)),
        }
    }

    /// Counts a sign-up for a client group on the current UTC day: `Ok(Ok(count))`, or
    /// `Ok(Err(()))` when the day's limit is reached (the demo-quota pattern: one conditional
    /// `ADD`, so concurrent sign-ups from one address never exceed the limit).
    pub async fn count_signup(
        &self,
        group: &ClientGroup,
        limit: u32,
        now: DateTime<Utc>,
        mark: u64,
    ) -> Result<Result<u64, ()>, StoreError> {
        let day = now.date_naive();
        let expires = (now + chrono::Duration::days(2)).timestamp();
        self.count_under_limit(CountedItem {
            pk: format!("SIGNUP#{group}"),
            sk: format!("DAY#{day}"),
            counter: "signups".to_owned(),
            limit: u64::from(limit),
            expires,
            mark,
        })
        .await
    }

    /// One conditional `ADD` under a limit on a counter item with a TTL, sent once; an unknown
    /// outcome is compensated only if the mark shows it was applied (or it may still be).
    async fn count_under_limit(&self, item: CountedItem) -> Result<Result<u64, ()>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&item.pk))
            .key("sk", s(&item.sk))
            .update_expression("SET #ttl = :ttl, #mk = :mark ADD #m :one")
            .condition_expression("attribute_not_exists(#m) OR #m < :limit")
            .expression_attribute_names("#m", &item.counter)
            .expression_attribute_names("#mk", COUNTER_MARK)
            .expression_attribute_names("#ttl", super::TTL_ATTRIBUTE)
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
                let target = Compensation {
                    pk: item.pk.clone(),
                    month: item.counter.clone(),
                    mark_attribute: COUNTER_MARK.to_owned(),
                    count_attribute: None,
                    mark: item.mark,
                    limit: Some(item.limit),
                };
                self.compensate_counter(&item.sk, target).await;
            }
        }
        match result.map_err(StoreError::from) {
            Ok(output) => Ok(Ok(output
                .attributes
                .as_ref()
                .and_then(|values| number_attribute(values, &item.counter))
                .unwrap_or(0.0) as u64)),
            Err(StoreError::ConditionFailed) => Ok(Err(())),
            Err(other) => Err(other),
        }
    }

    /// [`Store::compensate_charge`] for a counter item whose sort key is not `PROFILE`.
    async fn compensate_counter(&self, sk: &str, target: Compensation) {
        if sk == PROFILE {
            return self.compensate_charge(target).await;
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&target.pk))
            .key("sk", s(sk))
            .update_expression("SET #mk = :unmark ADD #m :minus")
            .condition_expression("#mk = :mark OR (#m > :zero AND #m < :limit)")
            .expression_attribute_names("#m", &target.month)
            .expression_attribute_names("#mk", &target.mark_attribute)
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":mark", n(target.mark))
            .expression_attribute_values(":unmark", n(target.mark - 1))
            .expression_attribute_values(":limit", n(target.limit.unwrap_or(u64::MAX)))
            .customize()
            .config_override(single_attempt())
            .send()
            .await;
        if let Err(error) = result.map_err(StoreError::from) {
            if !matches!(error, StoreError::ConditionFailed) {
                tracing::warn!(error = %error, "compensation of an unconfirmed count not confirmed either");
            }
        }
    }

    /// A demo caller's count for a period.
    pub async fn demo_used(&self, group: &ClientGroup, period: Period) -> Result<u64, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.user_key(demo_pk(group.as_str()))))
            .consistent_read(true)
            .send()
            .await?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| number_attribute(item, &month_attribute(period)))
            .unwrap_or(0.0) as u64)
    }

    /// Gives back one counted request of `period` (a request we failed is not charged), and
    /// the key's use with it. Idempotent: the refund leaves its id (the charge's mark) on the
    /// item and is refused if it finds it there, so the one retry it gets when its first answer
    /// is lost cannot refund twice. The SDK never retries it by itself.
    pub async fn refund(
        &self,
        subject: &super::Subject,
        key_id: Option<&KeyId>,
        period: Period,
        refund_id: u64,
    ) -> Result<(), StoreError> {
        let pk = match subject {
            super::Subject::User(user_id) => user_pk(user_id),
            super::Subject::Demo(group) => demo_pk(group),
        };
        let month = month_attribute(period);
        let build = || {
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(self.user_key(pk.clone())))
                .condition_expression("#m > :zero AND (attribute_not_exists(#rf) OR #rf <> :rid)")
                .expression_attribute_names("#m", &month)
                .expression_attribute_names("#rf", REFUND_MARK)
                .expression_attribute_values(":minus", n(-1))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":rid", n(refund_id));
            request = match key_id {
                Some(key_id) => request
                    .update_expression("SET #rf = :rid ADD #m :minus, #n :minus")
                    .expression_attribute_names("#n", key_count_attribute(key_id)),
                None => request.update_expression("SET #rf = :rid ADD #m :minus"),
            };
            request
        };
        super::send_counter_update(build).await
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
