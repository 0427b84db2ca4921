//! Local stand-ins for the upstream services (Wikipedia, arXiv, GDELT, Open-Meteo), answering
//! with the real services' formats ([`crate::fixtures`]). Used by the suites, the end-to-end
//! stack and `make run OFFLINE=1`, since these machines have no internet:
//! `cargo xtask upstream-stubs --port 8090`, then point every `*_API_URL` / `OPEN_METEO_*_URL`
//! at http://127.0.0.1:8090.
use crate::fixtures::*;
use wiremock::matchers::{method, path, path_regex, query_param_contains};
use wiremock::{Match, Mock, MockServer, ResponseTemplate};

/// Matches when query parameter `name` contains `needle` ignoring case, as Wikipedia's search
/// does (the data function sends titles with an upper-cased first letter: `q=Quantum`).
struct QueryParamContainsIgnoringCase {
    name: &'static str,
    needle: &'static str,
}

impl Match for QueryParamContainsIgnoringCase {
    fn matches(&self, request: &wiremock::Request) -> bool {
        request
            .url
            .query_pairs()
            .any(|(name, value)| name == self.name && value.to_lowercase().contains(self.needle))
    }
}

fn json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(body.as_bytes().to_vec(), "application/json; charset=utf-8")
}

fn search_result(key: &str, title: &str) -> String {
    serde_json::json!({"pages": [{"id": 1, "key": key, "title": title, "excerpt": title,
        "matched_title": null, "description": null, "thumbnail": null}]})
    .to_string()
}

pub async fn start(listener: std::net::TcpListener) -> MockServer {
    let server = MockServer::builder().listener(listener).start().await;
    let summary = |title: &str, body: &str| {
        Mock::given(method("GET"))
            .and(path(format!("/api/rest_v1/page/summary/{title}")))
            .respond_with(json(body))
            .with_priority(1)
    };
    summary("Quantum_computing", WIKI_SUMMARY_QUANTUM)
        .mount(&server)
        .await;
    summary("Artificial_intelligence", WIKI_SUMMARY_AI)
        .mount(&server)
        .await;
    summary("Climate_change", WIKI_SUMMARY_CLIMATE)
        .mount(&server)
        .await;
    // A title whose upstream is down: for the suites' "every source failed" (refunded) cases.
    Mock::given(method("GET"))
        .and(path_regex("^/api/rest_v1/page/summary/Stub_failure.*$"))
        .respond_with(
            ResponseTemplate::new(500).set_body_raw("Internal Server Error", "text/plain"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/api/rest_v1/page/summary/.+$"))
        .respond_with(ResponseTemplate::new(404).set_body_raw(
            WIKI_NOT_FOUND.as_bytes().to_vec(),
            "application/problem+json",
        ))
        .with_priority(10)
        .mount(&server)
        .await;
    for (needle, body) in [
        ("quantum", WIKI_SEARCH_QUANTUM.to_owned()),
        (
            "artificial",
            search_result("Artificial_intelligence", "Artificial intelligence"),
        ),
        ("climate", search_result("Climate_change", "Climate change")),
    ] {
        Mock::given(method("GET"))
            .and(path("/w/rest.php/v1/search/page"))
            .and(QueryParamContainsIgnoringCase { name: "q", needle })
            .respond_with(json(&body))
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/w/rest.php/v1/search/page"))
        .respond_with(json(r#"{"pages":[]}"#))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            ARXIV_QUANTUM.as_bytes().to_vec(),
            "application/atom+xml; charset=utf-8",
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/doc/doc"))
        .respond_with(json(GDELT_ARTICLES))
        .mount(&server)
        .await;
    for needle in ["Berlin", "berlin"] {
        Mock::given(method("GET"))
            .and(path("/v1/search"))
            .and(query_param_contains("name", needle))
            .respond_with(json(GEOCODING_BERLIN))
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v1/search"))
        .respond_with(json(r#"{"generationtime_ms":0.155}"#))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/forecast"))
        .respond_with(json(FORECAST_BERLIN))
        .mount(&server)
        .await;
    server
}
