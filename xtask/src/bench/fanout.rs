//! Section 4, fan-out: the upstreams answer after uneven delays, with the politeness gates on; a
//! gather of all sources should take about as long as the slowest one alone. And a cache hit's
//! latency (in the container's own caches).
use harmonic_data::model::{SourceKind, SourceOutcome};
use harmonic_data::request::DataRequest;
use harmonic_data::sources::{SourceSettings, Sources};
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::report::Section;
use super::stats::{nanos, times, Summary};

/// Per upstream route: wiki 40 ms, arXiv 120 ms, news (GDELT) 80 ms, weather 30 ms geocoding +
/// 30 ms forecast (in sequence: 60 ms), curiosity none (built in).
const WIKI_DELAY: Duration = Duration::from_millis(40);
const ARXIV_DELAY: Duration = Duration::from_millis(120);
const NEWS_DELAY: Duration = Duration::from_millis(80);
const WEATHER_STEP_DELAY: Duration = Duration::from_millis(30);
const SAMPLES: usize = 10;
const TARGET_RATIO: f64 = 1.1;
const CACHE_HIT_SAMPLES: usize = 500;
const QUERY: &str = "quantum computing";

use harmonic_testkit::fixtures::{
    ARXIV_QUANTUM as ARXIV, FORECAST_BERLIN as FORECAST, GDELT_ARTICLES as GDELT,
    GEOCODING_BERLIN as GEOCODING, WIKI_SUMMARY_QUANTUM as SUMMARY,
};

/// The upstream stand-ins, each answering with the real service's format after its delay,
/// whatever the query (so every source succeeds).
async fn delayed_upstreams() -> MockServer {
    let server = MockServer::start().await;
    let answer = |body: &str, content_type: &str, delay: Duration| {
        ResponseTemplate::new(200)
            .set_body_raw(body.as_bytes().to_vec(), content_type)
            .set_delay(delay)
    };
    let json = "application/json; charset=utf-8";
    for (route, body, content_type, delay) in [
        ("^/api/rest_v1/page/summary/.+$", SUMMARY, json, WIKI_DELAY),
        (
            "^/api/query$",
            ARXIV,
            "application/atom+xml; charset=utf-8",
            ARXIV_DELAY,
        ),
        ("^/api/v2/doc/doc$", GDELT, json, NEWS_DELAY),
        ("^/v1/search$", GEOCODING, json, WEATHER_STEP_DELAY),
        ("^/v1/forecast$", FORECAST, json, WEATHER_STEP_DELAY),
    ] {
        Mock::given(method("GET"))
            .and(path_regex(route))
            .respond_with(answer(body, content_type, delay))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/w/rest.php/v1/search/page"))
        .respond_with(answer(r#"{"pages":[]}"#, json, WIKI_DELAY))
        .mount(&server)
        .await;
    server
}

fn data_request(sources: &[SourceKind]) -> DataRequest {
    let names: Vec<&str> = sources.iter().map(|kind| kind.as_str()).collect();
    let body = serde_json::json!({ "query": QUERY, "sources": names });
    DataRequest::parse(body.to_string().as_bytes()).expect("a valid data request")
}

/// A new container's sources: every upstream at the stand-in, the real politeness intervals.
fn fresh_sources(base_url: &str) -> Sources {
    let settings = SourceSettings::for_base_url(base_url);
    let defaults = SourceSettings::defaults();
    assert_eq!(
        (settings.arxiv_min_interval, settings.gdelt_min_interval),
        (defaults.arxiv_min_interval, defaults.gdelt_min_interval),
        "the gates run at the production intervals"
    );
    Sources::new(settings).expect("sources")
}

/// `SAMPLES` gathers, each by a fresh `Sources` (a new container: empty caches, fresh gates, a
/// new HTTP client), built before the clock starts; panics unless every source succeeded
/// without the cache.
async fn timed_gathers(base_url: &str, request: &DataRequest) -> Summary {
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let sources = fresh_sources(base_url);
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
(wiremock, the fixtures in testkit/fixtures/upstream) with uneven delays: wiki 40 ms, arXiv \
120 ms, news (GDELT) 80 ms, weather 30 ms geocoding then 30 ms forecast (60 ms in sequence), \
curiosity none (the built-in knowledge base). The politeness gates are ON at the production \
intervals (arXiv 3 s and one connection at a time, GDELT 5 s): each sample uses a fresh \
`Sources` (a new container: fresh gates, empty caches, a new HTTP client, built before the clock \
starts), so the gates' reservation is in every sample's path without throttling the next sample \
(spacing samples by 5 s would take minutes). 10 samples per configuration; the ratio is gather \
p50 / slowest-alone p50. Then the all-source request again on one container without clearing: \
every source answers from its cache.",
    );
    println!("\n== {}", section.title);
    let server = delayed_upstreams().await;
    let base_url = server.uri();
    let all = data_request(&SourceKind::ALL);
    // Warm the stand-in (first-request work in wiremock), not measured.
    timed_gathers(&base_url, &all).await;

    let mut slowest: Option<(SourceKind, Summary)> = None;
    for kind in SourceKind::ALL {
        let alone = timed_gathers(&base_url, &data_request(&[kind])).await;
        section.row(format!("{kind} alone"), alone.latency());
        if slowest.is_none_or(|(_, current)| alone.p50 > current.p50) {
            slowest = Some((kind, alone));
        }
    }
    let (slowest_kind, slowest) = slowest.expect("five sources");
    let together = timed_gathers(&base_url, &all).await;
    section.row("all five sources together", together.latency());
    let ratio = together.p50 / slowest.p50;
    let serial: f64 = [WIKI_DELAY, ARXIV_DELAY, NEWS_DELAY, WEATHER_STEP_DELAY * 2]
        .iter()
        .map(|delay| delay.as_nanos() as f64)
        .sum();
    section.row(
        format!("all five / slowest alone ({slowest_kind}), medians"),
        times(ratio),
    );
    section.row(
        "for scale: the upstream calls made one after another (sum of the delays)",
        nanos(serial),
    );

    // Cache hits: the same request again on one container.
    let sources = fresh_sources(&base_url);
    sources.gather(&all).await;
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
    section.row(
        "cache hit, all five sources (gather, in-process caches)",
        hits.latency(),
    );
    section.row(
        "outcomes answered from the cache",
        format!("{from_cache} of {outcomes}"),
    );
    section.verdict(
        "fan-out ≤ 1.1× the slowest source (gates on, uneven delays)",
        format!(
            "{} ({} vs {} for {slowest_kind} alone, p50 / p50)",
            times(ratio),
            nanos(together.p50),
            nanos(slowest.p50)
        ),
        ratio <= TARGET_RATIO,
        "The sources run concurrently (`join_all`), each under its own timeout and politeness \
gate, on one shared HTTP client; the gather waits for the slowest.",
    );
    section.note(
        "The delays are fixed stand-ins for upstream latency; the ratio carries over, the \
absolute times are this machine's.",
    );
    section
}
