//! Ending keys: revoking one now, and rotating one (a new key now, the old one stopped now or
//! after a grace period).
use chrono::{DateTime, Duration, Utc};
use harmonic_shared::apikey::KeyId;
use harmonic_shared::audit::AuditAction;
use harmonic_shared::domain::KeyName;
use harmonic_shared::http::{body_bytes, json_response, JsonObject};
use harmonic_shared::lambda_http::http::StatusCode;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::{ApiError, App};
use serde_json::json;

use crate::holder_rules::{no_later_than_creator, require_key_manager};
use crate::issue::{issue_key, revoke_key, IssueRequest};
use crate::listing::{visible_key, Visible};
use crate::no_such_key;
use crate::views::{self, no_store};

const ROTATE_EXAMPLE: &str = r#"{"revokeOld": true, "gracePeriodSeconds": 3600}"#;

/// `DELETE /api/v1/keys/{id}`: effective on the next request; repeating it is harmless.
pub async fn revoke(
    app: &App,
    request: &Request,
    key_id: KeyId,
) -> Result<Response<Body>, ApiError> {
    let visible = visible_key(app, request, &key_id).await?;
    if let Some(holder_key) = &visible.holder_key {
        require_key_manager(app, holder_key).await?;
    }
    let revoked_at = revoke_key(app, &visible.record, app.clock.now(), None).await?;
    app.audit(
        AuditAction::Revoke,
        &visible.record.user_id,
        Some(&key_id),
        serde_json::Value::Null,
    )
    .await;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "success": true, "keyId": key_id, "revokedAt": revoked_at }),
    ))
}

/// `POST /api/v1/keys/{id}/rotate`.
///
/// The new key is issued first, then the old one is scheduled to stop. If that second step
/// fails the new key is live and paid for: it is still shown (once, as always) with a warning
/// that the old key is still live and how to revoke it, rather than a 503 that would lose it.
pub async fn rotate(
    app: &App,
    request: &Request,
    key_id: KeyId,
) -> Result<Response<Body>, ApiError> {
    let Visible {
        record,
        user,
        holder_key,
    } = visible_key(app, request, &key_id).await?;
    let body = JsonObject::parse(body_bytes(request)?, true, ROTATE_EXAMPLE)?;
    body.reject_unknown(&["revokeOld", "gracePeriodSeconds"])?;
    let revoke_old = body.optional_bool("revokeOld")?.unwrap_or(true);
    let grace = body
        .optional_int("gracePeriodSeconds", 0, 86_400)?
        .unwrap_or(0);
    let now = app.clock.now();
    let user = user.ok_or_else(no_such_key)?;
    if let Some(holder_key) = &holder_key {
        require_key_manager(app, holder_key).await?;
    }
    if !user.key_is_live(&record.key_id, now) {
        return Err(ApiError::Conflict(
            "this key is revoked or expired; create a new key instead of rotating it".into(),
        ));
    }
    if let (Some(next), Some(_)) = (&record.rotated_to, &record.revoked_at) {
        return Err(ApiError::Conflict(format!(
            "this key was already rotated to {next}; rotate that key instead"
        )));
    }
    let name = KeyName::parse(&record.name)
        .unwrap_or_else(|_| KeyName::default_name())
        .rotated();
    let mut expires_at = record
        .expires_at
        .as_deref()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc));
    if let Some(holder_key) = &holder_key {
        expires_at = no_later_than_creator(expires_at, &user, holder_key);
    }
    let issued = issue_key(
        app,
        IssueRequest {
            user_id: &record.user_id,
            tier: user.tier,
            name,
            expires_at,
            // The old key still counts until it is revoked: rotation may go one over.
            max_live: app.config.max_keys_per_user + 1,
            created_with: holder_key.as_ref(),
        },
    )
    .await?;
    let mut warning = None;
    let old_revokes_at = if revoke_old {
        let at = now + Duration::seconds(grace);
        match revoke_key(app, &record, at, Some(&issued.record.key_id)).await {
            Ok(revoked_at) => Some(revoked_at),
            Err(error) => {
                tracing::warn!(key_id = %record.key_id, new_key_id = %issued.record.key_id, error = %error, "rotation: new key issued, old key not revoked");
                warning = Some(format!(
                    "the new key works, but the old key {key_id} could not be scheduled to stop and \
                     is still live: revoke it with DELETE /api/v1/keys/{key_id} (using the new key)"
                ));
                None
            }
        }
    } else {
        None
    };
    app.audit(
        AuditAction::Rotate,
        &record.user_id,
        Some(&key_id),
        json!({ "newKeyId": issued.record.key_id, "oldKeyRevokesAt": old_revokes_at }),
    )
    .await;
    let mut new_key = views::created(&app.config, &issued.key, &issued.record, user.tier);
    if let Some(fields) = new_key.as_object_mut() {
        // `success` belongs to the rotation's body, once; the new key keeps its save-now message.
        fields.remove("success");
    }
    let mut answer = json!({
        "success": true,
        "oldKeyId": key_id,
        "oldKeyRevokesAt": old_revokes_at,
        "newKey": new_key,
    });
    if let (Some(text), Some(fields)) = (warning, answer.as_object_mut()) {
        fields.insert("warning".into(), json!(text));
    }
    Ok(no_store(json_response(StatusCode::CREATED, &answer)))
}
