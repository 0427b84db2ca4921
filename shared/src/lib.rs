//! HARMONIC API's shared crate: what the keys, usage and data functions have in common.
//!
//! - [`config`]: typed configuration from the environment, read once per container;
//! - [`domain`] and [`apikey`]: values parsed at the edge (user ids, tiers, periods, keys);
//! - [`error`] and [`http`]: the one API error type; its JSON rendering, request parsing and
//!   the route table type with its matcher;
//! - [`guards`]: who may call a route (the administrator gate, a holder's own user);
//! - [`cors`]: which web origins may read the API's answers (preflights, allow headers);
//! - [`store`]: the DynamoDB table and every access pattern, one module per item;
//! - [`auth`]: who is calling (keys verified, never metered); [`actor`]: who acted, for audit;
//! - [`metering`]: the meter, which owns the quota decision; [`quota_alerts`]: its thresholds;
//! - [`app`]: what a container builds once and every request borrows;
//! - [`after_response`]: the usage and other writes sent after the response (one batch), and
//!   the internal Lambda extension that sends them;
//! - [`request_scope`] and [`ops_metrics`]: the one serve loop (request id on every log line,
//!   header and error body; routing, CORS, timing, the request log line), and the CloudWatch
//!   EMF metrics.
pub mod actor;
pub mod after_response;
pub mod apikey;
pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod cors;
pub mod domain;
pub mod error;
pub mod guards;
pub mod http;
pub mod metering;
pub mod ops_metrics;
pub mod quota_alerts;
pub mod request_scope;
pub mod store;
pub mod telemetry;

pub use app::App;
pub use error::ApiError;

/// The Lambda runtime's request, response and body types, re-exported for the functions.
pub use lambda_http;
