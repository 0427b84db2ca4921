//! Charging a key holder: the hot path's one conditional update on the user item, the
//! compensation of a charge whose outcome is unknown, and the refund of a request we failed.
//!
//! The rule "this key is live, the tier is what the meter assumes, the month's count is under
//! the limit" is one value, [`ChargeCondition`]: it renders the condition expression and, when
//! the server refuses it, explains the refusal from the item read back. Both sides are written
//! next to each other below, conjunct by conjunct.
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::counters;
use super::live_keys::LIVE_CONDITION;
use super::schema::{self, item_key, profile_key, Item};
use super::users::UserRecord;
use super::{n, outcome_unknown, s, single_attempt, Store, StoreError};
use crate::apikey::KeyId;
use crate::domain::{Period, Tier, UserId};

/// What a key holder's charge assumes: checked by the server, explained by the meter.
#[derive(Debug, Clone, Copy)]
pub struct ChargeCondition<'a> {
    pub user_id: &'a UserId,
    pub key_id: &'a KeyId,
    pub now: DateTime<Utc>,
    /// The tier the meter assumes (its limit is `limit`).
    pub tier: Tier,
    /// `None` is unlimited (Enterprise).
    pub limit: Option<u64>,
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

/// The answer to a key holder's charge.
#[derive(Debug, Clone, PartialEq)]
pub enum ChargeOutcome {
    /// Counted: the month's count after this request.
    Admitted {
        used: u64,
    },
    Refused(ChargeRefusal),
}

/// A condition expression with its placeholders.
pub(crate) struct RenderedCondition {
    pub expression: String,
    pub names: Vec<(&'static str, String)>,
    pub values: Vec<(&'static str, AttributeValue)>,
}

impl ChargeCondition<'_> {
    fn period(&self) -> Period {
        Period::containing(self.now)
    }

    /// The condition expression: `#kid` the key id, `#m` the month's counter.
    pub(crate) fn render(&self) -> RenderedCondition {
        let mut expression = format!("{LIVE_CONDITION} AND {} = :tier", schema::TIER);
        let mut values = vec![
            (":nowEpoch", n(self.now.timestamp())),
            (":tier", s(self.tier.as_str())),
        ];
        if let Some(limit) = self.limit {
            expression.push_str(" AND (attribute_not_exists(#m) OR #m < :limit)");
            values.push((":limit", n(limit)));
        }
        RenderedCondition {
            expression,
            names: vec![
                ("#kid", self.key_id.to_string()),
                ("#m", counters::month(self.period())),
            ],
            values,
        }
    }

    /// Which conjunct of [`Self::render`] the user item as read back fails (`None`: no item).
    pub(crate) fn explain(&self, user: Option<&UserRecord>) -> ChargeRefusal {
        let Some(user) = user else {
            return ChargeRefusal::KeyNotLive;
        };
        if !user.key_is_live(self.key_id, self.now) {
            return ChargeRefusal::KeyNotLive;
        }
        if user.tier != self.tier {
            return ChargeRefusal::TierChanged(user.tier);
        }
        let used = user.used_in(self.period());
        match self.limit {
            Some(limit) if used >= limit => ChargeRefusal::QuotaExhausted { used },
            Some(_) | None => ChargeRefusal::Transient,
        }
    }
}

/// What a compensation takes back, and how it recognises its own charge.
pub(crate) struct Compensation {
    pub key: Item,
    pub counter: String,
    pub mark_attribute: String,
    pub key_count_attribute: Option<String>,
    pub mark: u64,
    pub limit: Option<u64>,
}

impl Store {
    /// The hot path: one conditional update ([`ChargeCondition`]) that counts the request, and
    /// the key's use and last-use mark on the same item (no second write). A refusal is
    /// explained from the item DynamoDB returns with it (`ReturnValuesOnConditionCheckFailure`
    /// = `ALL_OLD`: no second round trip); a server that does not return it (dynalite) costs
    /// one consistent read of the user item instead.
    ///
    /// Sent once. If its outcome is unknown (timed out, answer lost), one compensation follows
    /// that only takes back this very charge (see [`Store::compensate`]).
    pub async fn charge_key_holder(
        &self,
        condition: &ChargeCondition<'_>,
        mark: u64,
    ) -> Result<ChargeOutcome, StoreError> {
        let rendered = condition.render();
        let month = counters::month(condition.period());
        let key_count = counters::key_count(condition.key_id.as_str());
        let key_mark = counters::key_mark(condition.key_id.as_str());
        let mut request = self
            .update(profile_key(condition.user_id))
            .update_expression("SET #t = :mark ADD #m :one, #n :one")
            .condition_expression(rendered.expression)
            .expression_attribute_names("#n", &key_count)
            .expression_attribute_names("#t", &key_mark)
            .expression_attribute_values(":mark", n(mark))
            .expression_attribute_values(":one", n(1));
        for (name, attribute) in rendered.names {
            request = request.expression_attribute_names(name, attribute);
        }
        for (placeholder, value) in rendered.values {
            request = request.expression_attribute_values(placeholder, value);
        }
        let result = request
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .config_override(single_attempt())
            .send()
            .await;
        match result {
            Ok(output) => Ok(ChargeOutcome::Admitted {
                used: output
                    .attributes
                    .as_ref()
                    .and_then(|item| counters::integer(item, &month))
                    .unwrap_or(0),
            }),
            Err(error) => {
                if outcome_unknown(&error) {
                    self.compensate(Compensation {
                        key: profile_key(condition.user_id),
                        counter: month,
                        mark_attribute: key_mark,
                        key_count_attribute: Some(key_count),
                        mark,
                        limit: condition.limit,
                    })
                    .await;
                }
                let returned = item_returned_with_refusal(&error);
                match StoreError::from(error) {
                    StoreError::ConditionFailed => {
                        let user = match returned {
                            Some(item) => Some(UserRecord::from_item(item)?),
                            None => self.read_profile(condition.user_id).await?,
                        };
                        Ok(ChargeOutcome::Refused(condition.explain(user.as_ref())))
                    }
                    other => Err(other),
                }
            }
        }
    }

