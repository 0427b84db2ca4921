//! The data function: `POST /api/v1/data` (metered) and its status and admin routes.
//!
//! - this file: the route table ([`ROUTES`]) and the dispatch of its endpoints;
//! - [`handlers`]: the endpoints: authentication, validation, metering, headers;
//! - [`idempotency`]: the `Idempotency-Key` header: retries replayed, not charged again;
//! - [`model`]: the shared vocabulary: source kinds, modes, per-source outcomes;
//! - [`request`]: the request body parsed into a [`request::DataRequest`];
//! - [`sources`]: the upstream sources, their caches and politeness, run concurrently;
//! - [`render`]: the gathered outcomes rendered into the response bodies;
//! - [`openapi`]: `GET /api/v1/openapi.json`, the contract as JSON;
//! - [`knowledge`]: the knowledge base compiled into the binary.
pub mod handlers;
pub mod idempotency;
pub mod knowledge;
pub mod model;
pub mod openapi;
pub mod render;
pub mod request;
pub mod sources;

use harmonic_shared::http::{Matched, Route};
use harmonic_shared::lambda_http::http::Method;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::{request_scope, ApiError, App};
use std::time::Instant;

use crate::sources::Sources;

/// What a data container builds once: the shared app and the sources (HTTP client, caches).
pub struct DataApp {
    pub app: App,
    pub sources: Sources,
    started: Instant,
}

impl DataApp {
    pub fn new(app: App, sources: Sources) -> Self {
        Self {
            app,
            sources,
            started: Instant::now(),
        }
    }

    /// How long this container has served.
    fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// What a data route is dispatched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    Query,
    ClearCache,
    Documentation,
    OpenApiDocument,
}

/// The data function's routes: the one table that matching, `Allow` and `OPTIONS` read, and
/// that infra/template.yaml, infra/openapi.yaml and the watch router are checked against.
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        path: "/api/v1/data",
        methods: &[
            (Method::GET, Endpoint::Status),
            (Method::POST, Endpoint::Query),
            (Method::DELETE, Endpoint::ClearCache),
            (Method::OPTIONS, Endpoint::Documentation),
        ],
    },
    Route {
        path: "/api/v1/openapi.json",
        methods: &[(Method::GET, Endpoint::OpenApiDocument)],
    },
];

/// One whole invocation as Lambda runs it: the response, then the work after it (what the
/// after-response extension does once the response is sent). The suites call this; the Lambda
/// binary calls [`handle`] and lets the extension flush.
pub async fn invoke(state: &DataApp, request: Request) -> Response<Body> {
    let response = handle(state, request).await;
    state.app.flush_after_response().await;
    response
}

/// One request in, one response out, through the shared serve loop. The usage it leaves is
/// queued in `state.app.after_response`, written after the response.
pub async fn handle(state: &DataApp, request: Request) -> Response<Body> {
    let origins = &state.app.config.cors_allowed_origins;
    request_scope::serve("data", origins, ROUTES, &request, |matched| {
        dispatch(state, &request, matched)
    })
    .await
}

async fn dispatch(
    state: &DataApp,
    request: &Request,
    matched: Matched<Endpoint>,
) -> Result<Response<Body>, ApiError> {
    match matched.endpoint {
        Endpoint::Query => Ok(handlers::query(state, request).await),
        Endpoint::Status => handlers::status_routes(state, request).await,
        Endpoint::ClearCache => handlers::clear_cache(state, request).await,
        Endpoint::Documentation => Ok(matched
            .route
            .documentation(&handlers::documentation(&state.app.config))),
        Endpoint::OpenApiDocument => Ok(openapi::response()),
    }
}
