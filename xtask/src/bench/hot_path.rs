//! Section 2a, authentication + metering of a metered request (`identify_metered` + `charge`) against
//! the local server: DynamoDB round trips, CPU time and latency, warm and cold container.
use harmonic_shared::apikey::KeyId;
use harmonic_shared::App;
use std::time::{Duration, Instant};

use super::report::Section;
use super::stats::{duration, Meter, Summary};
use super::world::{self, describe_operations, World};

const WARM_REQUESTS: usize = 1_000;
const COLD_REQUESTS: usize = 20;

/// What one loop of requests measured.
pub struct Run {
    pub latency: Summary,
    pub round_trips_per_request: f64,
    pub cpu_per_request: Duration,
    pub operations: String,
}

pub async fn run(endpoint: &str) -> Section {
    let mut section = Section::new(
        "2a. Hot path: authentication + metering",
        "`app.identify_metered(&headers, None)` then `app.charge(&caller)` for a Pro key (quota \
raised so the loop never reaches it; the conditional update still carries the limit check), \
sequentially, against dynalite. Warm: one `App` (one container) whose key cache was warmed by one \
request. Cold: a fresh `App` per request on the same SDK client, so the key cache is empty (a \
GetItem of the key, bcrypt at cost 10, then the conditional update); the client's connection pool \
is shared, so the cold figure does not include connection setup or the container's init (see \
section 3).",
    );
    println!("\n== {}", section.title);
    let world = World::new(endpoint, "hot", &[("PRO_MONTHLY_QUOTA", "100000000")]).await;
    let admin_app = world.container();
    let key = world::create_key(&admin_app, "bench-hot", "pro").await;
    let headers = world::key_headers(&key);

    let app = world.container();
    metered(&app, &headers).await;
    let warm = measure(&world, WARM_REQUESTS, |_| metered(&app, &headers)).await;
    let cold_apps: Vec<App> = (0..COLD_REQUESTS).map(|_| world.container()).collect();
    let cold = measure(&world, COLD_REQUESTS, |index| {
        metered(&cold_apps[index], &headers)
    })
    .await;

    let floor = sdk_floor(&world).await;
    let update_floor = sdk_update_floor(&world).await;
    let own_cpu = warm.cpu_per_request.saturating_sub(update_floor);
    for (label, run) in [("warm", &warm), ("cold", &cold)] {
        section.row(
            format!("{label}: DynamoDB requests per request"),
            format!("{:.2} ({})", run.round_trips_per_request, run.operations),
        );
        section.row(
            format!("{label}: CPU per request (user + sys, this process)"),
            duration(run.cpu_per_request),
        );
        section.row(format!("{label}: latency"), run.latency.latency());
    }
    section.row(
        "for scale: CPU of one SDK GetItem (missing item), the SDK's floor per round trip",
        duration(floor),
    );
    section.row(
        "baseline: CPU of one bare conditional SDK UpdateItem (ADD on one item, same client)",
        duration(update_floor),
    );
    section.row(
        "warm: CPU beyond that baseline (authentication + metering, our code)",
        duration(own_cpu),
    );
    section.verdict(
        "warm: 0 bcrypt",
        format!(
            "0 GetItem of the key; CPU {} per request",
            duration(warm.cpu_per_request)
        ),
        !warm.operations.contains("GetItem") && warm.cpu_per_request < Duration::from_millis(5),
        "bcrypt runs only after the key's GetItem, and a warm request makes none; its CPU time is \
far below one cost-10 bcrypt (see section 1), which a single verification would exceed.",
    );
    section.verdict(
        "warm: authentication + metering make 1 DynamoDB request",
        format!("{:.2} ({})", warm.round_trips_per_request, warm.operations),
        (warm.round_trips_per_request - 1.0).abs() < f64::EPSILON,
        "Authentication is answered from the container's cache and the liveness, tier and quota \
checks are the condition of the one UpdateItem that counts the request.",
    );
    section.verdict(
        "warm: < 0.3 ms CPU for authentication + metering (beyond the SDK's one UpdateItem)",
        format!(
            "{} ({} per request − {} for a bare UpdateItem)",
            duration(own_cpu),
            duration(warm.cpu_per_request),
            duration(update_floor)
        ),
        own_cpu < Duration::from_micros(300),
        format!(
            "Measured over the whole loop with getrusage, against a baseline in the same run: a \
bare conditional UpdateItem through the same SDK client, whose CPU (SigV4 signing, JSON, HTTP \
client: {} here; a GetItem {}) no code of ours can remove. The rest is ours: the key's parse, \
HMAC check and cache lookup, the charge's condition and attribute values, and the answer's \
decoding.",
            duration(update_floor),
            duration(floor)
        ),
    );
    world.drop_table().await;
    section
}

/// One metered request's authentication and metering; panics if refused (a bench defect).
pub async fn metered(app: &App, headers: &harmonic_shared::lambda_http::http::HeaderMap) {
    let caller = app
        .identify_metered(headers, None)
        .await
        .expect("the key is accepted");
    if let Err(refusal) = app.charge(&caller).await {
        panic!("charge refused: {:?}", refusal.error);
    }
}

const FLOOR_CALLS: usize = 500;

/// CPU per call of the cheapest DynamoDB request (a GetItem that finds nothing), sequentially.
async fn sdk_floor(world: &World) -> Duration {
    let missing = KeyId::parse("Bench00000").expect("a key id");
    world.store.get_key(&missing).await.expect("GetItem");
    let meter = Meter::start();
    for _ in 0..FLOOR_CALLS {
        world.store.get_key(&missing).await.expect("GetItem");
    }
    let (_, cpu) = meter.stop();
    cpu / FLOOR_CALLS as u32
}

/// CPU per call of a bare conditional UpdateItem (`ADD` of one number under a condition, the
/// shape of the charge without its checks), sequentially, on the bench's client.
async fn sdk_update_floor(world: &World) -> Duration {
    use aws_sdk_dynamodb::types::AttributeValue;
    let update = || {
        world
            .store
            .client()
            .update_item()
            .table_name(world.store.table())
            .key("pk", AttributeValue::S("BENCH#floor".into()))
            .key("sk", AttributeValue::S("FLOOR".into()))
            .update_expression("ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N("100000000".into()))
            .send()
    };
    update().await.expect("UpdateItem");
    let meter = Meter::start();
    for _ in 0..FLOOR_CALLS {
        update().await.expect("UpdateItem");
    }
    let (_, cpu) = meter.stop();
    cpu / FLOOR_CALLS as u32
}

/// Runs `requests` requests one after another (`request(index)` makes the index-th) and
/// measures them: latency, DynamoDB round trips and CPU per request, and one request's
/// sequence of operations (e.g. "GetItem, UpdateItem").
pub async fn measure<F, Fut>(world: &World, requests: usize, mut request: F) -> Run
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let trips_before = world.counter.count();
    let operations_before = world.operations.len();
    let mut latencies = Vec::with_capacity(requests);
    let meter = Meter::start();
    for index in 0..requests {
        let started = Instant::now();
        request(index).await;
        latencies.push(started.elapsed());
    }
    let (_, cpu) = meter.stop();
    let trips = world.counter.count() - trips_before;
    let operations = world.operations.since(operations_before);
    let per_request = operations.len() / requests.max(1);
    Run {
        latency: Summary::of(&latencies),
        round_trips_per_request: trips as f64 / requests as f64,
        cpu_per_request: cpu / requests as u32,
        operations: describe_operations(&operations[..per_request.min(operations.len())]),
    }
}
