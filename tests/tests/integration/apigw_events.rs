//! Real API Gateway event payloads (tests/fixtures/apigw: HTTP API v2 and REST v1, with stage
//! prefixes, base64 bodies, multi-value headers and query strings, source IPs in the request
//! context) parsed by lambda_http and fed through each function's handler, without the runtime.
use harmonic_shared::lambda_http::request::from_str;
use harmonic_shared::lambda_http::Request;
use harmonic_tests::*;

/// A fixture with its placeholders replaced, as the Lambda runtime would hand it over.
fn event(name: &str, substitutions: &[(&str, &str)]) -> Request {
    let path = format!("{}/fixtures/apigw/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (placeholder, value) in substitutions {
        raw = raw.replace(placeholder, value);
    }
    // A substituted body no longer matches the recorded content-length; lambda_http ignores it.
    from_str(&raw).unwrap_or_else(|e| panic!("{name} does not parse as an API Gateway event: {e}"))
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn admin_key_creation_events_of_both_api_versions_create_keys() {
    for fixture in ["v2-post-keys.json", "v1-post-keys.json"] {
        let t = spawn_app().await;
        let answer = call_keys(
            &t.app,
            event(
                fixture,
                &[
                    ("__ADMIN_TOKEN__", ADMIN_TOKEN),
                    ("__USER_ID__", "fixture-user"),
                ],
            ),
        )
        .await;
        assert_eq!(answer.status, 201, "{fixture}: {}", answer.text);
        assert_eq!(answer.body["userId"], "fixture-user", "{fixture}");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn base64_sign_up_events_are_read_as_json_whatever_the_content_type() {
    for fixture in ["v2-post-keys-base64.json", "v1-post-keys-base64.json"] {
        let t = spawn_app().await;
        let answer = call_keys(&t.app, event(fixture, &[])).await;
        assert_eq!(answer.status, 201, "{fixture}: {}", answer.text);
        assert_eq!(
            answer.body["userId"], "signup-fixture@example.com",
            "{fixture}"
        );
        assert_eq!(answer.body["name"], "laptop", "{fixture}");
        assert_eq!(answer.body["tier"], "free", "{fixture}");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn key_inspection_events_reach_the_key_through_the_path_with_or_without_a_stage() {
    let t = spawn_app().await;
    let (key, id) = admin_creates_key(&t.app, "inspected", "pro").await;
    for fixture in ["v2-get-key-by-id.json", "v1-get-key-by-id.json"] {
        let answer = call_keys(
            &t.app,
            event(fixture, &[("__API_KEY__", &key), ("__KEY_ID__", &id)]),
        )
        .await;
        assert_eq!(answer.status, 200, "{fixture}: {}", answer.text);
        assert_eq!(answer.body["id"], id.as_str(), "{fixture}");
        assert_eq!(answer.body["tier"], "pro", "{fixture}");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn usage_events_with_query_strings_and_multi_values_are_answered() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "usage-events", "free").await;
    for fixture in ["v2-get-usage-current.json", "v1-get-usage-current.json"] {
        let answer = call_usage(&t.app, event(fixture, &[("__API_KEY__", &key)])).await;
        assert_eq!(answer.status, 200, "{fixture}: {}", answer.text);
        assert_eq!(answer.body["userId"], "usage-events", "{fixture}");
        assert_eq!(answer.body["quota"], 1000, "{fixture}");
    }
    let history = call_usage(
        &t.app,
        event("v1-get-usage-multivalue.json", &[("__API_KEY__", &key)]),
    )
    .await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert!(history.body["history"].is_array());
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_client_address_comes_from_the_request_context_of_either_version() {
    for (fixture, ip) in [
        ("v2-post-data.json", "203.0.113.10"),
        ("v1-post-data-stage.json", ""),
    ] {
        let request = event(fixture, &[("__API_KEY__", "unused")]);
        let found = harmonic_shared::http::client_ip(&request);
        if ip.is_empty() {
            assert!(
                found.is_some(),
                "{fixture}: the REST identity carries the source IP"
            );
        } else {
            assert_eq!(found.as_deref(), Some(ip), "{fixture}");
        }
    }
}
