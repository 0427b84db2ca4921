//! Section 4, fan-out: every upstream answers after a fixed delay; a gather of all sources should take
//! about as long as the slowest one alone. And a cache hit's latency.
use harmonic_data::model::{SourceKind, SourceOutcome};
use harmonic_data::request::DataRequest;
use harmonic_data::sources::{SourceSettings, Sources};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::report::Section;
use super::stats::{nanos, times, Summary};

const DELAY: Duration = Duration::from_millis(100);
const SAMPLES: usize = 10;
const CACHE_HIT_SAMPLES: usize = 500;
const QUERY: &str = "quantum computing";

use harmonic_testkit::fixtures::{
    ARXIV_QUANTUM as ARXIV, FORECAST_BERLIN as FORECAST, GDELT_ARTICLES as GDELT,
    GEOCODING_BERLIN as GEOCODING, WIKI_SUMMARY_QUANTUM as SUMMARY,
};

/// The upstream stand-ins, each answering with the real service's format after `DELAY`,
/// whatever the query (so every source succeeds).
async fn delayed_upstreams() -> MockServer {
    let server = MockServer::start().await;
    let answer = |body: &str, content_type: &str| {
        ResponseTemplate::new(200)
            .set_body_raw(body.as_bytes().to_vec(), content_type)
            .set_delay(DELAY)
    };
    let json = "application/json; charset=utf-8";
    for (route, body, content_type) in [
        ("^/api/rest_v1/page/summary/.+$", SUMMARY, json),
        ("^/api/query$", ARXIV, "application/atom+xml; charset=utf-8"),
        ("^/api/v2/doc/doc$", GDELT, json),
        ("^/v1/search$", GEOCODING, json),
        ("^/v1/forecast$", FORECAST, json),
    ] {
        Mock::given(method("GET"))
            .and(path_regex(route))
            .respond_with(answer(body, content_type))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/w/rest.php/v1/search/page"))
        .respond_with(answer(r#"{"pages":[]}"#, json))
        .mount(&server)
        .await;
    server
}

fn data_request(sources: &[SourceKind]) -> DataRequest {
    let names: Vec<&str> = sources.iter().map(|kind| kind.as_str()).collect();
    let body = serde_json::json!({ "query": QUERY, "sources": names });
    DataRequest::parse(body.to_string().as_bytes()).expect("a valid data request")
}

/// Median of `SAMPLES` gathers with empty caches; panics unless every source succeeded
/// without the cache.
async fn timed_gathers(sources: &Sources, request: &DataRequest) -> Summary {
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        sources.clear_caches();
        let started = Instant::now();
        let gathered = sources.gather(request).await;
        samples.push(started.elapsed());
        for outcome in &gathered.outcomes {
            match outcome {
                SourceOutcome::Success(success) => assert!(!success.from_cache),
                SourceOutcome::Failure(failure) => {
                    panic!(
                        "{} failed against the stubs: {}",
                        failure.source, failure.error
                    )
                }
            }
        }
    }
    Summary::of(&samples)
}

pub async fn run() -> Section {
    let mut section = Section::new(
        "4. Fan-out",
        "`Sources::gather` (the data function's fan-out) against local stand-ins of the upstreams \
(wiremock, the fixtures in testkit/fixtures/upstream) that answer every request after 100 ms. Every \
base URL points at the stand-in; the politeness intervals (arXiv 3 s, GDELT 5 s) are set to 0 so \
that repeated samples are not throttled. Caches are cleared before each sample. Weather makes two \
calls in sequence (geocoding, then forecast), so it is the slowest source alone at ~200 ms; \
curiosity is the built-in knowledge base (no network, no delay). Then the same all-source request \
again without clearing: every source answers from its cache.",
    );
    println!("\n== {}", section.title);
    let server = delayed_upstreams().await;
    let mut settings = SourceSettings::for_base_url(&server.uri());
    settings.arxiv_min_interval = Duration::ZERO;
    settings.gdelt_min_interval = Duration::ZERO;
    let sources = Sources::new(settings).expect("sources");

    // Warm the HTTP client's connections, as a warm container has them.
    let all = data_request(&SourceKind::ALL);
    timed_gathers(&sources, &all).await;

    let mut slowest: Option<(SourceKind, Summary)> = None;
    for kind in SourceKind::ALL {
        let alone = timed_gathers(&sources, &data_request(&[kind])).await;
        section.row(format!("{kind} alone"), alone.latency());
        if slowest.is_none_or(|(_, current)| alone.p50 > current.p50) {
            slowest = Some((kind, alone));
        }
    }
    let (slowest_kind, slowest) = slowest.expect("five sources");
    let together = timed_gathers(&sources, &all).await;
    section.row("all five sources together", together.latency());
    let ratio = together.p50 / slowest.p50;
    let serial: f64 = DELAY.as_nanos() as f64 * 5.0;
    section.row(
        format!("all five / slowest alone ({slowest_kind}), medians"),
        times(ratio),
    );
    section.row(
        "for scale: the five upstream calls made one after another",
        nanos(serial),
    );

    // Cache hits: the same request again.
    timed_gathers(&sources, &all).await;
    let mut hits = Vec::with_capacity(CACHE_HIT_SAMPLES);
    let mut from_cache = 0;
    let mut outcomes = 0;
    for _ in 0..CACHE_HIT_SAMPLES {
        let started = Instant::now();
        let gathered = sources.gather(&all).await;
        hits.push(started.elapsed());
        for outcome in &gathered.outcomes {
            outcomes += 1;
            if matches!(outcome, SourceOutcome::Success(success) if success.from_cache) {
                from_cache += 1;
            }
        }
    }
    let hits = Summary::of(&hits);
    section.row("cache hit, all five sources (gather)", hits.latency());
    section.row(
        "outcomes answered from the cache",
        format!("{from_cache} of {outcomes}"),
    );
    section.verdict(
        "fan-out total < 1.3× the slowest source",
        format!(
            "{} ({} vs {} for {slowest_kind} alone)",
            times(ratio),
            nanos(together.p50),
            nanos(slowest.p50)
        ),
        ratio < 1.3,
        "The sources run concurrently (`join_all`), each under its own timeout, on one shared \
HTTP client; the gather waits for the slowest.",
    );
    section
}
