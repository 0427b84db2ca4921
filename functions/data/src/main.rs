//! The data Lambda: wiring only. Routing and handlers live in the library; the usage each
//! request leaves is written after its response by the after-response extension.
use harmonic_data::sources::{SourceSettings, Sources};
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
    let sources = Sources::new(settings).expect("HTTP client for the sources");
    let state = DataApp::new(app, sources);
    let after = state.app.after_response.clone();
    let state = &state;
    after_response::lambda::run(after, move |request: Request| {
        harmonic_data::handle(state, request)
    })
    .await
}
