//! The HTTP edge shared by the functions: JSON responses and the one rendering of [`ApiError`],
//! the request's path below `/api/v1` (the same behind API Gateway v1 with a stage, v2, and
//! `cargo lambda watch`), the client address from the request context, and the request log line.
//!
//! - [`routes`]: the route table type each function declares once, and its matcher (405 `Allow`
//!   and the `OPTIONS` answers come from the same table);
//! - [`body`]: JSON object bodies read field by field with errors that name the field;
//! - [`query`]: query string parameters: whole numbers in a range, opaque paging cursors.
pub mod body;
pub mod query;
pub mod routes;

use lambda_http::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::time::Instant;

use crate::error::ApiError;

pub use body::{json_type, whole_number, JsonObject};
pub use query::query_param;
pub use routes::{Matched, Route};

/// Bodies larger than this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The prefix every public path starts with.
pub const API_PREFIX: &str = "/api/v1";

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serializing a serde_json::Value or a plain struct cannot fail; an empty object is the
    // last-resort body rather than a panic on the request path.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The response for an error: its status, its JSON body and the headers its status calls for.
/// Internal errors are logged with their detail here, and only here.
pub fn error_response(error: ApiError) -> Response<Body> {
    match &error {
        ApiError::Internal(detail) => tracing::error!(detail = %detail, "internal error"),
        ApiError::Unavailable { .. } => tracing::warn!("storage unavailable, answered 503"),
        ApiError::BadRequest(_)
        | ApiError::Unauthorized(_)
        | ApiError::Forbidden(_)
        | ApiError::NotFound(_)
        | ApiError::MethodNotAllowed { .. }
        | ApiError::Conflict(_)
        | ApiError::Unprocessable(_)
        | ApiError::PayloadTooLarge { .. }
        | ApiError::QuotaExceeded { .. }
        | ApiError::RateLimited { .. } => {}
    }
    let mut response = json_response(error.status(), &error.body());
    let headers = response.headers_mut();
    match &error {
        ApiError::MethodNotAllowed { allow, .. } => {
            if let Ok(value) = HeaderValue::from_str(allow) {
                headers.insert(header::ALLOW, value);
            }
        }
        ApiError::Unavailable {
            retry_after_seconds,
        }
        | ApiError::RateLimited {
            retry_after_seconds,
            ..
        } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        ApiError::Unauthorized(_) => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("ApiKey header=\"X-API-Key\""),
            );
        }
        ApiError::BadRequest(_)
        | ApiError::Forbidden(_)
        | ApiError::NotFound(_)
        | ApiError::Conflict(_)
        | ApiError::Unprocessable(_)
        | ApiError::PayloadTooLarge { .. }
        | ApiError::QuotaExceeded { .. }
        | ApiError::Internal(_) => {}
    }
    response
}

/// `X-Response-Time` as `12.34ms`: how long the function took, from the serve loop's start.
pub fn set_response_time(response: &mut Response<Body>, started: Instant) {
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    let value = HeaderValue::from_str(&format!("{millis:.2}ms"))
        .unwrap_or_else(|_| HeaderValue::from_static("0.00ms"));
    response
        .headers_mut()
        .insert(HeaderName::from_static("x-response-time"), value);
}

/// The one structured log line per request (never headers, bodies or query strings: they
/// can carry keys and tokens).
pub fn log_request(function: &'static str, method: &Method, path: &str, response: &Response<Body>) {
    tracing::info!(
        function,
        method = %method,
        path = %loggable_path(path),
        status = response.status().as_u16(),
        "request"
    );
}

/// A path as it may be logged or echoed: a segment that looks like a key (a key pasted where
/// its id belongs), or is longer than any id we route on, is replaced by `{redacted}`.
pub fn loggable_path(path: &str) -> String {
    const LONGEST_SHOWN: usize = 24;
    path.split('/')
        .map(|segment| {
            if crate::apikey::looks_like_key(segment) || segment.len() > LONGEST_SHOWN {
                "{redacted}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The path below `/api/v1`, without a trailing slash: `/keys/AbCdEfGhIj/rotate`.
/// Whatever precedes `/api/v1` (an API Gateway stage, a `cargo lambda watch` prefix) is ignored.
pub fn api_path(request: &Request) -> String {
    let raw = request.uri().path();
    let tail = match raw.find(API_PREFIX) {
        Some(index) => &raw[index + API_PREFIX.len()..],
        None => raw,
    };
    let trimmed = tail.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The path split into segments: `/keys/x/rotate` → `["keys", "x", "rotate"]`.
pub fn path_segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// A header's value as text, if present and valid UTF-8.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The client's address as API Gateway saw it (never from a client-supplied header).
pub fn client_ip(request: &Request) -> Option<String> {
    let from_context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
        _ => None,
    };
    from_context.filter(|ip| !ip.is_empty())
}

/// The raw body bytes, refused with 413 when over the limit. Bodies are read as JSON
/// whatever the Content-Type header claims (curl's `-d` says form-urlencoded).
pub fn body_bytes(request: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes.as_slice(),
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_to(path: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri(format!("https://example.com{path}"))
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn api_paths_ignore_stages_and_trailing_slashes() {
        assert_eq!(api_path(&request_to("/api/v1/keys")), "/keys");
        assert_eq!(api_path(&request_to("/prod/api/v1/keys/abc/")), "/keys/abc");
        assert_eq!(
            path_segments(&api_path(&request_to("/api/v1/keys/abc/rotate"))),
            ["keys", "abc", "rotate"]
        );
    }

    #[test]
    fn paths_carrying_a_key_are_redacted_before_logging_or_echoing() {
        let key_path = "/keys/hm_AbCdEfGhIjkLmNoPqRsTuVwXyZ012345";
        assert_eq!(loggable_path(key_path), "/keys/{redacted}");
        assert_eq!(
            loggable_path("/keys/AbCdEfGhIj/rotate"),
            "/keys/AbCdEfGhIj/rotate"
        );
        assert_eq!(
            loggable_path("/x/AbCdEfGhIjkLmNoPqRsTuVwXyZ012345"),
            "/x/{redacted}"
        );
        assert!(!routes::route_not_found(key_path)
            .to_string()
            .contains("AbCdEfGhIjk"));
    }

    #[test]
    fn statuses_follow_the_variants() {
        let allow = error_response(ApiError::MethodNotAllowed {
            method: "PUT".into(),
            allow: "GET, POST, OPTIONS".into(),
        });
        assert_eq!(allow.status(), 405);
        assert_eq!(allow.headers()["allow"], "GET, POST, OPTIONS");
        let unavailable = error_response(ApiError::Unavailable {
            retry_after_seconds: 2,
        });
        assert_eq!(unavailable.status(), 503);
        assert_eq!(unavailable.headers()["retry-after"], "2");
    }
}
