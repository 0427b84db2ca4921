//! The data Lambda: wiring only. Routing and handlers live in the library.
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::lambda_http::{run, service_fn, Error, Request};
use harmonic_shared::{ops_metrics, telemetry, App};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    ops_metrics::install("data");
    let app = App::from_env().await.expect("configuration");
    let settings = SourceSettings::from_env().expect("source configuration");
    let sources = Sources::new(settings).expect("HTTP client for the sources");
    let state = DataApp::new(app, sources);
    let state = &state;
    run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(harmonic_data::handle(state, request).await)
    }))
    .await
}
