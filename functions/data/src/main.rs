//! The data Lambda: wiring only. Routing and handlers live in the library.
use std::sync::Arc;

use harmonic_data::sources::{DeferredWrites, SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::lambda_http::{run, service_fn, Error, Request};
use harmonic_shared::{ops_metrics, telemetry, App};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    ops_metrics::install("data");
    let app = App::from_env().await.expect("configuration");
    let settings = SourceSettings::from_env().expect("source configuration");
    // TODO(after-response): hand each put to the container's after-response batch instead of
    // spawning it here (a task spawned now may be frozen with the container after the response).
    let store = app.store.clone();
    let deferred: DeferredWrites = Arc::new(move |put| {
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.put_deferred_now(put).await {
                tracing::warn!(error = %error, "deferred write failed");
            }
        });
    });
    let sources = Sources::new(settings)
        .expect("HTTP client for the sources")
        .with_shared_state(app.store.clone(), deferred);
    let state = DataApp::new(app, sources);
    let state = &state;
    run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(harmonic_data::handle(state, request).await)
    }))
    .await
}
