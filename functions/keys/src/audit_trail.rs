//! `GET /api/v1/keys/audit`: the audit trail of a user's key and account actions, newest first.
//! A key holder reads its own user's (another user id is a 404, like any other user's object);
//! the administrator names the user with `?userId=`.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use harmonic_shared::auth::Caller;
use harmonic_shared::domain::UserId;
use harmonic_shared::http::{json_response, query_param};
use harmonic_shared::lambda_http::http::StatusCode;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::store::Store;
use harmonic_shared::{ApiError, App};
use serde_json::json;

const DEFAULT_LIMIT: i32 = 50;
const MAX_LIMIT: i32 = 100;

pub async fn list(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let requested = match query_param(request, "userId") {
        Some(raw) => Some(UserId::parse(&raw).map_err(ApiError::BadRequest)?),
        None => None,
    };
    let limit = limit(request)?;
    let cursor = cursor(request)?;
    let caller = app
        .auth
        .authenticate(request.headers(), app.clock.now())
        .await?;
    let user_id = match caller {
        Caller::Anonymous => {
            return Err(ApiError::Unauthorized(
                "credentials required: send X-API-Key (your key) or Authorization: Bearer <admin token>"
                    .into(),
            ))
        }
        Caller::Holder { user, .. } => match requested {
            Some(other) if other != user.user_id => return Err(no_such_user(&other)),
            _ => user.user_id,
        },
        Caller::Admin => {
            let user_id = requested.ok_or_else(|| {
                ApiError::BadRequest("the administrator names the user: ?userId=<user id>".into())
            })?;
            if app.store.get_user(&user_id).await?.is_none() {
                return Err(no_such_user(&user_id));
            }
            user_id
        }
    };
    let (entries, next) = app
        .store
        .audit_trail(&user_id, limit, cursor.as_deref())
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "userId": user_id,
            "count": entries.len(),
            "entries": entries,
            "nextCursor": next.map(|sk| URL_SAFE_NO_PAD.encode(sk.as_bytes())),
        }),
    ))
}

fn no_such_user(user_id: &UserId) -> ApiError {
    ApiError::NotFound(format!("no user {user_id}"))
}

fn limit(request: &Request) -> Result<i32, ApiError> {
    let Some(raw) = query_param(request, "limit") else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.trim()
        .parse::<i32>()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`limit` must be a whole number from 1 to {MAX_LIMIT}"
            ))
        })
}

fn cursor(request: &Request) -> Result<Option<String>, ApiError> {
    let Some(raw) = query_param(request, "cursor") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(
            "`cursor` is not a cursor this API gave out; pass nextCursor from the previous page unchanged"
                .into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    if Store::is_audit_sort_key(&text) {
        Ok(Some(text))
    } else {
        Err(bad())
    }
}
