//! The whole gather: all sources at once, timeouts, total failure, caching and stats.

use std::time::Duration;

use harmonic_data::model::{SourceKind, SourceOutcome};
use harmonic_data::sources::{SourceSettings, Sources};
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{received, request, settings};

const FEED: &str = r#"<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <opensearch:totalResults>1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/abs/2206.06921v3</id>
    <title>Attainable forms of Assouad spectra</title>
    <summary>Short.</summary>
    <published>2022-06-14T15:35:46Z</published>
    <author><name>Alex Rutar</name></author>
  </entry>
</feed>"#;

/// Mounts a stub for every networked source. `arxiv_delay` holds back arXiv's answer.
async fn mount_all(server: &MockServer, arxiv_delay: Duration, expected_calls: u64) {
    let json = |body: serde_json::Value| {
        ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json")
    };
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(json(json!({"type": "standard", "title": "Berlin", "extract": "Berlin is the capital of Germany.",
            "content_urls": {"desktop": {"page": "https://en.wikipedia.org/wiki/Berlin"}}})))
        .expect(expected_calls)
        .mount(server)
        .await;
    Mock::given(path("/api/query"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(FEED, "application/atom+xml")
                .set_delay(arxiv_delay),
        )
        .expect(expected_calls)
        .mount(server)
        .await;
    Mock::given(path("/api/v2/doc/doc"))
        .respond_with(json(
            json!({"articles": [{"url": "https://a.example/berlin", "title": "Berlin news",
            "seendate": "20240615T170000Z", "domain": "a.example", "language": "English"}]}),
        ))
        .expect(expected_calls)
        .mount(server)
        .await;
    Mock::given(path("/v1/search"))
        .respond_with(json(
            json!({"results": [{"name": "Berlin", "latitude": 52.52437, "longitude": 13.41053,
            "country": "Germany", "country_code": "DE"}]}),
        ))
        .expect(expected_calls)
        .mount(server)
        .await;
    Mock::given(path("/v1/forecast"))
        .respond_with(json(json!({"utc_offset_seconds": 7200, "timezone": "Europe/Berlin",
            "current": {"time": "2026-04-04T18:45", "temperature_2m": 18.1, "relative_humidity_2m": 57,
                        "precipitation": 0.0, "wind_speed_10m": 12.8, "weather_code": 3}})))
        .expect(expected_calls)
        .mount(server)
        .await;
}

#[tokio::test]
async fn all_five_sources_answer_in_one_gather() {
    let server = MockServer::start().await;
    mount_all(&server, Duration::ZERO, 1).await;
    let sources = Sources::new(settings(&server)).unwrap();

    let gathered = sources.gather(&request(json!({"query": "Berlin"}))).await;

    assert_eq!(gathered.failures().count(), 0, "{:?}", gathered.outcomes);
    let order: Vec<_> = gathered
        .outcomes
        .iter()
        .map(SourceOutcome::source)
        .collect();
    assert_eq!(order, SourceKind::ALL);
    let body = gathered.to_body();
    assert_eq!(body["query"], "Berlin");
    assert_eq!(
        body["sources"],
        json!(["wiki", "arxiv", "news", "weather", "curiosity"])
    );
    assert_eq!(body["results"].as_array().unwrap().len(), 5);
    assert_eq!(
        body["results"][1]["data"]["papers"][0]["id"],
        "2206.06921v3"
    );
    assert_eq!(body["results"][3]["data"]["conditions"], "overcast");
    assert_eq!(body["failedSources"], json!([]));
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn comprehensive_mode_keys_every_source_by_long_name() {
    let server = MockServer::start().await;
    mount_all(&server, Duration::ZERO, 1).await;
    let sources = Sources::new(settings(&server)).unwrap();

    let body = sources
        .gather(&request(
            json!({"query": "Berlin", "mode": "comprehensive"}),
        ))
        .await
        .to_body();

    assert_eq!(body["comprehensive"], true);
    assert_eq!(body["sourcesRetrieved"], 5);
    for key in ["wikipedia", "arxiv", "news", "weather", "curiosity"] {
        assert!(body["sources"][key].is_object(), "{key}: {body}");
    }
}

#[tokio::test]
async fn a_slow_source_times_out_while_the_others_succeed() {
    let server = MockServer::start().await;
    mount_all(&server, Duration::from_secs(3), 1).await;
    let mut settings = settings(&server);
    settings.source_timeout = Duration::from_millis(300);
    settings.request_deadline = Duration::from_millis(500);
    let sources = Sources::new(settings).unwrap();

    let gathered = sources.gather(&request(json!({"query": "Berlin"}))).await;

    let failures: Vec<_> = gathered.failures().collect();
    assert_eq!(failures.len(), 1, "{:?}", gathered.outcomes);
    assert_eq!(failures[0].source, SourceKind::Arxiv);
    assert_eq!(failures[0].code, "timeout");
    assert!(
        failures[0].error.contains("300 ms"),
        "{}",
        failures[0].error
    );
    assert_eq!(gathered.successes().count(), 4);
    // Concurrent, and bounded by the timeout rather than by the 3 s stub: a loose bound only.
    assert!(
        gathered.elapsed < Duration::from_millis(900),
        "{:?}",
        gathered.elapsed
    );
}

#[tokio::test]
async fn when_every_source_fails_the_gather_says_so() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(500).set_body_raw("Internal Server Error", "text/plain"),
        )
        .mount(&server)
        .await;
    let sources = Sources::new(settings(&server)).unwrap();

    let gathered = sources
        .gather(&request(
            json!({"query": "Berlin", "sources": ["wiki", "arxiv", "news", "weather"]}),
        ))
        .await;

    assert!(gathered.all_failed());
    assert!(
        gathered.failures().all(|f| f.code == "upstream_error"),
        "{:?}",
        gathered.outcomes
    );
    let body = gathered.to_body();
    assert_eq!(body["results"], json!([]));
    assert_eq!(body["failedSources"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_repeated_query_is_served_from_the_cache_by_normalized_key() {
    let server = MockServer::start().await;
    mount_all(&server, Duration::ZERO, 1).await;
    let sources = Sources::new(settings(&server)).unwrap();

    let first = sources.gather(&request(json!({"query": "Berlin"}))).await;
    let second = sources
        .gather(&request(json!({"query": "  berlin "})))
        .await;

    assert!(first.successes().all(|s| !s.from_cache));
    assert_eq!(second.successes().count(), 5, "{:?}", second.outcomes);
    assert!(
        second.successes().all(|s| s.from_cache),
        "{:?}",
        second.outcomes
    );
    assert_eq!(
        first.successes().map(|s| &s.data).collect::<Vec<_>>(),
        second.successes().map(|s| &s.data).collect::<Vec<_>>()
    );
    let stats = sources.stats();
    assert!(
        stats
            .iter()
            .all(|s| s.requests == 2 && s.cache_hits == 1 && s.errors == 0),
        "{stats:?}"
    );
    assert!(stats
        .iter()
        .all(|s| (s.hit_rate - 0.5).abs() < f64::EPSILON));
    // `expect(1)` on every stub is verified when the server drops.
}

#[tokio::test]
async fn concurrent_identical_requests_share_one_upstream_call() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(
                    r#"{"type":"standard","title":"Berlin","extract":"Capital."}"#,
                    "application/json",
                )
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sources = Sources::new(settings(&server)).unwrap();
    let request = request(json!({"query": "Berlin", "sources": "wiki"}));

    let (a, b) = tokio::join!(sources.gather(&request), sources.gather(&request));

    let (a, b) = (a.successes().next().unwrap(), b.successes().next().unwrap());
    assert_eq!(a.data, b.data);
    assert!(
        a.from_cache != b.from_cache,
        "exactly one of them called Wikipedia"
    );
}

#[tokio::test]
async fn failures_are_not_cached_but_remembered_for_the_memo_lifetime() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .mount(&server)
        .await;
    let mut settings = settings(&server);
    settings.failure_memo_ttl = Duration::from_millis(400);
    let sources = Sources::new(settings).unwrap();
    let request = request(json!({"query": "Berlin", "sources": "wiki"}));

    let first = sources.gather(&request).await;
    let repeated = sources.gather(&request).await;
    let known = sources.known_failures(&request).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        sources.known_failures(&request).await.is_none(),
        "forgotten after its lifetime"
    );
    let after_memo = sources.gather(&request).await;

    let first = first.failures().next().unwrap().clone();
    assert_eq!(
        (first.code, first.retry_after_seconds),
        ("upstream_error", None)
    );
    let repeated = repeated.failures().next().unwrap().clone();
    assert_eq!(repeated.code, "upstream_error");
    assert_eq!(repeated.retry_after_seconds, Some(1));
    assert!(
        repeated.error.contains("not asked again"),
        "{}",
        repeated.error
    );
    assert_eq!(known.expect("every source known to fail").len(), 1);
    assert!(after_memo.all_failed());
    let wiki = &sources.stats()[0];
    assert_eq!(
        (wiki.requests, wiki.errors, wiki.failures_remembered),
        (3, 3, 1)
    );
    // expect(2): the repeat within the memo's lifetime made no upstream call.
}

