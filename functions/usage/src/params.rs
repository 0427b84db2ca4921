//! Query parameters of the usage routes, parsed into typed values with clear 400s.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use harmonic_shared::domain::{truncate_for_message, UserId};
use harmonic_shared::http::query_param;
use harmonic_shared::lambda_http::Request;
use harmonic_shared::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Current,
    History,
    Analytics,
    Sources,
    Endpoints,
    All,
    Stats,
    /// Sources and endpoints together (Phase 4's name).
    Breakdown,
    /// The month's daily counters as CSV, for invoicing (see `export`).
    Export,
}

const ACTIONS: &str =
    "current, history, analytics, sources, endpoints, breakdown, export, all, stats";

impl Action {
    pub fn parse(request: &Request) -> Result<Self, ApiError> {
        let Some(raw) = query_param(request, "action") else {
            return Ok(Action::Current);
        };
        match raw.as_str() {
            "current" => Ok(Action::Current),
            "history" => Ok(Action::History),
            "analytics" => Ok(Action::Analytics),
            "sources" => Ok(Action::Sources),
            "endpoints" => Ok(Action::Endpoints),
            "all" => Ok(Action::All),
            "stats" => Ok(Action::Stats),
            "breakdown" => Ok(Action::Breakdown),
            "export" => Ok(Action::Export),
            other => Err(ApiError::BadRequest(format!(
                "unknown action {:?}; use one of: {ACTIONS}",
                truncate_for_message(other)
            ))),
        }
    }
}

/// An integer parameter within `min..=max`, `default` when absent.
pub fn bounded(
    request: &Request,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    let Some(raw) = query_param(request, name) else {
        return Ok(default);
    };
    match raw.trim().parse::<i64>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(ApiError::BadRequest(format!(
            "`{name}` must be a whole number from {min} to {max} (got {:?})",
            truncate_for_message(&raw)
        ))),
    }
}

pub fn user_id(request: &Request) -> Result<Option<UserId>, ApiError> {
    query_param(request, "userId")
        .map(|raw| UserId::parse(&raw).map_err(ApiError::BadRequest))
        .transpose()
}

/// Pagination cursors are opaque to clients: base64url of a position we check before use.
pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

pub fn decode_cursor(
    request: &Request,
    is_valid: impl Fn(&str) -> bool,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = query_param(request, "cursor") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(
            "`cursor` is not a cursor this API gave out; pass nextCursor from the previous page unchanged"
                .into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    if is_valid(&text) {
        Ok(Some(text))
    } else {
        Err(bad())
    }
}
