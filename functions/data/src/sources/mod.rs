//! The upstream sources of `POST /api/v1/data`.
//!
//! Owns `SourceKind` (names, aliases, catalogue text), `SourceError` (per-source failure with a
//! stable code), `Answer` (what a source that answered produced, "nothing matched" included) and
//! `Sources`: the per-container state built once from `SourceSettings` — one HTTP client, one
//! cache and one one-minute failure memo per source, per-source politeness (minimum interval,
//! one connection at a time, back-off after 429) and per-source counters — plus `gather`, which
//! runs the requested sources concurrently, each under its own timeout. Each upstream lives in
//! its own submodule.

mod arxiv;
mod curiosity;
mod news;
mod settings;
mod upstream;
mod weather;
mod wiki;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::join_all;
use moka::future::Cache;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::aggregate::{Gathered, SourceFailure, SourceOutcome, SourceSuccess};
use crate::request::DataRequest;

pub use settings::{
    ApiKey, CacheTtls, NewsProvider, SettingsError, SourceSettings, DEFAULT_UPSTREAM_MAX_BYTES,
    DEFAULT_USER_AGENT,
};
use upstream::Gate;

/// One of the five sources a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Wiki,
    Arxiv,
    News,
    Weather,
    Curiosity,
}

impl SourceKind {
    /// Every source, in the order used when a request names none.
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Wiki,
        SourceKind::Arxiv,
        SourceKind::News,
        SourceKind::Weather,
        SourceKind::Curiosity,
    ];

    /// The canonical short name (`wiki`, `arxiv`, `news`, `weather`, `curiosity`).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Wiki => "wiki",
            SourceKind::Arxiv => "arxiv",
            SourceKind::News => "news",
            SourceKind::Weather => "weather",
            SourceKind::Curiosity => "curiosity",
        }
    }

    /// The key used in the comprehensive response body.
    pub fn long_name(self) -> &'static str {
        match self {
            SourceKind::Wiki => "wikipedia",
            other => other.as_str(),
        }
    }

    /// Other accepted spellings.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            SourceKind::Wiki => &["wikipedia"],
            SourceKind::Weather => &["climate"],
            SourceKind::Curiosity => &["kb"],
            SourceKind::Arxiv | SourceKind::News => &[],
        }
    }

    /// Parses a source name or alias, ignoring case and surrounding whitespace.
    pub fn parse(name: &str) -> Option<SourceKind> {
        let name = name.trim().to_ascii_lowercase();
        SourceKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name || kind.aliases().contains(&name.as_str()))
    }

    /// Human name of the upstream, used in error messages.
    pub fn display_name(self) -> &'static str {
        match self {
            SourceKind::Wiki => "Wikipedia",
            SourceKind::Arxiv => "arXiv",
            SourceKind::News => "the news provider",
            SourceKind::Weather => "Open-Meteo",
            SourceKind::Curiosity => "the knowledge base",
        }
    }

    /// What a successful `data` value holds, for the catalogue.
    pub fn returns(self) -> &'static str {
        match self {
            SourceKind::Wiki => "the summary of the best-matching Wikipedia article: title, description, extract, thumbnail, page URL, type, and whether it is a disambiguation page",
            SourceKind::Arxiv => "up to maxResults arXiv papers by relevance: id, title, summary, authors, dates, categories, abstract/PDF URLs, DOI, journal reference, comment",
            SourceKind::News => "up to maxResults recent articles (GDELT: last 7 days, newest first): title, URL, domain, language, country, time seen, image",
            SourceKind::Weather => "current conditions at the place named by the query: place, coordinates, temperature, humidity, wind, precipitation, WMO weather code and meaning, local time",
            SourceKind::Curiosity => "up to maxResults well-known facts from a built-in knowledge base (biology, physics, medicine, artificial intelligence, environment)",
        }
    }

    fn index(self) -> usize {
        match self {
            SourceKind::Wiki => 0,
            SourceKind::Arxiv => 1,
            SourceKind::News => 2,
            SourceKind::Weather => 3,
            SourceKind::Curiosity => 4,
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SourceKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Why one source produced no data: the upstream failed us (or we never reached it). The
/// message is safe to show to clients: it describes the upstream's answer, never our internals.
///
/// "Nothing matched" is NOT an error: a source that answered is a success, with an [`Answer`]
/// that says so. Only these count as failed, and only a request whose every source failed is
/// refunded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    BadResponse(String),
    /// The body exceeded `UPSTREAM_MAX_BYTES`; reading stopped at the cap.
    #[error("{0}")]
    TooLarge(String),
}

impl SourceError {
    /// Stable machine-readable code for `failedSources[].code`.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Timeout(_) => "timeout",
            SourceError::RateLimited(_) => "rate_limited",
            SourceError::Upstream(_) => "upstream_error",
            SourceError::BadResponse(_) => "bad_response",
            SourceError::TooLarge(_) => "too_large",
        }
    }
}

