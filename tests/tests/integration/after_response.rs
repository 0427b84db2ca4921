//! Issue 12 against the DynamoDB-compatible server: what a metered request costs before and
//! after its response, the usage written exactly once by the after-response flush, the
//! Enterprise meter shards, and the demo address refused without a write.
//!
//! Round trips are counted by an interceptor on the container's own SDK client (every HTTP
//! attempt, retries included), so "the client waits for one round trip" is the count seen
//! while `harmonic_data::handle` runs, and "2 requests per metered request" is that plus the
//! count seen while the container flushes (what the Lambda extension does after the response).
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::clock::Clock;
use harmonic_shared::domain::{Period, UserId};
use harmonic_shared::lambda_http::http::HeaderMap;
use harmonic_shared::store::{RoundTripCounter, Store, Subject};
use harmonic_shared::App;
use harmonic_tests::*;
use serde_json::json;
use std::sync::Arc;

/// A data container whose DynamoDB client counts its round trips.
async fn counting_container(t: &TestApp) -> (DataApp, RoundTripCounter) {
    let counter = RoundTripCounter::default();
    let client = Store::connect_client_counting(Some(&endpoint()), Some(counter.clone())).await;
    let store = Store::new(client, t.store.table());
    let app = App::new(t.app.config.clone(), store, t.clock.clone());
    let sources = Sources::new(SourceSettings::defaults()).expect("sources");
    (DataApp::new(app, sources), counter)
}

fn curiosity(key: Option<&str>) -> harmonic_shared::lambda_http::Request {
    let builder =
        request("POST", "/api/v1/data").json(json!({"query": "physics", "sources": "curiosity"}));
    match key {
        Some(key) => builder.key(key).build(),
        None => builder.from_ip("198.51.100.20").build(),
    }
}

