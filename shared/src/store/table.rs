//! The table itself: the SDK client built once per container (with a local endpoint for
//! `make run` and the tests), creating the table with its indexes, and deleting it.
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use std::time::Duration;

use super::schema::{self, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI_DIRECTORY, GSI_OWNER, PK, SK};
use super::{internal, Store, StoreError};

impl Store {
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
            .key_schema(key(PK, KeyType::Hash).map_err(internal)?)
            .key_schema(key(SK, KeyType::Range).map_err(internal)?)
            .global_secondary_indexes(index(GSI_OWNER, GSI1_PK, GSI1_SK, ProjectionType::All)?)
            .global_secondary_indexes(index(
                GSI_DIRECTORY,
                GSI2_PK,
                GSI2_SK,
                ProjectionType::KeysOnly,
            )?);
        for name in [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK] {
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
            .attribute_name(schema::TTL)
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
