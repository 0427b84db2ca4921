//! `POST /api/v1/keys`: the administrator creates a user and its key (or another key for a user
//! it created), a holder another key for its own user, anyone a new Free user by signing up.
use chrono::{DateTime, Duration, Utc};
use harmonic_shared::audit::AuditAction;
use harmonic_shared::auth::Caller;
use harmonic_shared::domain::{rfc3339, truncate_for_message, ClientGroup, KeyName, Tier, UserId};
use harmonic_shared::http::{body_bytes, client_ip, json_response, JsonObject};
use harmonic_shared::lambda_http::http::StatusCode;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::store::{charge_mark, CreatedBy, LimitedCount};
use harmonic_shared::{ApiError, App};
use serde_json::json;

use crate::holder_rules::{no_later_than_creator, require_key_manager};
use crate::issue::{issue_key, IssueRequest};
use crate::views::{self, no_store};

const CREATE_EXAMPLE: &str = r#"{"userId": "user123", "name": "my app"}"#;
/// The longest a key may be issued for.
const MAX_KEY_LIFETIME_DAYS: i64 = 3650;

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
                return Err(ApiError::no_such_user(&input.user_id));
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
