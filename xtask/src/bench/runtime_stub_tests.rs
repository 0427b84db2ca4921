//! The runtime stub's lifecycle, driven by hand as lambda_runtime and lambda-extension drive it
//! (same paths and headers): with an extension, the invocation is handed to both at once and
//! ends only when the extension is back in `event/next`; without one it ends at the response.
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::{Duration, Instant};

use super::runtime_stub::RuntimeStub;

type Http = Client<HttpConnector, Full<Bytes>>;

fn client() -> Http {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// (status, headers, body) of one request to the stub.
async fn call(
    http: &Http,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, hyper::HeaderMap, serde_json::Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let answer = http.request(request).await.unwrap();
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

/// A runtime that answers every invocation at once; returns when it got each (and its id).
fn runtime(port: u16) -> tokio::task::JoinHandle<Vec<(Instant, String)>> {
    tokio::spawn(async move {
        let http = client();
        let mut seen = Vec::new();
        let next = "/2018-06-01/runtime/invocation/next";
        let (status, headers, _) = call(&http, port, "GET", next, &[], "").await;
        assert_eq!(status, StatusCode::OK);
        let id = headers["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(headers.contains_key("lambda-runtime-deadline-ms"));
        assert!(headers.contains_key("lambda-runtime-invoked-function-arn"));
        seen.push((Instant::now(), id.clone()));
        let path = format!("/2018-06-01/runtime/invocation/{id}/response");
        let (status, _, _) = call(&http, port, "POST", &path, &[], r#"{"statusCode":200}"#).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        seen
    })
}

#[tokio::test]
async fn without_extensions_an_invocation_ends_at_the_response() {
    let stub = RuntimeStub::start("data").await;
    let runtime = runtime(stub.port);
    let invocation = stub.invoke("{}".to_owned()).await.unwrap();
    assert_eq!(invocation.ended, invocation.responded);
    assert_eq!(invocation.response, r#"{"statusCode":200}"#);
    assert_eq!(runtime.await.unwrap().len(), 1);
    assert!(stub.extensions().is_empty());
}

#[tokio::test]
async fn an_extension_gets_the_invoke_event_with_the_runtime_and_holds_the_end() {
    let stub = RuntimeStub::start("data").await;
    let port = stub.port;
    let http = client();
    let (status, headers, body) = call(
        &http,
        port,
        "POST",
        "/2020-01-01/extension/register",
        &[
            ("Lambda-Extension-Name", "usage-recorder"),
            ("Lambda-Extension-Accept-Feature", "accountId"),
        ],
        r#"{"events":["INVOKE"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["functionName"], "harmonic-data");
    assert!(body["functionVersion"].is_string() && body["handler"].is_string());
    assert_eq!(body["accountId"], "123456789012");
    let id = headers["lambda-extension-identifier"]
        .to_str()
        .unwrap()
        .to_owned();

    const FLUSH: Duration = Duration::from_millis(80);
    let extension = tokio::spawn(async move {
        let http = client();
        let next = "/2020-01-01/extension/event/next";
        let header = [("Lambda-Extension-Identifier", id.as_str())];
        let (status, _, event) = call(&http, port, "GET", next, &header, "").await;
        assert_eq!(status, StatusCode::OK);
        let got = Instant::now();
        tokio::time::sleep(FLUSH).await; // the after-response writes
        let back = Instant::now();
        // Back in `next`: this call waits for an invocation that never comes.
        tokio::spawn(async move {
            let header = [("Lambda-Extension-Identifier", id.as_str())];
            call(&client(), port, "GET", next, &header, "").await
        });
        (got, back, event)
    });
    let runtime = runtime(port);
    let invocation = stub.invoke("{}".to_owned()).await.unwrap();
    let (got, back, event) = extension.await.unwrap();
    let (runtime_got, request_id) = runtime.await.unwrap().remove(0);

    assert_eq!(event["eventType"], "INVOKE");
    assert_eq!(event["requestId"], request_id.as_str());
    assert!(event["deadlineMs"].is_i64() && event["invokedFunctionArn"].is_string());
    assert_eq!(event["tracing"]["type"], "X-Amzn-Trace-Id");
    let apart = if got > runtime_got {
        got - runtime_got
    } else {
        runtime_got - got
    };
    assert!(apart < Duration::from_millis(30), "handed {apart:?} apart");
    assert!(invocation.response_time() < FLUSH, "{invocation:?}");
    assert!(
        invocation.ended >= back && invocation.billed() >= FLUSH,
        "{invocation:?}"
    );
    assert_eq!(stub.extensions(), ["usage-recorder"]);

    // Registration is for init only.
    let (status, _, _) = call(
        &http,
        port,
        "POST",
        "/2020-01-01/extension/register",
        &[("Lambda-Extension-Name", "late")],
        r#"{"events":["INVOKE"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
