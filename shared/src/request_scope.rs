//! The request a function is serving, and the one serve loop every function runs it through
//! ([`serve`]): its id, the tracing span that puts the id on every log line, the `X-Request-Id`
//! and `X-Response-Time` response headers, the CORS preflight and decoration, the match against
//! the function's route table, the rendering of its errors, the one request log line, and what
//! the request's metrics need to know (function, route, caller tier). Every error body gets
//! `requestId` here, on its way out. The scope is a task-local, so that the metering and
//! authentication hooks reach it without a new parameter on every function.
//!
//! The id is API Gateway's request id (the one in its access log), else the Lambda invocation's,
//! else a fresh random one; a client-sent `X-Request-Id` is never trusted (it could be made to
//! collide with another request's, or carry anything into our logs).
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lambda_http::http::{HeaderName, HeaderValue};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use rand::Rng;
use tracing::Instrument;

use crate::actor::Actor;
use crate::cors::{self, AllowedOrigins};
use crate::error::ApiError;
use crate::http::{self, routes, Matched, Route};
use crate::ops_metrics;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: Arc<Scope>;
}

struct Scope {
    request_id: String,
    client_ip: Option<String>,
    /// Who authenticated (admin or key), for the audit trail; none for anonymous callers.
    actor: Mutex<Option<Actor>>,
    /// The caller's tier as a metrics label (`none` until authentication says otherwise).
    tier: Mutex<&'static str>,
}

/// The id of the request being served, if any (none outside [`serve`], e.g. in unit tests).
pub fn request_id() -> Option<String> {
    CURRENT.try_with(|scope| scope.request_id.clone()).ok()
}

/// Records who authenticated, for the audit trail.
pub fn note_actor(actor: Actor) {
    let _ = CURRENT.try_with(|scope| {
        if let Ok(mut noted) = scope.actor.lock() {
            *noted = Some(actor);
        }
    });
}

/// Who is acting in this request: the authenticated admin or key, else an anonymous caller
/// (a sign-up) by its client address. None outside a request.
pub fn actor() -> Option<Actor> {
    CURRENT
        .try_with(|scope| {
            let noted = scope.actor.lock().ok().and_then(|actor| actor.clone());
            noted.unwrap_or_else(|| Actor::Signup {
                client_ip: scope
                    .client_ip
                    .clone()
                    .unwrap_or_else(|| "unknown".to_owned()),
            })
        })
        .ok()
}

/// Records who is calling, for the request metrics (`free`, `pro`, `enterprise`, `demo`, `admin`).
pub fn note_tier(label: &'static str) {
    let _ = CURRENT.try_with(|scope| {
        if let Ok(mut tier) = scope.tier.lock() {
            *tier = label;
        }
    });
}

/// Serves one request of `function`: a CORS preflight is answered before any route; otherwise
/// the request is matched against the function's route `table` (404 and 405 from the table) and `dispatch` answers
/// the matched endpoint. Errors become their JSON response, the answer gets `X-Response-Time`
/// and, for an allowed origin, the CORS headers, and the request is logged once; all of it
/// inside the request's scope ([`in_scope`]).
pub async fn serve<E, D, F>(
    function: &'static str,
    origins: &AllowedOrigins,
    table: &'static [Route<E>],
    request: &Request,
    dispatch: D,
) -> Response<Body>
where
    E: Copy,
    D: FnOnce(Matched<E>) -> F,
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    in_scope(function, request, async {
        let started = Instant::now();
        let path = http::api_path(request);
        let method = request.method();
        let mut response = if cors::is_preflight(request) {
            cors::answer_preflight(origins, request)
        } else {
            let answer = match routes::find(table, method, &path) {
                Ok(matched) => dispatch(matched).await,
                Err(unrouted) => Err(unrouted),
            };
            answer.unwrap_or_else(http::error_response)
        };
        http::set_response_time(&mut response, started);
        cors::decorate(origins, request.headers(), &mut response);
        http::log_request(function, method, &path, &response);
        response
    })
    .await
}

