//! Exact quotas end to end: 1,000 concurrent metered requests through `cargo lambda watch`
//! (several instances of the data function, so several processes and SDK clients) against a
//! stack whose Free quota is 100 (E2E_LIMITED_API_URL, started by scripts/e2e.sh).
use crate::client;
use futures::future::join_all;
use serde_json::json;

const LIMIT: usize = 100;
const REQUESTS: usize = 1000;

fn limited_url() -> String {
    std::env::var("E2E_LIMITED_API_URL").expect("E2E_LIMITED_API_URL: run through `make test`")
}

/// Sends `REQUESTS` metered requests at once; returns (200s, 429s, other statuses).
async fn burst(key: Option<&str>) -> (usize, usize, Vec<u16>) {
    let base = limited_url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let calls = (0..REQUESTS).map(|_| {
        let http = http.clone();
        let url = format!("{base}/api/v1/data");
        let key = key.map(str::to_owned);
        let gate = gate.clone();
        tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let mut request = http
                .post(url)
                .body(r#"{"query": "physics", "sources": "curiosity"}"#);
            if let Some(key) = key {
                request = request.header("X-API-Key", key);
            }
            match request.send().await {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            }
        })
    });
    let statuses: Vec<u16> = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap_or(0))
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    let other = statuses
        .into_iter()
        .filter(|s| *s != 200 && *s != 429)
        .collect();
    (ok, limited, other)
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn c1_a_thousand_concurrent_requests_admit_exactly_the_limit_across_processes() {
    let base = limited_url();
    let created: serde_json::Value = client()
        .post(format!("{base}/api/v1/keys"))
        .json(&json!({"userId": "e2e-racer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().expect("sign-up").to_owned();
    crate::remember_secret(&key);

    let (ok, limited, other) = burst(Some(&key)).await;
    assert!(other.is_empty(), "only 200 and 429 expected, got {other:?}");
    assert_eq!(ok, LIMIT, "exactly the limit is admitted");
    assert_eq!(limited, REQUESTS - LIMIT);

    let current: serde_json::Value = client()
        .get(format!("{base}/api/v1/usage?action=current"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        current["used"], LIMIT,
        "the stored count is the limit: {current}"
    );
    assert_eq!(current["remaining"], 0);
    assert_eq!(current["isExceeded"], true);
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn c2_a_thousand_concurrent_demo_requests_admit_exactly_the_limit_for_the_address() {
    let (ok, limited, other) = burst(None).await;
    assert!(other.is_empty(), "only 200 and 429 expected, got {other:?}");
    assert_eq!(ok, LIMIT);
    assert_eq!(limited, REQUESTS - LIMIT);
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn c3_concurrent_sign_ups_from_one_address_stop_at_the_daily_limit() {
    // The limited stack allows 3 sign-ups per address per day; c1 made one (the quick start's
    // request, verbatim, is one sign-up too).
    let base = limited_url();
    let attempts = (0..10).map(|n| {
        let base = base.clone();
        tokio::spawn(async move {
            client()
                .post(format!("{base}/api/v1/keys"))
                .header("Content-Type", "application/json")
                .body(format!(r#"{{"userId": "e2e-flood{n}"}}"#))
                .send()
                .await
                .expect("answer")
        })
    });
    let mut created = 0;
    let mut refused = None;
    for attempt in attempts {
        let response = attempt.await.expect("task");
        match response.status().as_u16() {
            201 => {
                created += 1;
                let body: serde_json::Value = response.json().await.expect("json");
                crate::remember_secret(body["key"].as_str().expect("key"));
            }
            429 => refused = Some(response),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 2, "3 a day, one already used by c1");
    let refused = refused.expect("the flood was refused");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after));
    let body: serde_json::Value = refused.json().await.expect("a JSON error");
    assert_eq!(body["success"], false);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("too many sign-ups"));
}
