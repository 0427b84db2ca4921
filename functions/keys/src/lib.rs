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
//! | OPTIONS | each of the above but /keys/stats | anyone: JSON documentation |
mod audit_trail;
mod create;
mod docs;
mod holder_rules;
mod issue;
mod listing;
mod revocation;
mod tier;
mod views;

use harmonic_shared::apikey::KeyId;
use harmonic_shared::http::{Matched, Route};
use harmonic_shared::lambda_http::http::Method;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::{request_scope, ApiError, App};

/// What a keys route is dispatched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    CreateKey,
    ListKeys,
    AuditTrail,
    KeyStats,
    InspectKey,
    RevokeKey,
    RotateKey,
    ChangeTier,
    Documentation,
}

/// The keys function's routes: the one table that matching, `Allow` and `OPTIONS` read, and
/// that infra/template.yaml, infra/openapi.yaml and the watch router are checked against.
pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        path: "/api/v1/keys",
        methods: &[
            (Method::GET, Endpoint::ListKeys),
            (Method::POST, Endpoint::CreateKey),
            (Method::OPTIONS, Endpoint::Documentation),
        ],
    },
    Route {
        path: "/api/v1/keys/audit",
        methods: &[
            (Method::GET, Endpoint::AuditTrail),
            (Method::OPTIONS, Endpoint::Documentation),
        ],
    },
    Route {
        // As the contract (infra/openapi.yaml) and the template have it: no OPTIONS here.
        path: "/api/v1/keys/stats",
        methods: &[(Method::GET, Endpoint::KeyStats)],
    },
    Route {
        path: "/api/v1/keys/{id}",
        methods: &[
            (Method::GET, Endpoint::InspectKey),
            (Method::DELETE, Endpoint::RevokeKey),
            (Method::OPTIONS, Endpoint::Documentation),
        ],
    },
    Route {
        path: "/api/v1/keys/{id}/rotate",
        methods: &[
            (Method::POST, Endpoint::RotateKey),
            (Method::OPTIONS, Endpoint::Documentation),
        ],
    },
    Route {
        path: "/api/v1/users/{userId}/tier",
        methods: &[
            (Method::PUT, Endpoint::ChangeTier),
            (Method::OPTIONS, Endpoint::Documentation),
        ],
    },
];

/// One request in, one response out, through the shared serve loop.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    let origins = &app.config.cors_allowed_origins;
    request_scope::serve("keys", origins, ROUTES, &request, |matched| {
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
        Endpoint::CreateKey => create::create(app, request).await,
        Endpoint::ListKeys => listing::list(app, request).await,
        Endpoint::AuditTrail => audit_trail::list(app, request).await,
        Endpoint::KeyStats => listing::stats(app, request).await,
        Endpoint::InspectKey => listing::inspect(app, request, key_id(&matched)?).await,
        Endpoint::RevokeKey => revocation::revoke(app, request, key_id(&matched)?).await,
        Endpoint::RotateKey => revocation::rotate(app, request, key_id(&matched)?).await,
        Endpoint::ChangeTier => tier::change_tier(app, request, matched.segment("userId")?).await,
        Endpoint::Documentation => Ok(matched.route.documentation(&docs::documentation())),
    }
}

/// A path segment that is not a key id names no key: 404, like any unknown key. A whole key
/// pasted where its id belongs is a 400 that says so, without echoing it (the request log line
/// redacts it too).
fn key_id(matched: &Matched<Endpoint>) -> Result<KeyId, ApiError> {
    let segment = matched.segment("id")?;
    if harmonic_shared::apikey::looks_like_key(segment) {
        return Err(ApiError::BadRequest(
            "that is the key itself, not its id: use the key's id (the \"id\" shown when it was created and in GET /api/v1/keys), and keep the key out of URLs, which get logged"
                .into(),
        ));
    }
    KeyId::parse(segment).ok_or_else(no_such_key)
}

/// 404 for a key that does not exist or that the caller may not see (never a 403).
fn no_such_key() -> ApiError {
    ApiError::NotFound("no such key (check the key id)".into())
}
