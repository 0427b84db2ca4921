//! Section 8, shared-cache hit (target < 5 ms on dynalite): a container that has never seen a
//! query answers it from the fleet's shared cache (a `CACHE#…` item another container wrote),
//! without calling the upstream.
//!
//! One container asks the Wikipedia stand-in (40 ms delay, as in section 4) and its deferred
//! write is sent as the after-response batch would send it; then each sample is a fresh
//! `Sources` (new container: empty caches) with the shared state on the bench table, built
//! before the clock starts, gathering the same request. The baseline in the same run is the
//! upstream miss (a fresh container with no shared state).
use harmonic_data::model::SourceOutcome;
use harmonic_data::request::DataRequest;
use harmonic_data::sources::{DeferredWrites, SourceSettings, Sources};
use harmonic_shared::store::{DeferredPut, Store};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::report::Section;
use super::stats::{nanos, Summary};
use super::world::{describe_operations, World};

pub const TITLE: &str = "8. Shared-cache hit";

const UPSTREAM_DELAY: Duration = Duration::from_millis(40);
const SAMPLES: usize = 200;
const BASELINE_SAMPLES: usize = 10;
const TARGET: Duration = Duration::from_millis(5);

async fn wiki_upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/api/rest_v1/page/summary/.+$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(
                    harmonic_testkit::fixtures::WIKI_SUMMARY_QUANTUM
                        .as_bytes()
                        .to_vec(),
                    "application/json; charset=utf-8",
                )
                .set_delay(UPSTREAM_DELAY),
        )
        .mount(&server)
        .await;
    server
}

/// A new container's sources on the bench table; its deferred puts are collected in `sink`.
fn container(base_url: &str, store: &Store, sink: &Arc<Mutex<Vec<DeferredPut>>>) -> Sources {
    let sink = sink.clone();
    let deferred: DeferredWrites = Arc::new(move |put| {
        sink.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(put)
    });
    Sources::new(SourceSettings::for_base_url(base_url))
        .expect("sources")
        .with_shared_state(store.clone(), deferred)
}

fn only_outcome(gathered: &harmonic_data::sources::Gathered) -> &SourceOutcome {
    gathered.outcomes.first().expect("one source asked")
}

pub async fn shared_cache_hit(endpoint: &str) -> Section {
    let mut section = Section::new(
        TITLE,
        "A request answered from the shared cache by a container that has not seen it: \
`Sources::gather` for `{\"query\": \"quantum computing\", \"sources\": \"wiki\"}` on a fresh \
`Sources` with the shared state on the bench table (dynalite), after one other container asked \
the Wikipedia stand-in (40 ms delay) and its after-response put was sent. 200 samples, each a new \
container built before the clock starts. Baseline in the same run: the same request from a fresh \
container without shared state (an upstream call).",
    );
    println!("\n== {TITLE}");
    let world = World::new(endpoint, "shared-cache", &[]).await;
    let server = wiki_upstream().await;
    let base_url = server.uri();
    let body = serde_json::json!({ "query": "quantum computing", "sources": "wiki" });
    let request = DataRequest::parse(body.to_string().as_bytes()).expect("a valid data request");

    let mut baseline = Vec::with_capacity(BASELINE_SAMPLES);
    for _ in 0..BASELINE_SAMPLES {
        let sources = Sources::new(SourceSettings::for_base_url(&base_url)).expect("sources");
        let started = Instant::now();
        let gathered = sources.gather(&request).await;
        baseline.push(started.elapsed());
        assert!(matches!(only_outcome(&gathered), SourceOutcome::Success(_)));
    }
    let baseline = Summary::of(&baseline);

    let sink = Arc::new(Mutex::new(Vec::new()));
    let first = container(&base_url, &world.store, &sink);
    let gathered = first.gather(&request).await;
    assert!(matches!(only_outcome(&gathered), SourceOutcome::Success(_)));
    let puts: Vec<DeferredPut> = std::mem::take(&mut *sink.lock().expect("sink"));
    assert_eq!(puts.len(), 1, "one shared-cache entry deferred");
    for put in puts {
        world
            .store
            .put_deferred_now(put)
            .await
            .expect("write the shared-cache entry");
    }
    let upstream_before = server.received_requests().await.unwrap_or_default().len();

    let mut samples = Vec::with_capacity(SAMPLES);
    let operations_before = world.operations.len();
    for _ in 0..SAMPLES {
        let sources = container(&base_url, &world.store, &sink);
        let started = Instant::now();
        let gathered = sources.gather(&request).await;
        samples.push(started.elapsed());
        match only_outcome(&gathered) {
            SourceOutcome::Success(success) => assert!(
                success.from_cache,
                "a fresh container answered from the shared cache"
            ),
            SourceOutcome::Failure(failure) => panic!("wiki failed: {}", failure.error),
        }
    }
    let operations = world.operations.since(operations_before);
    let upstream_calls =
        server.received_requests().await.unwrap_or_default().len() - upstream_before;
    let deferred_by_hits = sink.lock().expect("sink").len();
    let hits = Summary::of(&samples);

    section.row(
        "baseline: upstream miss, fresh container, no shared state",
        baseline.latency(),
    );
    section.row("shared-cache hit, fresh container", hits.latency());
    section.row(
        "DynamoDB requests per hit",
        format!(
            "{:.2} ({})",
            operations.len() as f64 / SAMPLES as f64,
            describe_operations(&operations)
        ),
    );
    section.row(
        "upstream calls during the hits",
        format!("{upstream_calls} (of {SAMPLES} requests)"),
    );
    section.row(
        "shared-cache writes deferred by the hits",
        deferred_by_hits.to_string(),
    );
    section.row(
        "hit / upstream miss, medians",
        format!("{:.3}×", hits.p50 / baseline.p50),
    );
    let hit_p50 = Duration::from_nanos(hits.p50 as u64);
    section.verdict(
        "shared-cache hit < 5 ms on dynalite",
        format!("p50 {} (p99 {})", nanos(hits.p50), nanos(hits.p99)),
        hit_p50 < TARGET && upstream_calls == 0,
        "A container-cache miss reads the source's `CACHE#…` item (one eventually consistent \
GetItem) before the upstream; a hit fills the container's cache and defers nothing.",
    );
    section.note(
        "dynalite on loopback: no network distance. On DynamoDB a GetItem in the same region \
adds a few milliseconds (single-digit ms p50, AWS's figure), still far under an upstream call.",
    );
    world.drop_table().await;
    section
}
