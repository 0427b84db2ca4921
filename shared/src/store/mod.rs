//! The one DynamoDB table: its schema, the SDK client built once per container, and every
//! access pattern of the product as a method (no Scan anywhere).
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | user | `USER#<userId>` | `PROFILE` | tier, `createdBy`, live keys (id → expiry), per live key `n#<id>` (use) and `t#<id>` (last charge mark), monthly counters `m#YYYY-MM`, `rf` (last refund); gsi2 `DIR#USERS`/userId |
//! | demo caller | `DEMO#<ip or /64>` | `PROFILE` | monthly counters, `mk`, `rf`, TTL |
//! | sign-ups | `SIGNUP#<ip or /64>` | `DAY#YYYY-MM-DD` | `signups`, `mk`, TTL |
//! | key | `KEY#<keyId>` | `KEY` | bcrypt hash, owner, name, dates; gsi1 `OWNER#<userId>`/`<createdAt>#<keyId>`; gsi2 `DIR#EXPIRING`/`<expiresAt>#<keyId>` while unrevoked |
//! | usage event | `USAGE#<subject>` | `EVT#<timestamp>#<nonce>` | TTL |
//! | daily counters | `USAGE#<subject>` | `DAY#YYYY-MM-DD` | requests, errors, total ms, per source, per endpoint; TTL |
//! | key stats shard | `STATS#KEYS` | `SHARD#<n>` | generated, revoked |
//! | usage stats shard | `STATS#USAGE#YYYY-MM` | `SHARD#<n>` | requests, errors, per tier |
//! | audit entry | `AUDIT#<userId>` | `<at>#<nonce>` | who, what, which key; append-only; TTL |
//! | quota crossing | `ALERTS#<userId>` | `QUOTA#YYYY-MM#080` | written once per month and threshold; TTL |
mod alerts;
mod audit;
mod idempotency;
mod keys;
mod usage;
mod users;

pub use alerts::QuotaCrossingRecord;

pub use idempotency::{idempotency_pk, Claimed, ExistingRecord, StoredResponse};
pub use keys::{KeyRecord, KeyStats};
pub use usage::{DailyCounters, Subject, UsageEvent, UsageStats};
pub use users::{charge_mark, ChargeRefusal, CreatedBy, KeyUsage, UserRecord};

use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

pub const GSI_OWNER: &str = "gsi1";
pub const GSI_DIRECTORY: &str = "gsi2";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Shards of the admin statistics counters, so that no single item takes every write.
pub const STATS_SHARDS: u32 = 16;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition expression refused the write (the caller decides what that means).
    #[error("condition failed")]
    ConditionFailed,
    /// The server could not be reached, timed out, or throttled: worth retrying later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// An item that does not decode: a defect or a hand-edited table.
    #[error("stored item does not decode: {0}")]
    Corrupt(String),
    /// Anything else the server refused (a defect: bad expression, missing table, ...).
    #[error("storage request failed: {0}")]
    Internal(String),
}

/// A storage failure as the client sees it: unreachable or throttled storage is a 503 worth
/// retrying; anything else is an internal error, logged and never shown.
impl From<StoreError> for crate::error::ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => crate::error::ApiError::Unavailable {
                retry_after_seconds: 1,
            },
            StoreError::ConditionFailed | StoreError::Corrupt(_) | StoreError::Internal(_) => {
                crate::error::ApiError::Internal(error.to_string())
            }
        }
    }
}

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn from(error: SdkError<E, R>) -> Self {
        let converted = match &error {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
                StoreError::Unavailable(format!("{error}"))
            }
            SdkError::ResponseError(_) => StoreError::Unavailable("unreadable response".into()),
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("Unknown");
                match code {
                    "ConditionalCheckFailedException" => StoreError::ConditionFailed,
                    "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "ThrottlingException"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "LimitExceededException" => StoreError::Unavailable(code.to_owned()),
                    _ => StoreError::Internal(format!(
                        "{code}: {}",
                        service.err().message().unwrap_or("")
                    )),
                }
            }
            _ => StoreError::Internal(format!("{error}")),
        };
        crate::ops_metrics::storage_error(&converted);
        converted
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(error: serde_dynamo::Error) -> Self {
        let converted = StoreError::Corrupt(error.to_string());
        crate::ops_metrics::storage_error(&converted);
        converted
    }
}

