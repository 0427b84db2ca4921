//! The meter: exact monthly quotas. It identifies the metered caller, counts the request with
//! one conditional update (refused at the limit), refunds requests we failed, records usage,
//! and raises the quota alerts.
//!
//! The meter owns the whole quota decision. The rule "key live, tier as assumed, count under
//! the limit" is one value, [`crate::store::ChargeCondition`], which renders the DynamoDB
//! condition and explains a refusal from the item read back; the meter keeps the tier it last
//! saw for each key (its assumption for the next condition). Authentication only proves keys.
mod enterprise;
mod state;

pub use state::QuotaState;

use lambda_http::http::HeaderMap;
use moka::future::Cache;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::after_response::{AfterResponse, UsageRecord};
use crate::apikey::KeyId;
use crate::auth::{Authenticator, Credentials, VerifiedKey};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{ClientGroup, Period, Tier};
use crate::error::ApiError;
use crate::quota_alerts::{QuotaAlerts, QuotaEventSink};
use crate::store::{
    charge_mark, ChargeCondition, ChargeOutcome, ChargeRefusal, DemoCharge, Store, StoreError,
    Subject, UsageEvent,
};
use enterprise::EnterpriseCharge;

/// A metered caller whose credentials were verified (no liveness or quota check yet).
#[derive(Debug, Clone)]
pub enum MeteredCaller {
    Key(Arc<VerifiedKey>),
    /// A caller without a key, by client address (IPv6 by /64).
    Demo {
        group: ClientGroup,
    },
}

/// A counted request.
#[derive(Debug, Clone)]
pub struct Charge {
    pub state: QuotaState,
    pub key_id: Option<KeyId>,
    /// The charge's unique mark, also the id of its refund (so a refund is applied once).
    pub mark: u64,
    /// The Enterprise meter shard that counted it (`None`: the user's or demo caller's item).
    meter_shard: Option<u32>,
    /// Set once the request was refunded: its usage is then recorded apart from billed ones.
    refunded: Arc<AtomicBool>,
}

impl Charge {
    pub fn new(state: QuotaState, key_id: Option<KeyId>, mark: u64) -> Self {
        Self {
            state,
            key_id,
            mark,
            meter_shard: None,
            refunded: Arc::default(),
        }
    }

    /// The same charge, counted on an Enterprise meter shard.
    fn on_meter_shard(mut self, shard: u32) -> Self {
        self.meter_shard = Some(shard);
        self
    }

    pub fn is_refunded(&self) -> bool {
        self.refunded.load(Ordering::Relaxed)
    }
}

/// A refused request, with the quota state to show in its headers where known.
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    pub state: Option<QuotaState>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Self { error, state: None }
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        Self {
            error: error.into(),
            state: None,
        }
    }
}

/// How often a refused conditional update is re-tried after its refusal was explained away
/// (a tier change, or state that moved in between).
const CHARGE_ATTEMPTS: usize = 4;

/// One per container: the quotas, the tier each verified key was last seen with, and where
/// threshold crossings go.
pub struct Meter {
    config: Config,
    store: Store,
    auth: Authenticator,
    clock: Arc<dyn Clock>,
    /// Key id → the user's tier as last seen: the assumption of the key's next condition. A
    /// stale entry costs one refused update (explained, then retried with the real tier).
    tier_seen: Cache<KeyId, Tier>,
    alerts: QuotaAlerts,
    after_response: Arc<AfterResponse>,
    /// Demo callers whose month is used up, with the count they were refused at: refused again
    /// without a write (a used-up address hammering the API costs no write units). Keyed by
    /// month, so a new month starts afresh; a refund of theirs is not seen here (it errs on
    /// refusing by at most the refunded requests, for an hour).
    exhausted_demo: Cache<(ClientGroup, Period), u64>,
    /// Enterprise users' meter shards as this container last saw them (for `used`).
    shards_seen: Cache<(crate::domain::UserId, Period), Vec<u64>>,
}

