//! The response bodies of a gather.
//!
//! Owns the JSON shapes of mode `single` (a list of results) and mode `comprehensive` (one
//! object keyed by long source name), rendered from a [`Gathered`]. A source that answered but
//! found nothing is a success with `matched: false` and a message (and is listed in
//! `unmatchedSources` in comprehensive mode); only failures go to `failedSources`. The last
//! module in reading order: nothing but the handler imports it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{Mode, SourceFailure, SourceKind, SourceOutcome, SourceSuccess};
use crate::sources::Gathered;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SingleBody<'a> {
    query: &'a str,
    sources: &'a [SourceKind],
    results: Vec<&'a SourceSuccess>,
    failed_sources: Vec<&'a SourceFailure>,
    timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ComprehensiveBody<'a> {
    query: &'a str,
    comprehensive: bool,
    sources: Map<String, Value>,
    sources_retrieved: usize,
    unmatched_sources: Vec<Unmatched<'a>>,
    failed_sources: Vec<&'a SourceFailure>,
    timestamp: String,
}

/// A source that answered without a match, in comprehensive mode.
#[derive(Serialize)]
struct Unmatched<'a> {
    source: SourceKind,
    message: &'a str,
}

impl Gathered {
    /// The response body for the request's mode, stamped now.
    pub fn to_body(&self) -> Value {
        self.to_body_at(Utc::now())
    }

    /// The response body for the request's mode, stamped `now` (tests pass a fixed instant).
    pub fn to_body_at(&self, now: DateTime<Utc>) -> Value {
        let timestamp = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let rendered = match self.mode {
            Mode::Single => serde_json::to_value(SingleBody {
                query: self.query.as_str(),
                sources: &self.sources,
                results: self.successes().collect(),
                failed_sources: self.failures().collect(),
                timestamp,
            }),
            Mode::Comprehensive => {
                // Only the requested sources appear; a failed one is null (its reason is in
                // failedSources), so "not asked" and "failed" stay distinguishable.
                let mut sources = Map::new();
                for outcome in &self.outcomes {
                    let data = match outcome {
                        SourceOutcome::Success(success) => success.data.clone(),
                        SourceOutcome::Failure(_) => Value::Null,
                    };
                    sources.insert(outcome.source().long_name().to_owned(), data);
                }
                serde_json::to_value(ComprehensiveBody {
                    query: self.query.as_str(),
                    comprehensive: true,
                    sources,
                    sources_retrieved: self.successes().count(),
                    unmatched_sources: self
                        .successes()
                        .filter_map(|success| {
                            Some(Unmatched {
                                source: success.source,
                                message: success.message.as_deref()?,
                            })
                        })
                        .collect(),
                    failed_sources: self.failures().collect(),
                    timestamp,
                })
            }
        };
        // Serializing these plain structs cannot fail (string keys, finite numbers); keep a
        // valid body anyway rather than panic on a request path.
        rendered.unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not render the data response");
            serde_json::json!({ "query": self.query.as_str(), "error": "could not render the response" })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Query;
    use serde_json::json;
    use std::time::Duration;

    fn gathered(mode: Mode, outcomes: Vec<SourceOutcome>) -> Gathered {
        Gathered {
            query: Query::parse("Ada Lovelace").unwrap(),
            mode,
            sources: outcomes.iter().map(SourceOutcome::source).collect(),
            outcomes,
            elapsed: Duration::from_millis(12),
        }
    }

    fn wiki_ok() -> SourceOutcome {
        SourceOutcome::Success(SourceSuccess {
            source: SourceKind::Wiki,
            matched: true,
            message: None,
            data: json!({"title": "Ada Lovelace"}),
            from_cache: true,
            latency_ms: 3,
        })
    }

    fn news_nothing() -> SourceOutcome {
        SourceOutcome::Success(SourceSuccess {
            source: SourceKind::News,
            matched: false,
            message: Some(
                "GDELT (last 7 days) has no recent articles about \"Ada Lovelace\"".to_owned(),
            ),
            data: json!({"provider": "gdelt", "articles": []}),
            from_cache: false,
            latency_ms: 40,
        })
    }

    fn arxiv_timeout() -> SourceOutcome {
        SourceOutcome::Failure(SourceFailure {
            source: SourceKind::Arxiv,
            error: "arXiv did not answer within 300 ms".to_owned(),
            code: "timeout",
            retry_after_seconds: None,
        })
    }

    fn fixed_now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-04-04T16:45:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn single_mode_lists_results_and_failures() {
        let body = gathered(Mode::Single, vec![wiki_ok(), arxiv_timeout()]).to_body_at(fixed_now());
        assert_eq!(
            body,
            json!({
                "query": "Ada Lovelace",
                "sources": ["wiki", "arxiv"],
                "results": [{"source": "wiki", "matched": true, "data": {"title": "Ada Lovelace"}, "fromCache": true, "latencyMs": 3}],
                "failedSources": [{"source": "arxiv", "error": "arXiv did not answer within 300 ms", "code": "timeout"}],
                "timestamp": "2026-04-04T16:45:00.000Z"
            })
        );
    }

    #[test]
    fn comprehensive_mode_keys_data_by_long_name_and_nulls_failures() {
        let body =
            gathered(Mode::Comprehensive, vec![wiki_ok(), arxiv_timeout()]).to_body_at(fixed_now());
        assert_eq!(
            body,
            json!({
                "query": "Ada Lovelace",
                "comprehensive": true,
                "sources": {"wikipedia": {"title": "Ada Lovelace"}, "arxiv": null},
                "sourcesRetrieved": 1,
                "unmatchedSources": [],
                "failedSources": [{"source": "arxiv", "error": "arXiv did not answer within 300 ms", "code": "timeout"}],
                "timestamp": "2026-04-04T16:45:00.000Z"
            })
        );
    }

    #[test]
    fn nothing_matched_is_a_result_that_says_so_in_both_modes() {
        let single = gathered(Mode::Single, vec![news_nothing(), arxiv_timeout()]);
        let body = single.to_body_at(fixed_now());
        assert_eq!(
            body["results"],
            json!([{"source": "news", "matched": false,
                    "message": "GDELT (last 7 days) has no recent articles about \"Ada Lovelace\"",
                    "data": {"provider": "gdelt", "articles": []}, "fromCache": false, "latencyMs": 40}])
        );
        assert_eq!(body["failedSources"].as_array().unwrap().len(), 1);
        assert!(
            !single.all_failed(),
            "an answer without a match is not a failure"
        );

        let comprehensive = gathered(Mode::Comprehensive, vec![news_nothing(), arxiv_timeout()]);
        let body = comprehensive.to_body_at(fixed_now());
        assert_eq!(
            body["sources"]["news"],
            json!({"provider": "gdelt", "articles": []})
        );
        assert_eq!(body["sourcesRetrieved"], 1);
        assert_eq!(
            body["unmatchedSources"],
            json!([{"source": "news", "message": "GDELT (last 7 days) has no recent articles about \"Ada Lovelace\""}])
        );
    }

    #[test]
    fn all_failed_only_when_nothing_succeeded() {
        assert!(gathered(Mode::Single, vec![arxiv_timeout()]).all_failed());
        assert!(!gathered(Mode::Single, vec![news_nothing()]).all_failed());
        assert!(!gathered(Mode::Single, vec![wiki_ok(), arxiv_timeout()]).all_failed());
        assert!(!gathered(Mode::Single, vec![]).all_failed());
    }
}
