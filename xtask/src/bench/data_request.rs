//! Section 2b: a whole metered request to the curiosity source (built-in knowledge base, no network)
//! through the data function's handler, in process: latency, CPU and the DynamoDB requests made
//! inside the handler call, warm and cold container. What the client waits for, and what an
//! extension writes after the response, is measured on the release binary in section 6.
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;

use super::hot_path::measure;
use super::report::Section;
use super::stats::duration;
use super::world::{self, World};

const WARM_REQUESTS: usize = 500;
const COLD_REQUESTS: usize = 20;

fn data_app(world: &World) -> DataApp {
    DataApp::new(
        world.container(),
        Sources::new(SourceSettings::defaults()).expect("sources"),
    )
}

pub async fn run(endpoint: &str) -> Section {
    let mut section = Section::new(
        "2b. Hot path: a whole request to the curiosity source",
        "`harmonic_data::invoke(&state, request)` for `POST /api/v1/data` with `X-API-Key` and the body \
`{\"query\": \"physics\", \"sources\": \"curiosity\"}` (the built-in knowledge base: no network), \
as API Gateway would deliver it, sequentially against dynalite. Warm: one container (`DataApp`) \
warmed by one request; its curiosity cache then answers. Cold: a fresh `DataApp` per request \
(empty key cache, empty source caches), built before the clock starts. The DynamoDB requests are \
those sent during the handler call (SDK interceptor); work handed to an extension after the \
response is not in them (section 6 counts everything on the release binary).",
    );
    println!("\n== {}", section.title);
    let world = World::new(endpoint, "data", &[("PRO_MONTHLY_QUOTA", "100000000")]).await;
    let key = world::create_key(&world.container(), "bench-data", "pro").await;

    let warm_state = data_app(&world);
    call(&warm_state, &key).await;
    let warm = measure(&world, WARM_REQUESTS, |_| call(&warm_state, &key)).await;
    let cold_states: Vec<DataApp> = (0..COLD_REQUESTS).map(|_| data_app(&world)).collect();
    let cold = measure(&world, COLD_REQUESTS, |index| {
        call(&cold_states[index], &key)
    })
    .await;

    for (label, run) in [("warm", &warm), ("cold", &cold)] {
        section.row(
            format!("{label}: DynamoDB requests during the handler call"),
            format!("{:.2} ({})", run.round_trips_per_request, run.operations),
        );
        section.row(format!("{label}: latency"), run.latency.latency());
        section.row(
            format!("{label}: CPU per request (user + sys, this process)"),
            duration(run.cpu_per_request),
        );
    }
    section.note(
        "In-process figures: the handler's CPU here includes the SDK's work for its DynamoDB \
requests; the latencies hold only for dynalite on this machine.",
    );
    world.drop_table().await;
    section
}

async fn call(state: &DataApp, key: &str) {
    let request = harmonic_testkit::requests::request("POST", "/api/v1/data")
        .key(key)
        .json(serde_json::json!({ "query": "physics", "sources": "curiosity" }))
        .build();
    let answer = harmonic_testkit::requests::answer(harmonic_data::invoke(state, request).await);
    assert_eq!(answer.status, 200, "data request failed: {}", answer.text);
}
