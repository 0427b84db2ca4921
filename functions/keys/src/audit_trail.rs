//! `GET /api/v1/keys/audit`: the audit trail of a user's key and account actions, newest first.
//! A key holder reads its own user's (another user id is a 404, like any other user's object);
//! the administrator names the user with `?userId=`.
use harmonic_shared::guards::{named_user, own_or_named_user};
use harmonic_shared::http::json_response;
use harmonic_shared::http::query::{decode_cursor, encode_cursor, query_int};
use harmonic_shared::lambda_http::http::StatusCode;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::store::Store;
use harmonic_shared::{ApiError, App};
use serde_json::json;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 100;

pub async fn list(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let named = named_user(request)?;
    let limit = query_int(request, "limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)?;
    let cursor = decode_cursor(request, Store::is_audit_sort_key)?;
    let caller = app
        .auth
        .authenticate(request.headers(), app.clock.now())
        .await?;
    let user_id = own_or_named_user(app, caller, named).await?.user_id;
    let (entries, next) = app
        .store
        .audit_trail(&user_id, limit as i32, cursor.as_deref())
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "userId": user_id,
            "count": entries.len(),
            "entries": entries,
            "nextCursor": next.as_deref().map(encode_cursor),
        }),
    ))
}
