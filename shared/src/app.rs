//! What a container builds once at cold start and every request borrows: configuration, the
//! store (SDK client), the authenticator (verified-key cache) and the clock.
use std::sync::Arc;

use crate::auth::Authenticator;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::quota_alerts::QuotaEventSink;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub auth: Authenticator,
    pub clock: Arc<dyn Clock>,
    /// Where quota threshold crossings go besides the log (EventBridge client, built once).
    pub quota_events: QuotaEventSink,
    /// How long audit entries are kept (`AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: u32,
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
        Self {
            config,
            store,
            auth,
            clock,
            quota_events: QuotaEventSink::LogOnly,
            audit_retention_days: crate::audit::retention_days_from_env(),
        }
    }

    /// The same app sending quota threshold events to `sink`.
    pub fn with_quota_events(mut self, sink: QuotaEventSink) -> Self {
        self.quota_events = sink;
        self
    }
}
