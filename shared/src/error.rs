//! The one API error type and the one place that turns it into an HTTP response.
//! Internal details are logged here and never sent to the client.
use chrono::{DateTime, Utc};
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::json;

use crate::domain::rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be understood; the message says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or invalid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials that may not do this (never used to hide another user's object).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such route, or no such object visible to this caller.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists with other methods.
    #[error("method {method} is not allowed on this path; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 422: the request is well-formed but contradicts an earlier one (an `Idempotency-Key`
    /// reused with another body).
    #[error("{0}")]
    Unprocessable(String),
    /// 413: the body is over the limit.
    #[error("the request body is larger than {limit} bytes; send a smaller body")]
    PayloadTooLarge { limit: usize },
    /// 429: the monthly quota is used up.
    #[error("Quota exceeded")]
    QuotaExceeded {
        quota: u64,
        used: u64,
        reset: DateTime<Utc>,
    },
    /// 429: too many requests of one kind from one client (e.g. sign-ups per address per day).
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_seconds: u64,
    },
    /// 503: storage is unreachable or throttled; the client should retry.
    #[error("the service is temporarily unavailable; retry after {retry_after_seconds} seconds")]
    Unavailable { retry_after_seconds: u64 },
    /// 500: a defect or an unexpected state. The text is logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid_api_key() -> Self {
        ApiError::Unauthorized("Invalid API key".to_owned())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::QuotaExceeded { .. } | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body: `{"success": false, "error": "..."}`, plus the quota fields on 429.
    pub fn body(&self) -> serde_json::Value {
        match self {
            ApiError::QuotaExceeded { quota, used, reset } => json!({
                "success": false,
                "error": "Quota exceeded",
                "quota": quota,
                "used": used,
                "resetDate": rfc3339(*reset),
            }),
            other => json!({ "success": false, "error": other.to_string() }),
        }
    }

    /// The response for this error. Internal errors are logged with their detail here.
    pub fn into_response(self) -> Response<Body> {
        match &self {
            ApiError::Internal(detail) => tracing::error!(detail = %detail, "internal error"),
            ApiError::Unavailable { .. } => tracing::warn!("storage unavailable, answered 503"),
            _ => {}
        }
        let mut response = crate::http::json_response(self.status(), &self.body());
        let headers = response.headers_mut();
        match &self {
            ApiError::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
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
            _ => {}
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::Unavailable(_) => ApiError::Unavailable {
                retry_after_seconds: 1,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_body() {
        let error = ApiError::Internal("table harmonic: ValidationException on pk".into());
        let body = error.body().to_string();
        assert!(!body.contains("harmonic") && body.contains("internal error"));
    }

    #[test]
    fn quota_exceeded_has_the_documented_fields() {
        let reset = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 0, 0, 0).unwrap();
        let body = ApiError::QuotaExceeded {
            quota: 1000,
            used: 1000,
            reset,
        }
        .body();
        assert_eq!(body["error"], "Quota exceeded");
        assert_eq!(body["quota"], 1000);
        assert_eq!(body["resetDate"], "2026-12-01T00:00:00.000Z");
    }

    #[test]
    fn statuses_follow_the_variants() {
        let allow = ApiError::MethodNotAllowed {
            method: "PUT".into(),
            allow: "GET, POST, OPTIONS",
        }
        .into_response();
        assert_eq!(allow.status(), 405);
        assert_eq!(allow.headers()["allow"], "GET, POST, OPTIONS");
        let unavailable = ApiError::Unavailable {
            retry_after_seconds: 2,
        }
        .into_response();
        assert_eq!(unavailable.status(), 503);
        assert_eq!(unavailable.headers()["retry-after"], "2");
    }
}
