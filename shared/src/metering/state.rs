//! Where a subject stands in its month, and how that is shown: the rate-limit headers of a
//! metered response and the usage endpoint's quota body.
use chrono::{DateTime, SecondsFormat, Utc};
use lambda_http::http::{HeaderName, HeaderValue};

use crate::domain::{Period, Tier};
use crate::store::Subject;

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
