//! Operations against the DynamoDB-compatible server: quota threshold alerts exactly once under
//! concurrency (with a local stand-in answering like EventBridge's PutEvents), their display in
//! the usage endpoint, and the request id in headers and error bodies.
use harmonic_shared::domain::{ClientGroup, Period, UserId};
use harmonic_shared::lambda_http::http::{HeaderMap, HeaderValue};
use harmonic_shared::metering::MeteredCaller;
use harmonic_shared::quota_alerts::QuotaEventSink;
use harmonic_shared::App;
use harmonic_tests::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A local stand-in for EventBridge: answers PutEvents as the service does (awsJson1_1).
async fn event_bridge_stand_in() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "AWSEvents.PutEvents"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_string(
                    r#"{"Entries":[{"EventId":"11710aed-b79e-4468-a20b-bb3c0c3b4860"}],"FailedEntryCount":0}"#,
                ),
        )
        .mount(&server)
        .await;
    server
}

/// The PutEvents entries the stand-in received.
async fn received_entries(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .flat_map(|request| {
            let body: Value =
                serde_json::from_slice(&request.body).expect("PutEvents body is JSON");
            body["Entries"].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

async fn container(t: &TestApp, server: &MockServer) -> Arc<App> {
    let sink = QuotaEventSink::event_bridge(Some(&server.uri()), "quota-bus".to_owned()).await;
    Arc::new(
        App::new(t.app.config.clone(), t.store.clone(), t.clock.clone()).with_quota_events(sink),
    )
}

async fn metered(app: &App, key: &str) -> MeteredCaller {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_str(key).unwrap());
    app.identify_metered(&headers, None)
        .await
        .expect("valid key")
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn crossing_80_and_100_percent_alerts_exactly_once_each_under_concurrency() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "50")]).await;
    let stand_in = event_bridge_stand_in().await;
    let (key, _) = admin_creates_key(&t.app, "alerted", "free").await;
    let mut containers = Vec::new();
    for _ in 0..8 {
        containers.push(container(&t, &stand_in).await);
    }
    let attempts = (0..200).map(|i| {
        let app = containers[i % containers.len()].clone();
        let key = key.clone();
        tokio::spawn(async move {
            let caller = metered(&app, &key).await;
            app.charge(&caller).await.is_ok()
        })
    });
    let admitted = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|joined| matches!(joined, Ok(true)))
        .count();
    assert_eq!(admitted, 50, "the quota itself is exact");

    let entries = received_entries(&stand_in).await;
    assert_eq!(entries.len(), 2, "one event per threshold: {entries:#?}");
    let mut thresholds = BTreeSet::new();
    for entry in &entries {
        assert_eq!(entry["EventBusName"], "quota-bus");
        assert_eq!(entry["Source"], "harmonic-api");
        assert_eq!(entry["DetailType"], "quota.threshold");
        let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["userId"], "alerted");
        assert_eq!(detail["limit"], 50);
        assert_eq!(detail["month"], "2026-11");
        let threshold = detail["threshold"].as_u64().unwrap();
        let expected_used = if threshold == 80 { 40 } else { 50 };
        assert_eq!(detail["used"], expected_used, "{detail}");
        thresholds.insert(threshold);
    }
    assert_eq!(thresholds, BTreeSet::from([80, 100]));

    let stored = t
        .store
        .quota_crossings(
            &UserId::parse("alerted").unwrap(),
            Period::containing(default_now()),
        )
        .await
        .unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|c| (c.threshold, c.used))
            .collect::<Vec<_>>(),
        [(80, 40), (100, 50)]
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_refund_and_a_second_arrival_at_the_threshold_send_no_second_alert() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "5")]).await;
    let stand_in = event_bridge_stand_in().await;
    let app = container(&t, &stand_in).await;
    let (key, _) = admin_creates_key(&app, "refunded", "free").await;
    let caller = metered(&app, &key).await;
    let mut charges = Vec::new();
    for _ in 0..4 {
        charges.push(app.charge(&caller).await.unwrap());
    }
    assert_eq!(
        received_entries(&stand_in).await.len(),
        1,
        "80 % of 5 is the 4th request"
    );
    app.refund(charges.last().unwrap()).await;
    let again = app.charge(&caller).await.unwrap();
    assert_eq!(again.state.used, 4, "the count is back at the threshold");
    assert_eq!(
        received_entries(&stand_in).await.len(),
        1,
        "but no second alert"
    );
    app.charge(&caller).await.unwrap();
    assert_eq!(
        received_entries(&stand_in).await.len(),
        2,
        "100 % alerts once"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn unlimited_users_and_demo_callers_have_no_thresholds() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "2")]).await;
    let stand_in = event_bridge_stand_in().await;
    let app = container(&t, &stand_in).await;
    let (key, _) = admin_creates_key(&app, "big", "enterprise").await;
    let caller = metered(&app, &key).await;
    for _ in 0..3 {
        app.charge(&caller).await.unwrap();
    }
    let demo = MeteredCaller::Demo {
        group: ClientGroup::of(Some("203.0.113.7")),
    };
    for _ in 0..2 {
        app.charge(&demo).await.unwrap();
    }
    assert!(received_entries(&stand_in).await.is_empty());
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn an_event_bridge_failure_never_fails_the_request() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "1")]).await;
    let broken = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("{}"))
        .mount(&broken)
        .await;
    let app = container(&t, &broken).await;
    let (key, _) = admin_creates_key(&app, "unlucky", "free").await;
    let caller = metered(&app, &key).await;
    let charge = app
        .charge(&caller)
        .await
        .expect("charged despite EventBridge");
    assert_eq!(charge.state.used, 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_usage_endpoint_shows_the_months_crossings_to_their_user_only() {
    let t = spawn_app_with(&[("FREE_MONTHLY_QUOTA", "5")]).await;
    let (key, _) = admin_creates_key(&t.app, "watcher", "free").await;
    let (other_key, _) = admin_creates_key(&t.app, "bystander", "free").await;
    let caller = metered(&t.app, &key).await;
    for _ in 0..4 {
        t.app.charge(&caller).await.unwrap();
    }
    let mine = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .query("action", "current")
            .key(&key)
            .build(),
    )
    .await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let alerts = mine.body["thresholdAlerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{}", mine.text);
    assert_eq!(alerts[0]["threshold"], 80);
    assert_eq!(alerts[0]["used"], 4);
    assert_eq!(alerts[0]["limit"], 5);
    assert_eq!(alerts[0]["month"], "2026-11");

    let theirs = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .query("action", "current")
            .key(&other_key)
            .build(),
    )
    .await;
    assert_eq!(theirs.body["thresholdAlerts"], serde_json::json!([]));
    let snooping = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .query("action", "current")
            .query("userId", "watcher")
            .key(&other_key)
            .build(),
    )
    .await;
    assert_eq!(
        snooping.status, 404,
        "another user's alerts are not visible"
    );
    let admin = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .query("action", "current")
            .query("userId", "watcher")
            .admin()
            .build(),
    )
    .await;
    assert_eq!(admin.body["thresholdAlerts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn every_response_has_a_request_id_and_every_error_body_repeats_it() {
    let t = spawn_app().await;
    let mut seen = BTreeSet::new();
    let cases = [
        (
            "unknown route",
            request("GET", "/api/v1/keys/a/b/c").build(),
        ),
        (
            "bad json",
            request("POST", "/api/v1/keys").raw_body("{").build(),
        ),
        ("no credentials", request("GET", "/api/v1/keys").build()),
        (
            "wrong key",
            request("GET", "/api/v1/keys")
                .key("hm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .build(),
        ),
        ("wrong method", request("PUT", "/api/v1/keys").build()),
    ];
    for (case, req) in cases {
        let answer = call_keys(&t.app, req).await;
        assert!(answer.status.is_client_error(), "{case}: {}", answer.status);
        let header = answer
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{case}: no header"));
        assert_eq!(answer.body["requestId"], header, "{case}: {}", answer.text);
        assert!(seen.insert(header.to_owned()), "{case}: ids are unique");
    }
    let ok = call_usage(&t.app, request("OPTIONS", "/api/v1/usage").build()).await;
    assert_eq!(ok.status, 200);
    assert!(
        ok.header("x-request-id").is_some(),
        "successes carry it too"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_request_id_is_api_gateways_when_the_event_has_one() {
    let t = spawn_app().await;
    let event = r#"{
        "version": "2.0", "routeKey": "GET /api/v1/keys", "rawPath": "/api/v1/keys", "rawQueryString": "",
        "headers": {"host": "api.example.com"},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "Zx3aQiAbIAMEVXQ=", "routeKey": "GET /api/v1/keys",
            "stage": "$default", "time": "15/Nov/2026:12:00:00 +0000", "timeEpoch": 1794744000000,
            "http": {"method": "GET", "path": "/api/v1/keys", "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9", "userAgent": "curl"}},
        "isBase64Encoded": false
    }"#;
    let req = harmonic_shared::lambda_http::request::from_str(event).expect("event");
    let answer = call_keys(&t.app, req).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("x-request-id"), Some("Zx3aQiAbIAMEVXQ="));
    assert_eq!(answer.body["requestId"], "Zx3aQiAbIAMEVXQ=");
}

async fn audit_of(app: &App, req: harmonic_shared::lambda_http::Request) -> Answer {
    call_keys(app, req).await
}

fn actions(answer: &Answer) -> Vec<String> {
    answer.body["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("entries: {}", answer.text))
        .iter()
        .map(|entry| entry["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn key_and_account_actions_are_audited_with_who_what_and_which_key() {
    let t = spawn_app().await;
    // Sign-up (anonymous, from an address), then the admin changes the tier and the holder
    // issues a second key.
    let signup = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .from_ip("198.51.100.23")
            .json(serde_json::json!({ "userId": "audited" }))
            .build(),
    )
    .await;
    assert_eq!(signup.status, 201, "{}", signup.text);
    let first_key = signup.body["key"].as_str().unwrap().to_owned();
    let first_id = signup.body["id"].as_str().unwrap().to_owned();
    let tick = |seconds: i64| {
        t.clock
            .set(default_now() + chrono::Duration::seconds(seconds))
    };
    tick(1);
    let tier_changed = call_keys(
        &t.app,
        request("PUT", "/api/v1/users/audited/tier")
            .admin()
            .json(serde_json::json!({ "tier": "pro" }))
            .build(),
    )
    .await;
    assert_eq!(tier_changed.status, 200, "{}", tier_changed.text);
    let second = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .key(&first_key)
            .json(serde_json::json!({ "userId": "audited" }))
            .build(),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    tick(2);
    // The holder rotates its first key; the admin revokes the second and resets the usage.
    let rotated = call_keys(
        &t.app,
        request("POST", &format!("/api/v1/keys/{first_id}/rotate"))
            .key(&first_key)
            .json(serde_json::json!({ "gracePeriodSeconds": 60 }))
            .build(),
    )
    .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let new_key = rotated.body["newKey"]["key"].as_str().unwrap().to_owned();
    let new_id = rotated.body["newKey"]["id"].as_str().unwrap().to_owned();
    tick(3);
    let revoked = call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{second_id}"))
            .admin()
            .build(),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    tick(4);
    let reset = call_usage(
        &t.app,
        request("DELETE", "/api/v1/usage")
            .query("userId", "audited")
            .admin()
            .build(),
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.text);

    let trail = audit_of(
        &t.app,
        request("GET", "/api/v1/keys/audit").key(&new_key).build(),
    )
    .await;
    assert_eq!(trail.status, 200, "{}", trail.text);
    let mut recorded = actions(&trail);
    assert_eq!(recorded[0], "usage_reset", "newest first: {recorded:?}");
    recorded.sort();
    assert_eq!(
        recorded,
        [
            "issue",
            "issue",
            "revoke",
            "rotate",
            "tier_change",
            "usage_reset"
        ],
        "{}",
        trail.text
    );
    let entries = trail.body["entries"].as_array().unwrap();
    let find = |action: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .cloned()
            .collect::<Vec<Value>>()
    };
    let issues = find("issue");
    assert_eq!(issues.len(), 2, "sign-up and holder: {}", trail.text);
    let signup_entry = issues
        .iter()
        .find(|e| e["actor"]["kind"] == "signup")
        .unwrap();
    assert_eq!(signup_entry["actor"]["clientIp"], "198.51.100.23");
    assert_eq!(signup_entry["keyId"], first_id.as_str());
    let holder_issue = issues
        .iter()
        .find(|e| e["keyId"] == second_id.as_str())
        .unwrap();
    assert_eq!(holder_issue["actor"]["kind"], "key");
    assert_eq!(holder_issue["actor"]["keyId"], first_id.as_str());
    let tier = find("tier_change");
    assert_eq!(tier.len(), 1);
    assert_eq!(tier[0]["actor"]["kind"], "admin");
    assert_eq!(tier[0]["detail"]["tier"], "pro");
    assert_eq!(tier[0]["detail"]["previousTier"], "free");
    let rotation = &find("rotate")[0];
    assert_eq!(rotation["actor"]["kind"], "key");
    assert_eq!(rotation["actor"]["keyId"], first_id.as_str());
    assert_eq!(rotation["keyId"], first_id.as_str());
    assert_eq!(rotation["detail"]["newKeyId"], new_id.as_str());
    let revocation = &find("revoke")[0];
    assert_eq!(revocation["actor"]["kind"], "admin");
    assert_eq!(revocation["keyId"], second_id.as_str());
    assert_eq!(find("usage_reset")[0]["detail"]["period"], "2026-11");
    assert_eq!(entries[0]["action"], "usage_reset", "newest first");
    for entry in entries {
        assert_eq!(entry["userId"], "audited");
        let text = entry.to_string();
        assert!(
            !text.contains(&first_key) && !text.contains(&new_key),
            "no key in an entry"
        );
        assert!(!text.contains("$2"), "no bcrypt hash in an entry");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_audit_trail_is_visible_to_its_user_and_the_admin_only() {
    let t = spawn_app().await;
    let (alice, _) = admin_creates_key(&t.app, "alice", "free").await;
    let (bob, _) = admin_creates_key(&t.app, "bob", "free").await;
    let cases = [
        (
            "another user's trail",
            request("GET", "/api/v1/keys/audit")
                .query("userId", "alice")
                .key(&bob)
                .build(),
            404,
        ),
        (
            "no credentials",
            request("GET", "/api/v1/keys/audit").build(),
            401,
        ),
        (
            "admin without a user",
            request("GET", "/api/v1/keys/audit").admin().build(),
            400,
        ),
        (
            "admin, unknown user",
            request("GET", "/api/v1/keys/audit")
                .query("userId", "nobody")
                .admin()
                .build(),
            404,
        ),
        (
            "bad user id",
            request("GET", "/api/v1/keys/audit")
                .query("userId", "a b\n")
                .admin()
                .build(),
            400,
        ),
        (
            "limit zero",
            request("GET", "/api/v1/keys/audit")
                .query("limit", "0")
                .key(&alice)
                .build(),
            400,
        ),
        (
            "limit huge",
            request("GET", "/api/v1/keys/audit")
                .query("limit", "99999999999")
                .key(&alice)
                .build(),
            400,
        ),
        (
            "limit text",
            request("GET", "/api/v1/keys/audit")
                .query("limit", "ten")
                .key(&alice)
                .build(),
            400,
        ),
        (
            "forged cursor",
            request("GET", "/api/v1/keys/audit")
                .query("cursor", "QVVESVQjYm9i")
                .key(&alice)
                .build(),
            400,
        ),
        (
            "cursor not base64",
            request("GET", "/api/v1/keys/audit")
                .query("cursor", "%%%")
                .key(&alice)
                .build(),
            400,
        ),
        (
            "wrong method",
            request("POST", "/api/v1/keys/audit").key(&alice).build(),
            405,
        ),
        (
            "wrong key",
            request("GET", "/api/v1/keys/audit")
                .key("hm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .build(),
            401,
        ),
    ];
    let before = table_items(&t.store).await;
    for (case, req, status) in cases {
        let answer = audit_of(&t.app, req).await;
        assert_eq!(answer.status.as_u16(), status, "{case}: {}", answer.text);
        assert_eq!(answer.body["success"], false, "{case}: JSON error body");
        assert!(answer.body["requestId"].is_string(), "{case}: request id");
        assert!(
            !answer.text.contains(&alice) && !answer.text.contains(&bob),
            "{case}: no key echoed"
        );
    }
    assert_eq!(
        before,
        table_items(&t.store).await,
        "refused reads write nothing"
    );
    let own = audit_of(
        &t.app,
        request("GET", "/api/v1/keys/audit").key(&alice).build(),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert!(own.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["userId"] == "alice"));
    let admin = audit_of(
        &t.app,
        request("GET", "/api/v1/keys/audit")
            .query("userId", "bob")
            .admin()
            .build(),
    )
    .await;
    assert_eq!(admin.status, 200);
    assert_eq!(
        admin.body["count"], 1,
        "bob's one issue entry (creating a user with a tier is no tier change): {}",
        admin.text
    );
    let options = audit_of(&t.app, request("OPTIONS", "/api/v1/keys/audit").build()).await;
    assert_eq!(options.status, 200);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_audit_trail_pages_with_its_cursor() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "pager", "free").await;
    for _ in 0..4 {
        let created = call_keys(
            &t.app,
            request("POST", "/api/v1/keys")
                .key(&key)
                .json(serde_json::json!({ "userId": "pager" }))
                .build(),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut req = request("GET", "/api/v1/keys/audit")
            .query("limit", "2")
            .key(&key);
        if let Some(c) = &cursor {
            req = req.query("cursor", c);
        }
        let page = audit_of(&t.app, req.build()).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen += page.body["entries"].as_array().unwrap().len();
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen, 5,
        "5 issues, each once (creating a user is no tier change)"
    );
}