/// Runs `work` for one request of `function` inside its scope: every log line of `work`
/// carries `span.request_id`, the response gets `X-Request-Id`, the request is counted, and
/// the request's metrics are flushed as EMF lines once the response is ready.
async fn in_scope<F>(function: &'static str, request: &Request, work: F) -> Response<Body>
where
    F: Future<Output = Response<Body>>,
{
    let request_id = request_id_of(request);
    let scope = Arc::new(Scope {
        request_id: request_id.clone(),
        client_ip: http::client_ip(request),
        actor: Mutex::new(None),
        tier: Mutex::new("none"),
    });
    let span = tracing::info_span!("request", request_id = %request_id, function);
    // Boxed: a handler's future is large in debug builds, and nesting it in this one by value
    // doubled the stack a request needs (a test thread's 2 MiB overflowed).
    let mut response = CURRENT
        .scope(scope.clone(), Box::pin(work).instrument(span.clone()))
        .await;
    if response.status().is_client_error() || response.status().is_server_error() {
        add_request_id_to_error_body(&mut response, &request_id);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let tier = scope.tier.lock().map(|tier| *tier).unwrap_or("none");
    let route = ops_metrics::route_label(request.method(), &http::api_path(request));
    ops_metrics::request(route, response.status(), tier);
    ops_metrics::flush(&request_id);
    response
}

/// Every error body (the `ApiError` rendering, and the bodies handlers build themselves such
/// as the data function's 502) gets `"requestId"`: what a customer quotes to support.
fn add_request_id_to_error_body(response: &mut Response<Body>, request_id: &str) {
    let Body::Text(text) = response.body() else {
        return;
    };
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(text) else {
        return;
    };
    object
        .entry("requestId")
        .or_insert_with(|| serde_json::Value::String(request_id.to_owned()));
    if let Ok(rendered) = serde_json::to_string(&object) {
        *response.body_mut() = Body::Text(rendered);
    }
}

/// API Gateway's request id, else Lambda's, else a fresh one; only `[A-Za-z0-9=_-]`, at most
/// 64 characters, so that it is safe in a header and a log line whatever the event says.
fn request_id_of(request: &Request) -> String {
    let from_gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone(),
        _ => None,
    };
    let from_lambda = || {
        request
            .lambda_context_ref()
            .map(|context| context.request_id.clone())
    };
    from_gateway
        .filter(|id| is_safe_id(id))
        .or_else(|| from_lambda().filter(|id| is_safe_id(id)))
        .unwrap_or_else(fresh_id)
}

fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
}

fn fresh_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_or_missing_ids_are_replaced_by_a_fresh_one() {
        for hostile in ["", "a b", "x\ny", "é", &"a".repeat(65), "{\"json\":1}"] {
            assert!(!is_safe_id(hostile), "{hostile:?} should be refused");
        }
        assert!(is_safe_id("Zx3aQiAbIAMEVXQ="));
        assert!(is_safe_id("8f2b7c1e-5d4a-4e39-9b0f-2a6c3d1e7f80"));
        let fresh = fresh_id();
        assert_eq!(fresh.len(), 32);
        assert!(is_safe_id(&fresh));
        assert_ne!(fresh, fresh_id());
    }

    #[test]
    fn the_scope_gives_its_id_to_the_work_and_nothing_outside() {
        let _serial = ops_metrics::TEST_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(scope_gives_its_id_to_the_work());
    }

    async fn scope_gives_its_id_to_the_work() {
        assert_eq!(request_id(), None);
        let request = lambda_http::http::Request::builder()
            .uri("https://example.com/api/v1/keys")
            .body(Body::Empty)
            .unwrap();
        let response = in_scope("keys", &request, async {
            let id = request_id().expect("inside the scope");
            crate::http::json_response(
                lambda_http::http::StatusCode::OK,
                &serde_json::json!({ "seen": id }),
            )
        })
        .await;
        let header = response.headers()[REQUEST_ID_HEADER].to_str().unwrap();
        let Body::Text(text) = response.body() else {
            panic!("text body")
        };
        let body: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(body["seen"], header);
        assert_eq!(request_id(), None);
    }
}
