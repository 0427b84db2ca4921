//! A benchmark's world: a fresh table on the local DynamoDB-compatible server, an SDK client
//! whose round trips are counted (in total, and per operation), apps built on it as the
//! functions build them, and keys created through the keys function's handler.
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::Client;
use harmonic_shared::clock::SystemClock;
use harmonic_shared::config::Config;
use harmonic_shared::lambda_http::http::{HeaderMap, HeaderValue};
use harmonic_shared::store::{RoundTripCounter, Store};
use harmonic_shared::App;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The DynamoDB operations sent, in order (from the `X-Amz-Target` header of each attempt).
#[derive(Debug, Clone, Default)]
pub struct OperationLog(Arc<Mutex<Vec<String>>>);

impl OperationLog {
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// The operations sent since `from` (an earlier `len()`).
    pub fn since(&self, from: usize) -> Vec<String> {
        self.lock()
            .get(from..)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Intercept for OperationLog {
    fn name(&self) -> &'static str {
        "OperationLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        self.lock().push(operation);
        Ok(())
    }
}

/// `GetItem, UpdateItem ×2` style summary of an operation sequence.
pub fn describe_operations(operations: &[String]) -> String {
    if operations.is_empty() {
        return "none".to_owned();
    }
    let mut parts: Vec<(String, usize)> = Vec::new();
    for operation in operations {
        match parts.last_mut() {
            Some((last, count)) if last == operation => *count += 1,
            _ => parts.push((operation.clone(), 1)),
        }
    }
    parts
        .into_iter()
        .map(|(name, count)| {
            if count == 1 {
                name
            } else {
                format!("{name} ×{count}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";

pub struct World {
    pub config: Config,
    pub store: Store,
    pub counter: RoundTripCounter,
    pub operations: OperationLog,
}

impl World {
    /// A fresh table and a counting client; `overrides` adjust the configuration.
    pub async fn new(endpoint: &str, name: &str, overrides: &[(&str, &str)]) -> World {
        let table = format!(
            "bench-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut vars: HashMap<String, String> = HashMap::from([
            ("TABLE_NAME".into(), table.clone()),
            ("DYNAMODB_ENDPOINT".into(), endpoint.to_owned()),
            ("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            // The production default, stated explicitly: the figures are for cost 10.
            ("BCRYPT_COST".into(), "10".into()),
            ("RUST_LOG".into(), "warn".into()),
        ]);
        for (name, value) in overrides {
            vars.insert((*name).into(), (*value).into());
        }
        let config =
            Config::from_lookup(|name| vars.get(name).cloned()).expect("bench configuration");
        let counter = RoundTripCounter::default();
        let counting = Store::connect_client_counting(Some(endpoint), Some(counter.clone())).await;
        let operations = OperationLog::default();
        let client = Client::from_conf(
            counting
                .config()
                .to_builder()
                .interceptor(operations.clone())
                .build(),
        );
        let store = Store::new(client, table);
        store.ensure_table().await.expect("create the bench table");
        World {
            config,
            store,
            counter,
            operations,
        }
    }

    /// A container: a new `App` (empty key cache) on the shared client.
    pub fn container(&self) -> App {
        App::new(
            self.config.clone(),
            self.store.clone(),
            Arc::new(SystemClock),
        )
    }

    pub async fn drop_table(&self) {
        if let Err(error) = self.store.delete_table().await {
            eprintln!(
                "bench: could not delete table {}: {error}",
                self.store.table()
            );
        }
    }
}

/// Creates a key as the admin through the keys function's handler; returns the key text.
pub async fn create_key(app: &App, user_id: &str, tier: &str) -> String {
    let request = harmonic_testkit::requests::request("POST", "/api/v1/keys")
        .header("authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .json(serde_json::json!({ "userId": user_id, "tier": tier }))
        .build();
    let created = harmonic_testkit::requests::answer(harmonic_keys::handle(app, request).await);
    assert_eq!(created.status, 201, "key creation failed: {}", created.text);
    created.body["key"].as_str().expect("key").to_owned()
}

/// The headers of a metered request carrying `key`.
pub fn key_headers(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_str(key).expect("key header"));
    headers
}