/// What a source that answered produced. `no_match` is the sentence saying that nothing matched
/// the query (Wikipedia has no such article, Open-Meteo knows no such place, no papers or
/// articles, a query the source cannot search for); the request is charged all the same: the
/// source did its work.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub data: Value,
    pub no_match: Option<String>,
}

impl Answer {
    pub(crate) fn matched<T: Serialize>(data: T) -> Result<Answer, SourceError> {
        Ok(Answer {
            data: to_value(data)?,
            no_match: None,
        })
    }

    /// Nothing matched; `data` is the source's empty shape (`null` for a single object).
    pub(crate) fn nothing<T: Serialize>(
        data: T,
        message: impl Into<String>,
    ) -> Result<Answer, SourceError> {
        Ok(Answer {
            data: to_value(data)?,
            no_match: Some(message.into()),
        })
    }
}

/// A failure kept for `failure_memo_ttl`, so repeating its (source, query) calls no upstream.
#[derive(Debug, Clone)]
struct RememberedFailure {
    error: SourceError,
    until: Instant,
}

impl RememberedFailure {
    fn seconds_left(&self) -> u64 {
        let left = self.until.saturating_duration_since(Instant::now());
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }

    fn to_failure(&self, kind: SourceKind) -> SourceFailure {
        let seconds = self.seconds_left().max(1);
        SourceFailure {
            source: kind,
            error: format!(
                "{} (failed within the last minute for this query; not asked again for {seconds} s)",
                self.error
            ),
            code: self.error.code(),
            retry_after_seconds: Some(seconds),
        }
    }
}

/// Building `Sources` failed (the HTTP client could not be created).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client for the upstream sources: {0}")]
pub struct SourcesInitError(#[from] reqwest::Error);

/// Counters of one source, updated lock-free from concurrent requests.
#[derive(Debug, Default)]
struct Counters {
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

/// One catalogue entry (`?action=sources`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDescription {
    pub name: &'static str,
    pub long_name: &'static str,
    pub aliases: &'static [&'static str],
    pub upstream: String,
    pub cache_ttl_seconds: u64,
    pub returns: &'static str,
}

/// The per-container state of all sources. Build it once (cold start) and share it.
pub struct Sources {
    settings: SourceSettings,
    client: reqwest::Client,
    caches: [Cache<String, Answer>; 5],
    /// Recent failures per source, by cache key (per container; a fleet-wide memo is later work).
    failures: [Cache<String, RememberedFailure>; 5],
    gates: [Gate; 5],
    counters: [Counters; 5],
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Sources {
    /// Builds the client, caches and politeness gates.
    pub fn new(settings: SourceSettings) -> Result<Sources, SourcesInitError> {
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.source_timeout.min(Duration::from_secs(2)))
            // A safety net only: each source runs under its own, usually tighter, deadline.
            .timeout(settings.request_deadline)
            // Wikipedia answers 301 for non-normalized titles and 302 for redirect pages; no
            // redirect leaves the source's own origin (NewsAPI's key header goes with it).
            .redirect(upstream::same_origin_redirects())
            .build()?;
        let caches = SourceKind::ALL.map(|kind| {
            Cache::builder()
                .max_capacity(settings.cache_max_entries)
                .time_to_live(settings.cache_ttl.for_kind(kind))
                .build()
        });
        let failures = SourceKind::ALL.map(|_| {
            Cache::builder()
                .max_capacity(settings.cache_max_entries)
                .time_to_live(settings.failure_memo_ttl)
                .build()
        });
        let gates = SourceKind::ALL.map(|kind| match kind {
            // arXiv terms of use: one request every 3 s, one connection at a time.
            SourceKind::Arxiv => Gate::new(Some(settings.arxiv_min_interval), true),
            SourceKind::News if settings.news_provider == NewsProvider::Gdelt => {
                Gate::new(Some(settings.gdelt_min_interval), false)
            }
            _ => Gate::new(None, false),
        });
        Ok(Sources {
            settings,
            client,
            caches,
            failures,
            gates,
            counters: Default::default(),
        })
    }

    pub fn settings(&self) -> &SourceSettings {
        &self.settings
    }

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
        counters.requests.fetch_add(1, Ordering::Relaxed);
        let cache = &self.caches[kind.index()];
        let memo = &self.failures[kind.index()];
        let key = cache_key(kind, request);

