//! Operational metrics in CloudWatch Embedded Metric Format (EMF), through the `metrics` facade
//! and the `metrics_cloudwatch_embedded` collector: the functions count as they go, and after
//! each response [`flush`] writes one JSON line per label set to stdout, which CloudWatch Logs
//! turns into metrics (and `make run` shows in its log).
//!
//! Namespace `METRICS_NAMESPACE` (the template sets `HarmonicApi/<stack>`; default
//! `HarmonicApi/local`), dimension `Function` on everything. Every other dimension has a bounded
//! set of values (routes of the route table, status classes, tiers, outcomes, error kinds, the
//! five sources, two thresholds): never a user id, key id, address or free text, so the
//! number of CloudWatch metrics — what they cost — stays fixed.
//!
//! | metric | dimensions | what |
//! |---|---|---|
//! | `Requests` | Function, Route, StatusClass, Tier | every request served |
//! | `Charges` | Function | metered requests counted against a quota |
//! | `Refunds` | Function | counted requests given back (we failed them) |
//! | `QuotaRefusals` | Function, Tier | 429s |
//! | `QuotaThresholdCrossings` | Function, Threshold | first crossings of 80 % / 100 % in a month |
//! | `KeyVerifications` | Function, Outcome | `cache_hit`, `bcrypt`, `bcrypt_rejected`, `rejected_cached`, `unknown_key` |
//! | `StorageErrors` | Function, Kind | `throttled`, `unavailable`, `internal`, `corrupt` |
//! | `SourceCalls`, `SourceFailures`, `SourceCacheHits` | Function, Source; and Function alone | per upstream source |
//! | `SourceLatency` (ms) | Function, Source | upstream calls (not cache hits) |
use std::io::Write;
use std::sync::OnceLock;

use lambda_http::http::{Method, StatusCode};
use metrics_cloudwatch_embedded::Collector;

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// Unit tests that flush or install the process-wide collector take this lock, so that one
/// test's flush never writes another's counters.
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub const DEFAULT_NAMESPACE: &str = "HarmonicApi/local";

/// Installs the EMF collector as the process's metrics recorder (once, at cold start). Without
/// it (unit and integration tests) the metric calls do nothing.
pub fn install(function: &'static str) {
    let namespace =
        std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| DEFAULT_NAMESPACE.to_owned());
    install_with(function, namespace);
}

fn install_with(function: &'static str, namespace: String) {
    if COLLECTOR.get().is_some() {
        return;
    }
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension("Function", function)
        .init()
    {
        Ok(collector) => {
            let _ = COLLECTOR.set(collector);
            describe();
        }
        Err(error) => tracing::warn!(error = %error, "metrics collector not installed"),
    }
}

fn describe() {
    metrics::describe_histogram!(
        "SourceLatency",
        metrics::Unit::Milliseconds,
        "upstream latency"
    );
}

/// Writes the metrics counted since the last flush as EMF lines on stdout, in one write so that
/// no log line from another task can land inside a document.
pub fn flush(request_id: &str) {
    let Some(collector) = COLLECTOR.get() else {
        return;
    };
    collector.set_property("requestId", request_id.to_owned());
    let mut buffer = Vec::new();
    if collector.flush(&mut buffer).is_ok() && !buffer.is_empty() {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(&buffer);
        let _ = stdout.flush();
    }
}

/// The route as a bounded label: `POST /keys/{id}/rotate`. Literal segments come from the
/// product's routes; any other segment is `{id}`; anything longer than a route is `other`.
pub fn route_label(method: &Method, path: &str) -> String {
    const LITERALS: [&str; 6] = ["keys", "stats", "rotate", "audit", "usage", "data"];
    let method = match *method {
        Method::GET | Method::POST | Method::DELETE | Method::OPTIONS => method.as_str(),
        _ => "OTHER",
    };
    // Split here rather than through `http`, so that this module imports nothing of the crate
    // (the store and the HTTP layer both count through it).
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty()
        || segments.len() > 3
        || !matches!(segments[0], "keys" | "usage" | "data")
    {
        return format!("{method} other");
    }
    let shape: Vec<&str> = segments
        .iter()
        .map(|segment| {
            if LITERALS.contains(segment) {
                *segment
            } else {
                "{id}"
            }
        })
        .collect();
    format!("{method} /{}", shape.join("/"))
}

