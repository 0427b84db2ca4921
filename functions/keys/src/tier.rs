//! `PUT /api/v1/users/{userId}/tier` (admin): the one way to change an existing user's tier.
use harmonic_shared::audit::AuditAction;
use harmonic_shared::domain::{Tier, UserId};
use harmonic_shared::guards::require_admin;
use harmonic_shared::http::{body_bytes, json_response, JsonObject};
use harmonic_shared::lambda_http::http::StatusCode;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::{ApiError, App};
use serde_json::json;

use crate::listing::MAX_LISTED_KEYS;
use crate::views;

const TIER_EXAMPLE: &str = r#"{"tier": "pro"}"#;

/// `PUT /api/v1/users/{userId}/tier` (admin): the explicit way to change an existing user's
/// tier. The answer lists the user's live keys, so the operator sees who else holds keys on the
/// account it is upgrading (a sign-up it did not make, for one).
pub async fn change_tier(
    app: &App,
    request: &Request,
    raw_user_id: &str,
) -> Result<Response<Body>, ApiError> {
    require_admin(app, request).await?;
    let now = app.clock.now();
    let user_id = UserId::parse(&percent_decoded(raw_user_id)).map_err(ApiError::BadRequest)?;
    let body = JsonObject::parse(body_bytes(request)?, false, TIER_EXAMPLE)?;
    let tier =
        Tier::parse(body.required_str("tier", TIER_EXAMPLE)?).map_err(ApiError::BadRequest)?;
    let (previous, user) = app
        .store
        .set_tier(&user_id, tier)
        .await?
        .ok_or_else(|| ApiError::no_such_user(&user_id))?;
    let records = app.store.list_keys(&user_id, MAX_LISTED_KEYS).await?;
    let live_keys: Vec<_> = records
        .iter()
        .filter(|record| user.key_is_live(&record.key_id, now))
        .map(|record| views::summary(record, Some(&user), now))
        .collect();
    tracing::info!(user_id = %user_id, from = %previous, to = %tier, "tier changed by the administrator");
    app.audit(
        AuditAction::TierChange,
        &user_id,
        None,
        json!({ "tier": tier, "previousTier": previous }),
    )
    .await;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "userId": user_id,
            "previousTier": previous,
            "tier": tier,
            "quotaMonthly": app.config.monthly_quota(tier),
            "createdBy": user.created_by,
            "liveKeys": live_keys,
            "message": format!(
                "every live key listed here now uses the {tier} quota; revoke \
                 (DELETE /api/v1/keys/{{id}}) any the customer does not recognise"
            ),
        }),
    ))
}

/// Path segments arrive percent-encoded (`first.last%40example.com`); an invalid escape is kept
/// as written and invalid UTF-8 is replaced, so the user-id parser reports what is wrong.
fn percent_decoded(segment: &str) -> String {
    String::from_utf8_lossy(&urlencoding::decode_binary(segment.as_bytes())).into_owned()
}
