//! The keys routes. Each parses its input into domain types, checks who may touch which object
//! (another user's key is a 404, never a 403) and answers JSON.
use chrono::{DateTime, Duration, Utc};
use harmonic_shared::apikey::KeyId;
use harmonic_shared::audit::AuditAction;
use harmonic_shared::auth::Caller;
use harmonic_shared::domain::{rfc3339, truncate_for_message, ClientGroup, KeyName, Tier, UserId};
use harmonic_shared::http::{body_bytes, client_ip, json_response, query_param, JsonObject};
use harmonic_shared::lambda_http::http::{header, HeaderValue, StatusCode};
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::store::{
    charge_mark, CreatedBy, KeyRecord, LimitedCount, UserRecord, NEVER_EXPIRES,
};
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
    let mut expires_at = input.expires_at;
    let mut created_with = None;

    let (tier, created_user) = match &caller {
        Caller::Admin => admin_target(app, &input, now).await?,
        Caller::Holder { user, key_id } => {
            if user.user_id != input.user_id {
                return Err(no_such_user(&input.user_id));
            }
            if input.tier.is_some_and(|tier| tier != user.tier) {
                return Err(ApiError::Forbidden(
                    "only the administrator can change a tier".into(),
                ));
            }
            require_key_manager(app, key_id).await?;
            expires_at = no_later_than_creator(expires_at, user, key_id);
            created_with = Some(key_id.clone());
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
            let address = client_ip(request);
            limit_signups(app, address.as_deref(), now).await?;
            let provenance = CreatedBy::Signup {
                at: rfc3339(now),
                ip: address.unwrap_or_else(|| "unknown".to_owned()),
            };
            if !app
                .store
                .create_user_if_absent(&input.user_id, Tier::Free, provenance, now)
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
            expires_at,
            max_live,
            created_with: created_with.as_ref(),
        },
    )
    .await;
    let issued = match issued {
        Ok(issued) => issued,
        Err(error) => {
            if created_user {
                // Undo the creation so the user id can be claimed again.
                if let Err(cleanup) = app.store.delete_user_if_keyless(&input.user_id).await {
                    tracing::warn!(user_id = %input.user_id, error = %cleanup, "keyless user left behind");
                }
            }
            return Err(error);
        }
    };
    app.audit(
        AuditAction::Issue,
        &input.user_id,
        Some(&issued.record.key_id),
        json!({ "signup": created_user, "tier": tier }),
    )
    .await;
    Ok(no_store(json_response(
        StatusCode::CREATED,
        &views::created(&app.config, &issued.key, &issued.record, tier),
    )))
}

/// The admin's `POST /api/v1/keys`: creates the user (recording that the admin did), or issues
/// another key for a user the admin created. A user that signed up itself is not the admin's to
/// hand keys or a tier to here: whoever signed it up holds keys on it (the squatting case).
async fn admin_target(
    app: &App,
    input: &CreateInput,
    now: DateTime<Utc>,
) -> Result<(Tier, bool), ApiError> {
    let tier = input.tier.unwrap_or(Tier::Free);
    let provenance = CreatedBy::Admin { at: rfc3339(now) };
    if app
        .store
        .create_user_if_absent(&input.user_id, tier, provenance, now)
        .await?
    {
        return Ok((tier, true));
    }
    // It exists; it can only vanish again through a failed creation's clean-up: retry then.
    let user = app
        .store
        .get_user(&input.user_id)
        .await?
        .ok_or(ApiError::Unavailable {
            retry_after_seconds: 1,
        })?;
    let id = &input.user_id;
    let how = match &user.created_by {
        Some(CreatedBy::Admin { .. }) => None,
        Some(CreatedBy::Signup { at, ip }) => {
            Some(format!("it signed up itself at {at} from {ip}"))
        }
        None => Some("it was stored before the API recorded who creates users".to_owned()),
    };
    if let Some(how) = how {
        return Err(ApiError::Conflict(format!(
            "user {id} already exists and was not created by the administrator ({how}); whoever \
             signed it up holds keys on it. Check them with GET /api/v1/keys?userId={id}, then \
             either give this customer another user id, or change this user's tier explicitly \
             with PUT /api/v1/users/{id}/tier (its answer lists the user's live keys; revoke any \
             the customer does not recognise)"
        )));
    }
    if let Some(wanted) = input.tier.filter(|wanted| *wanted != user.tier) {
        return Err(ApiError::Conflict(format!(
            "user {id} is {current}; this request only issues keys. Change the tier explicitly \
             with PUT /api/v1/users/{id}/tier and {{\"tier\": \"{wanted}\"}}",
            current = user.tier
        )));
    }
    Ok((user.tier, false))
}

