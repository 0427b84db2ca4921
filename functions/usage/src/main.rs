//! The usage Lambda: wiring only. Routing and handlers live in the library.
use harmonic_shared::lambda_http::{run, service_fn, Error, Request};
use harmonic_shared::{ops_metrics, telemetry, App};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    ops_metrics::install("usage");
    let app = App::from_env().await.expect("configuration");
    let app = &app;
    run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(harmonic_usage::handle(app, request).await)
    }))
    .await
}
