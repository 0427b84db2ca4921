//! The keys routes. Each parses its input into domain types, checks who may touch which object
//! (another user's key is a 404, never a 403) and answers JSON.
use chrono::{DateTime, Duration, Utc};
use harmonic_shared::apikey::KeyId;
use harmonic_shared::auth::Caller;
use harmonic_shared::domain::{truncate_for_message, KeyName, Tier, UserId};
use harmonic_shared::http::{body_bytes, json_response, query_param, JsonObject};
use harmonic_shared::lambda_http::http::{header, HeaderValue, StatusCode};
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::store::{KeyRecord, UserRecord};
use harmonic_shared::{ApiError, App};
use serde_json::json;

use crate::issue::{issue_key, revoke_key, IssueRequest};
use crate::views;

const CREATE_EXAMPLE: &str = r#"{"userId": "user123", "name": "my app"}"#;
const ROTATE_EXAMPLE: &str = r#"{"revokeOld": true, "gracePeriodSeconds": 3600}"#;
/// The longest a key may be issued for.
const MAX_KEY_LIFETIME_DAYS: i64 = 3650;
/// The most keys a list shows (newest first).
const MAX_LISTED_KEYS: usize = 1000;

pub fn no_such_key() -> ApiError {
    ApiError::NotFound("no such key (check the key id)".into())
}

fn no_such_user(user_id: &UserId) -> ApiError {
    ApiError::NotFound(format!("no user {user_id}"))
}

fn credentials_required() -> ApiError {
    ApiError::Unauthorized(
        "credentials required: send X-API-Key (your key) or Authorization: Bearer <admin token>"
            .into(),
    )
}

fn admin_only() -> ApiError {
    ApiError::Forbidden("this route is for the administrator only".into())
}

fn no_store(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

struct CreateInput {
    user_id: UserId,
    name: KeyName,
    tier: Option<Tier>,
    expires_at: Option<DateTime<Utc>>,
}

fn parse_create(bytes: &[u8], now: DateTime<Utc>) -> Result<CreateInput, ApiError> {
    let body = JsonObject::parse(bytes, false, CREATE_EXAMPLE)?;
    body.reject_unknown(&["userId", "name", "tier", "expiresAt"])?;
    let user_id = UserId::parse(body.required_str("userId", CREATE_EXAMPLE)?)
        .map_err(ApiError::BadRequest)?;
    let name = match body.optional_str("name")? {
        Some(raw) => KeyName::parse(raw).map_err(ApiError::BadRequest)?,
        None => KeyName::default_name(),
    };
    let tier = body
        .optional_str("tier")?
        .map(Tier::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let expires_at = body
        .optional_str("expiresAt")?
        .map(|raw| parse_expiry(raw, now))
        .transpose()?;
    Ok(CreateInput {
        user_id,
        name,
        tier,
        expires_at,
    })
}

fn parse_expiry(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let instant = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "`expiresAt` must be an RFC 3339 instant such as \"2027-01-31T00:00:00Z\" (got {:?})",
                truncate_for_message(raw)
            ))
        })?
        .with_timezone(&Utc);
    if instant <= now {
        return Err(ApiError::BadRequest(
            "`expiresAt` must be in the future".into(),
        ));
    }
    if instant > now + Duration::days(MAX_KEY_LIFETIME_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "`expiresAt` must be within {MAX_KEY_LIFETIME_DAYS} days"
        )));
    }
    Ok(instant)
}

