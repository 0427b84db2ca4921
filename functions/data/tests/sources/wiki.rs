//! Wikipedia against a stub that answers like the Wikimedia REST API.

use harmonic_data::model::SourceKind;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{failure, received, run, sources, success};

const WIKI: SourceKind = SourceKind::Wiki;

fn summary(title: &str, page_type: &str) -> Value {
    let canonical = title.replace(' ', "_");
    json!({
        "type": page_type,
        "title": title,
        "displaytitle": format!("<i>{title}</i>"),
        "namespace": {"id": 0, "text": ""},
        "titles": {"canonical": canonical, "normalized": title, "display": title},
        "pageid": 146638,
        "thumbnail": {"source": "https://upload.wikimedia.org/thumb/320px-x.jpg", "width": 320, "height": 414},
        "lang": "en", "dir": "ltr", "revision": "1216622002", "timestamp": "2024-04-01T02:49:02Z",
        "description": "Brazilian Formula One driver (1960–1994)",
        "content_urls": {
            "desktop": {"page": format!("https://en.wikipedia.org/wiki/{canonical}")},
            "mobile": {"page": format!("https://en.m.wikipedia.org/wiki/{canonical}")}
        },
        "extract": "Ayrton Senna da Silva was a Brazilian\n   racing driver who won the Formula One\tWorld Drivers' Championship in 1988, 1990, and 1991.",
        "extract_html": "<p><b>Ayrton Senna da Silva</b> was ...</p>"
    })
}

fn problem_404(title: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_raw(
        json!({
            "type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found",
            "title": "Not found.",
            "method": "get",
            "detail": "Page or revision not found.",
            "uri": format!("/en.wikipedia.org/v1/page/summary/{title}")
        })
        .to_string(),
        "application/problem+json",
    )
}

fn json_response(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json; charset=utf-8")
}

#[tokio::test]
async fn a_title_with_a_slash_is_one_percent_encoded_segment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/rest_v1/page/summary/AC%2FDC"))
        .respond_with(json_response(summary("AC/DC", "standard")))
        .expect(1)
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WIKI, "AC/DC").await).data;

    assert_eq!(data["title"], "AC/DC");
    assert_eq!(
        received(&server).await,
        ["/api/rest_v1/page/summary/AC%2FDC"]
    );
}

#[tokio::test]
async fn a_non_ascii_title_is_utf8_percent_encoded_and_spaces_become_underscores() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Z%C3%BCrich_Airport"))
        .respond_with(json_response(summary("Zürich Airport", "standard")))
        .expect(1)
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WIKI, "Zürich Airport").await).data;

    assert_eq!(data["title"], "Zürich Airport");
    assert_eq!(data["url"], "https://en.wikipedia.org/wiki/Zürich_Airport");
    assert_eq!(
        received(&server).await,
        ["/api/rest_v1/page/summary/Z%C3%BCrich_Airport"]
    );
}

#[tokio::test]
async fn summaries_keep_the_useful_fields_with_whitespace_collapsed() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Ayrton_Senna"))
        .respond_with(json_response(summary("Ayrton Senna", "standard")))
        .mount(&server)
        .await;

    let result = success(run(&sources(&server), WIKI, "Ayrton Senna").await);

    assert!(!result.from_cache);
    assert_eq!(
        result.data,
        json!({
            "title": "Ayrton Senna",
            "description": "Brazilian Formula One driver (1960–1994)",
            "extract": "Ayrton Senna da Silva was a Brazilian racing driver who won the Formula One World Drivers' Championship in 1988, 1990, and 1991.",
            "thumbnail": "https://upload.wikimedia.org/thumb/320px-x.jpg",
            "url": "https://en.wikipedia.org/wiki/Ayrton_Senna",
            "type": "standard",
            "disambiguation": false,
            "resolvedBySearch": false
        })
    );
}

#[tokio::test]
async fn a_301_for_a_non_normalized_title_is_followed() {
    let server = MockServer::start().await;
    // The first letter is sent upper-cased (Wikipedia's own rule); the rest as written.
    Mock::given(path("/api/rest_v1/page/summary/Ayrton_senna"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", "Ayrton_Senna"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/rest_v1/page/summary/Ayrton_Senna"))
        .respond_with(json_response(summary("Ayrton Senna", "standard")))
        .expect(1)
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WIKI, "ayrton senna").await).data;

    assert_eq!(data["title"], "Ayrton Senna");
}

#[tokio::test]
async fn a_302_from_a_redirect_page_is_followed_to_the_target_article() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Senna"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", "/api/rest_v1/page/summary/Ayrton_Senna"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/rest_v1/page/summary/Ayrton_Senna"))
        .respond_with(json_response(summary("Ayrton Senna", "standard")))
        .expect(1)
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WIKI, "Senna").await).data;

    assert_eq!(
        data["title"], "Ayrton Senna",
        "the final title differs from the query"
    );
}

#[tokio::test]
async fn disambiguation_pages_are_reported_as_such() {
    let server = MockServer::start().await;
    let mut page = summary("Mercury", "disambiguation");
    page["extract"] = json!("Mercury usually refers to:");
    page.as_object_mut().unwrap().remove("description");
    page.as_object_mut().unwrap().remove("thumbnail");
    Mock::given(path("/api/rest_v1/page/summary/Mercury"))
        .respond_with(json_response(page))
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WIKI, "Mercury").await).data;

    assert_eq!(data["disambiguation"], true);
    assert_eq!(data["type"], "disambiguation");
    assert!(data.get("description").is_none() && data.get("thumbnail").is_none());
}

