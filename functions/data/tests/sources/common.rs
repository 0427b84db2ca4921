//! Helpers shared by the integration tests: a `Sources` pointed at one stub server, and
//! shortcuts to run one source and look at its outcome.

use std::time::Duration;

use harmonic_data::model::{SourceFailure, SourceKind, SourceOutcome, SourceSuccess};
use harmonic_data::request::DataRequest;
use harmonic_data::sources::{SourceSettings, Sources};
use serde_json::{json, Value};
use wiremock::MockServer;

/// Settings pointing every upstream at `server`, with a short timeout so failures are quick.
pub fn settings(server: &MockServer) -> SourceSettings {
    let mut settings = SourceSettings::for_base_url(&server.uri());
    settings.source_timeout = Duration::from_millis(2000);
    settings.request_deadline = Duration::from_millis(2500);
    settings
}

pub fn sources(server: &MockServer) -> Sources {
    Sources::new(settings(server)).unwrap()
}

pub fn request(body: Value) -> DataRequest {
    DataRequest::parse(body.to_string().as_bytes()).unwrap()
}

/// Runs one source for `query` and returns its single outcome.
pub async fn run(sources: &Sources, kind: SourceKind, query: &str) -> SourceOutcome {
    let gathered = sources
        .gather(&request(json!({"query": query, "sources": kind.as_str()})))
        .await;
    assert_eq!(gathered.outcomes.len(), 1);
    gathered.outcomes.into_iter().next().unwrap()
}

#[track_caller]
pub fn success(outcome: SourceOutcome) -> SourceSuccess {
    match outcome {
        SourceOutcome::Success(success) => success,
        SourceOutcome::Failure(failure) => panic!("expected success, got {failure:?}"),
    }
}

#[track_caller]
pub fn failure(outcome: SourceOutcome) -> SourceFailure {
    match outcome {
        SourceOutcome::Failure(failure) => failure,
        SourceOutcome::Success(success) => panic!("expected failure, got {success:?}"),
    }
}

/// Paths (with raw query) of the requests the stub received, in order.
pub async fn received(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| match request.url.query() {
            Some(query) => format!("{}?{query}", request.url.path()),
            None => request.url.path().to_owned(),
        })
        .collect()
}
