//! The data function's HTTP layer: `POST /api/v1/data` metered (authenticate, validate, answer
//! known failures unmetered, count, gather, refund if we failed, record), and the status/admin
//! routes.
//!
//! Who pays: a request whose sources answered is charged, also when nothing matched (the
//! upstreams did the work; otherwise "no such article" queries would be free and unlimited).
//! A request whose every source FAILED (timeout, connection, 5xx, malformed, too large,
//! rate-limited) is refunded. When every requested source is already known to fail for this
//! query (a failure remembered from the last minute, or a back-off ordered by the upstream),
//! the request is answered 502 with `Retry-After` BEFORE metering: not charged, not recorded, no
//! write and no upstream call, so repeating a failing query costs the caller nothing and us
//! nothing either. (Charging it instead would bill a customer for a request we did not even
//! try; refunding it would cost us a charge, a refund and three usage writes each time.)
use harmonic_shared::config::Config;
use harmonic_shared::domain::rfc3339;
use harmonic_shared::guards::require_admin;
use harmonic_shared::http::{body_bytes, client_ip, error_response, json_response, query_param};
use harmonic_shared::lambda_http::http::{header, HeaderName, HeaderValue, StatusCode};
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::metering::{Charge, QuotaState};
use harmonic_shared::store::UsageEvent;
use harmonic_shared::{ApiError, App};
use serde_json::{json, Value};
use std::time::Instant;

use crate::idempotency::{self, Begun};
use crate::model::SourceFailure;
use crate::request::DataRequest;
use crate::DataApp;

const ENDPOINT: &str = "/api/v1/data";

/// `POST /api/v1/data`. Its answers are built here rather than through `?`: a refusal at the
/// quota carries the quota headers, and a retry's replay is a stored response.
pub async fn query(state: &DataApp, request: &Request) -> Response<Body> {
    let started = Instant::now();
    let app = &state.app;
    // 1. Who is calling (warm: no I/O; cold: one read and bcrypt). 401 is not counted.
    let caller = match app
        .identify_metered(request.headers(), client_ip(request))
        .await
    {
        Ok(caller) => caller,
        Err(error) => return error_response(error),
    };
    // 2. Validate before counting: a 4xx for bad input is free.
    let bytes = match body_bytes(request) {
        Ok(bytes) => bytes,
        Err(error) => return error_response(error),
    };
    let data_request = match DataRequest::parse(bytes) {
        Ok(parsed) => parsed,
        Err(error) => return error_response(ApiError::BadRequest(error.message().to_owned())),
    };
    // 3. Known to fail for this query? Answer without metering: no write, no upstream call.
    if let Some(failures) = state.sources.known_failures(&data_request).await {
        return known_failure_response(app, &failures);
    }
    // 3b. With an Idempotency-Key: claim it, or answer the retry (not charged).
    let claim = match idempotency::begin(app, &caller, request.headers(), bytes).await {
        Ok(Begun::Fresh(claim)) => claim,
        Ok(Begun::Replay(response)) => return response,
        Err(error) => return error_response(error),
    };
    // 4. Count it, or refuse at the limit: one conditional update.
    let charge = match app.charge(&caller).await {
        Ok(charge) => charge,
        Err(refusal) => {
            idempotency::release(app, claim).await;
            let exceeded = matches!(refusal.error, ApiError::QuotaExceeded { .. });
            let mut response = error_response(refusal.error);
            if let Some(quota) = refusal.state {
                add_quota_headers(&mut response, &quota, app, exceeded);
            }
            return response;
        }
    };
    // 5. Gather; the response is ready when the slowest source answers or times out.
    let gathered = state.sources.gather(&data_request).await;
    let now = app.clock.now();
    let (status, body) = if gathered.all_failed() {
        let failures: Vec<_> = gathered.failures().collect();
        (
            StatusCode::BAD_GATEWAY,
            json!({
                "success": false,
                "error": "every requested source failed; this request was not charged",
                "failedSources": failures,
                "timestamp": rfc3339(now),
            }),
        )
    } else {
        (StatusCode::OK, gathered.to_body_at(now))
    };
    let mut quota = charge.state.clone();
    if status.is_server_error() {
        // Every source failed (an answer without a match is a success): we failed the request,
        // so the customer does not pay for it.
        app.refund(&charge).await;
        quota.used = quota.used.saturating_sub(1);
    }
    let mut response = json_response(status, &body);
    add_quota_headers(&mut response, &quota, app, false);
    if status.is_server_error() {
        set_retry_after(&mut response, gathered.failures());
    }
    let names: Vec<&str> = data_request.sources.iter().map(|s| s.as_str()).collect();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&names.join(",")) {
        headers.insert(HeaderName::from_static("x-data-sources"), value);
    }
    headers.insert(
        HeaderName::from_static("x-query-mode"),
        HeaderValue::from_static(data_request.mode.as_str()),
    );
    idempotency::finish(app, claim, &response).await;
    record(
        app,
        &charge,
        &data_request,
        status,
        bytes.len(),
        &response,
        started,
    )
    .await;
    response
}

