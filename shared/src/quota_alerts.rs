//! Quota alerts, exactly once: the first time a user's count reaches 80 % and 100 % of the
//! month's quota.
//!
//! Why exactly once: the meter's answer is the exact new count (`ADD 1` with `UPDATED_NEW` on one
//! item), and each counted request adds exactly one, so among any number of concurrent requests
//! exactly one sees the count equal to the threshold count (`ceil(limit × 80 / 100)`, `limit`).
//! A refund takes one back, so a later request may see the same count again: a conditional put
//! of the crossing's own item (`attribute_not_exists`) lets only the first one through. The
//! crossing is then logged as one `"event": "quota.threshold"` line and sent to EventBridge.
//! Only requests that land on a threshold count do the extra write; every other request does
//! nothing here. Demo callers (per address) and unlimited users have no thresholds.
//!
//! The meter calls [`QuotaAlerts::count_reached`] with plain values after each counted request;
//! this module knows nothing of the meter.
use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::domain::{rfc3339, Period, Tier, UserId};
use crate::store::{Store, StoreError};

/// The percentages of the monthly quota that raise an alert.
pub const THRESHOLDS: [u8; 2] = [80, 100];

/// `detail-type` and `source` of the EventBridge events, for the operator's rules.
pub const EVENT_DETAIL_TYPE: &str = "quota.threshold";
pub const EVENT_SOURCE: &str = "harmonic-api";

/// One crossing: the user, the threshold, the exact count that reached it, the quota, the month.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaCrossing {
    pub user_id: UserId,
    pub tier: Tier,
    pub threshold: u8,
    pub used: u64,
    pub limit: u64,
    pub month: String,
    pub at: String,
}

/// The count at which `threshold` % of `limit` is reached (at least 1).
pub fn threshold_count(limit: u64, threshold: u8) -> u64 {
    (limit * u64::from(threshold)).div_ceil(100).max(1)
}

/// The thresholds a request whose exact new count is `used` has just reached.
pub fn thresholds_reached_at(used: u64, limit: u64) -> impl Iterator<Item = u8> {
    THRESHOLDS
        .into_iter()
        .filter(move |&threshold| threshold_count(limit, threshold) == used)
}

/// Where crossings go besides the log: EventBridge in AWS, nowhere else locally.
#[derive(Debug, Clone)]
pub enum QuotaEventSink {
    /// Local runs without an EventBridge endpoint: the log line is the event.
    LogOnly,
    EventBridge {
        client: aws_sdk_eventbridge::Client,
        bus: String,
    },
}

impl QuotaEventSink {
    /// Cold start. `QUOTA_EVENT_BUS` (default `default`) names the bus; `EVENTBRIDGE_ENDPOINT`
    /// points the client at another endpoint (a local stand-in). Against a local DynamoDB
    /// endpoint and without `EVENTBRIDGE_ENDPOINT`, events are only logged.
    pub async fn from_env(local_dynamodb: bool) -> Self {
        let bus = std::env::var("QUOTA_EVENT_BUS")
            .ok()
            .filter(|bus| !bus.trim().is_empty())
            .unwrap_or_else(|| "default".to_owned());
        match std::env::var("EVENTBRIDGE_ENDPOINT")
            .ok()
            .filter(|url| !url.is_empty())
        {
            Some(endpoint) => Self::event_bridge(Some(&endpoint), bus).await,
            None if local_dynamodb => Self::LogOnly,
            None => Self::event_bridge(None, bus).await,
        }
    }

    /// An EventBridge client (built once per container), optionally against `endpoint` with
    /// static local credentials.
    pub async fn event_bridge(endpoint: Option<&str>, bus: String) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(1_000))
            .operation_timeout(Duration::from_millis(2_000))
            .build();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
        if endpoint.is_some() {
            loader = loader
                .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
                    "local", "local", None, None, "local",
                ))
                .region(aws_sdk_eventbridge::config::Region::new(
                    std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
                ));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_eventbridge::config::Builder::from(&shared);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        Self::EventBridge {
            client: aws_sdk_eventbridge::Client::from_conf(builder.build()),
            bus,
        }
    }

    async fn publish(&self, crossing: &QuotaCrossing) -> Result<(), String> {
        let Self::EventBridge { client, bus } = self else {
            return Ok(());
        };
        let detail = serde_json::to_string(crossing).map_err(|error| error.to_string())?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(EVENT_SOURCE)
            .detail_type(EVENT_DETAIL_TYPE)
            .detail(detail)
            .build();
        let answer = client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|error| {
                format!("{}", aws_sdk_eventbridge::error::DisplayErrorContext(error))
            })?;
        if answer.failed_entry_count() > 0 {
            let code = answer
                .entries()
                .first()
                .and_then(|entry| entry.error_code())
                .unwrap_or("unknown");
            return Err(format!("EventBridge refused the event: {code}"));
        }
        Ok(())
    }
}