impl Meter {
    pub fn new(
        config: &Config,
        store: Store,
        auth: Authenticator,
        clock: Arc<dyn Clock>,
        after_response: Arc<AfterResponse>,
    ) -> Self {
        Self {
            after_response,
            alerts: QuotaAlerts::new(store.clone(), config.usage_retention_days),
            config: config.clone(),
            store,
            auth,
            clock,
            tier_seen: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.key_cache_ttl)
                .build(),
            shards_seen: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
            exhausted_demo: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
        }
    }

    /// Sends quota threshold crossings to `sink` besides the log.
    pub(crate) fn send_quota_events_to(&mut self, sink: QuotaEventSink) {
        self.alerts.send_events_to(sink);
    }

    /// The tier the next condition of `key` assumes.
    async fn assumed_tier(&self, key: &VerifiedKey) -> Tier {
        self.tier_seen
            .get(&key.key_id)
            .await
            .unwrap_or(key.tier_at_issue)
    }

    /// Who is calling a metered route: a verified key (no I/O when warm), or a demo caller by
    /// client address when demo mode is on.
    pub async fn identify(
        &self,
        headers: &HeaderMap,
        client_ip: Option<String>,
    ) -> Result<MeteredCaller, ApiError> {
        match self.auth.credentials(headers)? {
            Credentials::Key(key) => {
                let verified = self.auth.verify_key(&key).await?;
                crate::request_scope::note_tier(self.assumed_tier(&verified).await.as_str());
                Ok(MeteredCaller::Key(verified))
            }
            Credentials::None | Credentials::Admin if !self.config.demo_mode => Err(
                ApiError::Unauthorized("API key required: send it in the X-API-Key header".into()),
            ),
            Credentials::None | Credentials::Admin => Ok(MeteredCaller::Demo {
                group: ClientGroup::of(client_ip.as_deref()),
            }),
        }
    }

    /// Counts one request against the caller's month, or refuses it: one conditional update
    /// on the hot path; a refusal is explained by one read.
    pub async fn charge(&self, caller: &MeteredCaller) -> Result<Charge, Refusal> {
        let now = self.clock.now();
        let period = Period::containing(now);
        let mark = charge_mark(now);
        match caller {
            MeteredCaller::Demo { group } => {
                let limit = self.config.free_monthly_quota;
                let state = |used| QuotaState {
                    subject: Subject::Demo(group.to_string()),
                    tier: None,
                    limit: Some(limit),
                    used,
                    period,
                };
                let exhausted_key = (group.clone(), period);
                if let Some(used) = self.exhausted_demo.get(&exhausted_key).await {
                    return Err(quota_exceeded(state(used), limit));
                }
                let retention = self.config.usage_retention_days;
                match self
                    .store
                    .charge_demo(group, limit, now, retention, mark)
                    .await?
                {
                    DemoCharge::Admitted { used } => {
                        Ok(self.admitted(Charge::new(state(used), None, mark)).await)
                    }
                    DemoCharge::QuotaExhausted { used } => {
                        self.exhausted_demo.insert(exhausted_key, used).await;
                        Err(quota_exceeded(state(used), limit))
                    }
                }
            }
            MeteredCaller::Key(verified) => self.charge_key(verified, now, period, mark).await,
        }
    }

    async fn charge_key(
        &self,
        verified: &VerifiedKey,
        now: chrono::DateTime<chrono::Utc>,
        period: Period,
        mark: u64,
    ) -> Result<Charge, Refusal> {
        let assumed = self.assumed_tier(verified).await;
        let mut tier = assumed;
        for _ in 0..CHARGE_ATTEMPTS {
            let limit = self.config.monthly_quota(tier);
            let state = |used| QuotaState {
                subject: Subject::User(verified.user_id.clone()),
                tier: Some(tier),
                limit,
                used,
                period,
            };
            if tier == Tier::Enterprise {
                match self.charge_enterprise(verified, now, period, mark).await? {
                    EnterpriseCharge::Admitted { used, shard } => {
                        if tier != assumed {
                            self.tier_seen.insert(verified.key_id.clone(), tier).await;
                        }
                        let charge = Charge::new(state(used), Some(verified.key_id.clone()), mark)
                            .on_meter_shard(shard);
                        return Ok(self.admitted(charge).await);
                    }
                    EnterpriseCharge::KeyNotLive => return Err(self.key_not_live(verified).await),
                    EnterpriseCharge::TierChanged(current) => {
                        tier = current;
                        continue;
                    }
                }
            }
            let condition = ChargeCondition {
                user_id: &verified.user_id,
                key_id: &verified.key_id,
                now,
                tier,
                limit,
            };
            match self.store.charge_key_holder(&condition, mark).await? {
                ChargeOutcome::Admitted { used } => {
                    if tier != assumed {
                        self.tier_seen.insert(verified.key_id.clone(), tier).await;
                    }
                    let charge = Charge::new(state(used), Some(verified.key_id.clone()), mark);
                    return Ok(self.admitted(charge).await);
                }
                ChargeOutcome::Refused(ChargeRefusal::KeyNotLive) => {
                    return Err(self.key_not_live(verified).await)
                }
                ChargeOutcome::Refused(ChargeRefusal::QuotaExhausted { used }) => {
                    return Err(quota_exceeded(state(used), limit.unwrap_or(used)));
                }
                ChargeOutcome::Refused(ChargeRefusal::TierChanged(current)) => tier = current,
                ChargeOutcome::Refused(ChargeRefusal::Transient) => {}
            }
        }
        Err(ApiError::Unavailable {
            retry_after_seconds: 1,
        }
        .into())
    }

    /// A key that is not live any more: forgotten by this container, refused as invalid.
    async fn key_not_live(&self, verified: &VerifiedKey) -> Refusal {
        self.auth.forget(&verified.key_id).await;
        self.tier_seen.invalidate(&verified.key_id).await;
        tracing::info!(key_id = %verified.key_id, "metered request with a key that is not live");
        ApiError::invalid_api_key().into()
    }

    /// What follows every counted request: its metrics, and the quota threshold alerts.
    async fn admitted(&self, charge: Charge) -> Charge {
        crate::ops_metrics::charge();
        crate::request_scope::note_tier(charge.state.tier.map_or("demo", Tier::as_str));
        if let (Subject::User(user_id), Some(tier), Some(limit)) =
            (&charge.state.subject, charge.state.tier, charge.state.limit)
        {
            self.alerts
                .count_reached(
                    user_id,
                    tier,
                    charge.state.used,
                    limit,
                    charge.state.period,
                    &*self.clock,
                )
                .await;
        }
        charge
    }

    /// Gives the request back: we failed it, so it is not charged. The refund is idempotent
    /// (sent once, retried once only if its answer was lost, never applied twice). A failed
    /// refund is logged (the customer would be over-charged by one) and never turns the
    /// response into an error.
    pub async fn refund(&self, charge: &Charge) {
        crate::ops_metrics::refund();
        match self
            .store
            .refund(
                &charge.state.subject,
                charge.key_id.as_ref(),
                charge.meter_shard,
                charge.state.period,
                charge.mark,
            )
            .await
        {
            Ok(()) => charge.refunded.store(true, Ordering::Relaxed),
            Err(error) => {
                tracing::error!(subject = %charge.state.subject.display_id(), error = %error, "refund failed")
            }
        }
    }

    /// Hands the request's usage (event and counters) to the container's after-response
    /// queue: no I/O here, the client does not wait for it. Written by the next flush.
    pub fn record(&self, charge: &Charge, event: UsageEvent) {
        self.after_response.record_usage(UsageRecord {
            subject: charge.state.subject.clone(),
            tier: charge.state.tier,
            event,
            billed: !charge.is_refunded(),
            at: self.clock.now(),
        });
    }

    /// The usage endpoint's `action=current` body: the quota state and the month's crossings.
    pub async fn quota_status_json(
        &self,
        user: &crate::store::UserRecord,
        period: Period,
    ) -> Result<serde_json::Value, StoreError> {
        let mut body = QuotaState::of_user(&self.config, user, period).to_json();
        let crossings = self.store.quota_crossings(&user.user_id, period).await?;
        if let Some(object) = body.as_object_mut() {
            object.insert("thresholdAlerts".to_owned(), serde_json::json!(crossings));
        }
        Ok(body)
    }
}

fn quota_exceeded(state: QuotaState, quota: u64) -> Refusal {
    crate::ops_metrics::quota_refusal(state.tier.map_or("demo", Tier::as_str));
    Refusal {
        error: ApiError::QuotaExceeded {
            quota,
            used: state.used,
            reset: state.period.end(),
        },
        state: Some(state),
    }
}
