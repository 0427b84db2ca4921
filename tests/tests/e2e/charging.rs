//! Who pays, seen from outside through `cargo lambda watch` (issue 10, "free refunds"): a query
//! whose sources answered that nothing matched is charged like any other; a query whose every
//! source failed is not, neither the first time nor when repeated.
use crate::{admin_token, api_url, client, remember_secret};
use serde_json::{json, Value};

async fn post_data(key: &str, body: Value) -> (u16, Option<String>, Value) {
    let response = client()
        .post(format!("{}/api/v1/data", api_url()))
        .header("X-API-Key", key)
        .json(&body)
        .send()
        .await
        .expect("the stack answers");
    let status = response.status().as_u16();
    let used = response
        .headers()
        .get("x-ratelimit-used")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, used, body)
}

async fn used_this_month(key: &str, user: &str) -> u64 {
    let current: Value = client()
        .get(format!(
            "{}/api/v1/usage?action=current&userId={user}",
            api_url()
        ))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("usage answers")
        .json()
        .await
        .expect("JSON");
    current["used"].as_u64().expect("used")
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn c1_nothing_matched_is_charged_and_every_source_failed_is_not() {
    let user = "e2e-charging";
    let created: Value = client()
        .post(format!("{}/api/v1/keys", api_url()))
        .header("Authorization", format!("Bearer {}", admin_token()))
        .json(&json!({"userId": user, "tier": "pro"}))
        .send()
        .await
        .expect("keys answers")
        .json()
        .await
        .expect("JSON");
    let key = created["key"].as_str().expect("key").to_owned();
    remember_secret(&key);

    let (status, used, body) = post_data(
        &key,
        json!({"query": "Sadsdqwe", "sources": ["wiki", "weather"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(used.as_deref(), Some("1"), "charged: the sources answered");
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["matched"] == false),
        "{body}"
    );
    assert_eq!(
        body["results"][0]["message"],
        "Wikipedia has no article matching \"Sadsdqwe\""
    );

    for attempt in 0..3 {
        let (status, _, body) =
            post_data(&key, json!({"query": "stub failure", "sources": "wiki"})).await;
        assert_eq!(status, 502, "attempt {attempt}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("not charged"),
            "{body}"
        );
    }
    assert_eq!(
        used_this_month(&key, user).await,
        1,
        "only the answered request is counted"
    );
}