/// `POST /api/v1/keys`.
pub async fn create(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    let caller = app.auth.authenticate(request.headers(), now).await?;
    let input = parse_create(body_bytes(request)?, now)?;
    let max_live = app.config.max_keys_per_user;

    let (tier, created_user) = match &caller {
        Caller::Admin => {
            let user = app
                .store
                .upsert_user(&input.user_id, input.tier, now)
                .await?;
            (user.tier, false)
        }
        Caller::Holder { user, .. } => {
            if user.user_id != input.user_id {
                return Err(no_such_user(&input.user_id));
            }
            if input.tier.is_some_and(|tier| tier != user.tier) {
                return Err(ApiError::Forbidden(
                    "only the administrator can change a tier".into(),
                ));
            }
            (user.tier, false)
        }
        Caller::Anonymous => {
            if !app.config.allow_signup {
                return Err(ApiError::Unauthorized(
                    "sign-up is closed: an administrator issues keys (Authorization: Bearer <admin token>)"
                        .into(),
                ));
            }
            if input.tier.is_some_and(|tier| tier != Tier::Free) {
                return Err(ApiError::Forbidden(
                    "sign-up creates Free users; only the administrator can set another tier"
                        .into(),
                ));
            }
            if !app
                .store
                .create_user_if_absent(&input.user_id, Tier::Free, now)
                .await?
            {
                return Err(ApiError::Conflict(format!(
                    "user {} already exists: use one of its keys (X-API-Key) to create more",
                    input.user_id
                )));
            }
            (Tier::Free, true)
        }
    };

    let issued = issue_key(
        app,
        IssueRequest {
            user_id: &input.user_id,
            tier,
            name: input.name,
            expires_at: input.expires_at,
            max_live,
        },
    )
    .await;
    let issued = match issued {
        Ok(issued) => issued,
        Err(error) => {
            if created_user {
                // Undo the sign-up so the user id can be claimed again.
                if let Err(cleanup) = app.store.delete_user_if_keyless(&input.user_id).await {
                    tracing::warn!(user_id = %input.user_id, error = %cleanup, "keyless user left behind");
                }
            }
            return Err(error);
        }
    };
    Ok(no_store(json_response(
        StatusCode::CREATED,
        &views::created(&app.config, &issued.key, &issued.record, tier),
    )))
}

/// `GET /api/v1/keys`.
pub async fn list(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    let requested = query_param(request, "userId")
        .map(|raw| UserId::parse(&raw).map_err(ApiError::BadRequest))
        .transpose()?;
    let user = match app.auth.authenticate(request.headers(), now).await? {
        Caller::Anonymous => return Err(credentials_required()),
        Caller::Admin => {
            let user_id = requested.ok_or_else(|| {
                ApiError::BadRequest("admin listing needs ?userId=<user id>".into())
            })?;
            app.store
                .get_user(&user_id)
                .await?
                .ok_or_else(|| no_such_user(&user_id))?
        }
        Caller::Holder { user, .. } => {
            if let Some(other) = requested.filter(|id| *id != user.user_id) {
                return Err(no_such_user(&other));
            }
            *user
        }
    };
    let records = app.store.list_keys(&user.user_id, MAX_LISTED_KEYS).await?;
    let keys: Vec<_> = records
        .iter()
        .map(|record| views::summary(record, Some(&user), now))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "userId": user.user_id, "total": keys.len(), "keys": keys }),
    ))
}

/// Finds a key the caller may see: the admin sees every key, a holder only its own user's.
async fn visible_key(
    app: &App,
    request: &Request,
    key_id: &KeyId,
) -> Result<(KeyRecord, Option<UserRecord>), ApiError> {
    let now = app.clock.now();
    let caller = app.auth.authenticate(request.headers(), now).await?;
    let record = match &caller {
        Caller::Anonymous => return Err(credentials_required()),
        _ => app.store.get_key(key_id).await?.ok_or_else(no_such_key)?,
    };
    match caller {
        Caller::Holder { user, .. } if user.user_id == record.user_id => Ok((record, Some(*user))),
        Caller::Holder { .. } | Caller::Anonymous => Err(no_such_key()),
        Caller::Admin => {
            let user = app.store.get_user(&record.user_id).await?;
            Ok((record, user))
        }
    }
}

/// `GET /api/v1/keys/{id}`.
pub async fn inspect(
    app: &App,
    request: &Request,
    key_id: KeyId,
) -> Result<Response<Body>, ApiError> {
    let (record, user) = visible_key(app, request, &key_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &views::summary(&record, user.as_ref(), app.clock.now()),
    ))
}

/// `DELETE /api/v1/keys/{id}`: effective on the next request; repeating it is harmless.
pub async fn revoke(
    app: &App,
    request: &Request,
    key_id: KeyId,
) -> Result<Response<Body>, ApiError> {
    let (record, _) = visible_key(app, request, &key_id).await?;
    let revoked_at = revoke_key(app, &record, app.clock.now(), None).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "success": true, "keyId": key_id, "revokedAt": revoked_at }),
    ))
}

