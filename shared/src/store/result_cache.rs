//! The fleet's result cache: the second level behind each data container's own caches, so that
//! an answer one container fetched serves every container until it expires, instead of each
//! container asking the upstream (and spending its politeness budget) once.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `CACHE#<source>#<SHA-256 hex of the normalised key>` | `RESULT` | `value` (the answer as JSON text), `expiresAt` (epoch s), `ttl` (= `expiresAt`) |
//!
//! - **Read** eventually consistent (half the read cost; a result written a second ago and not
//!   yet visible is only a miss), in one attempt (a failed read is a miss: the upstream is the
//!   fallback, not a retry). An item whose `expiresAt` has passed is a miss too: DynamoDB's TTL
//!   sweep deletes up to days late, and dynalite never does.
//! - **Written** unconditionally (every writer holds a fresh answer; the last one wins) and
//!   never on the request path: [`Store::cached_result_put`] only builds a [`DeferredPut`] for
//!   the container's after-response batch. Values too large for one item are not cached here.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::schema::{cache_pk, item_key, CACHED_RESULT_SK, CACHED_VALUE, EXPIRES_AT, PK, SK, TTL};
use super::{single_attempt, DeferredPut, Store, StoreError};

/// The largest cached-result item written, in bytes as DynamoDB counts them: an item holds
/// 400 KB at most, and the margin keeps a put from failing after the response over a few bytes
/// of overhead we did not count.
pub const MAX_CACHED_RESULT_BYTES: usize = 350_000;

/// A live shared result: the text the data function cached, and when it stops being served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResult {
    pub value: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultItem {
    pk: String,
    sk: String,
    value: String,
    expires_at: i64,
    ttl: i64,
}

impl ResultItem {
    /// The item's size as DynamoDB counts it, rounded up: attribute names and string values
    /// by their UTF-8 bytes, each number at most 21 bytes.
    fn size_upper_bound(&self) -> usize {
        const NUMBER_BYTES: usize = 21;
        [PK, SK, CACHED_VALUE, EXPIRES_AT, TTL]
            .iter()
            .map(|name| name.len())
            .sum::<usize>()
            + self.pk.len()
            + self.sk.len()
            + self.value.len()
            + 2 * NUMBER_BYTES
    }

    /// The result while it is live at `now`; `None` from `expiresAt` on.
    fn live_at(self, now: DateTime<Utc>) -> Option<CachedResult> {
        let expires_at = DateTime::from_timestamp(self.expires_at, 0)?;
        (expires_at > now).then_some(CachedResult {
            value: self.value,
            expires_at,
        })
    }
}

impl Store {
    /// The fleet's cached result of `source` for `key` (the source's normalised cache key), if
    /// one is live at `now`.
    pub async fn cached_result(
        &self,
        source: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CachedResult>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(cache_pk(source, key), CACHED_RESULT_SK)))
            .consistent_read(false)
            .customize()
            .config_override(single_attempt())
            .send()
            .await?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let item: ResultItem = serde_dynamo::from_item(item)?;
        Ok(item.live_at(now))
    }

    /// The put that caches `value` as `source`'s result for `key` until `expires_at`, to send
    /// after the response; `None` when the item would exceed [`MAX_CACHED_RESULT_BYTES`].
    pub fn cached_result_put(
        &self,
        source: &str,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Option<DeferredPut> {
        let item = ResultItem {
            pk: cache_pk(source, key),
            sk: CACHED_RESULT_SK.to_owned(),
            value: value.to_owned(),
            expires_at: expires_at.timestamp(),
            // DynamoDB deletes the item after this second; reads do not wait for it.
            ttl: expires_at.timestamp(),
        };
        if item.size_upper_bound() > MAX_CACHED_RESULT_BYTES {
            return None;
        }
        match serde_dynamo::to_item(item) {
            Ok(item) => Some(DeferredPut::new(item)),
            Err(error) => {
                // Strings and integers always encode; this would be a defect, not a request's fault.
                tracing::error!(error = %error, source, "cached result did not encode");
                None
            }
        }
    }

    /// Sends one deferred put now (one `PutItem`). The after-response batch is the intended
    /// sender; until it exists the data container spawns this, and tests call it to play the
    /// batch.
    pub async fn put_deferred_now(&self, put: DeferredPut) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item))
            .send()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn store() -> Store {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(config), "t")
    }

    fn item(value: &str, expires_at: i64) -> ResultItem {
        ResultItem {
            pk: cache_pk("wiki", "k"),
            sk: CACHED_RESULT_SK.to_owned(),
            value: value.to_owned(),
            expires_at,
            ttl: expires_at,
        }
    }

    #[test]
    fn a_result_is_live_until_the_second_it_expires_and_a_miss_from_then_on() {
        let now = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
        let at = |offset: i64| now.timestamp() + offset;
        assert_eq!(
            item("v", at(1)).live_at(now),
            Some(CachedResult {
                value: "v".into(),
                expires_at: now + chrono::Duration::seconds(1)
            })
        );
        assert_eq!(item("v", at(0)).live_at(now), None, "expiresAt == now");
        assert_eq!(item("v", at(-3600)).live_at(now), None, "long expired");
    }

    #[test]
    fn the_put_carries_the_value_its_expiry_and_a_ttl_equal_to_it() {
        let expires_at = Utc.with_ymd_and_hms(2026, 11, 16, 12, 0, 0).unwrap();
        let put = store()
            .cached_result_put("wiki", "ayrton senna", r#"{"data":1}"#, expires_at)
            .expect("a small value is cached");
        let decoded: ResultItem = serde_dynamo::from_item(put.item.clone()).unwrap();
        assert_eq!(decoded.pk, cache_pk("wiki", "ayrton senna"));
        assert_eq!(decoded.sk, CACHED_RESULT_SK);
        assert_eq!(decoded.value, r#"{"data":1}"#);
        assert_eq!(decoded.expires_at, expires_at.timestamp());
        assert_eq!(decoded.ttl, expires_at.timestamp());
        for name in [PK, SK, CACHED_VALUE, EXPIRES_AT, TTL] {
            assert!(put.item.contains_key(name), "attribute {name} is written");
        }
    }

    #[test]
    fn values_that_would_not_fit_well_inside_one_item_are_not_put() {
        let expires_at = Utc.with_ymd_and_hms(2026, 11, 16, 12, 0, 0).unwrap();
        let overhead = item("", 0).size_upper_bound();
        let fits = "x".repeat(MAX_CACHED_RESULT_BYTES - overhead);
        let too_large = "x".repeat(MAX_CACHED_RESULT_BYTES - overhead + 1);
        let multibyte = "é".repeat(MAX_CACHED_RESULT_BYTES / 2);
        assert!(store()
            .cached_result_put("wiki", "k", &fits, expires_at)
            .is_some());
        assert!(store()
            .cached_result_put("wiki", "k", &too_large, expires_at)
            .is_none());
        assert!(
            store()
                .cached_result_put("wiki", "k", &multibyte, expires_at)
                .is_none(),
            "sizes count UTF-8 bytes, not characters"
        );
    }
}
