//! News against stubs that answer like GDELT DOC 2.0, Hacker News search and NewsAPI.

use std::time::Duration;

use harmonic_data::model::SourceKind;
use harmonic_data::sources::{NewsApiKey, NewsProvider, Sources};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{failure, run, settings, success};

const NEWS: SourceKind = SourceKind::News;
const GDELT_PATH: &str = "/api/v2/doc/doc";

/// GDELT's own rate limit is one call per 5 s; tests that call twice disable the interval.
fn sources_without_interval(server: &MockServer) -> Sources {
    let mut settings = settings(server);
    settings.gdelt_min_interval = Duration::ZERO;
    Sources::new(settings).unwrap()
}

async fn gdelt_stub(status: u16, body: &str, content_type: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(GDELT_PATH))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body.to_owned(), content_type))
        .mount(&server)
        .await;
    server
}

const ARTICLES: &str = r#"{"articles": [
  {"url": "https://www.example.com/2024/06/15/quantum.html", "url_mobile": "", "title": "Quantum   computing\n reaches a milestone",
   "seendate": "20240615T170000Z", "socialimage": "https://www.example.com/q.jpg", "domain": "example.com",
   "language": "English", "sourcecountry": "United States"},
  {"url": "https://news.example.jp/articles/1", "title": "量子コンピューターの新たな成果", "seendate": "20240615T083000Z",
   "domain": "news.example.jp", "language": "Japanese"},
  {"url": "https://ru.example.org/a", "title": "Квантовые вычисления", "seendate": "not a date", "socialimage": "",
   "domain": "ru.example.org", "language": "Russian", "sourcecountry": ""}
]}"#;