/// `POST /api/v1/keys/{id}/rotate`.
pub async fn rotate(
    app: &App,
    request: &Request,
    key_id: KeyId,
) -> Result<Response<Body>, ApiError> {
    let (record, user) = visible_key(app, request, &key_id).await?;
    let body = JsonObject::parse(body_bytes(request)?, true, ROTATE_EXAMPLE)?;
    body.reject_unknown(&["revokeOld", "gracePeriodSeconds"])?;
    let revoke_old = body.optional_bool("revokeOld")?.unwrap_or(true);
    let grace = body
        .optional_int("gracePeriodSeconds", 0, 86_400)?
        .unwrap_or(0);
    let now = app.clock.now();
    let user = user.ok_or_else(no_such_key)?;
    if !user.key_is_live(&record.key_id, now) {
        return Err(ApiError::Conflict(
            "this key is revoked or expired; create a new key instead of rotating it".into(),
        ));
    }
    let name = KeyName::parse(&record.name)
        .unwrap_or_else(|_| KeyName::default_name())
        .rotated();
    let expires_at = record
        .expires_at
        .as_deref()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc));
    let issued = issue_key(
        app,
        IssueRequest {
            user_id: &record.user_id,
            tier: user.tier,
            name,
            expires_at,
            // The old key still counts until it is revoked: rotation may go one over.
            max_live: app.config.max_keys_per_user + 1,
        },
    )
    .await?;
    let old_revokes_at = if revoke_old {
        let at = now + Duration::seconds(grace);
        Some(revoke_key(app, &record, at, Some(&issued.record.key_id)).await?)
    } else {
        None
    };
    let mut new_key = views::created(&app.config, &issued.key, &issued.record, user.tier);
    if let Some(fields) = new_key.as_object_mut() {
        // `success` belongs to the rotation's body, once; the new key keeps its save-now message.
        fields.remove("success");
    }
    Ok(no_store(json_response(
        StatusCode::CREATED,
        &json!({
            "success": true,
            "oldKeyId": key_id,
            "oldKeyRevokesAt": old_revokes_at,
            "newKey": new_key,
        }),
    )))
}

/// `GET /api/v1/keys/stats` (admin).
pub async fn stats(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    match app.auth.authenticate(request.headers(), now).await? {
        Caller::Admin => {}
        Caller::Anonymous => return Err(credentials_required()),
        Caller::Holder { .. } => return Err(admin_only()),
    }
    let stats = app.store.key_stats(now).await?;
    Ok(json_response(StatusCode::OK, &stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn create_bodies_are_parsed_into_domain_values_or_explained() {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
        let good = parse_create(
            br#"{"userId":"user123","name":"ci","tier":"PRO","expiresAt":"2027-01-01T00:00:00Z"}"#,
            now,
        )
        .unwrap();
        assert_eq!(good.user_id.as_str(), "user123");
        assert_eq!(good.tier, Some(Tier::Pro));
        assert!(good.expires_at.is_some());

        let cases: [(&[u8], &str); 10] = [
            (b"", "empty"),
            (b"{\"userId\": ", "not valid JSON"),
            (b"[\"user123\"]", "must be a JSON object"),
            (b"{}", "`userId` is required"),
            (b"{\"userId\": 5}", "`userId` must be a string"),
            (b"{\"userId\": \"a b\"}", "may only contain"),
            (
                b"{\"userId\": \"u\", \"tier\": \"gold\"}",
                "tier must be one of",
            ),
            (
                b"{\"userId\": \"u\", \"name\": \"\"}",
                "name must not be empty",
            ),
            (
                b"{\"userId\": \"u\", \"expiresAt\": \"tomorrow\"}",
                "RFC 3339",
            ),
            (
                b"{\"userId\": \"u\", \"expiresAt\": \"2020-01-01T00:00:00Z\"}",
                "in the future",
            ),
        ];
        for (body, expected) in cases {
            let error = parse_create(body, now).err().expect("should be refused");
            assert_eq!(error.status(), 400, "{}", String::from_utf8_lossy(body));
            assert!(
                error.to_string().contains(expected),
                "body {:?}: {error}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
