//! `GET /api/v1/usage?action=export` (CSV for invoicing) and `action=breakdown` against the
//! DynamoDB-compatible server.
use harmonic_shared::clock::Clock;
use harmonic_shared::domain::rfc3339;
use harmonic_shared::lambda_http::http::HeaderMap;
use harmonic_shared::store::UsageEvent;
use harmonic_tests::*;

/// Charges and records `n` requests of the key's holder at the clock's instant; the first
/// `refunded` of them are refunded (we failed them: 502).
async fn requests(t: &TestApp, key: &str, n: usize, refunded: usize, sources: &[&str]) {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", key.parse().unwrap());
    let caller = t.app.identify_metered(&headers, None).await.unwrap();
    for index in 0..n {
        let charge = t.app.charge(&caller).await.unwrap();
        let failed = index < refunded;
        if failed {
            t.app.refund(&charge).await;
        }
        let event = UsageEvent {
            timestamp: rfc3339(t.clock.now()),
            endpoint: "/api/v1/data".into(),
            method: "POST".into(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            response_time: 10.0,
            status: if failed { 502 } else { 200 },
            bytes_in: 40,
            bytes_out: 900,
            key_id: None,
        };
        t.app.record(&charge, event);
        t.app.flush_after_response().await;
    }
}

fn export(month: &str) -> RequestBuilder {
    request("GET", "/api/v1/usage")
        .query("action", "export")
        .query("month", month)
}

fn rows(csv: &str) -> Vec<Vec<String>> {
    assert!(csv.ends_with("\r\n"), "CRLF line ends: {csv:?}");
    csv.trim_end()
        .split("\r\n")
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_holder_exports_its_month_as_csv_with_one_row_per_day() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "payer", "pro").await;
    t.clock.set(t.clock.now() - chrono::Duration::days(3)); // 2026-11-12
    requests(&t, &key, 2, 0, &["arxiv"]).await;
    t.clock.set(t.clock.now() + chrono::Duration::days(3)); // 2026-11-15
    requests(&t, &key, 4, 1, &["wiki", "arxiv"]).await;
    let answer = call_usage(&t.app, export("2026-11").key(&key).build()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.header("content-type"),
        Some("text/csv; charset=utf-8; header=present")
    );
    assert_eq!(
        answer.header("content-disposition"),
        Some("attachment; filename=\"harmonic-usage-payer-2026-11.csv\"")
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let table = rows(&answer.text);
    assert_eq!(
        table[0].join(","),
        "date,userId,requests,billed,refunded,errors,arxiv_requests,arxiv_errors,wiki_requests,wiki_errors"
    );
    assert_eq!(table.len(), 1 + 15, "every day from the 1st to today");
    assert_eq!(table[1].join(","), "2026-11-01,payer,0,0,0,0,0,0,0,0");
    assert_eq!(table[12].join(","), "2026-11-12,payer,2,2,0,0,2,0,0,0");
    assert_eq!(table[15].join(","), "2026-11-15,payer,4,3,1,1,4,1,4,1");
    // The billed total is what the quota counted.
    let billed: u64 = table[1..]
        .iter()
        .map(|row| row[3].parse::<u64>().unwrap())
        .sum();
    let current = call_usage(&t.app, request("GET", "/api/v1/usage").key(&key).build()).await;
    assert_eq!(current.body["used"].as_u64(), Some(billed));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn past_months_stay_readable_for_the_retention_and_no_longer() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "archivist", "free").await;
    t.clock.set(t.clock.now() - chrono::Duration::days(30)); // 2026-10-16
    requests(&t, &key, 3, 0, &["wiki"]).await;
    t.clock.set(t.clock.now() + chrono::Duration::days(30));
    let october = call_usage(&t.app, export("2026-10").key(&key).build()).await;
    assert_eq!(october.status, 200, "{}", october.text);
    let table = rows(&october.text);
    assert_eq!(table.len(), 1 + 31);
    assert_eq!(table[16][..6].join(","), "2026-10-16,archivist,3,3,0,0");
    let too_old = call_usage(&t.app, export("2026-07").key(&key).build()).await;
    assert_eq!(too_old.status, 404);
    assert!(
        too_old.body["error"]
            .as_str()
            .unwrap()
            .contains("kept for 90 days"),
        "{}",
        too_old.text
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn export_authorization_is_that_of_the_other_usage_actions() {
    let t = spawn_app().await;
    let (alice, _) = admin_creates_key(&t.app, "alice", "free").await;
    admin_creates_key(&t.app, "bob", "free").await;
    let of_bob = call_usage(
        &t.app,
        export("2026-11").key(&alice).query("userId", "bob").build(),
    )
    .await;
    assert_eq!(
        of_bob.status, 404,
        "another user's export is a 404: {}",
        of_bob.text
    );
    assert_eq!(
        call_usage(&t.app, export("2026-11").build()).await.status,
        401
    );
    let unknown = call_usage(
        &t.app,
        export("2026-11").admin().query("userId", "nobody").build(),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let admin_bob = call_usage(
        &t.app,
        export("2026-11").admin().query("userId", "bob").build(),
    )
    .await;
    assert_eq!(admin_bob.status, 200);
    assert!(
        admin_bob.text.contains("\r\n2026-11-15,bob,0,"),
        "{}",
        admin_bob.text
    );
    let own = call_usage(
        &t.app,
        export("2026-11")
            .key(&alice)
            .query("userId", "alice")
            .build(),
    )
    .await;
    assert_eq!(own.status, 200);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_admin_exports_every_user_of_a_month_a_page_at_a_time() {
    let t = spawn_app().await;
    for user in ["u1", "u2", "u3"] {
        let (key, _) = admin_creates_key(&t.app, user, "free").await;
        requests(&t, &key, 1, 0, &["news"]).await;
    }
    admin_creates_key(&t.app, "idle", "free").await;
    let first = call_usage(
        &t.app,
        export("2026-11").admin().query("limit", "2").build(),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.header("content-disposition"),
        Some("attachment; filename=\"harmonic-usage-all-2026-11.csv\"")
    );
    let cursor = first
        .header("x-next-cursor")
        .expect("a next page")
        .to_owned();
    let second = call_usage(
        &t.app,
        export("2026-11")
            .admin()
            .query("limit", "2")
            .query("cursor", &cursor)
            .build(),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.text);
    let mut users: Vec<String> = rows(&first.text)[1..]
        .iter()
        .chain(rows(&second.text)[1..].iter())
        .map(|row| format!("{}:{}", row[1], row[2]))
        .collect();
    users.sort();
    assert_eq!(
        users,
        ["u1:1", "u2:1", "u3:1"],
        "only days with requests; the idle user has none"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_user_id_that_would_be_a_formula_is_neutralised_in_the_csv() {
    let t = spawn_app().await;
    for (user, shown) in [("-1-1", "'-1-1"), ("@SUM", "'@SUM")] {
        let (key, _) = admin_creates_key(&t.app, user, "free").await;
        let answer = call_usage(&t.app, export("2026-11").key(&key).build()).await;
        assert_eq!(answer.status, 200, "{user}: {}", answer.text);
        assert!(
            answer.text.contains(&format!("\r\n2026-11-01,{shown},0,")),
            "{user}: {}",
            answer.text
        );
        assert!(!answer.text.contains(&format!(",{user},")), "{user} raw");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn bad_export_parameters_are_400_json_that_says_the_format() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "careless", "free").await;
    let long = "2".repeat(10_000);
    for (case, month, expected) in [
        ("not a month", "november", "month must be YYYY-MM"),
        ("a date", "2026-11-01", "month must be YYYY-MM"),
        ("month 13", "2026-13", "month must be YYYY-MM"),
        ("unicode digits", "２０２６-11", "month must be YYYY-MM"),
        ("formula", "=1+1", "month must be YYYY-MM"),
        ("huge", long.as_str(), "month must be YYYY-MM"),
    ] {
        let answer = call_usage(&t.app, export(month).key(&key).build()).await;
        assert_eq!(answer.status, 400, "{case}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{case}"
        );
        let error = answer.body["error"].as_str().unwrap();
        assert!(error.contains(expected), "{case}: {error}");
        assert!(error.len() < 200, "{case}: the input is not echoed whole");
    }
    let future = call_usage(&t.app, export("2027-01").key(&key).build()).await;
    assert_eq!(future.status, 404, "a well-formed month with no report yet");
    assert!(future.body["error"]
        .as_str()
        .unwrap()
        .contains("has not started"));
    let without_month = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "export")
            .build(),
    )
    .await;
    assert_eq!(
        without_month.status, 200,
        "month defaults to the current month"
    );
    assert!(without_month
        .header("content-disposition")
        .unwrap()
        .contains("-2026-11.csv"));
    let bad_limit = call_usage(
        &t.app,
        export("2026-11").admin().query("limit", "0").build(),
    )
    .await;
    assert_eq!(bad_limit.status, 400);
    let bad_cursor = call_usage(
        &t.app,
        export("2026-11").admin().query("cursor", "!!").build(),
    )
    .await;
    assert_eq!(bad_cursor.status, 400);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn breakdown_answers_sources_and_endpoints_together() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "phase4", "free").await;
    requests(&t, &key, 2, 1, &["wiki"]).await;
    let answer = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "breakdown")
            .query("days", "7")
            .build(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["userId"], "phase4");
    assert_eq!(answer.body["period"]["days"], 7);
    assert_eq!(answer.body["sources"][0]["name"], "wiki");
    assert_eq!(answer.body["sources"][0]["count"], 2);
    assert_eq!(answer.body["sources"][0]["errors"], 1);
    assert_eq!(answer.body["endpoints"][0]["name"], "POST /api/v1/data");
    assert_eq!(answer.body["endpoints"][0]["count"], 2);
    let sources = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "sources")
            .query("days", "7")
            .build(),
    )
    .await;
    assert_eq!(
        sources.body["sources"], answer.body["sources"],
        "the same numbers as action=sources"
    );
}