#[tokio::test]
async fn gdelt_is_asked_for_a_recent_article_list() {
    let server = MockServer::start().await;
    Mock::given(path(GDELT_PATH))
        .and(query_param(
            "query",
            "quantum computing \"error-correction\"",
        ))
        .and(query_param("mode", "ArtList"))
        .and(query_param("format", "json"))
        .and(query_param("maxrecords", "7"))
        .and(query_param("sort", "DateDesc"))
        .and(query_param("timespan", "7d"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(ARTICLES, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let request = crate::common::request(json!({
        "query": "quantum computing OR error-correction", "sources": "news", "maxResults": 7
    }));

    let gathered = sources_without_interval(&server).gather(&request).await;

    assert!(!gathered.all_failed(), "{:?}", gathered.outcomes);
}

#[tokio::test]
async fn gdelt_articles_tolerate_missing_fields_and_non_latin_titles() {
    let server = gdelt_stub(200, ARTICLES, "application/json; charset=utf-8").await;

    let data = success(
        run(
            &sources_without_interval(&server),
            NEWS,
            "quantum computing",
        )
        .await,
    )
    .data;

    assert_eq!(data["provider"], "gdelt");
    assert_eq!(
        data["articles"][0],
        json!({
            "title": "Quantum computing reaches a milestone",
            "url": "https://www.example.com/2024/06/15/quantum.html",
            "domain": "example.com",
            "language": "English",
            "country": "United States",
            "seenAt": "2024-06-15T17:00:00Z",
            "image": "https://www.example.com/q.jpg"
        })
    );
    assert_eq!(
        data["articles"][1]["title"],
        "量子コンピューターの新たな成果"
    );
    assert_eq!(data["articles"][1]["seenAt"], "2024-06-15T08:30:00Z");
    assert!(data["articles"][1].get("country").is_none());
    assert_eq!(data["articles"][2]["title"], "Квантовые вычисления");
    assert!(data["articles"][2].get("seenAt").is_none());
    assert!(data["articles"][2].get("image").is_none());
}

#[tokio::test]
async fn gdelt_empty_object_and_empty_body_mean_zero_articles() {
    for (case, body) in [("{}", "{}"), ("empty body", ""), ("whitespace", " \n")] {
        let server = gdelt_stub(200, body, "application/json").await;

        let result = success(run(&sources_without_interval(&server), NEWS, "zzqxv").await);

        assert_eq!(result.data["articles"], json!([]), "case {case}");
        assert!(!result.matched, "case {case}");
        assert_eq!(
            result.message.as_deref(),
            Some("GDELT (last 7 days) has no recent articles about \"zzqxv\""),
            "case {case}"
        );
    }
}

#[tokio::test]
async fn gdelt_plain_text_sentences_with_http_200_are_failures() {
    for sentence in [
        "Queries containing OR'd terms must be surrounded by ().",
        "The specified phrase is too short.",
        "Your query was too short or too long.",
    ] {
        let server = gdelt_stub(200, sentence, "text/html; charset=utf-8").await;

        let failure = failure(run(&sources_without_interval(&server), NEWS, "quantum").await);

        assert_eq!(failure.code, "bad_response", "{sentence}");
        assert!(failure.error.contains(sentence), "{}", failure.error);
    }
}

#[tokio::test]
async fn gdelt_rate_limit_sentence_backs_off_without_calling_again() {
    let server = MockServer::start().await;
    Mock::given(path(GDELT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com for larger queries.",
            "text/plain",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let sources = sources_without_interval(&server);

    let first = failure(run(&sources, NEWS, "quantum").await);
    let second = failure(run(&sources, NEWS, "climate").await);

    assert_eq!(first.code, "rate_limited");
    assert!(
        first.error.contains("Please limit requests"),
        "{}",
        first.error
    );
    assert_eq!(second.code, "rate_limited");
}

#[tokio::test]
async fn gdelt_http_429_is_rate_limited() {
    let server = gdelt_stub(429, "Too Many Requests", "text/plain").await;

    let failure = failure(run(&sources_without_interval(&server), NEWS, "quantum").await);

    assert_eq!(failure.code, "rate_limited");
}

#[tokio::test]
async fn gdelt_politeness_interval_fails_fast_instead_of_calling_twice_in_five_seconds() {
    let server = MockServer::start().await;
    Mock::given(path(GDELT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let sources = Sources::new(settings(&server)).unwrap();

    success(run(&sources, NEWS, "first").await);
    let second = failure(run(&sources, NEWS, "second").await);

    assert_eq!(second.code, "rate_limited");
}

#[tokio::test]
async fn gdelt_invalid_json_escapes_are_repaired() {
    let body = r#"{"articles": [{"url": "https://a.example/x", "title": "Backslash \q in a title", "seendate": "20240615T170000Z", "domain": "a.example", "language": "English"}]}"#;
    let server = gdelt_stub(200, body, "application/json").await;

    let data = success(run(&sources_without_interval(&server), NEWS, "title").await).data;

    assert_eq!(data["articles"][0]["title"], r"Backslash \q in a title");
}

#[tokio::test]
async fn gdelt_unrepairable_json_is_a_clean_failure() {
    let server = gdelt_stub(200, r#"{"articles": [{"url": "#, "application/json").await;

    let failure = failure(run(&sources_without_interval(&server), NEWS, "title").await);

    assert_eq!(failure.code, "bad_response");
}

#[tokio::test]
async fn a_query_without_usable_terms_matches_nothing_without_calling_gdelt() {
    let server = MockServer::start().await;
    Mock::given(path(GDELT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/json"))
        .expect(0)
        .mount(&server)
        .await;

    let result = success(run(&sources_without_interval(&server), NEWS, "a b ?").await);

    assert!(!result.matched);
    assert!(
        result.message.as_deref().unwrap().contains("no term"),
        "{:?}",
        result.message
    );
    assert_eq!(result.data["articles"], json!([]));
}

#[tokio::test]
async fn hacker_news_hits_become_articles() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/search"))
        .and(query_param("query", "rust"))
        .and(query_param("tags", "story"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            json!({"hits": [
                {"objectID": "101", "title": "Rust 2.0 released", "url": "https://blog.example.org/rust",
                 "author": "alice", "points": 420, "num_comments": 99,
                 "created_at": "2024-06-15T17:00:00Z", "created_at_i": 1718470800},
                {"objectID": "102", "title": "Ask HN: Rust or Go?", "url": null, "author": "bob",
                 "points": 12, "num_comments": 30, "created_at": "2024-06-14T10:00:00Z"}
            ], "nbHits": 2})
            .to_string(),
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = settings(&server);
    settings.news_provider = NewsProvider::HackerNews { url: server.uri() };
    let sources = Sources::new(settings).unwrap();

    let data = success(run(&sources, NEWS, "rust").await).data;

    assert_eq!(data["provider"], "hackernews");
    assert_eq!(data["articles"][0]["domain"], "blog.example.org");
    assert_eq!(data["articles"][0]["points"], 420);
    assert_eq!(
        data["articles"][1]["url"],
        "https://news.ycombinator.com/item?id=102"
    );
}

#[tokio::test]
async fn newsapi_sends_the_key_and_reports_its_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/everything"))
        .and(header("x-api-key", "k-123"))
        .and(query_param("q", "solar"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            json!({"status": "ok", "totalResults": 1, "articles": [
                {"source": {"id": null, "name": "Example News"}, "author": "C. Writer", "title": "Solar record",
                 "description": "d", "url": "https://example.com/solar", "urlToImage": null,
                 "publishedAt": "2024-06-15T17:00:00Z", "content": "c"}
            ]})
            .to_string(),
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/v2/everything"))
        .and(query_param("q", "wind"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            r#"{"status":"error","code":"apiKeyInvalid","message":"Your API key is invalid or incorrect."}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let mut settings = settings(&server);
    settings.news_provider = NewsProvider::NewsApi {
        url: server.uri(),
        key: NewsApiKey::new("k-123"),
    };
    let sources = Sources::new(settings).unwrap();

    let data = success(run(&sources, NEWS, "solar").await).data;
    let failure = failure(run(&sources, NEWS, "wind").await);

    assert_eq!(data["articles"][0]["sourceName"], "Example News");
    assert_eq!(data["articles"][0]["seenAt"], "2024-06-15T17:00:00Z");
    assert_eq!(failure.code, "upstream_error");
    assert!(
        failure.error.contains("API key is invalid"),
        "{}",
        failure.error
    );
}
