//! The data function: `POST /api/v1/data` (metered) and its status and admin routes.
//!
//! - [`handlers`]: the HTTP layer: authentication, validation, metering, headers;
//! - [`idempotency`]: the `Idempotency-Key` header: retries replayed, not charged again;
//! - [`request`]: the request body parsed into a [`request::DataRequest`];
//! - [`sources`]: the upstream sources, their caches and politeness, run concurrently;
//! - [`aggregate`]: the gathered outcomes and the response bodies;
//! - [`openapi`]: `GET /api/v1/openapi.json`, the contract as JSON;
//! - [`knowledge`]: the knowledge base compiled into the binary.
pub mod aggregate;
pub mod handlers;
pub mod idempotency;
pub mod knowledge;
pub mod openapi;
pub mod request;
pub mod sources;

pub use handlers::{handle, DataApp};