pub fn request(route: String, status: StatusCode, tier: &'static str) {
    let class = match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!("Requests", "Route" => route, "StatusClass" => class, "Tier" => tier)
        .increment(1);
}

pub fn charge() {
    metrics::counter!("Charges").increment(1);
}

pub fn refund() {
    metrics::counter!("Refunds").increment(1);
}

pub fn quota_refusal(tier: &'static str) {
    metrics::counter!("QuotaRefusals", "Tier" => tier).increment(1);
}

pub fn quota_threshold_crossed(threshold: u8) {
    let threshold = match threshold {
        80 => "80",
        100 => "100",
        _ => "other",
    };
    metrics::counter!("QuotaThresholdCrossings", "Threshold" => threshold).increment(1);
}

/// How a presented key was proven (or not).
#[derive(Debug, Clone, Copy)]
pub enum KeyVerification {
    CacheHit,
    Bcrypt,
    BcryptRejected,
    RejectedCached,
    UnknownKey,
}

pub fn key_verification(outcome: KeyVerification) {
    let outcome = match outcome {
        KeyVerification::CacheHit => "cache_hit",
        KeyVerification::Bcrypt => "bcrypt",
        KeyVerification::BcryptRejected => "bcrypt_rejected",
        KeyVerification::RejectedCached => "rejected_cached",
        KeyVerification::UnknownKey => "unknown_key",
    };
    metrics::counter!("KeyVerifications", "Outcome" => outcome).increment(1);
}

/// A storage error by kind (`throttled`, `unavailable`, `internal`, `corrupt`: the store
/// classifies its errors, this module only counts them).
pub fn storage_error(kind: &'static str) {
    metrics::counter!("StorageErrors", "Kind" => kind).increment(1);
}

/// One source's part of a data request: served from the cache, or an upstream call that took
/// `latency_ms` and failed or not.
pub fn source_call(source: &'static str, from_cache: bool, failed: bool, latency_ms: u64) {
    metrics::counter!("SourceCalls", "Source" => source).increment(1);
    metrics::counter!("SourceCalls").increment(1);
    if from_cache {
        metrics::counter!("SourceCacheHits", "Source" => source).increment(1);
        metrics::counter!("SourceCacheHits").increment(1);
    } else {
        metrics::histogram!("SourceLatency", "Source" => source).record(latency_ms as f64);
    }
    if failed {
        metrics::counter!("SourceFailures", "Source" => source).increment(1);
        metrics::counter!("SourceFailures").increment(1);
    }
}

/// A flush of the work after the response that left puts for the next one.
pub fn usage_flush_failure() {
    metrics::counter!("UsageFlushFailures").increment(1);
}

