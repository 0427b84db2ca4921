//! CORS on every function (preflight, disallowed origin, the documentation path, headers of
//! actual answers) and the dashboard page's route and headers, in process against the server.
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::App;
use harmonic_tests::*;

const ALLOWED: &str = "https://app.example.com";

async fn spawn_with_cors() -> TestApp {
    spawn_app_with(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://app.example.com, http://localhost:3000",
    )])
    .await
}

/// Every function answers a request the same way here: by path.
async fn call_any(
    t: &TestApp,
    data: &DataApp,
    request: harmonic_shared::lambda_http::Request,
) -> Answer {
    let path = request.uri().path().to_owned();
    if path.starts_with("/api/v1/keys") {
        call_keys(&t.app, request).await
    } else if path.starts_with("/api/v1/data") {
        answer(harmonic_data::invoke(data, request).await)
    } else {
        call_usage(&t.app, request).await
    }
}

async fn data_container(t: &TestApp) -> (DataApp, wiremock::MockServer) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let stubs = harmonic_tests::stubs::start(listener).await;
    let app = App::new(t.app.config.clone(), t.store.clone(), t.clock.clone());
    let sources = Sources::new(SourceSettings::for_base_url(&stubs.uri())).expect("sources");
    (DataApp::new(app, sources), stubs)
}

