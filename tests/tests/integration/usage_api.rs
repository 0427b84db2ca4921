//! The usage function against the DynamoDB-compatible server.
use harmonic_shared::clock::Clock;
use harmonic_shared::domain::rfc3339;
use harmonic_shared::store::UsageEvent;
use harmonic_shared::App;
use harmonic_tests::*;

fn event(app: &App, sources: &[&str], status: u16, ms: f64) -> UsageEvent {
    UsageEvent {
        timestamp: rfc3339(app.clock.now()),
        endpoint: "/api/v1/data".into(),
        method: "POST".into(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
        response_time: ms,
        status,
        bytes_in: 40,
        bytes_out: 900,
        key_id: None,
    }
}

/// Charges and records `n` requests for the key's holder, one millisecond apart.
async fn make_requests(t: &TestApp, key: &str, n: usize, sources: &[&str], status: u16) {
    let mut headers = harmonic_shared::lambda_http::http::HeaderMap::new();
    headers.insert("x-api-key", key.parse().unwrap());
    let caller = t.app.identify_metered(&headers, None).await.unwrap();
    for _ in 0..n {
        let charge = t.app.charge(&caller).await.unwrap();
        t.app.record(&charge, event(&t.app, sources, status, 20.0));
        t.app.flush_after_response().await;
        t.clock
            .set(t.clock.now() + chrono::Duration::milliseconds(1));
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn current_usage_shows_the_same_numbers_as_the_headers() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "user123", "free").await;
    make_requests(&t, &key, 3, &["wiki"], 200).await;
    let current = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "current")
            .query("userId", "user123")
            .build(),
    )
    .await;
    assert_eq!(current.status, 200, "{}", current.text);
    let body = &current.body;
    assert_eq!(body["userId"], "user123");
    assert_eq!(body["tier"], "free");
    assert_eq!(body["quota"], 1000);
    assert_eq!(body["used"], 3);
    assert_eq!(body["remaining"], 997);
    assert_eq!(body["percentageUsed"], 0.3);
    assert_eq!(body["isExceeded"], false);
    assert_eq!(body["periodStart"], "2026-11-01T00:00:00.000Z");
    assert_eq!(body["resetDate"], "2026-12-01T00:00:00.000Z");
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn history_is_newest_first_and_pages_with_an_opaque_cursor() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "historian", "pro").await;
    make_requests(&t, &key, 5, &["arxiv"], 200).await;
    let page = |cursor: Option<String>| {
        let mut builder = request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "history")
            .query("limit", "2");
        if let Some(cursor) = cursor {
            builder = builder.query("cursor", &cursor);
        }
        builder.build()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..5 {
        let answer = call_usage(&t.app, page(cursor.clone())).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        for event in answer.body["history"].as_array().unwrap() {
            seen.push(event["timestamp"].as_str().unwrap().to_owned());
            assert_eq!(event["sources"][0], "arxiv");
            assert_eq!(event["status"], 200);
        }
        cursor = answer.body["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn analytics_sources_and_endpoints_come_from_the_daily_counters() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "analyst", "pro").await;
    make_requests(&t, &key, 2, &["wiki", "arxiv"], 200).await;
    make_requests(&t, &key, 1, &["news"], 502).await;
    let analytics = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "analytics")
            .query("days", "7")
            .build(),
    )
    .await;
    assert_eq!(analytics.status, 200, "{}", analytics.text);
    let daily = analytics.body["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 7, "every day of the window is present");
    let today = daily.last().unwrap();
    assert_eq!(today["date"], "2026-11-15");
    assert_eq!(today["requests"], 3);
    assert_eq!(today["errors"], 1);
    assert_eq!(today["avgResponseTime"], 20.0);
    assert_eq!(analytics.body["total"]["requests"], 3);

    let sources = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "sources")
            .build(),
    )
    .await;
    let rows = sources.body["sources"].as_array().unwrap();
    let count = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .map(|r| (r["count"].as_u64().unwrap(), r["errors"].as_u64().unwrap()))
    };
    assert_eq!(count("wiki"), Some((2, 0)));
    assert_eq!(count("arxiv"), Some((2, 0)));
    assert_eq!(count("news"), Some((1, 1)));

    let endpoints = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "endpoints")
            .build(),
    )
    .await;
    assert_eq!(endpoints.body["endpoints"][0]["name"], "POST /api/v1/data");
    assert_eq!(endpoints.body["endpoints"][0]["count"], 3);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn only_the_owner_or_the_admin_sees_a_users_usage() {
    let t = spawn_app().await;
    let (key_a, _) = admin_creates_key(&t.app, "owner-a", "free").await;
    let (key_b, _) = admin_creates_key(&t.app, "owner-b", "free").await;
    make_requests(&t, &key_a, 1, &["wiki"], 200).await;
    for action in ["current", "history", "analytics", "sources", "endpoints"] {
        let b_on_a = call_usage(
            &t.app,
            request("GET", "/api/v1/usage")
                .key(&key_b)
                .query("action", action)
                .query("userId", "owner-a")
                .build(),
        )
        .await;
        assert_eq!(b_on_a.status, 404, "{action}: {}", b_on_a.text);
        let anonymous = call_usage(
            &t.app,
            request("GET", "/api/v1/usage")
                .query("action", action)
                .build(),
        )
        .await;
        assert_eq!(anonymous.status, 401, "{action}");
        let admin = call_usage(
            &t.app,
            request("GET", "/api/v1/usage")
                .admin()
                .query("action", action)
                .query("userId", "owner-a")
                .build(),
        )
        .await;
        assert_eq!(admin.status, 200, "{action}: {}", admin.text);
    }
    for (method, action) in [
        ("GET", Some("all")),
        ("GET", Some("stats")),
        ("DELETE", None),
    ] {
        let mut builder = request(method, "/api/v1/usage")
            .key(&key_a)
            .query("userId", "owner-a");
        if let Some(action) = action {
            builder = builder.query("action", action);
        }
        let answer = call_usage(&t.app, builder.build()).await;
        assert_eq!(answer.status, 403, "{method} {action:?}: {}", answer.text);
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_admin_lists_every_user_resets_a_month_and_reads_totals() {
    let t = spawn_app().await;
    let mut keys = Vec::new();
    for user in ["u-1", "u-2", "u-3"] {
        keys.push(admin_creates_key(&t.app, user, "free").await.0);
    }
    make_requests(&t, &keys[0], 2, &["wiki"], 200).await;
    make_requests(&t, &keys[1], 1, &["wiki"], 200).await;

    let mut users = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut builder = request("GET", "/api/v1/usage")
            .admin()
            .query("action", "all")
            .query("limit", "2");
        if let Some(c) = &cursor {
            builder = builder.query("cursor", c);
        }
        let page = call_usage(&t.app, builder.build()).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for user in page.body["users"].as_array().unwrap() {
            users.push((
                user["userId"].as_str().unwrap().to_owned(),
                user["used"].as_u64().unwrap(),
            ));
        }
        cursor = page.body["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    users.sort();
    assert_eq!(
        users,
        vec![("u-1".into(), 2), ("u-2".into(), 1), ("u-3".into(), 0)]
    );

    let stats = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .admin()
            .query("action", "stats")
            .build(),
    )
    .await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    assert_eq!(stats.body["users"], 3);
    assert_eq!(stats.body["requests"], 3);
    assert_eq!(stats.body["byTier"]["free"], 3);

    let reset = call_usage(
        &t.app,
        request("DELETE", "/api/v1/usage")
            .admin()
            .query("userId", "u-1")
            .build(),
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(reset.body["used"], 0);
    let current = call_usage(
        &t.app,
        request("GET", "/api/v1/usage").key(&keys[0]).build(),
    )
    .await;
    assert_eq!(current.body["used"], 0);
    let unknown = call_usage(
        &t.app,
        request("DELETE", "/api/v1/usage")
            .admin()
            .query("userId", "ghost")
            .build(),
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn bad_parameters_are_400_with_an_explanation() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "params", "free").await;
    let cases = [
        (vec![("action", "everything")], "unknown action"),
        (vec![("action", "history"), ("limit", "0")], "`limit`"),
        (
            vec![("action", "history"), ("limit", "1000000000")],
            "`limit`",
        ),
        (vec![("action", "history"), ("limit", "ten")], "`limit`"),
        (vec![("action", "analytics"), ("days", "-1")], "`days`"),
        (vec![("action", "analytics"), ("days", "91")], "`days`"),
        (
            vec![("action", "history"), ("cursor", "not-a-cursor!")],
            "`cursor`",
        ),
        (vec![("action", "history"), ("cursor", "QUJD")], "`cursor`"),
        (
            vec![("action", "current"), ("userId", "bad id")],
            "may only contain",
        ),
    ];
    for (params, expected) in cases {
        let mut builder = request("GET", "/api/v1/usage").key(&key);
        for (name, value) in &params {
            builder = builder.query(name, value);
        }
        let answer = call_usage(&t.app, builder.build()).await;
        assert_eq!(answer.status, 400, "{params:?}: {}", answer.text);
        assert!(
            answer.body["error"].as_str().unwrap().contains(expected),
            "{params:?}: {}",
            answer.text
        );
    }
    let wrong_method = call_usage(&t.app, request("POST", "/api/v1/usage").key(&key).build()).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET, DELETE, OPTIONS"));
    let options = call_usage(&t.app, request("OPTIONS", "/api/v1/usage").build()).await;
    assert_eq!(options.status, 200);
    assert!(options.body["endpoints"].is_array());
}
