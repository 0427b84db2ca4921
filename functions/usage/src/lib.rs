//! The usage function: a user's monthly quota status, request history and analytics, and the
//! administrator's view over every user.
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | /api/v1/usage?action=current\|history\|analytics\|sources\|endpoints\|breakdown | holder (own user), admin (`userId=`) |
//! | GET | /api/v1/usage?action=export&month=YYYY-MM | holder (own user), admin (`userId=`, or all users): CSV |
//! | GET | /api/v1/usage?action=all\|stats | admin |
//! | DELETE | /api/v1/usage?userId= | admin: reset the user's current month |
//! | OPTIONS | /api/v1/usage | anyone: JSON documentation |
mod export;
mod handlers;
mod params;

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
    let response = respond(route(app, &request, &path).await);
    log_request("usage", &method, &path, &response);
    response
}

async fn route(app: &App, request: &Request, path: &str) -> Result<Response<Body>, ApiError> {
    let method = request.method();
    match path_segments(path).as_slice() {
        ["usage"] => match *method {
            Method::GET => handlers::get(app, request).await,
            Method::DELETE => handlers::reset(app, request).await,
            Method::OPTIONS => Ok(handlers::options()),
            _ => Err(method_not_allowed(method, "GET, DELETE, OPTIONS")),
        },
        _ => Err(route_not_found(path)),
    }
}
