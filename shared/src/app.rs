//! What a container builds once at cold start and every request borrows: configuration, the
//! store (SDK client), the authenticator (verified-key cache), the meter (quotas, tier seen per
//! key, quota alerts) and the clock. The metering methods here only hand over to the meter.
use lambda_http::http::HeaderMap;
use std::sync::Arc;

use crate::after_response::AfterResponse;
use crate::auth::Authenticator;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::domain::Period;
use crate::error::ApiError;
use crate::metering::{Charge, Meter, MeteredCaller, Refusal};
use crate::quota_alerts::QuotaEventSink;
use crate::store::{Store, StoreError, UsageEvent, UserRecord};

pub struct App {
    pub config: Config,
    pub store: Store,
    pub auth: Authenticator,
    meter: Meter,
    pub clock: Arc<dyn Clock>,
    /// What the container writes after its responses (usage, deferred puts).
    pub after_response: Arc<AfterResponse>,
}

impl App {
    /// Cold start: configuration from the environment, one SDK client.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let client = Store::connect_client(config.dynamodb_endpoint.as_deref()).await;
        let store = Store::new(client, config.table_name.clone());
        let quota_events = QuotaEventSink::from_env(config.dynamodb_endpoint.is_some()).await;
        Ok(Self::new(config, store, Arc::new(SystemClock)).with_quota_events(quota_events))
    }

    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Self {
        let auth = Authenticator::new(store.clone(), &config);
        let after_response = Arc::new(AfterResponse::new(
            store.clone(),
            config.usage_retention_days,
            config.usage_flush_idle,
        ));
        let meter = Meter::new(
            &config,
            store.clone(),
            auth.clone(),
            clock.clone(),
            after_response.clone(),
        );
        Self {
            config,
            store,
            auth,
            meter,
            clock,
            after_response,
        }
    }

    /// The same app sending quota threshold events to `sink` besides the log.
    pub fn with_quota_events(mut self, sink: QuotaEventSink) -> Self {
        self.meter.send_quota_events_to(sink);
        self
    }

    /// [`Meter::identify`].
    pub async fn identify_metered(
        &self,
        headers: &HeaderMap,
        client_ip: Option<String>,
    ) -> Result<MeteredCaller, ApiError> {
        self.meter.identify(headers, client_ip).await
    }

    /// [`Meter::charge`].
    pub async fn charge(&self, caller: &MeteredCaller) -> Result<Charge, Refusal> {
        self.meter.charge(caller).await
    }

    /// [`Meter::refund`].
    pub async fn refund(&self, charge: &Charge) {
        self.meter.refund(charge).await
    }

    /// [`Meter::record`]: the request's usage, queued for after the response.
    pub fn record(&self, charge: &Charge, event: UsageEvent) {
        self.meter.record(charge, event)
    }

    /// Writes what is queued for after the response, as the container does once its response
    /// is sent ([`AfterResponse::flush`]); tests call it where Lambda's extension would.
    pub async fn flush_after_response(&self) -> crate::after_response::FlushReport {
        self.after_response.flush().await
    }

    /// [`Meter::quota_status_json`].
    pub async fn quota_status_json(
        &self,
        user: &UserRecord,
        period: Period,
    ) -> Result<serde_json::Value, StoreError> {
        self.meter.quota_status_json(user, period).await
    }
}