/// Records and sends the crossings: one per container, owned by the meter.
pub struct QuotaAlerts {
    store: Store,
    /// How long after its month a crossing is kept (`USAGE_RETENTION_DAYS`).
    retention_days: u32,
    sink: QuotaEventSink,
}

impl QuotaAlerts {
    pub fn new(store: Store, retention_days: u32) -> Self {
        Self {
            store,
            retention_days,
            sink: QuotaEventSink::LogOnly,
        }
    }

    pub(crate) fn send_events_to(&mut self, sink: QuotaEventSink) {
        self.sink = sink;
    }

    /// After a counted request of `user_id` whose exact new count in `period` is `used`:
    /// alerts each threshold of `limit` that this very count reaches.
    pub(crate) async fn count_reached(
        &self,
        user_id: &UserId,
        tier: Tier,
        used: u64,
        limit: u64,
        period: Period,
        clock: &dyn Clock,
    ) {
        for threshold in thresholds_reached_at(used, limit) {
            let now = clock.now();
            let crossing = QuotaCrossing {
                user_id: user_id.clone(),
                tier,
                threshold,
                used,
                limit,
                month: period.label(),
                at: rfc3339(now),
            };
            self.alert_once(&crossing, period, now).await;
        }
    }

    /// Logs and publishes the crossing if it is the first of its user, month and threshold.
    async fn alert_once(&self, crossing: &QuotaCrossing, period: Period, now: DateTime<Utc>) {
        match self
            .store
            .record_quota_crossing(crossing, period, now, self.retention_days)
            .await
        {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => {
                tracing::info!(user_id = %crossing.user_id, threshold = crossing.threshold, "quota threshold reached again after a refund; already alerted");
                return;
            }
            Err(error) => {
                // Not knowing whether the marker was written, alerting could alert twice and
                // not alerting could alert never; the log keeps the crossing either way.
                tracing::warn!(user_id = %crossing.user_id, threshold = crossing.threshold, error = %error, "quota threshold crossing not recorded; no event sent");
                return;
            }
        }
        crate::ops_metrics::quota_threshold_crossed(crossing.threshold);
        tracing::info!(
            event = EVENT_DETAIL_TYPE,
            userId = %crossing.user_id,
            tier = %crossing.tier,
            threshold = crossing.threshold,
            used = crossing.used,
            limit = crossing.limit,
            month = %crossing.month,
            "quota threshold crossed"
        );
        if let Err(error) = self.sink.publish(crossing).await {
            tracing::error!(user_id = %crossing.user_id, threshold = crossing.threshold, error = %error, "quota threshold event not delivered to EventBridge");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_threshold_is_reached_at_exactly_one_count() {
        for limit in [1u64, 2, 3, 5, 10, 99, 100, 101, 1000, 10_000] {
            for threshold in THRESHOLDS {
                let hits: Vec<u64> = (1..=limit)
                    .filter(|&used| thresholds_reached_at(used, limit).any(|t| t == threshold))
                    .collect();
                assert_eq!(
                    hits.len(),
                    1,
                    "limit {limit}, threshold {threshold}: {hits:?}"
                );
                let at = hits[0];
                assert!(
                    at * 100 >= limit * u64::from(threshold),
                    "limit {limit}: {at}"
                );
                assert!(
                    (at - 1) * 100 < limit * u64::from(threshold),
                    "limit {limit}: {at}"
                );
            }
        }
        assert_eq!(threshold_count(1000, 80), 800);
        assert_eq!(threshold_count(1000, 100), 1000);
        assert_eq!(threshold_count(5, 80), 4);
        // A quota of 1: the first request is both 80 % and 100 %.
        assert_eq!(thresholds_reached_at(1, 1).collect::<Vec<_>>(), [80, 100]);
        assert_eq!(thresholds_reached_at(1001, 1000).count(), 0);
    }
}
