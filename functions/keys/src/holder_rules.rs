//! What a key holder may do with the key it calls with: manage keys only while that key is not
//! being retired, and never create a key that outlives it.
use chrono::{DateTime, Utc};
use harmonic_shared::apikey::KeyId;
use harmonic_shared::store::{UserRecord, NEVER_EXPIRES};
use harmonic_shared::{ApiError, App};

/// A key may create, rotate or revoke keys only while it is not being retired. A key in its
/// rotation grace period still calls data and reads usage, but whoever holds it (perhaps the
/// thief the rotation is for) cannot mint or rotate keys with it.
pub async fn require_key_manager(app: &App, key_id: &KeyId) -> Result<(), ApiError> {
    let record = app
        .store
        .get_key(key_id)
        .await?
        .ok_or_else(ApiError::invalid_api_key)?;
    match record.revoked_at {
        None => Ok(()),
        Some(at) => Err(ApiError::Forbidden(format!(
            "this key was rotated and stops working at {at}: until then it can call data and read \
             usage, but it cannot create, rotate or revoke keys. Use the key that replaced it{}",
            record
                .rotated_to
                .map(|next| format!(" ({next})"))
                .unwrap_or_default()
        ))),
    }
}

/// A key a holder creates never outlives the key it was created with.
pub fn no_later_than_creator(
    requested: Option<DateTime<Utc>>,
    user: &UserRecord,
    creator: &KeyId,
) -> Option<DateTime<Utc>> {
    let creator_ends = user
        .live_keys
        .get(creator.as_str())
        .filter(|until| **until < NEVER_EXPIRES)
        .and_then(|until| DateTime::<Utc>::from_timestamp(*until, 0));
    match (requested, creator_ends) {
        (Some(wanted), Some(limit)) => Some(wanted.min(limit)),
        (None, limit) => limit,
        (wanted, None) => wanted,
    }
}
