//! Operations through `cargo lambda watch`: the request id in headers, error bodies and log
//! lines, the EMF metrics as JSON lines in the functions' log, and the quota threshold events
//! of the concurrency test (module `concurrency`, which runs before this one): exactly one per
//! threshold across several processes.
use crate::{api_url, client};
use serde_json::{json, Value};

fn log_path() -> String {
    std::env::var("E2E_LOG_FILE").expect("E2E_LOG_FILE: run through `make test`")
}

/// Every JSON document in the log (a line may carry a prefix before its first `{`).
fn log_documents() -> Vec<Value> {
    std::fs::read_to_string(log_path())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.find('{').map(|start| &line[start..]))
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}

/// Waits (up to 10 s) until some log document satisfies `wanted`.
async fn wait_for_log(wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
    for _ in 0..50 {
        let docs = log_documents();
        if docs.iter().any(&wanted) {
            return docs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    log_documents()
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn o1_a_request_id_is_in_the_header_the_error_body_and_every_log_line_of_the_request() {
    let base = api_url();
    let response = client()
        .post(format!("{base}/api/v1/keys"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["requestId"], id.as_str());
    let docs = wait_for_log(|doc| doc["span"]["request_id"] == id.as_str()).await;
    let lines: Vec<&Value> = docs
        .iter()
        .filter(|doc| doc["span"]["request_id"] == id.as_str())
        .collect();
    assert!(
        lines
            .iter()
            .any(|doc| doc["fields"]["message"] == "request"),
        "the request's log line carries its id: {lines:?}"
    );
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn o2_metrics_appear_as_embedded_metric_format_lines_in_the_log() {
    let base = api_url();
    let created: Value = client()
        .post(format!("{base}/api/v1/keys"))
        .json(&json!({"userId": "e2e-metrics"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().expect("sign-up").to_owned();
    crate::remember_secret(&key);
    let response = client()
        .post(format!("{base}/api/v1/data"))
        .header("X-API-Key", &key)
        .body(r#"{"query": "physics", "sources": "curiosity"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let is_request_metric = |doc: &Value| {
        doc["requestId"] == id.as_str()
            && doc["Requests"] == 1
            && doc["Function"] == "data"
            && doc["Route"] == "POST /data"
            && doc["StatusClass"] == "2xx"
            && doc["Tier"] == "free"
    };
    let docs = wait_for_log(is_request_metric).await;
    let ours: Vec<&Value> = docs
        .iter()
        .filter(|doc| doc["requestId"] == id.as_str())
        .collect();
    let request_metric = ours
        .iter()
        .find(|doc| is_request_metric(doc))
        .unwrap_or_else(|| panic!("no Requests metric for {id}: {ours:#?}"));
    let emf = &request_metric["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(emf["Namespace"], "HarmonicApi/local");
    assert_eq!(
        emf["Dimensions"][0],
        json!(["Function", "Route", "StatusClass", "Tier"])
    );
    let totals = ours
        .iter()
        .find(|doc| doc.get("Charges").is_some())
        .unwrap_or_else(|| panic!("no Charges metric: {ours:#?}"));
    assert_eq!(totals["Charges"], 1);
    assert_eq!(totals["SourceCalls"], 1);
    let source = ours
        .iter()
        .find(|doc| doc["Source"] == "curiosity")
        .unwrap_or_else(|| panic!("no per-source metric: {ours:#?}"));
    assert_eq!(source["SourceCalls"], 1);
    for doc in &ours {
        let dims = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0].to_string();
        assert!(
            !dims.contains("user") && !dims.contains("Key\""),
            "bounded dimensions: {dims}"
        );
        assert!(
            !doc.to_string().contains("e2e-metrics"),
            "no user id in a metric document"
        );
    }
}

#[tokio::test]
#[ignore = "needs the local stack: run through `make test`"]
async fn o3_the_concurrent_burst_logged_exactly_one_event_per_quota_threshold() {
    let docs = wait_for_log(|doc| doc["fields"]["event"] == "quota.threshold").await;
    let events: Vec<&Value> = docs
        .iter()
        .filter(|doc| {
            doc["fields"]["event"] == "quota.threshold" && doc["fields"]["userId"] == "e2e-racer"
        })
        .collect();
    let mut thresholds: Vec<u64> = events
        .iter()
        .map(|doc| doc["fields"]["threshold"].as_u64().unwrap())
        .collect();
    thresholds.sort_unstable();
    assert_eq!(
        thresholds,
        [80, 100],
        "one event per threshold: {events:#?}"
    );
    for event in events {
        let fields = &event["fields"];
        let expected = if fields["threshold"] == 80 { 80 } else { 100 };
        assert_eq!(fields["used"], expected);
        assert_eq!(fields["limit"], 100);
        assert!(fields["month"].as_str().is_some_and(|m| m.len() == 7));
    }
}
