//! The per-source counters behind `?action=stats`: updated lock-free from concurrent requests,
//! read as a `SourceStats` snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::Sources;
use crate::model::SourceKind;

/// Counters of one source, updated lock-free from concurrent requests.
#[derive(Debug, Default)]
pub(super) struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    cache_hits: AtomicU64,
    upstream_calls: AtomicU64,
    upstream_latency_ms: AtomicU64,
    /// Failures answered from the memo, without an upstream call.
    failures_remembered: AtomicU64,
    /// Requests answered before metering because every source was known to fail.
    requests_refused_unmetered: AtomicU64,
}

impl Counters {
    /// The source was asked for (whatever comes of it).
    pub(super) fn asked(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Answered from the failure memo: a failure, without an upstream call.
    pub(super) fn failure_remembered(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.failures_remembered.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// An upstream exchange (or the wait for one) that took `latency_ms`; `failed` when it
    /// ended as a failure.
    pub(super) fn upstream_call(&self, latency_ms: u64, failed: bool) {
        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
        self.upstream_latency_ms
            .fetch_add(latency_ms, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The request was answered unmetered because every requested source was known to fail.
    pub(super) fn refused_unmetered(&self) {
        self.requests_refused_unmetered
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Serializable snapshot of one source's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStats {
    pub source: SourceKind,
    /// Times this source was asked for (cache hits included).
    pub requests: u64,
    /// Times it ended as a failure.
    pub errors: u64,
    pub cache_hits: u64,
    /// cache_hits / requests, 0 when there were no requests.
    pub hit_rate: f64,
    /// Mean latency of the requests that were not served from the cache.
    pub mean_latency_ms: f64,
    /// Failures answered from the one-minute memo (no upstream call).
    pub failures_remembered: u64,
    /// Requests answered unmetered because every requested source was known to fail.
    pub requests_refused_unmetered: u64,
    /// Seconds left before a back-off ordered by the upstream ends, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backed_off_for_seconds: Option<u64>,
}

impl Sources {
    /// A snapshot of every source's counters.
    pub fn stats(&self) -> Vec<SourceStats> {
        SourceKind::ALL
            .into_iter()
            .map(|kind| {
                let counters = &self.counters[kind.index()];
                let requests = counters.requests.load(Ordering::Relaxed);
                let cache_hits = counters.cache_hits.load(Ordering::Relaxed);
                let upstream_calls = counters.upstream_calls.load(Ordering::Relaxed);
                let latency = counters.upstream_latency_ms.load(Ordering::Relaxed);
                SourceStats {
                    source: kind,
                    requests,
                    errors: counters.errors.load(Ordering::Relaxed),
                    cache_hits,
                    hit_rate: ratio(cache_hits, requests),
                    mean_latency_ms: ratio(latency, upstream_calls),
                    failures_remembered: counters.failures_remembered.load(Ordering::Relaxed),
                    requests_refused_unmetered: counters
                        .requests_refused_unmetered
                        .load(Ordering::Relaxed),
                    backed_off_for_seconds: self
                        .gate(kind)
                        .backed_off_for()
                        .map(|left| left.as_secs().max(1)),
                }
            })
            .collect()
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}
