//! Enterprise requests: counted on one of the user's meter shards while the user item is read
//! in the same round trip (see `store::enterprise`).
use super::{Meter, Refusal};
use crate::auth::VerifiedKey;
use crate::domain::{Period, Tier};
use crate::store::{Subject, ENTERPRISE_METER_SHARDS};

/// The outcome of an Enterprise charge.
pub(super) enum EnterpriseCharge {
    Admitted { used: u64, shard: u32 },
    KeyNotLive,
    TierChanged(Tier),
}

impl Meter {
    /// An Enterprise request: counted on a random meter shard while the user item is read
    /// (consistently) at the same time — one round trip. A key that is not live, or a tier that
    /// is not Enterprise any more, gives the shard's count back (idempotently, by the mark).
    ///
    /// `used` is the user item's month (requests counted before Enterprise) plus the shards
    /// as this container last saw them, the one just counted exact: exact for one container's
    /// sequence of requests, at most the other containers' latest requests behind otherwise
    /// (an unlimited tier's count is informational here; `GET /api/v1/usage` sums every shard).
    pub(super) async fn charge_enterprise(
        &self,
        verified: &VerifiedKey,
        now: chrono::DateTime<chrono::Utc>,
        period: Period,
        mark: u64,
    ) -> Result<EnterpriseCharge, Refusal> {
        use rand::Rng;
        let shard = rand::rng().random_range(0..ENTERPRISE_METER_SHARDS);
        let (counted, profile) = tokio::join!(
            self.store
                .charge_meter_shard(&verified.user_id, &verified.key_id, period, shard, mark),
            self.store.read_profile(&verified.user_id),
        );
        let shard_count = counted?;
        let refusal = match profile {
            Ok(Some(user)) if !user.key_is_live(&verified.key_id, now) => {
                Some(EnterpriseCharge::KeyNotLive)
            }
            Ok(None) => Some(EnterpriseCharge::KeyNotLive),
            Ok(Some(user)) if user.tier != Tier::Enterprise => {
                Some(EnterpriseCharge::TierChanged(user.tier))
            }
            Ok(Some(user)) => {
                let seen_key = (verified.user_id.clone(), period);
                let mut seen = self
                    .shards_seen
                    .get(&seen_key)
                    .await
                    .unwrap_or_else(|| vec![0; ENTERPRISE_METER_SHARDS as usize]);
                if let Some(slot) = seen.get_mut(shard as usize) {
                    *slot = shard_count;
                }
                let used = user.used_in(period) + seen.iter().sum::<u64>();
                self.shards_seen.insert(seen_key, seen).await;
                return Ok(EnterpriseCharge::Admitted { used, shard });
            }
            Err(error) => {
                // Liveness unknown: give the count back and let the client retry.
                self.give_back_shard(verified, period, shard, mark).await;
                return Err(error.into());
            }
        };
        self.give_back_shard(verified, period, shard, mark).await;
        Ok(refusal.unwrap_or(EnterpriseCharge::KeyNotLive))
    }

    async fn give_back_shard(&self, verified: &VerifiedKey, period: Period, shard: u32, mark: u64) {
        let subject = Subject::User(verified.user_id.clone());
        if let Err(error) = self
            .store
            .refund(&subject, Some(&verified.key_id), Some(shard), period, mark)
            .await
        {
            tracing::error!(user_id = %verified.user_id, error = %error, "an Enterprise shard count of a refused request was not given back");
        }
    }
}