/// Usage events dropped because storage refused them for too long (see `after_response`).
pub fn usage_events_dropped(count: u64) {
    metrics::counter!("UsageEventsDropped").increment(count);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn routes_become_bounded_labels() {
        let cases = [
            (Method::POST, "/keys", "POST /keys"),
            (Method::GET, "/keys/stats", "GET /keys/stats"),
            (Method::GET, "/keys/audit", "GET /keys/audit"),
            (Method::DELETE, "/keys/AbCdEfGhIj", "DELETE /keys/{id}"),
            (
                Method::POST,
                "/keys/AbCdEfGhIj/rotate",
                "POST /keys/{id}/rotate",
            ),
            (Method::POST, "/keys/x/anything", "POST /keys/{id}/{id}"),
            (Method::GET, "/usage", "GET /usage"),
            (Method::PATCH, "/data", "OTHER /data"),
            (Method::GET, "/", "GET other"),
            (Method::GET, "/secret-looking/hm_abc", "GET other"),
            (Method::GET, "/keys/a/b/c", "GET other"),
        ];
        for (method, path, expected) in cases {
            assert_eq!(route_label(&method, path), expected, "{method} {path}");
        }
    }

    /// The one test that installs the process-wide collector (unit tests of this crate emit no
    /// other metric). Output goes to a buffer, parsed as CloudWatch would.
    #[test]
    fn metrics_are_written_as_embedded_metric_format_documents() {
        let _serial = TEST_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        install_with("data", "HarmonicApi/test".to_owned());
        let collector = COLLECTOR.get().expect("installed");
        request("POST /data".into(), StatusCode::OK, "free");
        request("POST /data".into(), StatusCode::OK, "free");
        request("POST /data".into(), StatusCode::BAD_GATEWAY, "pro");
        charge();
        refund();
        source_call("wiki", false, true, 42);
        source_call("wiki", true, false, 0);
        key_verification(KeyVerification::CacheHit);
        collector.set_property("requestId", "req-1".to_owned());
        let mut buffer = Vec::new();
        collector.flush(&mut buffer).unwrap();
        let documents: Vec<Value> = String::from_utf8(buffer)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON document"))
            .collect();
        let find = |metric: &str, dimensions: &[(&str, &str)]| -> Value {
            documents
                .iter()
                .find(|doc| {
                    doc.get(metric).is_some()
                        && dimensions.iter().all(|(name, value)| doc[*name] == *value)
                        && doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
                            .as_array()
                            .is_some_and(|dims| dims.len() == dimensions.len())
                })
                .unwrap_or_else(|| panic!("no {metric} {dimensions:?} in {documents:#?}"))
                .clone()
        };
        let ok = find(
            "Requests",
            &[
                ("Function", "data"),
                ("Route", "POST /data"),
                ("StatusClass", "2xx"),
                ("Tier", "free"),
            ],
        );
        assert_eq!(ok["Requests"], 2);
        assert_eq!(ok["requestId"], "req-1");
        let emf = &ok["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(emf["Namespace"], "HarmonicApi/test");
        assert!(ok["_aws"]["Timestamp"].as_u64().is_some());
        assert_eq!(emf["Metrics"][0]["Name"], "Requests");
        let failed = find(
            "Requests",
            &[
                ("Function", "data"),
                ("Route", "POST /data"),
                ("StatusClass", "5xx"),
                ("Tier", "pro"),
            ],
        );
        assert_eq!(failed["Requests"], 1);
        let totals = find("Charges", &[("Function", "data")]);
        assert_eq!(totals["Charges"], 1);
        assert_eq!(totals["Refunds"], 1);
        assert_eq!(totals["SourceCalls"], 2);
        assert_eq!(totals["SourceFailures"], 1);
        assert_eq!(totals["SourceCacheHits"], 1);
        let wiki = find("SourceLatency", &[("Function", "data"), ("Source", "wiki")]);
        assert_eq!(wiki["SourceLatency"], serde_json::json!([42.0]));
        assert_eq!(wiki["SourceCalls"], 2);
        let unit = wiki["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Name"] == "SourceLatency")
            .unwrap()["Unit"]
            .clone();
        assert_eq!(unit, "Milliseconds");
        let hits = find(
            "KeyVerifications",
            &[("Function", "data"), ("Outcome", "cache_hit")],
        );
        assert_eq!(hits["KeyVerifications"], 1);
        // Counters restart from zero after a flush: nothing new, nothing written.
        let mut again = Vec::new();
        collector.flush(&mut again).unwrap();
        assert!(!String::from_utf8(again).unwrap().contains("\"Requests\""));
    }
}