    /// Takes back a charge whose outcome is unknown, and only if it can have been ours: its mark
    /// is on the item (the charge was applied), or the count is still under the limit (the
    /// charge may be queued behind us: a server that applies both ends with the right count).
    /// A charge refused at the limit leaves neither, so a lost refusal is never compensated
    /// below the real count. Sent once; if this is lost too, the error is at most one request.
    pub(crate) async fn compensate(&self, target: Compensation) {
        let mut request = self
            .update(target.key)
            .expression_attribute_names("#m", &target.counter)
            .expression_attribute_names("#mk", &target.mark_attribute)
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":mark", n(target.mark))
            .expression_attribute_values(":unmark", n(target.mark - 1));
        let mut update = "SET #mk = :unmark ADD #m :minus".to_owned();
        if let Some(count) = &target.key_count_attribute {
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

    /// Gives back one counted request of `period` (a request we failed is not charged), and
    /// the key's use with it, on the item that counted it: the user's or demo caller's item,
    /// or an Enterprise user's meter shard (`meter_shard`). Idempotent: the refund leaves its
    /// id (the charge's mark) on the item and is refused if it finds it there, so the one retry
    /// it gets when its first answer is lost cannot refund twice. The SDK never retries it.
    pub async fn refund(
        &self,
        subject: &super::Subject,
        key_id: Option<&KeyId>,
        meter_shard: Option<u32>,
        period: Period,
        refund_id: u64,
    ) -> Result<(), StoreError> {
        let key = match (subject, meter_shard) {
            (super::Subject::User(user_id), Some(shard)) => schema::meter_shard_key(user_id, shard),
            (super::Subject::User(user_id), None) => profile_key(user_id),
            (super::Subject::Demo(group), _) => item_key(schema::demo_pk(group), schema::PROFILE),
        };
        let month = counters::month(period);
        let build = || {
            let request = self
                .update(key.clone())
                .condition_expression("#m > :zero AND (attribute_not_exists(#rf) OR #rf <> :rid)")
                .expression_attribute_names("#m", &month)
                .expression_attribute_names("#rf", schema::REFUND_MARK)
                .expression_attribute_values(":minus", n(-1))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":rid", n(refund_id));
            match key_id {
                Some(key_id) => request
                    .update_expression("SET #rf = :rid ADD #m :minus, #n :minus")
                    .expression_attribute_names("#n", counters::key_count(key_id.as_str())),
                None => request.update_expression("SET #rf = :rid ADD #m :minus"),
            }
        };
        super::send_counter_update(build).await
    }
}

/// The item a refused conditional update returned (`ALL_OLD`), if the server sent it.
fn item_returned_with_refusal<R>(error: &SdkError<UpdateItemError, R>) -> Option<Item> {
    match error {
        SdkError::ServiceError(service) => match service.err() {
            UpdateItemError::ConditionalCheckFailedException(refusal) => refusal.item.clone(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_condition_renders_the_expression_the_table_has_always_been_sent() {
        let user_id = UserId::parse("alice").unwrap();
        let key_id = KeyId::parse("AbCdEfGhIj").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
        let mut condition = ChargeCondition {
            user_id: &user_id,
            key_id: &key_id,
            now,
            tier: Tier::Pro,
            limit: Some(10),
        };
        let limited = condition.render();
        assert_eq!(
            limited.expression,
            "liveKeys.#kid > :nowEpoch AND tier = :tier AND (attribute_not_exists(#m) OR #m < :limit)"
        );
        assert_eq!(
            limited.names,
            [
                ("#kid", "AbCdEfGhIj".to_owned()),
                ("#m", "m#2026-11".to_owned())
            ]
        );
        assert_eq!(limited.values.len(), 3);
        condition.limit = None;
        assert_eq!(
            condition.render().expression,
            "liveKeys.#kid > :nowEpoch AND tier = :tier"
        );
        assert_eq!(condition.explain(None), ChargeRefusal::KeyNotLive);
    }
}