#[tokio::test]
async fn a_404_falls_back_to_search_and_summarizes_the_best_hit() {
    let server = MockServer::start().await;
    Mock::given(path(
        "/api/rest_v1/page/summary/Fastest_F1_driver_in_the_rain",
    ))
    .respond_with(problem_404("Fastest_F1_driver_in_the_rain"))
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(path("/w/rest.php/v1/search/page"))
        .and(query_param("q", "Fastest F1 driver in the rain"))
        .and(query_param("limit", "1"))
        .respond_with(json_response(json!({"pages": [{
            "id": 146638, "key": "Ayrton_Senna", "title": "Ayrton Senna",
            "excerpt": "<span class=\"searchmatch\">driver</span>",
            "matched_title": null, "description": "Brazilian racing driver",
            "thumbnail": {"mimetype": "image/jpeg", "width": 60, "height": 78, "duration": null,
                          "url": "//upload.wikimedia.org/60px-x.jpg"}
        }]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/rest_v1/page/summary/Ayrton_Senna"))
        .respond_with(json_response(summary("Ayrton Senna", "standard")))
        .expect(1)
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WIKI, "fastest F1 driver in the rain").await).data;

    assert_eq!(data["title"], "Ayrton Senna");
    assert_eq!(data["resolvedBySearch"], true);
}

#[tokio::test]
async fn no_page_and_no_search_hit_is_an_answer_that_nothing_matched() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Sadsdqwe"))
        .respond_with(problem_404("Sadsdqwe"))
        .mount(&server)
        .await;
    Mock::given(path("/w/rest.php/v1/search/page"))
        .respond_with(json_response(json!({"pages": []})))
        .mount(&server)
        .await;

    let result = success(run(&sources(&server), WIKI, "Sadsdqwe").await);

    assert!(!result.matched);
    assert_eq!(result.data, Value::Null);
    assert_eq!(
        result.message.as_deref(),
        Some("Wikipedia has no article matching \"Sadsdqwe\"")
    );
}

#[tokio::test]
async fn a_plain_text_403_is_an_upstream_error_not_a_json_error() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            "Please respect our robot policy https://w.wiki/4wJS and set a User-Agent with contact information.",
            "text/plain",
        ))
        .mount(&server)
        .await;

    let failure = failure(run(&sources(&server), WIKI, "Berlin").await);

    assert_eq!(failure.code, "upstream_error");
    assert!(failure.error.contains("403"), "{}", failure.error);
    assert!(failure.error.contains("robot policy"), "{}", failure.error);
}

#[tokio::test]
async fn requests_carry_a_user_agent_with_contact_information() {
    let server = MockServer::start().await;
    Mock::given(path("/api/rest_v1/page/summary/Berlin"))
        .respond_with(json_response(summary("Berlin", "standard")))
        .mount(&server)
        .await;

    success(run(&sources(&server), WIKI, "Berlin").await);

    let requests = server.received_requests().await.unwrap();
    let agent = requests[0]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        agent.starts_with("HarmonicAPI/") && agent.contains('@'),
        "{agent}"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_backs_off_without_calling_again() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "120")
                .set_body_raw("Too many requests. Please slow down.", "text/plain"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sources = sources(&server);

    let first = failure(run(&sources, WIKI, "Berlin").await);
    let second = failure(run(&sources, WIKI, "Paris").await);

    assert_eq!(first.code, "rate_limited");
    assert!(first.error.contains("120 s"), "{}", first.error);
    assert_eq!(second.code, "rate_limited");
    let wiki_stats = &sources.stats()[0];
    assert_eq!(wiki_stats.errors, 2);
    assert!(wiki_stats.backed_off_for_seconds.unwrap() > 100);
}

#[tokio::test]
async fn the_cache_key_is_the_title_fetched_so_the_first_asker_decides_nothing() {
    let server = MockServer::start().await;
    let mut aids = summary("AIDS", "standard");
    aids["extract"] = json!("HIV/AIDS is a spectrum of conditions caused by infection with HIV.");
    let mut aids_lower = summary("Aids", "disambiguation");
    aids_lower["extract"] = json!("Aids may refer to:");
    Mock::given(path("/api/rest_v1/page/summary/Aids"))
        .respond_with(json_response(aids_lower))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/rest_v1/page/summary/AIDS"))
        .respond_with(json_response(aids))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/rest_v1/page/summary/Ayrton_Senna"))
        .respond_with(json_response(summary("Ayrton Senna", "standard")))
        .expect(1)
        .mount(&server)
        .await;
    let sources = sources(&server);

    // "aids" asks first; "AIDS" must still get the AIDS article, not the cached "Aids" page.
    let lower = success(run(&sources, WIKI, "aids").await);
    let upper = success(run(&sources, WIKI, "AIDS").await);
    // Differ only in the first letter and in spacing/underscores: one title, one entry.
    let senna = success(run(&sources, WIKI, "Ayrton Senna").await);
    let senna_again = success(run(&sources, WIKI, "ayrton_Senna ").await);

    assert_eq!(lower.data["title"], "Aids");
    assert_eq!(upper.data["title"], "AIDS");
    assert!(!upper.from_cache, "a different title is a different entry");
    assert_eq!(senna.data, senna_again.data);
    assert!(senna_again.from_cache, "same title, same entry");
    assert_eq!(
        received(&server).await,
        [
            "/api/rest_v1/page/summary/Aids",
            "/api/rest_v1/page/summary/AIDS",
            "/api/rest_v1/page/summary/Ayrton_Senna"
        ]
    );
}
