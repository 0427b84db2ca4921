//! The data function: `POST /api/v1/data` and its admin/status routes.
pub mod aggregate;
pub mod knowledge;
pub mod request;
pub mod sources;
