//! Helpers for the integration and end-to-end suites: an isolated table per test on the
//! DynamoDB-compatible server that `make test` starts, an [`App`] wired to it with a clock the
//! test controls, and the builders of Lambda HTTP requests (from harmonic-testkit, which the
//! tools share).
use chrono::{DateTime, TimeZone, Utc};
use harmonic_shared::clock::ManualClock;
use harmonic_shared::config::Config;
use harmonic_shared::lambda_http::Request;
use harmonic_shared::store::Store;
use harmonic_shared::App;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

// The request builders and the upstream stand-ins are shared with the tools (xtask).
pub use harmonic_testkit::requests::{answer, request, Answer, RequestBuilder, ADMIN_TOKEN};
pub use harmonic_testkit::stubs;

/// The keys' check secret of the integration suite.
pub const KEY_CHECK_SECRET: &str = "integration-key-check-secret-0123456789";

/// The check secret of the apps [`spawn_app_with`] builds (for keys the tests make up).
pub fn key_check_secret() -> harmonic_shared::apikey::KeyCheckSecret {
    harmonic_shared::apikey::KeyCheckSecret::new(KEY_CHECK_SECRET).expect("a long enough secret")
}

/// The local server `make test` started (`DYNAMODB_ENDPOINT`).
pub fn endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!("DYNAMODB_ENDPOINT is not set: run the suites with `make test`, which starts the DynamoDB-compatible server, or start one (scripts/dynamodb.sh start PORT) and set DYNAMODB_ENDPOINT=http://127.0.0.1:PORT")
    })
}

/// A unique table name, so tests never see each other's items.
pub fn unique_table(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    )
}

/// One test's world: its own table, an app on it, and the clock that app reads.
pub struct TestApp {
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    pub store: Store,
}

/// The instant tests start at unless they set another: mid-month, so nothing rolls over.
pub fn default_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap()
}

/// Spawns an isolated app with the test configuration plus `overrides`.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let table = unique_table("it");
    let mut vars: HashMap<String, String> = HashMap::from([
        ("TABLE_NAME".into(), table.clone()),
        ("DYNAMODB_ENDPOINT".into(), endpoint()),
        ("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
        ("BCRYPT_COST".into(), "4".into()),
        ("KEY_CHECK_SECRET".into(), KEY_CHECK_SECRET.into()),
        // Many suites sign up dozens of users from one address; the limit has its own tests.
        ("SIGNUP_LIMIT_PER_IP_PER_DAY".into(), "0".into()),
    ]);
    for (name, value) in overrides {
        vars.insert((*name).into(), (*value).into());
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("test configuration");
    let client = Store::connect_client(Some(&endpoint())).await;
    let store = Store::new(client, table);
    store.ensure_table().await.expect("create the test table");
    let clock = Arc::new(ManualClock::at(default_now()));
    let app = Arc::new(App::new(config, store.clone(), clock.clone()));
    TestApp { app, clock, store }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl TestApp {
    /// A second app (another "container") on the same table, with its own caches.
    pub fn another_container(&self) -> Arc<App> {
        Arc::new(App::new(
            self.app.config.clone(),
            self.store.clone(),
            self.clock.clone(),
        ))
    }
}

/// Calls the keys function in process.
pub async fn call_keys(app: &App, request: Request) -> Answer {
    answer(harmonic_keys::handle(app, request).await)
}

/// Calls the usage function in process.
pub async fn call_usage(app: &App, request: Request) -> Answer {
    answer(harmonic_usage::handle(app, request).await)
}

/// Creates a key as the admin and returns (key, key id).
pub async fn admin_creates_key(app: &App, user_id: &str, tier: &str) -> (String, String) {
    let created = call_keys(
        app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(serde_json::json!({ "userId": user_id, "tier": tier }))
            .build(),
    )
    .await;
    assert_eq!(created.status, 201, "key creation failed: {}", created.text);
    (
        created.body["key"].as_str().expect("key").to_owned(),
        created.body["id"].as_str().expect("id").to_owned(),
    )
}

/// The admin changes an existing user's tier (`PUT /api/v1/users/{id}/tier`).
pub async fn admin_sets_tier(app: &App, user_id: &str, tier: &str) -> Answer {
    call_keys(
        app,
        request("PUT", &format!("/api/v1/users/{user_id}/tier"))
            .admin()
            .json(serde_json::json!({ "tier": tier }))
            .build(),
    )
    .await
}

/// Every item of a table by (pk, sk): what tests compare before and after requests that must
/// change nothing. (Test code may scan; no request path does.)
pub type TableSnapshot = std::collections::BTreeMap<
    (String, String),
    HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
>;

pub async fn table_items(store: &Store) -> TableSnapshot {
    let mut items = TableSnapshot::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the test table");
        for item in page.items.unwrap_or_default() {
            let text = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            items.insert((text("pk"), text("sk")), item);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// An item's size as DynamoDB counts it (what write units and the 400 KB limit are measured
/// in): each attribute's name in UTF-8 bytes plus its value; strings and binaries their length,
/// numbers 1 byte per two significant digits plus 1, booleans and nulls 1, maps and lists 3
/// bytes plus each element (and, in a map, its name) plus 1 byte per element.
pub fn dynamodb_item_size(
    item: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + dynamodb_value_size(value))
        .sum()
}

fn dynamodb_value_size(value: &aws_sdk_dynamodb::types::AttributeValue) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let number = |text: &str| {
        let digits = text
            .trim_start_matches('-')
            .replace('.', "")
            .trim_start_matches('0')
            .trim_end_matches('0')
            .len()
            .max(1);
        digits.div_ceil(2) + 1
    };
    match value {
        V::S(text) => text.len(),
        V::N(text) => number(text),
        V::B(blob) => blob.as_ref().len(),
        V::Bool(_) | V::Null(_) => 1,
        V::Ss(items) => items.iter().map(String::len).sum(),
        V::Ns(items) => items.iter().map(|n| number(n)).sum(),
        V::Bs(items) => items.iter().map(|b| b.as_ref().len()).sum(),
        V::M(map) => {
            3 + map
                .iter()
                .map(|(name, inner)| name.len() + dynamodb_value_size(inner) + 1)
                .sum::<usize>()
        }
        V::L(list) => {
            3 + list
                .iter()
                .map(|inner| dynamodb_value_size(inner) + 1)
                .sum::<usize>()
        }
        _ => 0,
    }
}
