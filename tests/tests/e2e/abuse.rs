//! Issue 10 over real HTTP: squatting, forged keys, keys pasted into paths, a key in its
//! rotation grace period, and each key's use in the key list.
use crate::{admin_token, api_url, client, remember_secret};
use serde_json::{json, Value};

async fn call(
    request: reqwest::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, Value, String) {
    let response = request.send().await.expect("the stack answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, value, text)
}

fn admin(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header("Authorization", format!("Bearer {}", admin_token()))
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_squatted_user_is_a_409_for_the_admin_and_its_tier_changes_only_explicitly() {
    let (base, http) = (api_url(), client());
    let (status, _, squatter, text) = call(
        http.post(format!("{base}/api/v1/keys"))
            .json(&json!({"userId": "e2e-acme"})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    remember_secret(squatter["key"].as_str().unwrap());
    let (status, _, refused, text) = call(admin(
        http.post(format!("{base}/api/v1/keys"))
            .json(&json!({"userId": "e2e-acme", "tier": "pro", "name": "prod"})),
    ))
    .await;
    assert_eq!(status, 409, "{text}");
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("PUT /api/v1/users/e2e-acme/tier"));
    let (status, _, changed, text) = call(admin(
        http.put(format!("{base}/api/v1/users/e2e-acme/tier"))
            .json(&json!({"tier": "pro"})),
    ))
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(changed["liveKeys"][0]["id"], squatter["id"]);
    assert_eq!(changed["createdBy"]["via"], "signup");
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn forged_keys_and_keys_in_paths_are_refused_without_echoing_them() {
    let (base, http) = (api_url(), client());
    let (_, _, created, text) = call(admin(
        http.post(format!("{base}/api/v1/keys"))
            .json(&json!({"userId": "e2e-paster"})),
    ))
    .await;
    let key = created["key"].as_str().expect(&text).to_owned();
    remember_secret(&key);
    let id = created["id"].as_str().unwrap();
    for forged in [
        format!("hm_{id}{}0000", "x".repeat(18)),
        format!("hm_NoSuchId00{}0000", "x".repeat(18)),
    ] {
        let (status, _, _, text) = call(
            http.post(format!("{base}/api/v1/data"))
                .header("X-API-Key", &forged)
                .json(&json!({"query": "x", "sources": "curiosity"})),
        )
        .await;
        assert_eq!(status, 401, "{text}");
    }
    let (status, _, refused, text) = call(
        http.delete(format!("{base}/api/v1/keys/{key}"))
            .header("X-API-Key", &key),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(refused["error"]
        .as_str()
        .unwrap()
        .contains("that is the key itself"));
    assert!(!text.contains(&key[3..]), "{text}");
    let (status, _, _, _) = call(
        http.get(format!("{base}/api/v1/keys"))
            .header("X-API-Key", &key),
    )
    .await;
    assert_eq!(status, 200, "the key was not revoked");
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn a_key_in_its_grace_period_serves_data_but_cannot_manage_keys_and_lists_show_use() {
    let (base, http) = (api_url(), client());
    let (_, _, created, text) = call(admin(
        http.post(format!("{base}/api/v1/keys"))
            .json(&json!({"userId": "e2e-leaky"})),
    ))
    .await;
    let old = created["key"].as_str().expect(&text).to_owned();
    remember_secret(&old);
    let old_id = created["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, _, _, text) = call(
            http.post(format!("{base}/api/v1/data"))
                .header("X-API-Key", &old)
                .json(&json!({"query": "physics", "sources": "curiosity"})),
        )
        .await;
        assert_eq!(status, 200, "{text}");
    }
    let (status, _, rotated, text) = call(
        http.post(format!("{base}/api/v1/keys/{old_id}/rotate"))
            .header("X-API-Key", &old)
            .json(&json!({"gracePeriodSeconds": 3600})),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let new = rotated["newKey"]["key"].as_str().unwrap().to_owned();
    remember_secret(&new);
    let (status, _, _, text) = call(
        http.post(format!("{base}/api/v1/data"))
            .header("X-API-Key", &old)
            .json(&json!({"query": "physics", "sources": "curiosity"})),
    )
    .await;
    assert_eq!(status, 200, "data in the grace period: {text}");
    let (status, _, _, text) = call(
        http.post(format!("{base}/api/v1/keys"))
            .header("X-API-Key", &old)
            .json(&json!({"userId": "e2e-leaky"})),
    )
    .await;
    assert_eq!(status, 403, "minting with a grace key: {text}");
    let (status, _, listed, text) = call(
        http.get(format!("{base}/api/v1/keys"))
            .header("X-API-Key", &new),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let old_entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id.as_str())
        .expect("the old key is listed")
        .clone();
    assert_eq!(old_entry["usageCount"], 3, "{text}");
    assert!(old_entry["lastUsedAt"].is_string(), "{text}");
}
