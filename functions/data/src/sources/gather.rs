//! The gather: every requested source run concurrently, each under its own deadline, through
//! its cache and failure memo; and `known_failures`, the answer known without calling anyone.
//!
//! Reading order of one source: this container's cache, then (when wired to the table) the
//! fleet's shared cache, then the upstream. A shared hit fills this container's cache for what
//! it had left; an upstream success is offered to the fleet after the response. Failures stay
//! in this container's memo only, never in the shared cache.
//!
//! Owns `Gathered` (per-source outcomes in the requested order; `render` turns it into the
//! response body) and the cache key, which says what each source's answer depends on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use harmonic_shared::ops_metrics;
use tokio::time::Instant;

use super::memo::RememberedFailure;
use super::shared_cache::{self, CachedAnswer, SharedCache};
use super::{upstream, wiki, SourceError, Sources};
use crate::model::{Mode, SourceFailure, SourceKind, SourceOutcome, SourceSuccess};
use crate::request::{DataRequest, Query};

/// Everything a gather produced, in the order the sources were requested.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered {
    pub query: Query,
    pub mode: Mode,
    pub sources: Vec<SourceKind>,
    pub outcomes: Vec<SourceOutcome>,
    /// Wall-clock time of the whole gather.
    pub elapsed: Duration,
}

impl Gathered {
    /// True when at least one source was asked for and none produced data.
    pub fn all_failed(&self) -> bool {
        !self.outcomes.is_empty() && self.successes().next().is_none()
    }

    pub fn successes(&self) -> impl Iterator<Item = &SourceSuccess> {
        self.outcomes.iter().filter_map(|outcome| match outcome {
            SourceOutcome::Success(success) => Some(success),
            SourceOutcome::Failure(_) => None,
        })
    }

    pub fn failures(&self) -> impl Iterator<Item = &SourceFailure> {
        self.outcomes.iter().filter_map(|outcome| match outcome {
            SourceOutcome::Failure(failure) => Some(failure),
            SourceOutcome::Success(_) => None,
        })
    }
}

impl Sources {
    /// Runs the requested sources concurrently. Each gets `source_timeout`, none outlives
    /// `request_deadline`, so the whole takes about as long as the slowest source.
    pub async fn gather(&self, request: &DataRequest) -> Gathered {
        let started = Instant::now();
        let budget = self
            .settings
            .source_timeout
            .min(self.settings.request_deadline);
        let outcomes = join_all(
            request
                .sources
                .iter()
                .map(|&kind| self.run_source(kind, request, started + budget, budget)),
        )
        .await;
        Gathered {
            query: request.query.clone(),
            mode: request.mode,
            sources: request.sources.clone(),
            outcomes,
            elapsed: started.elapsed(),
        }
    }

    async fn run_source(
        &self,
        kind: SourceKind,
        request: &DataRequest,
        deadline: Instant,
        budget: Duration,
    ) -> SourceOutcome {
        let started = Instant::now();
        let counters = &self.counters[kind.index()];
        counters.asked();
        let cache = &self.caches[kind.index()];
        let memo = &self.failures[kind.index()];
        let key = cache_key(kind, request);

        if !cache.contains_key(&key) {
            if let Some(remembered) = memo.get(&key).await {
                counters.failure_remembered();
                tracing::info!(source = %kind, code = remembered.error.code(), "remembered failure, upstream not called");
                return SourceOutcome::Failure(remembered.to_failure(kind));
            }
        }

        // One entry API for hits and misses: concurrent misses on the same key share a single
        // shared-cache read and upstream call (which matters for arXiv's and GDELT's
        // one-call-per-interval rules), and an `Err` is handed to every waiter without being
        // cached.
        let from_fleet = AtomicBool::new(false);
        let lookup = cache
            .entry(key.clone())
            .or_try_insert_with(upstream::within_deadline(
                deadline,
                self.obtain(kind, request, &key, &from_fleet),
            ));
        let result = match tokio::time::timeout_at(deadline, lookup).await {
            // An entry this call inserted from the fleet's cache is a cache hit, not an upstream call.
            Ok(Ok(entry)) => Ok((
                entry.is_fresh() && !from_fleet.load(Ordering::Relaxed),
                entry.into_value().answer,
            )),
            Ok(Err(shared)) => Err(SourceError::clone(&shared)),
            Err(_) => Err(SourceError::Timeout(format!(
                "{} did not answer within {} ms",
                kind.display_name(),
                budget.as_millis()
            ))),
        };
        let latency_ms = millis(started.elapsed());

        match result {
            Ok((fresh, answer)) => {
                if fresh {
                    counters.upstream_call(latency_ms, false);
                } else {
                    counters.cache_hit();
                }
                ops_metrics::source_call(kind.as_str(), !fresh, false, latency_ms);
                SourceOutcome::Success(SourceSuccess {
                    source: kind,
                    matched: answer.no_match.is_none(),
                    message: answer.no_match,
                    data: answer.data,
                    from_cache: !fresh,
                    latency_ms,
                })
            }
            Err(error) => {
                counters.upstream_call(latency_ms, true);
                ops_metrics::source_call(kind.as_str(), false, true, latency_ms);
                tracing::warn!(source = %kind, code = error.code(), error = %error, latency_ms, "source failed");
                let failure = SourceFailure {
                    source: kind,
                    error: error.to_string(),
                    code: error.code(),
                    retry_after_seconds: None,
                };
                // Politeness refusals are not remembered: they called no upstream, and the
                // back-off an upstream ordered is already known to `known_failures` by its gate.
                if !matches!(error, SourceError::RateLimited(_)) {
                    memo.insert(
                        key,
                        RememberedFailure {
                            error,
                            until: Instant::now() + self.settings.failure_memo_ttl,
                        },
                    )
                    .await;
                }
                SourceOutcome::Failure(failure)
            }
        }
    }

