//! Exact monthly quotas: identifying the metered caller, counting the request with one
//! conditional update (refused at the limit), refunding requests we failed, recording usage,
//! and the rate-limit headers.
use chrono::{DateTime, SecondsFormat, Utc};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;

use crate::apikey::KeyId;
use crate::app::App;
use crate::auth::{Credentials, VerifiedKey};
use crate::domain::{ClientGroup, Period, Tier};
use crate::error::ApiError;
use crate::store::{charge_mark, ChargeRefusal, StoreError, Subject, UsageEvent};

/// A metered caller whose credentials were verified (no liveness or quota check yet).
#[derive(Debug, Clone)]
pub enum MeteredCaller {
    Key(Arc<VerifiedKey>),
    /// A caller without a key, by client address (IPv6 by /64).
    Demo {
        group: ClientGroup,
    },
}

/// Where a subject stands in its month: what the headers and the usage endpoint show.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaState {
    pub subject: Subject,
    /// `None` for demo callers.
    pub tier: Option<Tier>,
    /// `None` is unlimited (Enterprise).
    pub limit: Option<u64>,
    pub used: u64,
    pub period: Period,
}

/// A counted request.
#[derive(Debug, Clone)]
pub struct Charge {
    pub state: QuotaState,
    pub key_id: Option<KeyId>,
    /// The charge's unique mark, also the id of its refund (so a refund is applied once).
    pub mark: u64,
    /// Set once the request was refunded: its usage is then recorded apart from billed ones.
    refunded: Arc<std::sync::atomic::AtomicBool>,
}

impl Charge {
    pub fn new(state: QuotaState, key_id: Option<KeyId>, mark: u64) -> Self {
        Self {
            state,
            key_id,
            mark,
            refunded: Arc::default(),
        }
    }

    pub fn is_refunded(&self) -> bool {
        self.refunded.load(std::sync::atomic::Ordering::Relaxed)
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

impl App {
    /// Who is calling a metered route: a verified key (no I/O when warm), or a demo caller by
    /// client address when demo mode is on.
    pub async fn identify_metered(
        &self,
        headers: &HeaderMap,
        client_ip: Option<String>,
    ) -> Result<MeteredCaller, ApiError> {
        match self.auth.credentials(headers)? {
            Credentials::Key(key) => Ok(MeteredCaller::Key(self.auth.verify_key(&key).await?)),
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
                let subject = Subject::Demo(group.to_string());
                let state = |used| QuotaState {
                    subject: subject.clone(),
                    tier: None,
                    limit: Some(limit),
                    used,
                    period,
                };
                match self
                    .store
                    .charge_demo(group, limit, now, self.config.usage_retention_days, mark)
                    .await?
                {
                    Ok(used) => {
                        let charge = Charge::new(state(used), None, mark);
                        self.after_charge(&charge).await;
                        Ok(charge)
                    }
                    Err(used) => Err(quota_exceeded(state(used), limit)),
                }
            }
            MeteredCaller::Key(verified) => {
                let mut tier = verified.tier;
                for _ in 0..CHARGE_ATTEMPTS {
                    let limit = self.config.monthly_quota(tier);
                    let state = |used| QuotaState {
                        subject: Subject::User(verified.user_id.clone()),
                        tier: Some(tier),
                        limit,
                        used,
                        period,
                    };
                    let attempt = self
                        .store
                        .charge_key_holder(
                            &verified.user_id,
                            &verified.key_id,
                            tier,
                            limit,
                            now,
                            mark,
                        )
                        .await;
                    match attempt {
                        Ok(used) => {
                            self.auth.remember_tier(verified, tier).await;
                            let charge =
                                Charge::new(state(used), Some(verified.key_id.clone()), mark);
                            self.after_charge(&charge).await;
                            return Ok(charge);
                        }
                        Err(StoreError::ConditionFailed) => {}
                        Err(other) => return Err(other.into()),
                    }
                    match self
                        .store
                        .explain_refusal(&verified.user_id, &verified.key_id, tier, limit, now)
                        .await?
                    {
                        ChargeRefusal::KeyNotLive => {
                            self.auth.forget(&verified.key_id).await;
                            tracing::info!(key_id = %verified.key_id, "metered request with a key that is not live");
                            return Err(ApiError::invalid_api_key().into());
                        }
                        ChargeRefusal::QuotaExhausted { used } => {
                            return Err(quota_exceeded(state(used), limit.unwrap_or(used)));
                        }
                        ChargeRefusal::TierChanged(current) => tier = current,
                        ChargeRefusal::Transient => {}
                    }
                }
                Err(ApiError::Unavailable {
                    retry_after_seconds: 1,
                }
                .into())
            }
        }
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
                charge.state.period,
                charge.mark,
            )
            .await
        {
            Ok(()) => charge
                .refunded
                .store(true, std::sync::atomic::Ordering::Relaxed),
            Err(error) => {
                tracing::error!(subject = %charge.state.subject.display_id(), error = %error, "refund failed")
            }
        }
    }

    /// Records the request's usage event and counters. Failures are logged, never surfaced:
    /// the customer's response is already decided.
    pub async fn record(&self, charge: &Charge, event: UsageEvent) {
        let now = self.clock.now();
        if let Err(error) = self
            .store
            .record_usage(
                &charge.state.subject,
                charge.state.tier,
                &event,
                !charge.is_refunded(),
                now,
                self.config.usage_retention_days,
            )
            .await
        {
            tracing::warn!(subject = %charge.state.subject.display_id(), error = %error, "usage event not recorded");
        }
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

impl QuotaState {
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|limit| limit.saturating_sub(self.used))
    }

    pub fn reset(&self) -> DateTime<Utc> {
        self.period.end()
    }

