//! The vocabulary of a data request, shared by the parser, the fetcher and the rendering.
//!
//! Owns `SourceKind` (names, aliases, catalogue text), `Mode` (the answer's shape) and the
//! per-source outcome of a gather (`SourceOutcome`: a `SourceSuccess` or a `SourceFailure`).
//! It imports nothing of this crate, so `request`, `sources` and `render` can all depend on it
//! without depending on each other the wrong way round.

use serde::Serialize;
use serde_json::Value;

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
            SourceKind::Arxiv | SourceKind::News | SourceKind::Weather | SourceKind::Curiosity => {
                self.as_str()
            }
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

    /// The position in [`SourceKind::ALL`]: the index of this source's cache, memo, gate and
    /// counters in `Sources`' per-source arrays.
    pub(crate) fn index(self) -> usize {
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

/// How the answer is shaped: a list of per-source results, or one object keyed by source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Single,
    Comprehensive,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Comprehensive => "comprehensive",
        }
    }
}

/// A source that answered. `matched` is false when nothing matched the query; `message` then
/// says so in words, and `data` is the source's empty shape (`null` for Wikipedia and weather,
/// empty lists for the others).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSuccess {
    pub source: SourceKind,
    pub matched: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub data: Value,
    pub from_cache: bool,
    pub latency_ms: u64,
}

/// A source that failed; `error` is a human sentence, `code` a stable machine code.
/// `retry_after_seconds` is set when the failure is remembered (or the upstream ordered a
/// back-off): asking again sooner gets the same failure without anyone being called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceFailure {
    pub source: SourceKind,
    pub error: String,
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

/// What one requested source produced.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceOutcome {
    Success(SourceSuccess),
    Failure(SourceFailure),
}

impl SourceOutcome {
    pub fn source(&self) -> SourceKind {
        match self {
            SourceOutcome::Success(success) => success.source,
            SourceOutcome::Failure(failure) => failure.source,
        }
    }
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
    fn long_names_are_the_comprehensive_keys() {
        let long: Vec<_> = SourceKind::ALL.iter().map(|k| k.long_name()).collect();
        assert_eq!(long, ["wikipedia", "arxiv", "news", "weather", "curiosity"]);
    }
}
