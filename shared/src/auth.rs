//! Who is calling: the admin (bearer token, compared in constant time), a key holder
//! (`X-API-Key`, format-checked first, then found by id and verified once per container with
//! bcrypt), or nobody.
//!
//! Verified keys are remembered by the SHA-256 of the presented key, so a warm request does no
//! bcrypt. Authentication only proves keys: what a key may spend is the meter's decision
//! ([`crate::metering`]). Liveness is never cached: every request still reads (or conditionally writes) the
//! user item, so a revocation takes effect on the very next request in every container.
use lambda_http::http::HeaderMap;
use moka::future::Cache;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use crate::actor::Actor;
use crate::apikey::{self, KeyId, PresentedKey};
use crate::config::{AdminTokenDigest, Config};
use crate::domain::{Tier, UserId};
use crate::error::ApiError;
use crate::http::header_text;
use crate::ops_metrics::{self, KeyVerification};
use crate::request_scope;
use crate::store::{Store, UserRecord};

pub const API_KEY_HEADER: &str = "x-api-key";

/// The credentials a request carries, checked for form only.
#[derive(Debug)]
pub enum Credentials {
    None,
    Admin,
    Key(PresentedKey),
}

/// A caller whose credentials were verified (and, for a key holder, found live).
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Admin,
    Holder {
        user: Box<UserRecord>,
        key_id: KeyId,
    },
}

/// What the container knows about a key it verified with bcrypt.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    digest: [u8; 32],
    pub key_id: KeyId,
    pub user_id: UserId,
    /// The user's tier recorded on the key item at issue: a fact of the key, which the meter
    /// takes as its first guess until it has seen the user's real tier.
    pub tier_at_issue: Tier,
}

/// Verifies credentials; one per container (it owns the verified-key cache; a clone shares it).
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    admin_token: Option<AdminTokenDigest>,
    key_check: apikey::KeyCheckSecret,
    verified: Cache<KeyId, Arc<VerifiedKey>>,
    /// Digests that failed bcrypt recently: a flood of wrong secrets for a real key id costs
    /// one bcrypt each per minute, not one per request.
    rejected: Cache<[u8; 32], ()>,
}

impl Authenticator {
    pub fn new(store: Store, config: &Config) -> Self {
        Self {
            store,
            admin_token: config.admin_token.clone(),
            key_check: config.key_check.clone(),
            verified: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.key_cache_ttl)
                .build(),
            rejected: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(std::time::Duration::from_secs(60))
                .build(),
        }
    }

    /// Reads the credentials from the headers. A malformed or forged key (its keyed check group
    /// does not match) is refused here, before any database read and any bcrypt. `Authorization` wins over `X-API-Key` when both are sent.
    pub fn credentials(&self, headers: &HeaderMap) -> Result<Credentials, ApiError> {
        if let Some(authorization) = headers.get(lambda_http::http::header::AUTHORIZATION) {
            let token = authorization
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::Unauthorized(
                        "Authorization must be \"Bearer <admin token>\"; key holders send X-API-Key"
                            .into(),
                    )
                })?;
            return if self.is_admin_token(token) {
                Ok(Credentials::Admin)
            } else {
                Err(ApiError::Unauthorized("Invalid admin token".into()))
            };
        }
        match headers.get(API_KEY_HEADER) {
            None => Ok(Credentials::None),
            Some(_) => {
                let raw = header_text(headers, API_KEY_HEADER).unwrap_or_default();
                PresentedKey::parse(raw.trim(), &self.key_check)
                    .map(Credentials::Key)
                    .map_err(|reason| {
                        tracing::info!(%reason, "malformed API key refused without a lookup");
                        ApiError::invalid_api_key()
                    })
            }
        }
    }

    fn is_admin_token(&self, presented: &str) -> bool {
        match &self.admin_token {
            Some(expected) => {
                let digest = AdminTokenDigest::of_token(presented);
                bool::from(digest.0.ct_eq(&expected.0))
            }
            None => false,
        }
    }

    /// Proves the key is one we issued: from the cache (no I/O) or from its item and bcrypt.
    /// Says nothing about liveness: the caller checks that against the user item.
    pub async fn verify_key(&self, key: &PresentedKey) -> Result<Arc<VerifiedKey>, ApiError> {
        let digest = key.digest();
        if let Some(known) = self.verified.get(key.key_id()).await {
            if bool::from(known.digest.ct_eq(&digest)) {
                ops_metrics::key_verification(KeyVerification::CacheHit);
                return Ok(known);
            }
        }
        if self.rejected.contains_key(&digest) {
            ops_metrics::key_verification(KeyVerification::RejectedCached);
            return Err(ApiError::invalid_api_key());
        }
        let Some(record) = self.store.get_key(key.key_id()).await? else {
            ops_metrics::key_verification(KeyVerification::UnknownKey);
            tracing::info!(key_id = %key.key_id(), "unknown key id");
            return Err(ApiError::invalid_api_key());
        };
        let presented = key.clone();
        let stored_hash = record.hash.clone();
        let matches = tokio::task::spawn_blocking(move || apikey::verify(&presented, &stored_hash))
            .await
            .map_err(|error| ApiError::Internal(format!("bcrypt task failed: {error}")))?;
        if !matches {
            ops_metrics::key_verification(KeyVerification::BcryptRejected);
            self.rejected.insert(digest, ()).await;
            tracing::info!(key_id = %key.key_id(), "key failed verification");
            return Err(ApiError::invalid_api_key());
        }
        let verified = Arc::new(VerifiedKey {
            digest,
            key_id: record.key_id,
            user_id: record.user_id,
            tier_at_issue: record.tier_hint,
        });
        ops_metrics::key_verification(KeyVerification::Bcrypt);
        self.verified
            .insert(verified.key_id.clone(), verified.clone())
            .await;
        Ok(verified)
    }

    /// Forgets a key (revoked, or found not live).
    pub async fn forget(&self, key_id: &KeyId) {
        self.verified.invalidate(key_id).await;
    }

    /// Full authentication for the non-metered routes: credentials, then for a key holder the
    /// key's verification and a consistent read of the user item to check it is live now.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Caller, ApiError> {
        match self.credentials(headers)? {
            Credentials::None => Ok(Caller::Anonymous),
            Credentials::Admin => {
                request_scope::note_tier("admin");
                request_scope::note_actor(Actor::Admin);
                Ok(Caller::Admin)
            }
            Credentials::Key(key) => {
                let verified = self.verify_key(&key).await?;
                match self.store.get_user(&verified.user_id).await? {
                    Some(user) if user.key_is_live(&verified.key_id, now) => {
                        request_scope::note_tier(user.tier.as_str());
                        request_scope::note_actor(Actor::Key {
                            key_id: verified.key_id.clone(),
                        });
                        Ok(Caller::Holder {
                            user: Box::new(user),
                            key_id: verified.key_id.clone(),
                        })
                    }
                    _ => {
                        self.forget(&verified.key_id).await;
                        tracing::info!(key_id = %verified.key_id, "key is not live");
                        Err(ApiError::invalid_api_key())
                    }
                }
            }
        }
    }
}
