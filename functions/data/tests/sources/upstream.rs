//! The HTTP exchange every source shares (issue 10, item 9): the body cap at its boundary, and
//! redirects that never leave the source's own origin (scheme, host and port), so NewsAPI's
//! `X-Api-Key` never reaches another host. The 300 MB streaming case is tests/upstream_memory.rs.

use harmonic_data::model::SourceKind;
use harmonic_data::sources::{NewsApiKey, NewsProvider, Sources};
use serde_json::json;
use wiremock::matchers::{header, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{failure, received, run, settings, success};

const NEWSAPI_KEY: &str = "newsapi-test-key-0123456789";

fn summary_body(padding: usize) -> String {
    let body = json!({"type": "standard", "title": "Berlin", "extract": "Capital."}).to_string();
    format!("{body}{}", " ".repeat(padding))
}

#[tokio::test]
async fn a_body_at_the_cap_is_read_and_one_byte_more_is_too_large() {
    let exact = summary_body(100);
    let cap = exact.len() as u64;
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(exact.clone(), "application/json"))
        .mount(&server)
        .await;
    Mock::given(path("/api/rest_v1/page/summary/Paris"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(format!("{exact} "), "application/json"),
        )
        .mount(&server)
        .await;
    let mut settings = settings(&server);
    settings.upstream_max_bytes = cap;
    let sources = Sources::new(settings).unwrap();

    let at_cap = success(run(&sources, SourceKind::Wiki, "Berlin").await);
    let over = failure(run(&sources, SourceKind::Wiki, "Paris").await);

    assert_eq!(at_cap.data["title"], "Berlin");
    assert_eq!(over.code, "too_large");
    assert!(
        over.error.contains(&format!("more than {cap} bytes")),
        "{}",
        over.error
    );
}

#[tokio::test]
async fn a_redirect_to_another_port_is_not_followed_and_the_other_host_receives_nothing() {
    let elsewhere = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(summary_body(0), "application/json"))
        .mount(&elsewhere)
        .await;
    let source = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/api/rest_v1/page/summary/Berlin", elsewhere.uri()),
        ))
        .expect(1)
        .mount(&source)
        .await;

    let failure = failure(
        run(
            &Sources::new(settings(&source)).unwrap(),
            SourceKind::Wiki,
            "Berlin",
        )
        .await,
    );

    assert_eq!(failure.code, "upstream_error");
    assert!(
        failure.error.contains("redirected to another host")
            && failure.error.contains(&elsewhere.uri()),
        "{}",
        failure.error
    );
    assert_eq!(
        received(&elsewhere).await,
        Vec::<String>::new(),
        "nothing reached the other host"
    );
}

fn newsapi_sources(base: &MockServer) -> Sources {
    let mut settings = settings(base);
    settings.news_provider = NewsProvider::NewsApi {
        url: base.uri(),
        key: NewsApiKey::new(NEWSAPI_KEY),
    };
    Sources::new(settings).unwrap()
}

fn newsapi_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        json!({"status": "ok", "totalResults": 1, "articles": [{"source": {"id": null, "name": "Example"},
            "title": "Berlin today", "url": "https://news.example/berlin", "publishedAt": "2026-11-30T08:00:00Z"}]})
        .to_string(),
        "application/json",
    )
}

#[tokio::test]
async fn the_newsapi_key_never_follows_a_redirect_to_another_host() {
    let elsewhere = MockServer::start().await;
    Mock::given(path("/v2/everything"))
        .respond_with(newsapi_answer())
        .mount(&elsewhere)
        .await;
    let newsapi = MockServer::start().await;
    Mock::given(path("/v2/everything"))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "location",
            format!("{}/v2/everything?q=Berlin", elsewhere.uri()),
        ))
        .mount(&newsapi)
        .await;

    let failure = failure(run(&newsapi_sources(&newsapi), SourceKind::News, "Berlin").await);

    assert_eq!(failure.code, "upstream_error", "{}", failure.error);
    let reached = elsewhere.received_requests().await.unwrap_or_default();
    assert!(
        reached.is_empty(),
        "the other host received {} requests",
        reached.len()
    );
    assert!(!failure.error.contains(NEWSAPI_KEY));
}

#[tokio::test]
async fn a_redirect_within_the_same_origin_is_followed_with_the_key() {
    let newsapi = MockServer::start().await;
    Mock::given(path("/v2/everything"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "/v2/everything-moved"))
        .mount(&newsapi)
        .await;
    Mock::given(path("/v2/everything-moved"))
        .and(header("x-api-key", NEWSAPI_KEY))
        .respond_with(newsapi_answer())
        .expect(1)
        .mount(&newsapi)
        .await;

    let result = success(run(&newsapi_sources(&newsapi), SourceKind::News, "Berlin").await);

    assert_eq!(result.data["articles"][0]["title"], "Berlin today");
}

#[tokio::test]
async fn a_redirect_loop_on_the_same_host_stops_with_a_failure() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", "/api/rest_v1/page/summary/Berlin"),
        )
        .mount(&server)
        .await;

    let failure = failure(
        run(
            &Sources::new(settings(&server)).unwrap(),
            SourceKind::Wiki,
            "Berlin",
        )
        .await,
    );

    assert_eq!(failure.code, "upstream_error");
    assert!(
        failure.error.contains("too many times"),
        "{}",
        failure.error
    );
    assert_eq!(
        received(&server).await.len(),
        5,
        "the original request and 4 redirects"
    );
}
