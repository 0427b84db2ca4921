//! The JSON shapes of the keys API, and the `no-store` of an answer that shows a key. The key itself appears only in [`created`]; the hash never.
use chrono::{DateTime, Utc};
use harmonic_shared::apikey::PresentedKey;
use harmonic_shared::config::Config;
use harmonic_shared::domain::Tier;
use harmonic_shared::lambda_http::http::{header, HeaderValue};
use harmonic_shared::lambda_http::{Body, Response};
use harmonic_shared::store::{KeyRecord, UserRecord};
use serde_json::{json, Value};

pub const SAVE_NOW: &str = "Save this key now. It will not be shown again.";

/// A newly issued key, shown once.
pub fn created(config: &Config, key: &PresentedKey, record: &KeyRecord, tier: Tier) -> Value {
    json!({
        "success": true,
        "id": record.key_id,
        "key": key.expose(),
        "userId": record.user_id,
        "name": record.name,
        "tier": tier,
        "quotaMonthly": config.monthly_quota(tier),
        "createdAt": record.created_at,
        "expiresAt": record.expires_at,
        "message": SAVE_NOW,
    })
}

/// A key as lists and inspection show it: never the key, never the hash. Its use comes from the
/// user item while the key has entries there (the charge counts it on the same update), from
/// the key item once it stopped.
pub fn summary(record: &KeyRecord, user: Option<&UserRecord>, now: DateTime<Utc>) -> Value {
    let key_id = record.key_id.as_str();
    let (usage_count, last_used_at) = match user.and_then(|u| u.key_usage.get(key_id)) {
        Some(usage) => (usage.count, usage.last_used_at()),
        None => (record.usage_count.unwrap_or(0), record.last_used_at.clone()),
    };
    json!({
        "id": record.key_id,
        "userId": record.user_id,
        "name": record.name,
        "preview": record.key_id.preview(),
        "tier": user.map(|u| u.tier),
        "createdAt": record.created_at,
        "lastUsed": last_used_at,
        "lastUsedAt": last_used_at,
        "usageCount": usage_count,
        "createdWith": record.created_with,
        "expiresAt": record.expires_at,
        "isActive": user.is_some_and(|u| u.key_is_live(&record.key_id, now)),
        "revokedAt": record.revoked_at,
    })
}

/// A response that shows a key: no cache may keep it.
pub fn no_store(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
