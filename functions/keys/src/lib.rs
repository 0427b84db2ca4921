//! The keys function: issue, list, inspect, revoke and rotate API keys, and key statistics.
//!
//! | method | path | who |
//! |---|---|---|
//! | POST | /api/v1/keys | admin (any user, any tier), anyone (sign-up of a new Free user), a holder (own user) |
//! | GET | /api/v1/keys | holder (own keys), admin (`?userId=`) |
//! | GET | /api/v1/keys/stats | admin |
//! | GET, DELETE | /api/v1/keys/{id} | the key's owner, admin |
//! | POST | /api/v1/keys/{id}/rotate | the key's owner, admin |
//! | OPTIONS | each of the above | anyone: JSON documentation |
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
use harmonic_shared::{ApiError, App};

/// One request in, one response out: every error becomes its JSON response here.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
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
        _ => Err(route_not_found(path)),
    }
}

/// A path segment that is not a key id names no key: 404, like any unknown key.
fn key_id(segment: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(segment).ok_or_else(handlers::no_such_key)
}