const RESOURCES: [&str; 5] = [
    "/api/v1/keys",
    "/api/v1/keys/AbCdEfGhIj/rotate",
    "/api/v1/usage",
    "/api/v1/data",
    "/dashboard",
];

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_preflight_from_an_allowed_origin_is_answered_as_browsers_expect_on_every_resource() {
    let t = spawn_with_cors().await;
    let (data, _stubs) = data_container(&t).await;
    for path in RESOURCES {
        let preflight = call_any(
            &t,
            &data,
            request("OPTIONS", path)
                .header("origin", ALLOWED)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "x-api-key, content-type")
                .build(),
        )
        .await;
        assert_eq!(preflight.status, 204, "{path}: {}", preflight.text);
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            Some(ALLOWED),
            "{path}"
        );
        let methods = preflight
            .header("access-control-allow-methods")
            .unwrap_or_default();
        assert!(
            methods.contains("POST") && methods.contains("DELETE"),
            "{path}: {methods}"
        );
        let headers = preflight
            .header("access-control-allow-headers")
            .unwrap_or_default();
        assert!(
            headers.contains("x-api-key") && headers.contains("content-type"),
            "{path}: {headers}"
        );
        assert_eq!(
            preflight.header("access-control-max-age"),
            Some("600"),
            "{path}"
        );
        assert_eq!(preflight.header("vary"), Some("Origin"), "{path}");
        assert!(preflight.text.is_empty(), "{path}: a preflight has no body");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_preflight_from_another_origin_is_refused_without_cors_headers() {
    let t = spawn_with_cors().await;
    let (data, _stubs) = data_container(&t).await;
    for (origin, case) in [
        ("https://evil.example", "another site"),
        (
            "https://app.example.com.evil.example",
            "a suffix of the allowed host",
        ),
        ("http://app.example.com", "the allowed host over http"),
        (
            "https://app.example.com:8443",
            "the allowed host on another port",
        ),
        ("null", "a sandboxed or file page"),
    ] {
        for path in RESOURCES {
            let refused = call_any(
                &t,
                &data,
                request("OPTIONS", path)
                    .header("origin", origin)
                    .header("access-control-request-method", "DELETE")
                    .build(),
            )
            .await;
            assert_eq!(refused.status, 403, "{case} on {path}: {}", refused.text);
            assert_eq!(
                refused.header("access-control-allow-origin"),
                None,
                "{case} on {path}"
            );
            assert_eq!(refused.body["success"], false, "{case} on {path}");
            assert!(
                refused.body["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("CORS_ALLOWED_ORIGINS"),
                "{case} on {path}: {}",
                refused.text
            );
        }
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn options_that_is_not_a_preflight_still_returns_the_documentation() {
    let t = spawn_with_cors().await;
    let (data, _stubs) = data_container(&t).await;
    for path in RESOURCES {
        for (headers, case) in [
            (vec![], "no CORS headers (curl)"),
            (
                vec![("origin", ALLOWED)],
                "an Origin but no requested method",
            ),
            (
                vec![("access-control-request-method", "GET")],
                "a requested method but no Origin",
            ),
        ] {
            let mut builder = request("OPTIONS", path);
            for (name, value) in &headers {
                builder = builder.header(name, value);
            }
            let documentation = call_any(&t, &data, builder.build()).await;
            assert_eq!(
                documentation.status, 200,
                "{case} on {path}: {}",
                documentation.text
            );
            assert!(
                documentation.body["endpoints"].is_array(),
                "{case} on {path}: {}",
                documentation.text
            );
            assert!(documentation.header("allow").is_some(), "{case} on {path}");
        }
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn answers_to_an_allowed_origin_carry_allow_origin_and_expose_the_rate_limit_headers() {
    let t = spawn_with_cors().await;
    let (data, _stubs) = data_container(&t).await;
    let (key, _) = admin_creates_key(&t.app, "browser-user", "free").await;
    let metered = |origin: &str| {
        request("POST", "/api/v1/data")
            .key(&key)
            .header("origin", origin)
            .json(serde_json::json!({"query": "quantum", "sources": "wiki"}))
            .build()
    };
    let allowed = answer(harmonic_data::invoke(&data, metered("http://localhost:3000")).await);
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let exposed = allowed
        .header("access-control-expose-headers")
        .unwrap_or_default();
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-used",
        "x-ratelimit-reset",
        "retry-after",
    ] {
        assert!(exposed.contains(name), "{name} is not exposed: {exposed}");
    }
    assert_eq!(allowed.header("x-ratelimit-used"), Some("1"));

    // Another origin is served (CORS is not access control) but its page may not read it.
    let other = answer(harmonic_data::invoke(&data, metered("https://evil.example")).await);
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert_eq!(other.header("access-control-expose-headers"), None);
    assert_eq!(other.header("vary"), Some("Origin"));

    // Errors carry the header too, so a page can read why it was refused.
    let refused = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .header("origin", ALLOWED)
            .build(),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("access-control-allow-origin"), Some(ALLOWED));
    let listed = call_keys(
        &t.app,
        request("GET", "/api/v1/keys")
            .key(&key)
            .header("origin", ALLOWED)
            .build(),
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.header("access-control-allow-origin"), Some(ALLOWED));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn without_configured_origins_no_page_may_read_and_preflights_are_refused() {
    let t = spawn_app().await;
    let preflight = call_usage(
        &t.app,
        request("OPTIONS", "/api/v1/usage")
            .header("origin", ALLOWED)
            .header("access-control-request-method", "GET")
            .build(),
    )
    .await;
    assert_eq!(preflight.status, 403, "{}", preflight.text);
    let current = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .header("origin", ALLOWED)
            .build(),
    )
    .await;
    assert_eq!(current.header("access-control-allow-origin"), None);
    assert_eq!(current.header("vary"), None);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_dashboard_is_one_html_page_with_its_security_headers_and_no_preflight_is_needed() {
    let t = spawn_app().await;
    let page = call_usage(&t.app, request("GET", "/dashboard").build()).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text.starts_with("<!doctype html>") && page.text.contains("sessionStorage"));
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(
        policy.starts_with("default-src 'none'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // A query string (e.g. someone pasting ?key=...) changes nothing and is never echoed.
    let with_query = call_usage(
        &t.app,
        request("GET", "/dashboard")
            .query("key", "hm_secret")
            .build(),
    )
    .await;
    assert_eq!(with_query.text, page.text);
    for method in ["POST", "DELETE", "PUT"] {
        let refused = call_usage(&t.app, request(method, "/dashboard").build()).await;
        assert_eq!(refused.status, 405, "{method}");
        assert_eq!(refused.header("allow"), Some("GET, OPTIONS"), "{method}");
    }
}
