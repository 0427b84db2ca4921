//! Reading keys: a user's list, one key, and the totals (admin). The administrator sees every
//! key; a holder only its own user's (another user's key is a 404, never a 403).
use harmonic_shared::apikey::KeyId;
use harmonic_shared::auth::Caller;
use harmonic_shared::guards::{named_user, own_or_named_user, require_admin};
use harmonic_shared::http::json_response;
use harmonic_shared::lambda_http::http::StatusCode;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::store::{KeyRecord, UserRecord};
use harmonic_shared::{ApiError, App};
use serde_json::json;

use crate::{no_such_key, views};

/// The most keys a list shows (newest first).
pub const MAX_LISTED_KEYS: usize = 1000;

/// `GET /api/v1/keys`.
pub async fn list(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    let named = named_user(request)?;
    let caller = app.auth.authenticate(request.headers(), now).await?;
    let user = own_or_named_user(app, caller, named).await?;
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
pub struct Visible {
    pub record: KeyRecord,
    pub user: Option<UserRecord>,
    pub holder_key: Option<KeyId>,
}

/// Finds a key the caller may see: the admin sees every key, a holder only its own user's.
pub async fn visible_key(
    app: &App,
    request: &Request,
    key_id: &KeyId,
) -> Result<Visible, ApiError> {
    let now = app.clock.now();
    let caller = app.auth.authenticate(request.headers(), now).await?;
    if matches!(caller, Caller::Anonymous) {
        return Err(ApiError::credentials_required());
    }
    let record = app.store.get_key(key_id).await?.ok_or_else(no_such_key)?;
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

/// `GET /api/v1/keys/stats` (admin).
pub async fn stats(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_admin(app, request).await?;
    let stats = app.store.key_stats(app.clock.now()).await?;
    Ok(json_response(StatusCode::OK, &stats))
}
