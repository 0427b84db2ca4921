//! The one API error type: its variants, their statuses and JSON bodies, and the messages that
//! more than one route gives (credentials required, administrator only, no such user). A leaf:
//! the HTTP layer ([`crate::http::error_response`]) renders it, and the store converts its own
//! errors into it; this module imports neither.
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use serde_json::json;

use crate::domain::{rfc3339, UserId};

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
    MethodNotAllowed { method: String, allow: String },
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

    /// 401 for a route that needs a key holder or the administrator.
    pub fn credentials_required() -> Self {
        ApiError::Unauthorized(
            "credentials required: send X-API-Key (your key) or Authorization: Bearer <admin token>"
                .into(),
        )
    }

    /// 403 for a key holder on a route or action that only the administrator may use.
    pub fn admin_only() -> Self {
        ApiError::Forbidden("this action is for the administrator only".into())
    }

    /// 404 for a user that does not exist, or that this caller may not see.
    pub fn no_such_user(user_id: &UserId) -> Self {
        ApiError::NotFound(format!("no user {user_id}"))
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
}