/// 502 for a request whose every source is known to fail right now: nothing was charged or
/// written; `Retry-After` is when the first of them may be asked again.
fn known_failure_response(app: &App, failures: &[SourceFailure]) -> Response<Body> {
    let retry_after = retry_after_seconds(failures);
    tracing::info!(
        sources = failures.len(),
        retry_after,
        "every source known to fail; answered unmetered"
    );
    let mut response = json_response(
        StatusCode::BAD_GATEWAY,
        &json!({
            "success": false,
            "error": format!("every requested source failed for this query within the last minute; this request was not charged, retry in {retry_after} s"),
            "failedSources": failures,
            "timestamp": rfc3339(app.clock.now()),
        }),
    );
    set_retry_after(&mut response, failures);
    response
}

/// When every failed source may be asked again: the soonest remembered or ordered back-off,
/// else one second.
fn retry_after_seconds<'a>(failures: impl IntoIterator<Item = &'a SourceFailure>) -> u64 {
    failures
        .into_iter()
        .filter_map(|failure| failure.retry_after_seconds)
        .min()
        .unwrap_or(1)
}

/// Every 502 says when to retry (`Retry-After`), whether or not its failures were known.
fn set_retry_after<'a>(
    response: &mut Response<Body>,
    failures: impl IntoIterator<Item = &'a SourceFailure>,
) {
    if let Ok(value) = HeaderValue::from_str(&retry_after_seconds(failures).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

fn add_quota_headers(response: &mut Response<Body>, quota: &QuotaState, app: &App, exceeded: bool) {
    let headers = response.headers_mut();
    for (name, value) in quota.headers(app.clock.now(), exceeded) {
        headers.insert(name, value);
    }
}

async fn record(
    app: &App,
    charge: &Charge,
    data_request: &DataRequest,
    status: StatusCode,
    bytes_in: usize,
    response: &Response<Body>,
    started: Instant,
) {
    let bytes_out = match response.body() {
        Body::Text(text) => text.len(),
        Body::Binary(bytes) => bytes.len(),
        _ => 0,
    };
    let event = UsageEvent {
        timestamp: rfc3339(app.clock.now()),
        endpoint: ENDPOINT.to_owned(),
        method: "POST".to_owned(),
        sources: data_request
            .sources
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        response_time: (started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0,
        status: status.as_u16(),
        bytes_in: bytes_in as u64,
        bytes_out: bytes_out as u64,
        key_id: charge.key_id.as_ref().map(|id| id.to_string()),
    };
    app.record(charge, event);
}

/// `GET /api/v1/data?action=status|sources|health|stats`.
pub async fn status_routes(state: &DataApp, request: &Request) -> Result<Response<Body>, ApiError> {
    let action = query_param(request, "action").unwrap_or_else(|| "status".to_owned());
    let body = match action.as_str() {
        "status" | "health" => json!({
            "status": "ok",
            "service": "HARMONIC API — data",
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": state.uptime_seconds(),
            "demoMode": state.app.config.demo_mode,
            "sources": state.sources.catalogue().iter().map(|s| s.name).collect::<Vec<_>>(),
            "timestamp": rfc3339(state.app.clock.now()),
        }),
        "sources" => json!({ "sources": state.sources.catalogue() }),
        "stats" => {
            require_admin(&state.app, request).await?;
            json!({ "sources": state.sources.stats(), "uptimeSeconds": state.uptime_seconds() })
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown action {:?}; use status, sources, health or stats",
                harmonic_shared::domain::truncate_for_message(other)
            )))
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `DELETE /api/v1/data?action=cache` (admin): empties this container's source caches.
pub async fn clear_cache(state: &DataApp, request: &Request) -> Result<Response<Body>, ApiError> {
    match query_param(request, "action").as_deref() {
        Some("cache") => {}
        _ => {
            return Err(ApiError::BadRequest(
                "DELETE /api/v1/data needs ?action=cache".into(),
            ))
        }
    }
    require_admin(&state.app, request).await?;
    state.sources.clear_caches();
    let cleared: Vec<&str> = state.sources.catalogue().iter().map(|s| s.name).collect();
    tracing::info!("source caches cleared by admin");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "success": true, "cleared": cleared }),
    ))
}

