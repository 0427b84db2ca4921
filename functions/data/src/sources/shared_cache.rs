//! The second cache level, shared by every container through the table: when this container's
//! own cache misses, a networked source asks for the fleet's cached result before calling its
//! upstream, and an upstream success is handed to the after-response writes for the others.
//!
//! Owns `SharedCache` (the store and where deferred writes go), `CachedAnswer` (what the
//! container cache holds: the answer and how long it stays, so a result taken from the fleet
//! lives no longer here than it had left there) and the shared key. Reads never fail a
//! request: an unreachable, slow or unreadable shared cache is a miss, logged, and the upstream
//! answers.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use harmonic_shared::store::{DeferredPut, Store};

use super::{Answer, SourceSettings};
use crate::model::SourceKind;

/// Where this container sends the writes built on the request path: the after-response batch.
pub type DeferredWrites = Arc<dyn Fn(DeferredPut) + Send + Sync>;

/// The version of what a shared value holds (the JSON of [`Answer`] and every source's `data`).
/// It is part of the shared key, so bump it with any change to those shapes: during a
/// deployment old and new containers then keep apart instead of serving each other's shape.
const VALUE_FORMAT: u32 = 1;

/// An answer in this container's cache and how long it stays there.
#[derive(Debug, Clone)]
pub(super) struct CachedAnswer {
    pub(super) answer: Answer,
    pub(super) lifetime: Duration,
}

/// Lets each cached answer expire after its own lifetime (the source's TTL for an upstream
/// answer, what was left for one taken from the fleet).
pub(super) struct OwnLifetime;

impl moka::Expiry<String, CachedAnswer> for OwnLifetime {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &CachedAnswer,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}

/// Whether `kind`'s answers go through the fleet's cache: every networked source. The
/// knowledge base is compiled in; reading its answer back from the table would be slower than
/// answering.
pub(super) fn is_shared(kind: SourceKind) -> bool {
    !matches!(kind, SourceKind::Curiosity)
}

/// The fleet's cache of source results, in the table.
pub(super) struct SharedCache {
    store: Store,
    deferred: DeferredWrites,
}

impl SharedCache {
    pub(super) fn new(store: Store, deferred: DeferredWrites) -> Self {
        Self { store, deferred }
    }

    /// The key of `kind`'s result in the fleet's cache: the container cache's key plus what the
    /// answer also depends on across containers and releases, the upstream it came from (a
    /// `NEWS_PROVIDER` change must not serve the other provider's articles) and the value format.
    pub(super) fn key(settings: &SourceSettings, kind: SourceKind, cache_key: &str) -> String {
        format!(
            "v{VALUE_FORMAT}\u{1f}{}\u{1f}{cache_key}",
            settings.upstream_of(kind)
        )
    }

    /// The fleet's live answer for `key`, within `timeout`. Any failure is a miss, logged
    /// without the key (it holds the caller's query).
    pub(super) async fn read(
        &self,
        kind: SourceKind,
        key: &str,
        timeout: Duration,
    ) -> Option<CachedAnswer> {
        let now = Utc::now();
        // Boxed: the SDK's futures are deeply nested types, and every source's fetch future
        // would nest this one (past the compiler's layout depth limit in bigger callers).
        let read = Box::pin(self.store.cached_result(kind.as_str(), key, now));
        let found = match tokio::time::timeout(timeout, read).await {
            Ok(Ok(found)) => found?,
            Ok(Err(error)) => {
                tracing::warn!(source = %kind, error = %error, "shared cache unreadable; asking the upstream");
                return None;
            }
            Err(_) => {
                tracing::warn!(source = %kind, timeout_ms = timeout.as_millis() as u64, "shared cache did not answer in time; asking the upstream");
                return None;
            }
        };
        let answer: Answer = match serde_json::from_str(&found.value) {
            Ok(answer) => answer,
            Err(error) => {
                tracing::warn!(source = %kind, error = %error, "shared cache value does not decode; asking the upstream");
                return None;
            }
        };
        let lifetime = (found.expires_at - now).to_std().ok()?;
        tracing::debug!(source = %kind, lifetime_s = lifetime.as_secs(), "shared cache hit");
        Some(CachedAnswer { answer, lifetime })
    }

    /// Hands the write that shares `answer` for `lifetime` to the deferred writes; nothing is
    /// sent here. An answer too large for one item stays in this container only.
    pub(super) fn offer(&self, kind: SourceKind, key: &str, answer: &Answer, lifetime: Duration) {
        let expires_at = chrono::Duration::from_std(lifetime)
            .ok()
            .and_then(|lifetime| Utc::now().checked_add_signed(lifetime));
        let Some(expires_at) = expires_at else {
            tracing::debug!(source = %kind, "cache lifetime beyond any date; not shared");
            return;
        };
        let value = match serde_json::to_string(answer) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(source = %kind, error = %error, "answer does not encode; not shared");
                return;
            }
        };
        match self
            .store
            .cached_result_put(kind.as_str(), key, &value, expires_at)
        {
            Some(put) => (self.deferred)(put),
            None => {
                tracing::info!(source = %kind, bytes = value.len(), "answer too large for the shared cache; kept in this container only")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_keys_keep_apart_sources_upstreams_and_queries() {
        let settings = SourceSettings::defaults();
        let mut elsewhere = SourceSettings::defaults();
        elsewhere.arxiv_url = "http://127.0.0.1:9".to_owned();
        let keys = [
            SharedCache::key(&settings, SourceKind::Arxiv, "quantum\u{1f}5"),
            SharedCache::key(&elsewhere, SourceKind::Arxiv, "quantum\u{1f}5"),
            SharedCache::key(&settings, SourceKind::Arxiv, "quantum\u{1f}6"),
            SharedCache::key(&settings, SourceKind::News, "quantum\u{1f}5"),
        ];
        for (index, key) in keys.iter().enumerate() {
            assert!(key.starts_with("v1\u{1f}"), "{key:?} names its format");
            assert!(
                keys[index + 1..].iter().all(|other| other != key),
                "{key:?} repeats"
            );
        }
    }

    #[test]
    fn only_networked_sources_share_their_answers() {
        let shared: Vec<_> = SourceKind::ALL
            .into_iter()
            .filter(|k| is_shared(*k))
            .collect();
        assert_eq!(
            shared,
            [
                SourceKind::Wiki,
                SourceKind::Arxiv,
                SourceKind::News,
                SourceKind::Weather
            ]
        );
    }

    #[test]
    fn an_answer_round_trips_through_its_shared_json() {
        let answer = Answer {
            data: serde_json::json!({"papers": [{"id": "2206.06921v3"}]}),
            no_match: None,
        };
        let nothing = Answer {
            data: serde_json::Value::Null,
            no_match: Some("Wikipedia has no article matching \"x\"".to_owned()),
        };
        for case in [answer, nothing] {
            let text = serde_json::to_string(&case).unwrap();
            assert_eq!(
                serde_json::from_str::<Answer>(&text).unwrap(),
                case,
                "{text}"
            );
        }
    }
}