    pub fn is_demo(&self) -> bool {
        matches!(self.subject, Subject::Demo(_))
    }

    /// The metering headers. Enterprise shows `unlimited` for limit and remaining and no IETF
    /// `RateLimit` fields (no policy applies).
    pub fn headers(&self, now: DateTime<Utc>, exceeded: bool) -> Vec<(HeaderName, HeaderValue)> {
        let text = |value: String| HeaderValue::from_str(&value).ok();
        let unlimited = || Some(HeaderValue::from_static("unlimited"));
        let until_reset = (self.reset() - now).num_seconds().max(0);
        let window = (self.reset() - self.period.start()).num_seconds();
        let mut headers: Vec<(&'static str, Option<HeaderValue>)> = vec![
            (
                "x-ratelimit-limit",
                self.limit.map_or_else(unlimited, |l| text(l.to_string())),
            ),
            ("x-ratelimit-used", text(self.used.to_string())),
            (
                "x-ratelimit-remaining",
                self.remaining()
                    .map_or_else(unlimited, |r| text(r.to_string())),
            ),
            (
                "x-ratelimit-reset",
                text(self.reset().to_rfc3339_opts(SecondsFormat::Secs, true)),
            ),
            ("x-user-id", text(self.subject.display_id())),
        ];
        if let (Some(limit), Some(remaining)) = (self.limit, self.remaining()) {
            headers.push((
                "ratelimit-policy",
                text(format!("\"monthly\";q={limit};w={window}")),
            ));
            headers.push((
                "ratelimit",
                text(format!("\"monthly\";r={remaining};t={until_reset}")),
            ));
        }
        if self.is_demo() {
            headers.push(("x-demo-mode", Some(HeaderValue::from_static("true"))));
        }
        if exceeded {
            headers.push(("retry-after", text(until_reset.to_string())));
        }
        headers
            .into_iter()
            .filter_map(|(name, value)| Some((HeaderName::from_static(name), value?)))
            .collect()
    }
}

impl QuotaState {
    /// The state of a stored user in the current period (what the usage endpoint shows).
    pub fn of_user(
        config: &crate::config::Config,
        user: &crate::store::UserRecord,
        period: Period,
    ) -> Self {
        Self {
            subject: Subject::User(user.user_id.clone()),
            tier: Some(user.tier),
            limit: config.monthly_quota(user.tier),
            used: user.used_in(period),
            period,
        }
    }

    /// `{"userId", "tier", "quota", "used", "remaining", "percentageUsed", "periodStart",
    /// "periodEnd", "resetDate", "isExceeded"}`; quota, remaining and percentage are null when
    /// unlimited.
    pub fn to_json(&self) -> serde_json::Value {
        use crate::domain::rfc3339;
        let percentage = self.limit.map(|limit| {
            if limit == 0 {
                100.0
            } else {
                ((self.used as f64 / limit as f64) * 10_000.0).round() / 100.0
            }
        });
        serde_json::json!({
            "userId": self.subject.display_id(),
            "tier": self.tier,
            "quota": self.limit,
            "used": self.used,
            "remaining": self.remaining(),
            "percentageUsed": percentage,
            "periodStart": rfc3339(self.period.start()),
            "periodEnd": rfc3339(self.period.end() - chrono::Duration::milliseconds(1)),
            "resetDate": rfc3339(self.period.end()),
            "isExceeded": self.limit.is_some_and(|limit| self.used >= limit),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use chrono::TimeZone;

    fn state(limit: Option<u64>, used: u64) -> QuotaState {
        QuotaState {
            subject: Subject::User(UserId::parse("user123").unwrap()),
            tier: Some(Tier::Free),
            limit,
            used,
            period: Period::containing(Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()),
        }
    }

    fn header<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn headers_show_limit_used_remaining_reset_and_the_ietf_fields() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
        let headers = state(Some(1000), 1).headers(now, false);
        assert_eq!(header(&headers, "x-ratelimit-limit"), Some("1000"));
        assert_eq!(header(&headers, "x-ratelimit-used"), Some("1"));
        assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("999"));
        assert_eq!(
            header(&headers, "x-ratelimit-reset"),
            Some("2026-12-01T00:00:00Z")
        );
        assert_eq!(header(&headers, "x-user-id"), Some("user123"));
        assert_eq!(
            header(&headers, "ratelimit-policy"),
            Some("\"monthly\";q=1000;w=2592000")
        );
        assert_eq!(
            header(&headers, "ratelimit"),
            Some("\"monthly\";r=999;t=3600")
        );
        assert_eq!(header(&headers, "x-demo-mode"), None);
        assert_eq!(header(&headers, "retry-after"), None);
    }

    #[test]
    fn an_exceeded_quota_says_when_to_retry() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
        let headers = state(Some(5), 5).headers(now, true);
        assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("0"));
        assert_eq!(header(&headers, "retry-after"), Some("3600"));
    }

    #[test]
    fn enterprise_shows_unlimited_and_no_policy() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 23, 0, 0).unwrap();
        let headers = state(None, 123_456).headers(now, false);
        assert_eq!(header(&headers, "x-ratelimit-limit"), Some("unlimited"));
        assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("unlimited"));
        assert_eq!(header(&headers, "x-ratelimit-used"), Some("123456"));
        assert_eq!(header(&headers, "ratelimit"), None);
        assert_eq!(header(&headers, "ratelimit-policy"), None);
    }

    #[test]
    fn demo_callers_are_marked() {
        let mut demo = state(Some(1000), 3);
        demo.subject = Subject::Demo("203.0.113.9".into());
        let headers = demo.headers(Utc::now(), false);
        assert_eq!(header(&headers, "x-demo-mode"), Some("true"));
        assert_eq!(header(&headers, "x-user-id"), Some("demo:203.0.113.9"));
    }
}
