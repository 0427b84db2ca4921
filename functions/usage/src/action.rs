//! The `action` query parameter of `GET /api/v1/usage`, parsed into an [`Action`] with a clear
//! 400 (the other parameters are read with harmonic_shared's `http::query` and `guards`).
use harmonic_shared::domain::truncate_for_message;
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
