//! Structured logs: JSON lines (CloudWatch-friendly) filtered by `RUST_LOG` (default `info`).
//! Secrets never reach a log line: keys, hashes and the admin token have redacting `Debug`
//! implementations and are never passed as fields.
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}
