//! The data function: `POST /api/v1/data` (metered) and its status and admin routes.
//!
//! - [`handlers`]: the HTTP layer: authentication, validation, metering, headers;
//! - [`idempotency`]: the `Idempotency-Key` header: retries replayed, not charged again;
//! - [`model`]: the shared vocabulary: source kinds, modes, per-source outcomes;
//! - [`request`]: the request body parsed into a [`request::DataRequest`];
//! - [`sources`]: the upstream sources, their caches and politeness, run concurrently;
//! - [`render`]: the gathered outcomes rendered into the response bodies;
//! - [`openapi`]: `GET /api/v1/openapi.json`, the contract as JSON;
//! - [`knowledge`]: the knowledge base compiled into the binary.
pub mod handlers;
pub mod idempotency;
pub mod knowledge;
pub mod model;
pub mod openapi;
pub mod render;
pub mod request;
pub mod sources;

pub use handlers::{handle, DataApp};
