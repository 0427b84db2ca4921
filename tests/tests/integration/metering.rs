//! Exact monthly quotas against the DynamoDB-compatible server: the charge, its refusals, the
//! refund and the monthly reset, through the shared metering API (several containers, each
//! with its own SDK client, running at once).
use chrono::{Duration, TimeZone, Utc};
use harmonic_shared::auth::Credentials;
use harmonic_shared::domain::{Period, UserId};
use harmonic_shared::lambda_http::http::{HeaderMap, HeaderValue};
use harmonic_shared::metering::MeteredCaller;
use harmonic_shared::store::Subject;
use harmonic_shared::App;
use harmonic_tests::*;
use std::sync::Arc;

fn key_headers(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_str(key).unwrap());
    headers
}

async fn metered(app: &App, key: &str) -> MeteredCaller {
    app.identify_metered(&key_headers(key), None)
        .await
        .expect("a valid key identifies its holder")
}

async fn stored_count(t: &TestApp, user: &str) -> u64 {
    t.store
        .get_user(&UserId::parse(user).unwrap())
        .await
        .unwrap()
        .unwrap()
        .used_in(Period::containing(t.clock.now()))
}

use harmonic_shared::clock::Clock;

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn two_hundred_concurrent_requests_from_several_containers_admit_exactly_the_limit() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "50")]).await;
    let (key, _) = admin_creates_key(&t.app, "racer", "free").await;
    let containers: Vec<Arc<App>> = (0..8).map(|_| t.another_container()).collect();
    let attempts = (0..200).map(|i| {
        let app = containers[i % containers.len()].clone();
        let key = key.clone();
        tokio::spawn(async move {
            let caller = metered(&app, &key).await;
            app.charge(&caller).await.map(|c| c.state.used)
        })
    });
    let results: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    let accepted: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(refusal) if refusal.error.status() == 429))
        .count();
    assert_eq!(accepted.len(), 50, "exactly the limit is admitted");
    assert_eq!(refused, 150, "every other request is a 429");
    let mut counts = accepted.clone();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=50).collect::<Vec<u64>>(),
        "each admitted request got its own count"
    );
    assert_eq!(
        stored_count(&t, "racer").await,
        50,
        "the stored count is the limit"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_refunded_request_leaves_the_count_unchanged() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "refunded", "free").await;
    let caller = metered(&t.app, &key).await;
    let first = t.app.charge(&caller).await.unwrap();
    assert_eq!(first.state.used, 1);
    let second = t.app.charge(&caller).await.unwrap();
    assert_eq!(second.state.used, 2);
    t.app.refund(&second).await;
    assert_eq!(stored_count(&t, "refunded").await, 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_month_rolls_over_by_itself_at_midnight_utc_on_the_first() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "3")]).await;
    t.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 23, 59, 58).unwrap());
    let (key, _) = admin_creates_key(&t.app, "monthly", "free").await;
    let caller = metered(&t.app, &key).await;
    for _ in 0..3 {
        t.app.charge(&caller).await.unwrap();
    }
    let refused = t.app.charge(&caller).await.unwrap_err();
    assert_eq!(refused.error.status(), 429);
    let state = refused.state.expect("429 carries the quota state");
    assert_eq!(
        state.reset(),
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    );

    t.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    let fresh = t
        .app
        .charge(&caller)
        .await
        .expect("a new month, a new quota");
    assert_eq!(fresh.state.used, 1);
    assert_eq!(fresh.state.period.label(), "2026-12");
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_tier_upgrade_raises_the_limit_on_the_next_request() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "2"), ("PRO_MONTHLY_QUOTA", "5")]).await;
    let (key, _) = admin_creates_key(&t.app, "upgrading", "free").await;
    let caller = metered(&t.app, &key).await;
    t.app.charge(&caller).await.unwrap();
    t.app.charge(&caller).await.unwrap();
    assert_eq!(t.app.charge(&caller).await.unwrap_err().error.status(), 429);

    let changed = admin_sets_tier(&t.app, "upgrading", "pro").await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let upgraded = t
        .app
        .charge(&caller)
        .await
        .expect("the pro limit applies at once");
    assert_eq!(upgraded.state.limit, Some(5));
    assert_eq!(upgraded.state.used, 3);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn enterprise_is_counted_but_never_limited() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "1"), ("PRO_MONTHLY_QUOTA", "1")]).await;
    let (key, _) = admin_creates_key(&t.app, "bigcorp", "enterprise").await;
    let caller = metered(&t.app, &key).await;
    for expected in 1..=5 {
        let charge = t.app.charge(&caller).await.unwrap();
        assert_eq!(charge.state.limit, None);
        assert_eq!(charge.state.used, expected);
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_revoked_key_stops_at_the_next_metered_request_even_when_cached() {
    let t = spawn_app().await;
    let (key, id) = admin_creates_key(&t.app, "revoked-meter", "free").await;
    let caller = metered(&t.app, &key).await;
    t.app.charge(&caller).await.unwrap();
    call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{id}"))
            .admin()
            .build(),
    )
    .await;
    let other = t.another_container();
    let refused = t.app.charge(&caller).await.unwrap_err();
    assert_eq!(refused.error.status(), 401);
    let elsewhere = match other.identify_metered(&key_headers(&key), None).await {
        Ok(caller) => other.charge(&caller).await.unwrap_err().error.status(),
        Err(error) => error.status(),
    };
    assert_eq!(elsewhere, 401);
    assert_eq!(
        stored_count(&t, "revoked-meter").await,
        1,
        "refused requests are not counted"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn demo_callers_are_counted_per_address_with_the_free_quota() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "2")]).await;
    let none = HeaderMap::new();
    let a = t
        .app
        .identify_metered(&none, Some("203.0.113.1".into()))
        .await
        .unwrap();
    let b = t
        .app
        .identify_metered(&none, Some("203.0.113.2".into()))
        .await
        .unwrap();
    assert_eq!(t.app.charge(&a).await.unwrap().state.used, 1);
    assert_eq!(t.app.charge(&a).await.unwrap().state.used, 2);
    let refused = t.app.charge(&a).await.unwrap_err();
    assert_eq!(refused.error.status(), 429);
    assert!(refused.state.unwrap().is_demo());
    let other_ip = t.app.charge(&b).await.unwrap();
    assert_eq!(other_ip.state.used, 1, "another address has its own count");
    assert_eq!(other_ip.state.subject, Subject::Demo("203.0.113.2".into()));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn demo_mode_off_requires_a_key() {
    let t = spawn_app_with(&[("DEMO_MODE", "off")]).await;
    let error = t
        .app
        .identify_metered(&HeaderMap::new(), Some("203.0.113.1".into()))
        .await
        .unwrap_err();
    assert_eq!(error.status(), 401);
    assert!(error.to_string().contains("API key required"));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn malformed_and_unknown_keys_are_401_before_anything_is_counted() {
    let t = spawn_app().await;
    let unknown = harmonic_shared::apikey::generate(&t.app.config.key_check);
    for bad in ["hm_nope", unknown.expose()] {
        let error = t
            .app
            .identify_metered(&key_headers(bad), None)
            .await
            .unwrap_err();
        assert_eq!(error.status(), 401);
        assert_eq!(error.body()["error"], "Invalid API key");
    }
    assert!(t.app.auth.credentials(&key_headers("hm_nope")).is_err());
    assert!(matches!(
        t.app.auth.credentials(&HeaderMap::new()),
        Ok(Credentials::None)
    ));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn an_expired_key_is_refused_by_the_charge_itself() {
    let t = spawn_app().await;
    let expires = (default_now() + Duration::minutes(5)).to_rfc3339();
    let created = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(serde_json::json!({"userId": "shortlived", "expiresAt": expires}))
            .build(),
    )
    .await;
    let key = created.body["key"].as_str().unwrap().to_owned();
    let caller = metered(&t.app, &key).await;
    t.app.charge(&caller).await.unwrap();
    t.clock.set(default_now() + Duration::minutes(6));
    assert_eq!(t.app.charge(&caller).await.unwrap_err().error.status(), 401);
}