    /// A missed answer: the fleet's, if the shared cache has it (`from_fleet` is then set), else
    /// the upstream's, offered to the fleet when it succeeded.
    async fn obtain(
        &self,
        kind: SourceKind,
        request: &DataRequest,
        key: &str,
        from_fleet: &AtomicBool,
    ) -> Result<CachedAnswer, SourceError> {
        let lifetime = self.settings.cache_ttl.for_kind(kind);
        let shared = self
            .shared_cache
            .as_ref()
            .filter(|_| shared_cache::is_shared(kind))
            .map(|cache| (cache, SharedCache::key(&self.settings, kind, key)));
        if let Some((cache, shared_key)) = &shared {
            let timeout = self.settings.shared_state_timeout;
            if let Some(hit) = cache.read(kind, shared_key, timeout).await {
                from_fleet.store(true, Ordering::Relaxed);
                return Ok(hit);
            }
        }
        let answer = self.fetch(kind, request).await?;
        if let Some((cache, shared_key)) = &shared {
            cache.offer(kind, shared_key, &answer, lifetime);
        }
        Ok(CachedAnswer { answer, lifetime })
    }

    /// The failures of `request` known without calling anyone: `Some` only when EVERY requested
    /// source has no cached answer and either a remembered failure for this query or a back-off
    /// ordered by its upstream. The handler then answers at once, without charging or writing
    /// anything, so repeating a failing request costs neither an upstream call nor a write.
    pub async fn known_failures(&self, request: &DataRequest) -> Option<Vec<SourceFailure>> {
        let mut failures = Vec::with_capacity(request.sources.len());
        for &kind in &request.sources {
            let key = cache_key(kind, request);
            if self.caches[kind.index()].contains_key(&key) {
                return None;
            }
            if let Some(remembered) = self.failures[kind.index()].get(&key).await {
                failures.push(remembered.to_failure(kind));
            } else if let Some(left) = self.gate(kind).backed_off_for() {
                let seconds = left.as_secs().max(1);
                failures.push(SourceFailure {
                    source: kind,
                    error: upstream::backing_off(kind, left).to_string(),
                    code: "rate_limited",
                    retry_after_seconds: Some(seconds),
                });
            } else {
                return None;
            }
        }
        for failure in &failures {
            self.counters[failure.source.index()].refused_unmetered();
        }
        (!failures.is_empty()).then_some(failures)
    }
}

/// The cache key (and failure-memo key): what the source's answer depends on. Wikipedia's is the
/// very title it fetches ([`wiki::title`]: only the first letter is case-insensitive there, so
/// "AIDS" and "Aids" stay apart while "ayrton Senna" and "Ayrton Senna" share an entry); the
/// others search case-insensitively and use the lowercased query, plus `maxResults` for sources
/// whose answer is a list of that length.
fn cache_key(kind: SourceKind, request: &DataRequest) -> String {
    match kind {
        SourceKind::Wiki => wiki::title(request.query.as_str()),
        SourceKind::Weather => request.query.normalized(),
        SourceKind::Arxiv | SourceKind::News | SourceKind::Curiosity => {
            format!(
                "{}\u{1f}{}",
                request.query.normalized(),
                request.max_results
            )
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: SourceKind, body: &str) -> String {
        cache_key(kind, &DataRequest::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn queries_that_differ_only_in_case_and_spacing_share_a_key() {
        for kind in [SourceKind::Arxiv, SourceKind::News, SourceKind::Weather] {
            assert_eq!(
                key(kind, r#"{"query":"  Quantum \t Computing "}"#),
                key(kind, r#"{"query":"quantum computing"}"#),
                "{kind}"
            );
        }
        assert_eq!(
            key(SourceKind::Wiki, r#"{"query":"ayrton Senna"}"#),
            key(SourceKind::Wiki, r#"{"query":"Ayrton Senna"}"#)
        );
    }

    #[test]
    fn what_an_answer_depends_on_keeps_keys_apart() {
        assert_ne!(
            key(SourceKind::Arxiv, r#"{"query":"quantum","maxResults":5}"#),
            key(SourceKind::Arxiv, r#"{"query":"quantum","maxResults":6}"#)
        );
        assert_ne!(
            key(SourceKind::Wiki, r#"{"query":"AIDS"}"#),
            key(SourceKind::Wiki, r#"{"query":"Aids"}"#)
        );
    }
}
