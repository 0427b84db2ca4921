//! The API Gateway HTTP API (v2) events the bench hands the function binaries, shaped like the
//! fixtures in tests/fixtures/apigw.
use serde_json::{json, Value};

/// The body of the warm and cold metered requests: the built-in knowledge base, no network.
pub const CURIOSITY_BODY: &str = r#"{"query":"physics","sources":"curiosity"}"#;

fn event(method: &str, path: &str, headers: Value, body: Option<&str>) -> String {
    let route = format!("{method} {path}");
    let mut event = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcde12345",
            "domainName": "abcde12345.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcde12345",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "harmonic-bench"
            },
            "requestId": "bench",
            "routeKey": route,
            "stage": "$default",
            "time": "29/Nov/2025:12:00:00 +0000",
            "timeEpoch": 1764417600000u64
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = Value::String(body.to_owned());
    }
    event.to_string()
}

fn base_headers() -> Value {
    json!({
        "accept": "*/*",
        "host": "abcde12345.execute-api.us-east-1.amazonaws.com",
        "user-agent": "harmonic-bench",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https"
    })
}

/// `OPTIONS /api/v1/<function>` (JSON documentation; no DynamoDB access).
pub fn options_event(function: &str) -> String {
    event(
        "OPTIONS",
        &format!("/api/v1/{function}"),
        base_headers(),
        None,
    )
}

/// A metered `POST /api/v1/data` with `X-API-Key: key` and `body`.
pub fn data_event(key: &str, body: &str) -> String {
    let mut headers = base_headers();
    headers["x-api-key"] = Value::String(key.to_owned());
    headers["content-type"] = Value::String("application/json".to_owned());
    headers["content-length"] = Value::String(body.len().to_string());
    event("POST", "/api/v1/data", headers, Some(body))
}

/// The status code of a response the function posted (`statusCode` of the API Gateway answer).
pub fn status_of(posted: &str) -> Option<u64> {
    serde_json::from_str::<Value>(posted)
        .ok()?
        .get("statusCode")?
        .as_u64()
}
