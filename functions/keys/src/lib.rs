//! The keys function: issue, list, inspect, revoke and rotate API keys, and key statistics.
//!
//! | method | path | who |
//! |---|---|---|
//! | POST | /api/v1/keys | admin (any user, any tier), anyone (sign-up of a new Free user), a holder (own user) |
//! | GET | /api/v1/keys | holder (own keys), admin (`?userId=`) |
//! | GET | /api/v1/keys/stats | admin |
//! | GET | /api/v1/keys/audit | holder (own user), admin (`?userId=`) |
//! | GET, DELETE | /api/v1/keys/{id} | the key's owner, admin |
//! | POST | /api/v1/keys/{id}/rotate | the key's owner, admin |
//! | PUT | /api/v1/users/{userId}/tier | admin: changes an existing user's tier, lists its live keys |
//! | OPTIONS | each of the above | anyone: JSON documentation |
mod audit_trail;
mod docs;
mod handlers;
mod issue;
mod views;

use harmonic_shared::apikey::KeyId;
use harmonic_shared::cors;
use harmonic_shared::http::{
    api_path, log_request, method_not_allowed, path_segments, respond, route_not_found,
};
use harmonic_shared::lambda_http::http::Method;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::{request_scope, ApiError, App};

/// One request in, one response out: every error becomes its JSON response here.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    request_scope::serve("keys", &request, async {
        let path = api_path(&request);
        let method = request.method().clone();
        let mut response = respond(route(app, &request, &path).await);
        cors::decorate(
            &app.config.cors_allowed_origins,
            request.headers(),
            &mut response,
        );
        log_request("keys", &method, &path, &response);
        response
    })
    .await
}

async fn route(app: &App, request: &Request, path: &str) -> Result<Response<Body>, ApiError> {
    let method = request.method();
    match path_segments(path).as_slice() {
        _ if cors::is_preflight(request) => Ok(cors::answer_preflight(
            &app.config.cors_allowed_origins,
            request,
        )),
        ["keys"] => match *method {
            Method::POST => handlers::create(app, request).await,
            Method::GET => handlers::list(app, request).await,
            Method::OPTIONS => Ok(docs::options()),
            _ => Err(method_not_allowed(method, "GET, POST, OPTIONS")),
        },
        ["keys", "audit"] => match *method {
            Method::GET => audit_trail::list(app, request).await,
            Method::OPTIONS => Ok(docs::options()),
            _ => Err(method_not_allowed(method, "GET, OPTIONS")),
        },
        ["keys", "stats"] => match *method {
            Method::GET => handlers::stats(app, request).await,
            Method::OPTIONS => Ok(docs::options()),
            _ => Err(method_not_allowed(method, "GET, OPTIONS")),
        },
        ["keys", id] => match *method {
            Method::GET => handlers::inspect(app, request, key_id(id)?).await,
            Method::DELETE => handlers::revoke(app, request, key_id(id)?).await,
            Method::OPTIONS => Ok(docs::options()),
            _ => Err(method_not_allowed(method, "GET, DELETE, OPTIONS")),
        },
        ["keys", id, "rotate"] => match *method {
            Method::POST => handlers::rotate(app, request, key_id(id)?).await,
            Method::OPTIONS => Ok(docs::options()),
            _ => Err(method_not_allowed(method, "POST, OPTIONS")),
        },
        ["users", user_id, "tier"] => match *method {
            Method::PUT => handlers::change_tier(app, request, user_id).await,
            Method::OPTIONS => Ok(docs::options()),
            _ => Err(method_not_allowed(method, "PUT, OPTIONS")),
        },
        _ => Err(route_not_found(path)),
    }
}

/// A path segment that is not a key id names no key: 404, like any unknown key. A whole key
/// pasted where its id belongs is a 400 that says so, without echoing it (the request log line
/// redacts it too).
fn key_id(segment: &str) -> Result<KeyId, ApiError> {
    if harmonic_shared::apikey::looks_like_key(segment) {
        return Err(ApiError::BadRequest(
            "that is the key itself, not its id: use the key's id (the \"id\" shown when it was created and in GET /api/v1/keys), and keep the key out of URLs, which get logged"
                .into(),
        ));
    }
    KeyId::parse(segment).ok_or_else(handlers::no_such_key)
}
