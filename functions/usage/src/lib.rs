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
//! | GET | /dashboard | anyone: the usage dashboard page (HTML; it calls the API with the visitor's key) |
//! | OPTIONS | /dashboard | anyone: JSON documentation |
mod dashboard;
mod export;
mod handlers;
mod params;

use harmonic_shared::cors;
use harmonic_shared::http::{
    api_path, log_request, method_not_allowed, path_segments, respond, route_not_found,
};
use harmonic_shared::lambda_http::http::Method;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::{request_scope, ApiError, App};

/// One request in, one response out: every error becomes its JSON response here.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    request_scope::serve("usage", &request, async {
        let path = api_path(&request);
        let method = request.method().clone();
        let mut response = respond(route(app, &request, &path).await);
        cors::decorate(
            &app.config.cors_allowed_origins,
            request.headers(),
            &mut response,
        );
        log_request("usage", &method, &path, &response);
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
        ["usage"] => match *method {
            Method::GET => handlers::get(app, request).await,
            Method::DELETE => handlers::reset(app, request).await,
            Method::OPTIONS => Ok(handlers::options()),
            _ => Err(method_not_allowed(method, "GET, DELETE, OPTIONS")),
        },
        ["dashboard"] => match *method {
            Method::GET => Ok(dashboard::page()),
            Method::OPTIONS => Ok(dashboard::options()),
            _ => Err(method_not_allowed(method, "GET, OPTIONS")),
        },
        _ => Err(route_not_found(path)),
    }
}