#[tokio::test]
async fn a_source_that_answered_nothing_matched_is_cached_and_not_a_failure() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/search"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"generationtime_ms":0.2}"#, "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sources = Sources::new(settings(&server)).unwrap();
    let request = request(json!({"query": "Atlantisxq", "sources": ["weather"]}));

    let first = sources.gather(&request).await;
    let second = sources.gather(&request).await;

    assert!(!first.all_failed() && !second.all_failed());
    assert!(sources.known_failures(&request).await.is_none());
    let second = second.successes().next().unwrap();
    assert!(!second.matched && second.from_cache, "{second:?}");
}

#[tokio::test]
async fn known_failures_need_every_requested_source_to_be_known_to_fail() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(ResponseTemplate::new(503).set_body_raw("down", "text/plain"))
        .mount(&server)
        .await;
    Mock::given(path("/api/query"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "90"))
        .mount(&server)
        .await;
    let sources = Sources::new(settings(&server)).unwrap();
    let wiki_and_kb = request(json!({"query": "Berlin", "sources": ["wiki", "kb"]}));
    let wiki_only = request(json!({"query": "Berlin", "sources": ["wiki"]}));
    let wiki_other_query = request(json!({"query": "Paris", "sources": ["wiki"]}));
    let arxiv_any_query = request(json!({"query": "anything else", "sources": ["arxiv"]}));

    sources.gather(&wiki_and_kb).await;
    sources
        .gather(&request(json!({"query": "Berlin", "sources": ["arxiv"]})))
        .await;

    assert!(
        sources.known_failures(&wiki_and_kb).await.is_none(),
        "the knowledge base answers"
    );
    assert!(
        sources.known_failures(&wiki_other_query).await.is_none(),
        "another query"
    );
    let wiki = sources
        .known_failures(&wiki_only)
        .await
        .expect("remembered");
    assert_eq!(wiki[0].code, "upstream_error");
    let arxiv = sources
        .known_failures(&arxiv_any_query)
        .await
        .expect("backed off");
    assert_eq!(arxiv[0].code, "rate_limited");
    assert!(arxiv[0].retry_after_seconds.unwrap() > 60, "{:?}", arxiv[0]);
}

