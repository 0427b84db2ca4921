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
mod action;
mod dashboard;
mod export;
mod handlers;

use harmonic_shared::http::{Matched, Route};
use harmonic_shared::lambda_http::http::Method;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::{request_scope, ApiError, App};

/// What a usage route is dispatched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ReadUsage,
    ResetMonth,
    UsageDocumentation,
    DashboardPage,
    DashboardDocumentation,
}

/// The usage function's routes: the one table that matching, `Allow` and `OPTIONS` read, and
/// that infra/template.yaml, infra/openapi.yaml and the watch router are checked against.
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        path: "/api/v1/usage",
        methods: &[
            (Method::GET, Endpoint::ReadUsage),
            (Method::DELETE, Endpoint::ResetMonth),
            (Method::OPTIONS, Endpoint::UsageDocumentation),
        ],
    },
    Route {
        path: "/dashboard",
        methods: &[
            (Method::GET, Endpoint::DashboardPage),
            (Method::OPTIONS, Endpoint::DashboardDocumentation),
        ],
    },
];

/// One request in, one response out, through the shared serve loop.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    let origins = &app.config.cors_allowed_origins;
    request_scope::serve("usage", origins, ROUTES, &request, |matched| {
        dispatch(app, &request, matched)
    })
    .await
}

async fn dispatch(
    app: &App,
    request: &Request,
    matched: Matched<Endpoint>,
) -> Result<Response<Body>, ApiError> {
    match matched.endpoint {
        Endpoint::ReadUsage => handlers::get(app, request).await,
        Endpoint::ResetMonth => handlers::reset(app, request).await,
        Endpoint::UsageDocumentation => Ok(matched
            .route
            .documentation(&handlers::documentation(&app.config))),
        Endpoint::DashboardPage => Ok(dashboard::page()),
        Endpoint::DashboardDocumentation => {
            Ok(matched.route.documentation(&dashboard::documentation()))
        }
    }
}
