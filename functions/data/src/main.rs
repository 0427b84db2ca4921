//! The data Lambda: wiring only. Routing and handlers live in the library; the usage each
//! request leaves, and the shared cache's new entries, are written after its response by the
//! after-response extension.
use std::sync::Arc;

use harmonic_data::sources::{DeferredWrites, SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::after_response;
use harmonic_shared::lambda_http::{Error, Request};
use harmonic_shared::{ops_metrics, telemetry, App};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    ops_metrics::install("data");
    let app = App::from_env().await.expect("configuration");
    let settings = SourceSettings::from_env().expect("source configuration");
    let after = app.after_response.clone();
    let queue = after.clone();
    let deferred: DeferredWrites = Arc::new(move |put| queue.defer_put(put));
    let sources = Sources::new(settings)
        .expect("HTTP client for the sources")
        .with_shared_state(app.store.clone(), deferred);
    let state = DataApp::new(app, sources);
    let state = &state;
    after_response::lambda::run(after, move |request: Request| {
        harmonic_data::handle(state, request)
    })
    .await
}
