//! The one DynamoDB table: its schema, the SDK client built once per container, and every
//! access pattern of the product as a method (no Scan anywhere). One module per item: users
//! (profiles, directory), live keys, charges (the metered counters), counters (their names and
//! decoding), keys, usage (events, day counters, totals), alerts, audit, idempotency, the data
//! sources' shared result cache and fleet-wide politeness gates; key builders and attribute
//! names live in [`schema`]. A write that may wait until after the response is a
//! [`DeferredPut`].
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
//! | cached result | `CACHE#<source>#<SHA-256 hex of the normalised key>` | `RESULT` | `value` (JSON text), `expiresAt`; TTL = `expiresAt`; read eventually consistent, expired = miss; written after the response |
//! | politeness gate | `GATE#<upstream>` (`GATE#arxiv`) | `GATE` | `nextSlot` (epoch ms); optimistic conditional update; no TTL |
mod alerts;
mod audit;
mod charge;
mod counters;
mod deferred;
mod enterprise;
mod gate;
mod idempotency;
mod keys;
mod limited;
mod live_keys;
mod result_cache;
mod schema;
mod table;
mod tallies;
mod usage;
mod users;

pub use alerts::QuotaCrossingRecord;
pub use charge::{ChargeCondition, ChargeOutcome, ChargeRefusal};
pub use counters::{charge_mark, CallCounters, DailyCounters, KeyUsage, UsageStats};
pub use deferred::DeferredPut;
pub use enterprise::ENTERPRISE_METER_SHARDS;
pub use gate::{GateRequest, GateReservation, GATE_ATTEMPTS};
pub use idempotency::{idempotency_pk, Claimed, ExistingRecord, StoredResponse};
pub use keys::{KeyEvent, KeyRecord, KeyStats};
pub use limited::{DemoCharge, LimitedCount};
pub use result_cache::{CachedResult, MAX_CACHED_RESULT_BYTES};
pub use table::RoundTripCounter;
pub use tallies::{DayTally, TotalsTally, TOTALS_PARTITIONS};
pub(crate) use usage::event_item;
pub use usage::{Subject, UsageEvent};
pub use users::{CreatedBy, UserRecord};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::Client;

pub(crate) use schema::item_key;
use schema::{Item, GSI_DIRECTORY};

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
        converted.count_in_metrics();
        converted
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(error: serde_dynamo::Error) -> Self {
        let converted = StoreError::Corrupt(error.to_string());
        converted.count_in_metrics();
        converted
    }
}

impl StoreError {
    /// Counts the error in the `StorageErrors` metric by kind: `throttled`, `unavailable`
    /// (unreachable, timed out, server error), `internal` (a request the server refused: a
    /// defect) or `corrupt` (an item that does not decode). A refused condition is an answer,
    /// not an error.
    fn count_in_metrics(&self) {
        const THROTTLING: [&str; 3] = [
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "ThrottlingException",
        ];
        let kind = match self {
            StoreError::ConditionFailed => return,
            StoreError::Unavailable(code) if THROTTLING.contains(&code.as_str()) => "throttled",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Internal(_) => "internal",
            StoreError::Corrupt(_) => "corrupt",
        };
        crate::ops_metrics::storage_error(kind);
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

    /// An update of the item at `key`.
    pub(crate) fn update(&self, key: Item) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
    }

    /// Puts a new item, refused (`StoreError::ConditionFailed`) when its key is taken.
    pub(crate) async fn put_new(&self, item: impl serde::Serialize) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await?;
        Ok(())
    }

    /// Runs `query` page after page, handing each item to `take` until it answers `false`.
    pub(crate) async fn for_each_item(
        &self,
        query: QueryFluentBuilder,
        mut take: impl FnMut(Item) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let output = query.clone().set_exclusive_start_key(start).send().await?;
            for item in output.items.unwrap_or_default() {
                if !take(item)? {
                    return Ok(());
                }
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// Reads items by key with consistent BatchGetItem requests (100 keys each); keys DynamoDB
    /// leaves unprocessed (throttling) are asked for again, a bounded number of times. Items
    /// that do not exist are simply absent; the order is not the keys'.
    pub(crate) async fn get_items_consistent(
        &self,
        keys: Vec<Item>,
    ) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let request = KeysAndAttributes::builder()
                .consistent_read(true)
                .set_keys(Some(chunk.to_vec()))
                .build()
                .map_err(internal)?;
            let mut pending = Some(std::collections::HashMap::from([(
                self.table.clone(),
                request,
            )]));
            let mut rounds = 0;
            while let Some(request) = pending.take().filter(|r| !r.is_empty()) {
                rounds += 1;
                if rounds > 5 {
                    return Err(StoreError::Unavailable("batch read kept throttling".into()));
                }
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await?;
                found.extend(
                    output
                        .responses
                        .unwrap_or_default()
                        .remove(&self.table)
                        .unwrap_or_default(),
                );
                pending = output.unprocessed_keys;
            }
        }
        Ok(found)
    }

    /// The shards of a sharded counter (at most [`STATS_SHARDS`] items of one partition).
    pub(crate) async fn shards(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .limit(STATS_SHARDS as i32)
            .send()
            .await?;
        Ok(output.items.unwrap_or_default())
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

/// A random shard for the statistics counters.
pub(crate) fn random_shard() -> u32 {
    use rand::Rng;
    rand::rng().random_range(0..STATS_SHARDS)
}

/// Epoch seconds of an expiry that never comes (9999-12-31T23:59:59Z).
pub const NEVER_EXPIRES: i64 = 253_402_300_799;
