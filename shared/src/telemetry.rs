//! Structured logs: JSON lines (CloudWatch-friendly). The level comes from `RUST_LOG` when set
//! (local runs, tests), else from `AWS_LAMBDA_LOG_LEVEL` (what Lambda's `ApplicationLogLevel`
//! sets with the JSON log format), else `info`. Every line logged while a request is served
//! carries `span.request_id` (see [`crate::request_scope`]).
//! Secrets never reach a log line: keys, hashes and the admin token have redacting `Debug`
//! implementations and are never passed as fields.
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .ok()
        .or_else(|| lambda_log_level().map(EnvFilter::new))
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        // The innermost span's fields: `span.request_id` on every line of a request.
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}

/// Lambda's application log level as a filter directive (`FATAL` has no tracing level: `error`).
fn lambda_log_level() -> Option<String> {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()?
        .to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Some(level),
        "fatal" => Some("error".to_owned()),
        _ => None,
    }
}