fn subject(user: &str) -> Subject {
    Subject::User(UserId::parse(user).expect("user id"))
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_warm_request_waits_for_one_round_trip_and_its_usage_is_one_batch_after_it() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "warm", "pro").await;
    let (state, counter) = counting_container(&t).await;
    // Warm the container: the key verified and cached, the knowledge base answer cached.
    let first = answer(harmonic_data::invoke(&state, curiosity(Some(&key))).await);
    assert_eq!(first.status, 200, "{}", first.text);

    let before = counter.count();
    let response = answer(harmonic_data::handle(&state, curiosity(Some(&key))).await);
    let before_response = counter.count() - before;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        before_response, 1,
        "the client waits for the meter's update only"
    );
    assert!(
        state.app.after_response.has_pending(),
        "the usage waits for the flush"
    );
    let (events, _) = t
        .store
        .usage_history(&subject("warm"), 10, None)
        .await
        .expect("history");
    assert_eq!(
        events.len(),
        1,
        "only the warm-up request is recorded before the flush"
    );

    let flushed = state.app.flush_after_response().await;
    let after_response = counter.count() - before - before_response;
    assert_eq!(after_response, 1, "one BatchWriteItem after the response");
    assert_eq!(
        (flushed.written, flushed.left),
        (3, 0),
        "event, day item, totals item"
    );
    println!("after_response: {before_response} round trip before the response, {after_response} after it");

    let (events, _) = t
        .store
        .usage_history(&subject("warm"), 10, None)
        .await
        .expect("history");
    assert_eq!(events.len(), 2);
    let today = t.clock.now().date_naive();
    let days = t
        .store
        .daily_counters(&subject("warm"), today, today)
        .await
        .expect("days");
    assert_eq!(
        days.len(),
        1,
        "one entry per day, whatever the number of items"
    );
    assert_eq!(days[0].requests, 2);
    assert_eq!(days[0].sources["curiosity"].count, 2);
    let totals = t
        .store
        .usage_stats(Period::containing(t.clock.now()))
        .await
        .expect("totals");
    assert_eq!((totals.requests, totals.by_tier["pro"]), (2, 2));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn requests_queued_between_flushes_share_one_batch_and_containers_add_up() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "busy", "pro").await;
    let (one, one_counter) = counting_container(&t).await;
    let (two, _) = counting_container(&t).await;
    for _ in 0..5 {
        let answered = answer(harmonic_data::handle(&one, curiosity(Some(&key))).await);
        assert_eq!(answered.status, 200, "{}", answered.text);
    }
    let before = one_counter.count();
    let flushed = one.app.flush_after_response().await;
    assert_eq!(
        one_counter.count() - before,
        1,
        "5 events + 1 day + 1 totals: one batch"
    );
    assert_eq!((flushed.written, flushed.left), (7, 0));
    for _ in 0..3 {
        assert_eq!(
            answer(harmonic_data::invoke(&two, curiosity(Some(&key))).await).status,
            200
        );
    }
    // A flush with nothing queued sends nothing.
    let idle = one_counter.count();
    assert_eq!(one.app.flush_after_response().await.written, 0);
    assert_eq!(one_counter.count(), idle);

    let today = t.clock.now().date_naive();
    let days = t
        .store
        .daily_counters(&subject("busy"), today, today)
        .await
        .expect("days");
    assert_eq!(days.len(), 1);
    assert_eq!(
        days[0].requests, 8,
        "two containers' day items are summed: {:?}",
        days[0]
    );
    assert_eq!(days[0].endpoints["POST /api/v1/data"].count, 8);
    let totals = t
        .store
        .usage_stats(Period::containing(t.clock.now()))
        .await
        .expect("totals");
    assert_eq!(totals.requests, 8);
    let (events, _) = t
        .store
        .usage_history(&subject("busy"), 50, None)
        .await
        .expect("history");
    assert_eq!(events.len(), 8);
    let usage = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .query("action", "analytics")
            .key(&key)
            .build(),
    )
    .await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    assert_eq!(usage.body["total"]["requests"], 8, "{}", usage.text);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn an_enterprise_user_is_counted_on_shards_exactly_and_a_revoked_key_gives_its_count_back() {
    let t = spawn_app().await;
    let (key, key_id) = admin_creates_key(&t.app, "bigco", "enterprise").await;
    let containers: Vec<Arc<App>> = (0..4).map(|_| t.another_container()).collect();
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", key.parse().expect("header"));
    let mut tasks = Vec::new();
    for index in 0..40 {
        let app = containers[index % containers.len()].clone();
        let headers = headers.clone();
        tasks.push(tokio::spawn(async move {
            let caller = app
                .identify_metered(&headers, None)
                .await
                .expect("identified");
            app.charge(&caller).await.map(|charge| charge.state.used)
        }));
    }
    for task in tasks {
        let used = task.await.expect("task").expect("admitted");
        assert!((1..=40).contains(&used), "used {used}");
    }
    let user = t
        .store
        .get_user(&UserId::parse("bigco").unwrap())
        .await
        .unwrap()
        .unwrap();
    let period = Period::containing(t.clock.now());
    assert_eq!(
        user.used_in(period),
        40,
        "the shards add up to every request"
    );
    assert_eq!(
        user.key_usage[&key_id].count, 40,
        "and so do the key's uses"
    );
    let current = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .query("action", "current")
            .key(&key)
            .build(),
    )
    .await;
    assert_eq!(current.body["used"], 40, "{}", current.text);

    // One container, in sequence: its `used` is exact.
    let app = &containers[0];
    let caller = app
        .identify_metered(&headers, None)
        .await
        .expect("identified");
    let next = app.charge(&caller).await.expect("admitted");
    assert!(
        next.state.used <= 41 && next.state.used >= 11,
        "used {}",
        next.state.used
    );

    // Revoked: the next request is refused and its shard count given back.
    let revoked = call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{key_id}"))
            .admin()
            .build(),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let refused = app.charge(&caller).await.expect_err("revoked");
    assert_eq!(refused.error.status(), 401);
    let user = t
        .store
        .get_user(&UserId::parse("bigco").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        user.used_in(period),
        41,
        "the refused request is not counted"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_demo_address_whose_month_is_used_up_is_refused_without_a_write() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "2"), ("DEMO_MODE", "true")]).await;
    let (state, counter) = counting_container(&t).await;
    for _ in 0..2 {
        assert_eq!(
            answer(harmonic_data::invoke(&state, curiosity(None)).await).status,
            200
        );
    }
    let refused = answer(harmonic_data::invoke(&state, curiosity(None)).await);
    assert_eq!(refused.status, 429, "{}", refused.text);
    let before = counter.count();
    for _ in 0..5 {
        let again = answer(harmonic_data::invoke(&state, curiosity(None)).await);
        assert_eq!(again.status, 429, "{}", again.text);
        assert_eq!(again.header("x-ratelimit-remaining"), Some("0"));
    }
    assert_eq!(
        counter.count(),
        before,
        "no DynamoDB request for a used-up address"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_refusal_at_the_limit_explains_itself_with_the_fallback_read_on_dynalite() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "1")]).await;
    let (key, _) = admin_creates_key(&t.app, "limited", "free").await;
    let (state, counter) = counting_container(&t).await;
    assert_eq!(
        answer(harmonic_data::invoke(&state, curiosity(Some(&key))).await).status,
        200
    );
    let before = counter.count();
    let refused = answer(harmonic_data::handle(&state, curiosity(Some(&key))).await);
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.body["used"], 1, "{}", refused.text);
    // DynamoDB returns the item with the refusal (ALL_OLD): 1 round trip. dynalite does not,
    // so the explanation costs the fallback's consistent read: 2 here.
    assert_eq!(
        counter.count() - before,
        2,
        "the update, then the fallback read (dynalite)"
    );
}
