//! Integration suite: the functions' handlers called in process, against the real
//! DynamoDB-compatible server started by `make test` (one table per test).
//!
//! Every test that needs the server is `#[ignore]`d with the reason, so that a plain
//! `cargo test --workspace` passes on a machine without one and lists them as ignored (the
//! jonhoo/wewerewondering pattern). `make test` runs them; by hand:
//! `scripts/dynamodb.sh start PORT`, then
//! `DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored`.
mod abuse;
mod after_response;
mod apigw_events;
mod authz_matrix;
mod cors_dashboard;
mod data_refunds;
mod export;
mod faults;
mod hostile_input;
mod idempotency;
mod keys_api;
mod metering;
mod operations;
mod shared_cache;
mod usage_api;
