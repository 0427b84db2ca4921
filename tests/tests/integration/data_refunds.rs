//! Who pays for a data request (issue 10, "free refunds"), through the data handler against the
//! DynamoDB-compatible server: a source that answered is charged even when nothing matched;
//! only a request whose every source failed is refunded; repeating a request whose every
//! source is known to fail costs no upstream call and no write at all.
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::clock::Clock;
use harmonic_shared::domain::{Period, UserId};
use harmonic_shared::App;
use harmonic_tests::*;
use serde_json::{json, Value};
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn data_container(t: &TestApp, upstream: &MockServer) -> DataApp {
    let app = App::new(t.app.config.clone(), t.store.clone(), t.clock.clone());
    let sources = Sources::new(SourceSettings::for_base_url(&upstream.uri())).expect("sources");
    DataApp::new(app, sources)
}

async fn ask(state: &DataApp, key: &str, body: Value) -> Answer {
    answer(
        harmonic_data::invoke(
            state,
            request("POST", "/api/v1/data").key(key).json(body).build(),
        )
        .await,
    )
}

async fn stored_count(t: &TestApp, user: &str) -> u64 {
    let user = t
        .store
        .get_user(&UserId::parse(user).expect("user id"))
        .await
        .expect("read the user")
        .expect("the user exists");
    user.used_in(Period::containing(t.clock.now()))
}

async fn upstream_calls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

/// An upstream where every call fails with a 500.
async fn failing_upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(500).set_body_raw("Internal Server Error", "text/plain"),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_query_that_matched_nothing_is_charged_with_results_that_say_so() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "no-match", "free").await;
    let stubs = harmonic_tests::stubs::start(
        std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port"),
    )
    .await;
    let state = data_container(&t, &stubs);

    let single = ask(
        &state,
        &key,
        json!({"query": "Sadsdqwe", "sources": ["wiki", "weather"]}),
    )
    .await;
    let comprehensive = ask(
        &state,
        &key,
        json!({"query": "Atlantisxq", "sources": ["wikipedia", "climate"], "mode": "comprehensive"}),
    )
    .await;

    assert_eq!(single.status, 200, "{}", single.text);
    assert_eq!(single.header("x-ratelimit-used"), Some("1"));
    let results = single.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "{}", single.text);
    assert!(
        results
            .iter()
            .all(|r| r["matched"] == false && r["data"].is_null()),
        "{}",
        single.text
    );
    assert_eq!(
        results[0]["message"],
        "Wikipedia has no article matching \"Sadsdqwe\""
    );
    assert_eq!(
        results[1]["message"],
        "Open-Meteo knows no place named \"Sadsdqwe\""
    );
    assert_eq!(single.body["failedSources"], json!([]));

    assert_eq!(comprehensive.status, 200, "{}", comprehensive.text);
    assert_eq!(comprehensive.header("x-ratelimit-used"), Some("2"));
    assert_eq!(comprehensive.body["sourcesRetrieved"], 2);
    assert_eq!(
        comprehensive.body["unmatchedSources"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        stored_count(&t, "no-match").await,
        2,
        "both requests stay charged"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_request_whose_every_source_failed_is_refunded_and_repeating_it_writes_nothing() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "all-failed", "free").await;
    let upstream = failing_upstream().await;
    let state = data_container(&t, &upstream);
    let body = json!({"query": "Berlin", "sources": ["wiki", "weather"]});

    let first = ask(&state, &key, body.clone()).await;
    let calls_after_first = upstream_calls(&upstream).await;
    let table_after_first = table_items(&t.store).await;
    let mut repeats = Vec::new();
    for _ in 0..5 {
        repeats.push(ask(&state, &key, body.clone()).await);
    }

    assert_eq!(first.status, 502, "{}", first.text);
    assert_eq!(first.header("x-ratelimit-used"), Some("0"), "refunded");
    // Every 502 says when to retry, also when its failures were fresh.
    let first_retry_after: u64 = first
        .header("retry-after")
        .expect("Retry-After on every 502")
        .parse()
        .expect("whole seconds");
    assert!(first_retry_after >= 1, "{first_retry_after}");
    assert_eq!(calls_after_first, 2, "one call per source");
    for repeat in &repeats {
        assert_eq!(repeat.status, 502, "{}", repeat.text);
        assert_eq!(repeat.body["success"], false);
        assert!(
            repeat.body["error"]
                .as_str()
                .unwrap()
                .contains("not charged"),
            "{}",
            repeat.text
        );
        let retry_after: u64 = repeat
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        let failed = repeat.body["failedSources"].as_array().unwrap();
        assert_eq!(failed.len(), 2);
        assert!(failed
            .iter()
            .all(|f| f["code"] == "upstream_error" && f["retryAfterSeconds"].is_u64()));
    }
    assert_eq!(
        upstream_calls(&upstream).await,
        2,
        "repeats called no upstream"
    );
    assert_eq!(
        table_items(&t.store).await,
        table_after_first,
        "repeats wrote nothing: no charge, no refund, no usage event"
    );
    assert_eq!(stored_count(&t, "all-failed").await, 0);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn one_failed_source_beside_one_that_matched_nothing_is_charged() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "half-failed", "free").await;
    let upstream = MockServer::start().await;
    Mock::given(path("/v1/search"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"generationtime_ms":0.2}"#, "application/json"),
        )
        .mount(&upstream)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503).set_body_raw("down", "text/plain"))
        .mount(&upstream)
        .await;
    let state = data_container(&t, &upstream);

    let answered = ask(
        &state,
        &key,
        json!({"query": "Atlantisxq", "sources": ["wiki", "weather"]}),
    )
    .await;

    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(answered.header("x-ratelimit-used"), Some("1"));
    assert_eq!(answered.body["results"][0]["source"], "weather");
    assert_eq!(answered.body["results"][0]["matched"], false);
    assert_eq!(answered.body["failedSources"][0]["source"], "wiki");
    assert_eq!(stored_count(&t, "half-failed").await, 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_remembered_failure_beside_a_source_that_answers_is_charged_normally() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "mixed", "free").await;
    let upstream = failing_upstream().await;
    let state = data_container(&t, &upstream);

    let failed = ask(&state, &key, json!({"query": "physics", "sources": "wiki"})).await;
    let with_kb = ask(
        &state,
        &key,
        json!({"query": "physics", "sources": ["wiki", "kb"]}),
    )
    .await;

    assert_eq!(failed.status, 502, "{}", failed.text);
    assert_eq!(with_kb.status, 200, "{}", with_kb.text);
    assert_eq!(with_kb.header("x-ratelimit-used"), Some("1"));
    assert_eq!(with_kb.body["failedSources"][0]["code"], "upstream_error");
    assert!(with_kb.body["failedSources"][0]["retryAfterSeconds"].is_u64());
    assert_eq!(
        upstream_calls(&upstream).await,
        1,
        "the remembered failure was not retried"
    );
}