#[tokio::test]
async fn clearing_the_caches_sends_the_next_request_upstream() {
    let server = MockServer::start().await;
    mount_all(&server, Duration::ZERO, 2).await;
    let mut settings = settings(&server);
    settings.arxiv_min_interval = Duration::ZERO;
    settings.gdelt_min_interval = Duration::ZERO;
    let sources = Sources::new(settings).unwrap();
    let request = request(json!({"query": "Berlin"}));

    sources.gather(&request).await;
    sources.clear_caches();
    let after_clear = sources.gather(&request).await;

    assert_eq!(
        after_clear.successes().count(),
        5,
        "{:?}",
        after_clear.outcomes
    );
    let networked: Vec<_> = after_clear
        .successes()
        .filter(|s| s.source != SourceKind::Curiosity)
        .collect();
    assert!(networked.iter().all(|s| !s.from_cache), "{networked:?}");
    assert_eq!(
        received(&server).await.len(),
        10,
        "5 upstream calls per gather"
    );
}

#[tokio::test]
async fn curiosity_works_without_any_upstream() {
    // Nothing listens on this address: curiosity must not need it.
    let sources = Sources::new(harmonic_data::sources::SourceSettings::for_base_url(
        "http://127.0.0.1:9",
    ))
    .unwrap();

    let gathered = sources
        .gather(&request(
            json!({"query": "ai", "sources": "kb", "maxResults": 3}),
        ))
        .await;

    let data = &gathered.successes().next().unwrap().data;
    assert_eq!(data["matchedDomain"], "artificial intelligence");
    assert_eq!(data["facts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_catalogue_describes_every_source_with_its_ttl() {
    let sources = Sources::new(harmonic_data::sources::SourceSettings::defaults()).unwrap();

    let catalogue = sources.catalogue();

    let names: Vec<_> = catalogue.iter().map(|d| d.name).collect();
    assert_eq!(names, ["wiki", "arxiv", "news", "weather", "curiosity"]);
    assert_eq!(catalogue[0].aliases, ["wikipedia"]);
    assert_eq!(catalogue[0].upstream, "https://en.wikipedia.org");
    assert_eq!(catalogue[2].cache_ttl_seconds, 900);
    assert_eq!(catalogue[3].cache_ttl_seconds, 1800);
    let json = serde_json::to_value(&catalogue).unwrap();
    assert_eq!(json[4]["longName"], "curiosity");
    assert!(json[1]["returns"].as_str().unwrap().contains("papers"));
}

/// A TCP server on loopback that misbehaves below HTTP: it either closes every connection as
/// soon as it is accepted (a reset) or answers bytes that are not HTTP at all.
async fn broken_server(garbage: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            if garbage {
                use tokio::io::AsyncWriteExt;
                let _ = socket
                    .write_all(b"\x00\x01garbage that is no HTTP\r\n\r\n")
                    .await;
            }
            drop(socket);
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn connection_resets_and_non_http_garbage_are_per_source_failures() {
    for garbage in [false, true] {
        let base = broken_server(garbage).await;
        let mut settings = SourceSettings::for_base_url(&base);
        settings.source_timeout = Duration::from_millis(2000);
        settings.request_deadline = Duration::from_millis(2500);
        let sources = Sources::new(settings).unwrap();

        let gathered = sources
            .gather(&request(
                json!({"query": "physics", "sources": ["wiki", "weather", "curiosity"]}),
            ))
            .await;

        let case = if garbage { "garbage" } else { "reset" };
        assert!(!gathered.all_failed(), "{case}: curiosity needs no network");
        let failed: Vec<&str> = gathered.failures().map(|f| f.source.as_str()).collect();
        assert_eq!(
            failed,
            ["wiki", "weather"],
            "{case}: {:?}",
            gathered.outcomes
        );
        assert!(
            gathered.failures().all(|f| !f.error.is_empty()),
            "{case}: each failure says why"
        );
    }
}

#[tokio::test]
async fn a_politeness_refusal_is_not_remembered() {
    let server = MockServer::start().await;
    Mock::given(path("/api/query"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(FEED, "application/atom+xml"))
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = settings(&server);
    settings.arxiv_min_interval = Duration::from_secs(60);
    let sources = Sources::new(settings).unwrap();
    let first = request(json!({"query": "Berlin", "sources": "arxiv"}));
    let second = request(json!({"query": "Paris", "sources": "arxiv"}));

    assert!(!sources.gather(&first).await.all_failed());
    let refused = sources.gather(&second).await;

    assert_eq!(refused.failures().next().unwrap().code, "rate_limited");
    assert!(
        sources.known_failures(&second).await.is_none(),
        "a refusal by our own politeness gate called no upstream and is not remembered"
    );
}