/// `OPTIONS /api/v1/data`: authentication, quotas, sources, examples and headers.
pub fn documentation(config: &Config) -> Value {
    json!({
        "service": "HARMONIC API — data",
        "endpoint": "POST /api/v1/data",
        "authentication": {
            "apiKey": "X-API-Key: hm_<32 letters and digits>",
            "demoMode": if config.demo_mode { "on: requests without a key are served with the Free quota per client IP (X-Demo-Mode: true)" } else { "off: a key is required" }
        },
        "quotas": {
            "free": config.free_monthly_quota,
            "pro": config.pro_monthly_quota,
            "enterprise": "unlimited",
            "period": "calendar month, UTC; resets 00:00 UTC on the 1st"
        },
        "request": {
            "query": "1-500 characters (required)",
            "sources": "\"wiki\" | [\"wiki\", \"arxiv\"] | absent (all): wiki (wikipedia), arxiv, news, weather (climate), curiosity (kb)",
            "mode": "single (default) | comprehensive",
            "maxResults": "1..20 (default 5)",
            "otherFields": "refused with 400 (a misspelt field would change what is charged)"
        },
        "examples": [
            {"query": "quantum computing", "sources": "wiki"},
            {"query": "artificial intelligence", "sources": ["wiki", "arxiv"]},
            {"query": "climate change", "sources": ["arxiv", "news", "weather"]},
            {"query": "artificial intelligence", "mode": "comprehensive"}
        ],
        "responseHeaders": ["X-RateLimit-Limit", "X-RateLimit-Used", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit", "Retry-After (429)", "X-User-Id", "X-Response-Time", "X-Demo-Mode", "X-Data-Sources", "X-Query-Mode"],
        "statuses": {"200": "at least one source answered (charged, also when nothing matched: see results[].matched)", "400": "bad body or Idempotency-Key (not charged)", "409": "the first request with this Idempotency-Key is still being served", "422": "Idempotency-Key reused with another body", "401": "invalid or missing key", "429": "monthly quota used up", "502": "every source failed (not charged; Retry-After when the failures are remembered)", "503": "storage unavailable, retry"},
        "endpoints": [
            {"method": "POST", "path": "/api/v1/data", "returns": "the sources' answers (metered)"},
            {"method": "GET", "path": "/api/v1/data?action=status|health", "returns": "service status"},
            {"method": "GET", "path": "/api/v1/data?action=sources", "returns": "the source catalogue"},
            {"method": "GET", "path": "/api/v1/data?action=stats", "returns": "per-source statistics (admin)"},
            {"method": "DELETE", "path": "/api/v1/data?action=cache", "returns": "clears the source caches (admin)"},
            {"method": "GET", "path": "/api/v1/openapi.json", "returns": "the OpenAPI 3.1 document of the whole API"}
        ],
        "idempotency": "Idempotency-Key: \"<unique value, e.g. a UUID>\" (draft-ietf-httpapi-idempotency-key-header): a retry with the same key and body within 24 h replays the first answer (Idempotent-Replayed: true) and is not charged; 409 while the first is served, 422 for the same key with another body"
    })
}
