//! Who may call a route, decided once for every function: the administrator gate, and the
//! rule of the routes that read a user's objects (a key holder reads its own user, and
//! another user id is a 404 like any other user's object; the administrator names the user
//! with `?userId=`).
use lambda_http::Request;

use crate::auth::Caller;
use crate::domain::UserId;
use crate::error::ApiError;
use crate::http::query_param;
use crate::store::UserRecord;
use crate::App;

/// Authenticates the request and lets only the administrator through.
pub async fn require_admin(app: &App, request: &Request) -> Result<(), ApiError> {
    let caller = app
        .auth
        .authenticate(request.headers(), app.clock.now())
        .await?;
    ensure_admin(&caller)
}

/// The administrator gate for a caller already authenticated: 401 without credentials, 403
/// for a key holder.
pub fn ensure_admin(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Anonymous => Err(ApiError::credentials_required()),
        Caller::Holder { .. } => Err(ApiError::admin_only()),
    }
}

/// The `?userId=` the request names, parsed (a malformed id is a 400 that says why).
pub fn named_user(request: &Request) -> Result<Option<UserId>, ApiError> {
    query_param(request, "userId")
        .map(|raw| UserId::parse(&raw).map_err(ApiError::BadRequest))
        .transpose()
}

/// The user whose objects the caller reads: a holder's own (naming another is a 404), or the
/// one the administrator names (required, and it must exist).
pub async fn own_or_named_user(
    app: &App,
    caller: Caller,
    named: Option<UserId>,
) -> Result<UserRecord, ApiError> {
    match caller {
        Caller::Anonymous => Err(ApiError::credentials_required()),
        Caller::Holder { user, .. } => match named {
            Some(other) if other != user.user_id => Err(ApiError::no_such_user(&other)),
            Some(_) | None => Ok(*user),
        },
        Caller::Admin => {
            let user_id = named.ok_or_else(|| {
                ApiError::BadRequest("the administrator names the user: ?userId=<user id>".into())
            })?;
            app.store
                .get_user(&user_id)
                .await?
                .ok_or_else(|| ApiError::no_such_user(&user_id))
        }
    }
}
