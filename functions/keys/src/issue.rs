//! Issuing and revoking keys without ever leaving a half-made key that works.
//!
//! A key is written in two steps: its item (with the bcrypt hash), then its entry in the user's
//! live keys, which is what authentication checks. Until the second step succeeds the key cannot
//! be used; if it fails, the item is deleted again.
use chrono::{DateTime, Utc};
use harmonic_shared::apikey::{self, KeyId, PresentedKey};
use harmonic_shared::domain::{rfc3339, KeyName, Tier, UserId};
use harmonic_shared::store::{KeyEvent, KeyRecord, StoreError, NEVER_EXPIRES};
use harmonic_shared::{ApiError, App};

/// Attempts at finding an unused key id (a collision of 59 random bits is already unlikely).
const ID_ATTEMPTS: usize = 3;

pub struct NewKey {
    pub key: PresentedKey,
    pub record: KeyRecord,
}

pub struct IssueRequest<'a> {
    pub user_id: &'a UserId,
    pub tier: Tier,
    pub name: KeyName,
    pub expires_at: Option<DateTime<Utc>>,
    /// How many live keys the user may hold after this one is added.
    pub max_live: u32,
    /// The holder's key it is created with (`None`: the admin, or a sign-up).
    pub created_with: Option<&'a KeyId>,
}

pub async fn issue_key(app: &App, request: IssueRequest<'_>) -> Result<NewKey, ApiError> {
    let now = app.clock.now();
    let (key, record) = store_new_key_item(app, &request, now).await?;
    let until = request
        .expires_at
        .map_or(NEVER_EXPIRES, |at| at.timestamp());

    let mut activation = app
        .store
        .activate_key(request.user_id, &record.key_id, until, request.max_live)
        .await;
    if matches!(activation, Err(StoreError::ConditionFailed)) {
        // Expired keys still occupy entries: drop them and try once more.
        if let Some(user) = app.store.get_user(request.user_id).await? {
            if app.store.prune_expired_keys(&user, now).await? > 0 {
                activation = app
                    .store
                    .activate_key(request.user_id, &record.key_id, until, request.max_live)
                    .await;
            }
        }
    }
    if let Err(error) = activation {
        if let Err(cleanup) = app.store.delete_key_item(&record.key_id).await {
            tracing::warn!(key_id = %record.key_id, error = %cleanup, "inactive key item left behind (it cannot authenticate)");
        }
        return Err(match error {
            StoreError::ConditionFailed => ApiError::Conflict(format!(
                "user {} already has the maximum of {} active keys; revoke one first",
                request.user_id, app.config.max_keys_per_user
            )),
            other => other.into(),
        });
    }
    app.store.bump_key_stats(KeyEvent::Generated).await;
    tracing::info!(user_id = %request.user_id, key_id = %record.key_id, "key issued");
    Ok(NewKey { key, record })
}

async fn store_new_key_item(
    app: &App,
    request: &IssueRequest<'_>,
    now: DateTime<Utc>,
) -> Result<(PresentedKey, KeyRecord), ApiError> {
    for _ in 0..ID_ATTEMPTS {
        let key = apikey::generate(&app.config.key_check);
        let cost = app.config.bcrypt_cost;
        let for_hashing = key.clone();
        let hash = tokio::task::spawn_blocking(move || apikey::hash(&for_hashing, cost))
            .await
            .map_err(|error| ApiError::Internal(format!("bcrypt task failed: {error}")))?
            .map_err(|error| ApiError::Internal(format!("bcrypt failed: {error}")))?;
        let record = KeyRecord {
            key_id: key.key_id().clone(),
            user_id: request.user_id.clone(),
            hash,
            name: request.name.as_str().to_owned(),
            tier_hint: request.tier,
            created_at: rfc3339(now),
            expires_at: request.expires_at.map(rfc3339),
            revoked_at: None,
            rotated_to: None,
            created_with: request.created_with.cloned(),
            usage_count: None,
            last_used_at: None,
        };
        match app.store.put_key(&record).await {
            Ok(()) => return Ok((key, record)),
            Err(StoreError::ConditionFailed) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Internal(
        "no free key id after several attempts".into(),
    ))
}

/// Stops a key at `at` (now, or later for a rotation's grace period): first on the user item,
/// which takes effect on the next request, then on the key item (which also receives the key's
/// use from the user item). Returns the revocation time.
pub async fn revoke_key(
    app: &App,
    record: &KeyRecord,
    at: DateTime<Utc>,
    replaced_by: Option<&KeyId>,
) -> Result<String, ApiError> {
    let now = app.clock.now();
    let usage = app
        .store
        .deactivate_key(&record.user_id, &record.key_id, at.timestamp(), now)
        .await?;
    let (revoked_at, first_time) = app
        .store
        .mark_key_revoked(&record.key_id, at, replaced_by, usage)
        .await?;
    if at <= now {
        app.auth.forget(&record.key_id).await;
    }
    if first_time {
        tracing::info!(user_id = %record.user_id, key_id = %record.key_id, "key revoked");
    }
    Ok(revoked_at)
}
