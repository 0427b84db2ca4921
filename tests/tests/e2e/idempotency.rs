//! `Idempotency-Key` through `cargo lambda watch` (several instances of the data function):
//! the retry is replayed and not charged, another body is 422, the openapi.json is served.
use crate::{admin_token, api_url, client, remember_secret};
use serde_json::Value;

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_retried_request_is_charged_once_through_the_router() {
    let base = api_url();
    let http = client();
    let created: Value = http
        .post(format!("{base}/api/v1/keys"))
        .header("Authorization", format!("Bearer {}", admin_token()))
        .body(r#"{"userId": "e2e-retrier"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().expect("a key").to_owned();
    remember_secret(&key);
    let body = r#"{"query": "quantum computing", "sources": "wiki"}"#;
    let send = |body: &'static str| {
        http.post(format!("{base}/api/v1/data"))
            .header("X-API-Key", &key)
            .header("Idempotency-Key", "\"e2e-0f9c1a52-retry\"")
            .body(body)
            .send()
    };
    let first = send(body).await.unwrap();
    assert_eq!(first.status(), 200);
    let first_text = first.text().await.unwrap();
    let mut replays = 0;
    for _ in 0..5 {
        let retry = send(body).await.unwrap();
        assert_eq!(retry.status(), 200);
        assert_eq!(retry.headers()["x-ratelimit-used"], "1");
        replays += usize::from(retry.headers().get("idempotent-replayed").is_some());
        assert_eq!(retry.text().await.unwrap(), first_text);
    }
    assert_eq!(replays, 5, "every retry was a replay");
    let other = send(r#"{"query": "climate change", "sources": "wiki"}"#)
        .await
        .unwrap();
    assert_eq!(other.status(), 422);
    let current: Value = http
        .get(format!("{base}/api/v1/usage?action=current"))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["used"], 1, "{current}");
    let document = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(document.status(), 200);
    let document: Value = document.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
}
