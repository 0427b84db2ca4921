//! What a container builds once at cold start and every request borrows: configuration, the
//! store (SDK client), the authenticator (verified-key cache) and the clock.
use std::sync::Arc;

use crate::auth::Authenticator;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub auth: Authenticator,
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// Cold start: configuration from the environment, one SDK client.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let client = Store::connect_client(config.dynamodb_endpoint.as_deref()).await;
        let store = Store::new(client, config.table_name.clone());
        Ok(Self::new(config, store, Arc::new(SystemClock)))
    }

    pub fn new(config: Config, store: Store, clock: Arc<dyn Clock>) -> Self {
        let auth = Authenticator::new(store.clone(), &config);
        Self {
            config,
            store,
            auth,
            clock,
        }
    }
}
