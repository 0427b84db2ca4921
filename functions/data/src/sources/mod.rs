//! The upstream sources of `POST /api/v1/data`.
//!
//! Owns `SourceError` (per-source failure with a stable code), `Answer` (what a source that
//! answered produced, "nothing matched" included) and `Sources`: the per-container state built
//! once from `SourceSettings` — one HTTP client, one cache and one one-minute failure memo per
//! source, per-source politeness gates and counters — and, when wired to the table
//! ([`Sources::with_shared_state`]), what the fleet shares: a second cache level and arXiv's
//! politeness gate. The rest is one file per concern: [`gather`] runs the requested sources,
//! [`memo`] remembers failures, [`shared_cache`] and [`fleet_gate`] reach the fleet's state,
//! [`stats`] counts, [`catalogue`] describes, [`upstream`] is the HTTP exchange, and each
//! upstream has its own module. Reads `model` and `request`; never the rendering.

mod arxiv;
mod catalogue;
mod curiosity;
mod fleet_gate;
mod gather;
mod memo;
mod news;
mod settings;
mod shared_cache;
mod stats;
mod upstream;
mod weather;
mod wiki;

use std::time::Duration;

use harmonic_shared::store::Store;
use moka::future::Cache;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::SourceKind;
use crate::request::DataRequest;

pub use catalogue::SourceDescription;
pub use gather::Gathered;
pub use settings::{
    CacheTtls, NewsApiKey, NewsProvider, SourceSettings, DEFAULT_UPSTREAM_MAX_BYTES,
};
pub use shared_cache::DeferredWrites;
pub use stats::SourceStats;

use fleet_gate::FleetGate;
use memo::RememberedFailure;
use shared_cache::{CachedAnswer, OwnLifetime, SharedCache};
use stats::Counters;
use upstream::Gate;

/// Why one source produced no data: the upstream failed us (or we never reached it). The
/// message is safe to show to clients: it describes the upstream's answer, never our internals.
///
/// "Nothing matched" is NOT an error: a source that answered is a success, with an [`Answer`]
/// that says so. Only these count as failed, and only a request whose every source failed is
/// refunded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SourceError {
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
    pub(crate) fn code(&self) -> &'static str {
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
/// source did its work. Its JSON is what the fleet's cache holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Answer {
    pub(crate) data: Value,
    pub(crate) no_match: Option<String>,
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

/// Building `Sources` failed (the HTTP client could not be created).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client for the upstream sources: {0}")]
pub struct SourcesInitError(#[from] reqwest::Error);

/// The per-container state of all sources. Build it once (cold start) and share it. The arrays
/// are indexed by [`SourceKind::index`].
pub struct Sources {
    settings: SourceSettings,
    client: reqwest::Client,
    caches: [Cache<String, CachedAnswer>; 5],
    /// Recent failures per source, by cache key (per container; a fleet-wide memo is later work).
    failures: [Cache<String, RememberedFailure>; 5],
    gates: [Gate; 5],
    counters: [Counters; 5],
    /// The fleet's result cache, when wired to the table.
    shared_cache: Option<SharedCache>,
    /// The fleet's politeness gate of each source that has one, when wired to the table.
    fleet_gates: [Option<FleetGate>; 5],
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
        // Each answer carries its lifetime: the source's TTL, or what a shared one had left.
        let caches = SourceKind::ALL.map(|_| {
            Cache::builder()
                .max_capacity(settings.cache_max_entries)
                .expire_after(OwnLifetime)
                .build()
        });
        let failures = SourceKind::ALL.map(|_| {
            Cache::builder()
                .max_capacity(settings.cache_max_entries)
                .time_to_live(settings.failure_memo_ttl)
                .build()
        });
        let gates = SourceKind::ALL.map(|kind| politeness_gate(kind, &settings));
        Ok(Sources {
            settings,
            client,
            caches,
            failures,
            gates,
            counters: Default::default(),
            shared_cache: None,
            fleet_gates: Default::default(),
        })
    }

    /// The same sources sharing state with the other containers through `store`'s table: the
    /// fleet's result cache (read after this container's cache misses; upstream successes are
    /// handed to `deferred`, never written on the request path) and the fleet-wide politeness
    /// gate of the upstreams that limit us as a whole (arXiv). Without it every container is
    /// on its own, as in the tests that build `Sources::new` alone.
    pub fn with_shared_state(mut self, store: Store, deferred: DeferredWrites) -> Self {
        self.fleet_gates = SourceKind::ALL
            .map(|kind| fleet_gate_name(kind).map(|name| FleetGate::new(store.clone(), name)));
        self.shared_cache = Some(SharedCache::new(store, deferred));
        self
    }

    pub fn settings(&self) -> &SourceSettings {
        &self.settings
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

    /// Asks `kind`'s upstream (or the knowledge base) for the request's answer.
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

    fn gate(&self, kind: SourceKind) -> &Gate {
        &self.gates[kind.index()]
    }

    fn fleet_gate(&self, kind: SourceKind) -> Option<&FleetGate> {
        self.fleet_gates[kind.index()].as_ref()
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// The politeness rules each upstream asks for.
fn politeness_gate(kind: SourceKind, settings: &SourceSettings) -> Gate {
    match kind {
        // arXiv terms of use: one request every 3 s, one connection at a time.
        SourceKind::Arxiv => Gate::new(Some(settings.arxiv_min_interval), true),
        SourceKind::News => match settings.news_provider {
            NewsProvider::Gdelt => Gate::new(Some(settings.gdelt_min_interval), false),
            NewsProvider::HackerNews { .. } | NewsProvider::NewsApi { .. } => {
                Gate::new(None, false)
            }
        },
        SourceKind::Wiki | SourceKind::Weather | SourceKind::Curiosity => Gate::new(None, false),
    }
}

/// The upstreams whose politeness rule binds the whole fleet, by the name of their gate item.
/// GDELT limits each client address, and containers do not share one (outside a VPC behind a
/// single NAT address), so its gate stays per container.
fn fleet_gate_name(kind: SourceKind) -> Option<&'static str> {
    match kind {
        SourceKind::Arxiv => Some("arxiv"),
        SourceKind::Wiki | SourceKind::News | SourceKind::Weather | SourceKind::Curiosity => None,
    }
}

fn to_value<T: Serialize>(data: T) -> Result<Value, SourceError> {
    serde_json::to_value(data)
        .map_err(|e| SourceError::BadResponse(format!("could not encode the result: {e}")))
}

/// Collapses runs of whitespace (including newlines from hard-wrapped text) to single spaces.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_can_be_shared_across_tasks() {
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        fn assert_send<T: Send>(_: &T) {}
        let sources = Sources::new(SourceSettings::defaults()).unwrap();
        let request = DataRequest::parse(br#"{"query":"x"}"#).unwrap();
        assert_send_sync(&sources);
        // `handle` awaits the gather inside its own future; a `Send` gather keeps that future
        // (and any task a caller spawns around a gather) runnable on a multi-threaded runtime.
        assert_send(&sources.gather(&request));
    }
}
