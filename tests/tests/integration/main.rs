//! Integration suite: the functions' handlers called in process, against the real
//! DynamoDB-compatible server started by `make test` (one table per test).
mod abuse;
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
mod usage_api;