        if !cache.contains_key(&key) {
            if let Some(remembered) = memo.get(&key).await {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                counters.failures_remembered.fetch_add(1, Ordering::Relaxed);
                tracing::info!(source = %kind, code = remembered.error.code(), "remembered failure, upstream not called");
                return SourceOutcome::Failure(remembered.to_failure(kind));
            }
        }

        // One entry API for hits and misses: concurrent misses on the same key share a single
        // upstream call (which matters for arXiv's and GDELT's one-call-per-interval rules), and
        // an `Err` is handed to every waiter without being cached.
        let lookup = cache
            .entry(key.clone())
            .or_try_insert_with(self.fetch(kind, request));
        let result = match tokio::time::timeout_at(deadline, lookup).await {
            Ok(Ok(entry)) => Ok((entry.is_fresh(), entry.into_value())),
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
                    counters.upstream_calls.fetch_add(1, Ordering::Relaxed);
                    counters
                        .upstream_latency_ms
                        .fetch_add(latency_ms, Ordering::Relaxed);
                } else {
                    counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                }
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
                counters.upstream_calls.fetch_add(1, Ordering::Relaxed);
                counters
                    .upstream_latency_ms
                    .fetch_add(latency_ms, Ordering::Relaxed);
                counters.errors.fetch_add(1, Ordering::Relaxed);
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
            self.counters[failure.source.index()]
                .requests_refused_unmetered
                .fetch_add(1, Ordering::Relaxed);
        }
        (!failures.is_empty()).then_some(failures)
    }

    async fn fetch(&self, kind: SourceKind, request: &DataRequest) -> Result<Answer, SourceError> {
        let max = usize::from(request.max_results);
        let query = request.query.as_str();
        match kind {
            SourceKind::Wiki => wiki::fetch(self, &wiki::title(query)).await,
            SourceKind::Arxiv => arxiv::fetch(self, query, max).await,
            SourceKind::News => news::fetch(self, query, max).await,
            SourceKind::Weather => weather::fetch(self, query).await,
            SourceKind::Curiosity => curiosity::answer(query, max),
        }
    }

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
                    backed_off_for_seconds: self.gates[kind.index()]
                        .backed_off_for()
                        .map(|left| left.as_secs().max(1)),
                }
            })
            .collect()
    }

    /// Empties every cache and failure memo (admin action); the next request of each kind goes
    /// upstream.
    pub fn clear_caches(&self) {
        for cache in &self.caches {
            cache.invalidate_all();
        }
        for memo in &self.failures {
            memo.invalidate_all();
        }
    }

    /// The source catalogue, with the upstreams and TTLs actually configured.
    pub fn catalogue(&self) -> Vec<SourceDescription> {
        SourceKind::ALL
            .into_iter()
            .map(|kind| SourceDescription {
                name: kind.as_str(),
                long_name: kind.long_name(),
                aliases: kind.aliases(),
                upstream: self.settings.upstream_of(kind),
                cache_ttl_seconds: self.settings.cache_ttl.for_kind(kind).as_secs(),
                returns: kind.returns(),
            })
            .collect()
    }

    fn gate(&self, kind: SourceKind) -> &Gate {
        &self.gates[kind.index()]
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
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

fn to_value<T: Serialize>(data: T) -> Result<Value, SourceError> {
    serde_json::to_value(data)
        .map_err(|e| SourceError::BadResponse(format!("could not encode the result: {e}")))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Collapses runs of whitespace (including newlines from hard-wrapped text) to single spaces.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_parse_case_insensitively() {
        assert_eq!(SourceKind::parse("WikiPedia"), Some(SourceKind::Wiki));
        assert_eq!(SourceKind::parse(" climate "), Some(SourceKind::Weather));
        assert_eq!(SourceKind::parse("KB"), Some(SourceKind::Curiosity));
        assert_eq!(SourceKind::parse("arxiv"), Some(SourceKind::Arxiv));
        assert_eq!(SourceKind::parse("google"), None);
        for kind in SourceKind::ALL {
            assert_eq!(SourceKind::parse(kind.as_str()), Some(kind));
            assert_eq!(SourceKind::ALL[kind.index()], kind);
        }
    }

    #[test]
    fn sources_can_be_shared_across_tasks() {
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        fn assert_send<T: Send>(_: &T) {}
        let sources = Sources::new(SourceSettings::defaults()).unwrap();
        let request = DataRequest::parse(br#"{"query":"x"}"#).unwrap();
        assert_send_sync(&sources);
        // The handler spawns the gather on a multi-threaded runtime.
        assert_send(&sources.gather(&request));
    }

    #[test]
    fn long_names_are_the_comprehensive_keys() {
        let long: Vec<_> = SourceKind::ALL.iter().map(|k| k.long_name()).collect();
        assert_eq!(long, ["wikipedia", "arxiv", "news", "weather", "curiosity"]);
    }
}
