//! The source catalogue of `?action=sources`: every source with the upstream and cache TTL
//! actually configured in this container.

use serde::Serialize;

use super::Sources;
use crate::model::SourceKind;

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

impl Sources {
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
}