/// Counts a sign-up against the client address's day (IPv6: its /64), before any bcrypt or
/// user is made: refused with 429 at `SIGNUP_LIMIT_PER_IP_PER_DAY`.
async fn limit_signups(
    app: &App,
    address: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let Some(limit) = app.config.signup_limit_per_ip_per_day else {
        return Ok(());
    };
    let group = ClientGroup::of(address);
    match app
        .store
        .count_signup(&group, limit, now, charge_mark(now))
        .await?
    {
        LimitedCount::Counted(_) => Ok(()),
        LimitedCount::AtLimit => {
            let tomorrow = (now.date_naive() + Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .map(|midnight| midnight.and_utc())
                .unwrap_or(now + Duration::days(1));
            tracing::info!(client = %group, limit, "sign-up refused: daily limit of the address reached");
            Err(ApiError::RateLimited {
                message: format!(
                    "too many sign-ups from your address today (at most {limit} a day); try again \
                     after {}, or ask the administrator for a key",
                    rfc3339(tomorrow)
                ),
                retry_after_seconds: (tomorrow - now).num_seconds().max(1) as u64,
            })
        }
    }
}

/// A key may create, rotate or revoke keys only while it is not being retired. A key in its
/// rotation grace period still calls data and reads usage, but whoever holds it (perhaps the
/// thief the rotation is for) cannot mint or rotate keys with it.
async fn require_key_manager(app: &App, key_id: &KeyId) -> Result<(), ApiError> {
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
fn no_later_than_creator(
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

/// A key the caller may see, its user, and the caller's own key id when a holder calls.
struct Visible {
    record: KeyRecord,
    user: Option<UserRecord>,
    holder_key: Option<KeyId>,
}

/// Finds a key the caller may see: the admin sees every key, a holder only its own user's.
async fn visible_key(app: &App, request: &Request, key_id: &KeyId) -> Result<Visible, ApiError> {
    let now = app.clock.now();
    let caller = app.auth.authenticate(request.headers(), now).await?;
    let record = match &caller {
        Caller::Anonymous => return Err(credentials_required()),
        _ => app.store.get_key(key_id).await?.ok_or_else(no_such_key)?,
    };
    match caller {
        Caller::Holder { user, key_id } if user.user_id == record.user_id => Ok(Visible {
            record,
            user: Some(*user),
            holder_key: Some(key_id),
        }),
        Caller::Holder { .. } | Caller::Anonymous => Err(no_such_key()),
        Caller::Admin => {
            let user = app.store.get_user(&record.user_id).await?;
            Ok(Visible {
                record,
                user,
                holder_key: None,
            })
        }
    }
}

/// `GET /api/v1/keys/{id}`.
pub async fn inspect(
    app: &App,
    request: &Request,
    key_id: KeyId,
) -> Result<Response<Body>, ApiError> {
    let visible = visible_key(app, request, &key_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &views::summary(&visible.record, visible.user.as_ref(), app.clock.now()),
    ))
}

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

const TIER_EXAMPLE: &str = r#"{"tier": "pro"}"#;

/// `PUT /api/v1/users/{userId}/tier` (admin): the explicit way to change an existing user's
/// tier. The answer lists the user's live keys, so the operator sees who else holds keys on the
/// account it is upgrading (a sign-up it did not make, for one).
pub async fn change_tier(
    app: &App,
    request: &Request,
    raw_user_id: &str,
) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    match app.auth.authenticate(request.headers(), now).await? {
        Caller::Admin => {}
        Caller::Anonymous => return Err(credentials_required()),
        Caller::Holder { .. } => {
            return Err(ApiError::Forbidden(
                "only the administrator can change a tier".into(),
            ))
        }
    }
    let user_id = UserId::parse(&percent_decoded(raw_user_id)).map_err(ApiError::BadRequest)?;
    let body = JsonObject::parse(body_bytes(request)?, false, TIER_EXAMPLE)?;
    let tier =
        Tier::parse(body.required_str("tier", TIER_EXAMPLE)?).map_err(ApiError::BadRequest)?;
    let (previous, user) = app
        .store
        .set_tier(&user_id, tier)
        .await?
        .ok_or_else(|| no_such_user(&user_id))?;
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