/// The table and the client that reaches it. Cheap to clone (the SDK client is an `Arc`).
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Builds the SDK client once per container. With `endpoint` (a local DynamoDB-compatible
    /// server) it uses static local credentials, so no AWS account or credential lookup is needed.
    pub async fn connect_client(endpoint: Option<&str>) -> Client {
        Self::connect_client_counting(endpoint, None).await
    }

    /// [`Store::connect_client`], counting every HTTP attempt in `counter` (benchmarks).
    pub async fn connect_client_counting(
        endpoint: Option<&str>,
        counter: Option<RoundTripCounter>,
    ) -> Client {
        match counter {
            Some(counter) => Self::connect_client_intercepted(endpoint, counter).await,
            None => Self::connect_client_with(endpoint, None::<RoundTripCounter>).await,
        }
    }

    /// [`Store::connect_client`] with an interceptor on every attempt (benchmarks count round
    /// trips with one; fault tests make chosen requests fail before they are sent).
    pub async fn connect_client_intercepted(
        endpoint: Option<&str>,
        interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
    ) -> Client {
        Self::connect_client_with(endpoint, Some(interceptor)).await
    }

    async fn connect_client_with(
        endpoint: Option<&str>,
        interceptor: Option<impl aws_sdk_dynamodb::config::Intercept + 'static>,
    ) -> Client {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(1_000))
            .operation_attempt_timeout(Duration::from_millis(2_000))
            .operation_timeout(Duration::from_millis(5_000))
            .build();
        let retries = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_millis(500));
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(retries);
        if endpoint.is_some() {
            loader = loader
                .credentials_provider(Credentials::new("local", "local", None, None, "local"))
                .region(Region::new(
                    std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
                ));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&shared);
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        if let Some(interceptor) = interceptor {
            builder = builder.interceptor(interceptor);
        }
        Client::from_conf(builder.build())
    }

    /// Creates the table with its indexes if it does not exist (idempotent), and turns on TTL
    /// where the server supports it. Used by `make run`, the tests and the benchmarks; in AWS the
    /// SAM template creates the table.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let string_attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let index = |name: &str, hash: &str, range: &str, projection: ProjectionType| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash).map_err(internal)?)
                .key_schema(key(range, KeyType::Range).map_err(internal)?)
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(internal)
        };
        let mut request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash).map_err(internal)?)
            .key_schema(key("sk", KeyType::Range).map_err(internal)?)
            .global_secondary_indexes(index(GSI_OWNER, "gsi1pk", "gsi1sk", ProjectionType::All)?)
            .global_secondary_indexes(index(
                GSI_DIRECTORY,
                "gsi2pk",
                "gsi2sk",
                ProjectionType::KeysOnly,
            )?);
        for name in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] {
            request = request.attribute_definitions(string_attribute(name).map_err(internal)?);
        }
        match request.send().await {
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(error) => return Err(error.into()),
        }
        self.wait_until_active().await?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(internal)?;
        if let Err(error) = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            // dynalite has no UpdateTimeToLive, and a second call on AWS says TTL is already on.
            tracing::debug!(error = %error.meta().code().unwrap_or("unknown"), "TTL not changed");
        }
        Ok(())
    }

    async fn wait_until_active(&self) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::TableStatus;
        for _ in 0..100 {
            let description = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await?;
            if description.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(StoreError::Unavailable(
            "table did not become active".into(),
        ))
    }

    /// Counts the items of one gsi2 partition (KEYS_ONLY, paginated), those sorting below
    /// `below` when given.
    async fn count_in_directory(
        &self,
        partition: &str,
        below: Option<&str>,
    ) -> Result<u64, StoreError> {
        let condition = if below.is_some() {
            "gsi2pk = :dir AND gsi2sk < :below"
        } else {
            "gsi2pk = :dir"
        };
        let mut total = 0u64;
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_DIRECTORY)
                .key_condition_expression(condition)
                .expression_attribute_values(":dir", s(partition))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start);
            if let Some(bound) = below {
                query = query.expression_attribute_values(":below", s(bound));
            }
            let page = query.send().await?;
            total += page.count().max(0) as u64;
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    /// Deletes the table (tests clean up their isolated tables with it).
    pub async fn delete_table(&self) -> Result<(), StoreError> {
        self.client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await?;
        Ok(())
    }
}

/// Counts DynamoDB round trips (every HTTP attempt, retries included) made by a client.
#[derive(Debug, Clone, Default)]
pub struct RoundTripCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl RoundTripCounter {
    pub fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl aws_sdk_dynamodb::config::Intercept for RoundTripCounter {
    fn name(&self) -> &'static str {
        "RoundTripCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Request overrides that send an update once: an SDK retry of an `ADD` that the server did
/// apply (but whose answer was lost) would count twice.
pub(crate) fn single_attempt() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

/// Whether a failed request may nevertheless have been applied by the server.
pub(crate) fn outcome_unknown<E, R>(error: &SdkError<E, R>) -> bool {
    matches!(
        error,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) | SdkError::DispatchFailure(_)
    )
}

/// Sends a counter update that is idempotent by its condition (it leaves a mark and is refused
/// when it finds it): once without SDK retries, and once more only if the first outcome is
/// unknown. A refusal means "already applied" (or nothing to take back) and is not an error.
pub(crate) async fn send_counter_update<F>(build: F) -> Result<(), StoreError>
where
    F: Fn() -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
{
    let first = build()
        .customize()
        .config_override(single_attempt())
        .send()
        .await;
    let outcome = match first {
        Ok(_) => return Ok(()),
        Err(error) if outcome_unknown(&error) => build()
            .customize()
            .config_override(single_attempt())
            .send()
            .await
            .map(|_| ())
            .map_err(StoreError::from),
        Err(error) => Err(StoreError::from(error)),
    };
    match outcome {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(other) => Err(other),
    }
}

fn internal(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(error.to_string())
}

pub(crate) fn s(value: impl Into<String>) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl std::fmt::Display) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(value.to_string())
}

/// Reads a number attribute of a raw item.
pub(crate) fn number_attribute(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    name: &str,
) -> Option<f64> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|text| text.parse().ok())
}

/// A random shard for the statistics counters.
pub(crate) fn random_shard() -> u32 {
    use rand::Rng;
    rand::rng().random_range(0..STATS_SHARDS)
}

/// Epoch seconds of an expiry that never comes (9999-12-31T23:59:59Z).
pub const NEVER_EXPIRES: i64 = 253_402_300_799;
