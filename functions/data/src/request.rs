//! Parsing of the data request body into domain types.
//!
//! Owns `DataRequest` and its parts (`Query`, the source list, the `Mode`, `maxResults`; the
//! vocabulary types come from `model`) and the `RequestError` that explains, in words a client
//! can act on, why a body was refused.
//! Parse, don't validate: once a `DataRequest` exists, every field is known to be usable.

use harmonic_shared::domain::truncate_for_message;
use harmonic_shared::http::{json_type, JsonObject};
use harmonic_shared::ApiError;
use serde_json::Value;

use crate::model::{Mode, SourceKind};

/// Longest accepted query, in characters after trimming.
const MAX_QUERY_CHARS: usize = 500;
/// `maxResults` when the body does not say.
const DEFAULT_MAX_RESULTS: u8 = 5;
/// Upper bound for `maxResults`; upstreams allow more, but this keeps answers and quotas small.
const MAX_RESULTS_LIMIT: u8 = 20;

/// The fields of a data request body; any other is refused.
const KNOWN_FIELDS: [&str; 4] = ["query", "sources", "mode", "maxResults"];

const EXAMPLE_BODY: &str = r#"{"query": "quantum computing", "sources": ["wiki", "arxiv"], "mode": "single", "maxResults": 5}"#;

/// A validated search query: 1..=500 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(String);

impl Query {
    /// Trims `raw` and checks its length.
    pub fn parse(raw: &str) -> Result<Query, RequestError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(RequestError::new(format!(
                "`query` is empty; give 1 to {MAX_QUERY_CHARS} characters of text to search for, e.g. {EXAMPLE_BODY}"
            )));
        }
        // Whitespace (tabs, newlines) is fine and collapses in `normalized`; other control
        // characters (NUL, escape sequences) search for nothing and would be charged for it.
        if let Some(control) = trimmed
            .chars()
            .find(|c| c.is_control() && !c.is_whitespace())
        {
            return Err(RequestError::new(format!(
                "`query` contains the control character U+{:04X}; send plain text, e.g. {EXAMPLE_BODY}",
                u32::from(control)
            )));
        }
        let chars = trimmed.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(RequestError::new(format!(
                "`query` is {chars} characters long; shorten it to at most {MAX_QUERY_CHARS} characters"
            )));
        }
        Ok(Query(trimmed.to_owned()))
    }

    /// The query as the client wrote it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lowercase with runs of whitespace collapsed to one space: the cache key, so that
    /// "Quantum  Computing" and "quantum computing" share one cached answer.
    pub fn normalized(&self) -> String {
        self.0
            .split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed `POST /api/v1/data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRequest {
    pub query: Query,
    /// Requested sources, duplicates removed, in the client's order; never empty.
    pub sources: Vec<SourceKind>,
    pub mode: Mode,
    /// 1..=20.
    pub max_results: u8,
}

/// Why a body was refused. The message is meant for the client (it becomes a 400 JSON body):
/// it says what was wrong and how to fix it, and never echoes more than a short excerpt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    message: String,
}

/// The shared body parser's refusal (empty, not UTF-8, not JSON, not an object, an unknown
/// field), kept as this parser's message.
impl From<ApiError> for RequestError {
    fn from(error: ApiError) -> Self {
        RequestError::new(error.to_string())
    }
}

impl RequestError {
    fn new(message: String) -> Self {
        RequestError { message }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl DataRequest {
    /// Parses a request body. Bodies are read as JSON whatever the Content-Type says.
    /// Unknown fields are refused: a misspelt `maxResult` or `source` would otherwise be
    /// answered (and charged) as a different request than the one the client meant; a 400 is
    /// free.
    pub fn parse(body: &[u8]) -> Result<DataRequest, RequestError> {
        let object = JsonObject::parse(body, false, EXAMPLE_BODY).map_err(RequestError::from)?;
        object
            .reject_unknown(&KNOWN_FIELDS)
            .map_err(RequestError::from)?;
        Ok(DataRequest {
            query: parse_query(&object)?,
            sources: parse_sources(object.get("sources"))?,
            mode: parse_mode(object.get("mode"))?,
            max_results: parse_max_results(object.get("maxResults"))?,
        })
    }
}

fn parse_query(object: &JsonObject) -> Result<Query, RequestError> {
    match object.get("query") {
        None => Err(RequestError::new(format!(
            "the body has no `query` field; it is required, e.g. {EXAMPLE_BODY}"
        ))),
        Some(Value::String(text)) => Query::parse(text),
        Some(other) => Err(RequestError::new(format!(
            "`query` must be a string of 1 to {MAX_QUERY_CHARS} characters, not {}; e.g. \"query\": \"quantum computing\"",
            json_type(other)
        ))),
    }
}

fn valid_source_names() -> String {
    SourceKind::ALL
        .iter()
        .map(|kind| {
            let aliases = kind.aliases();
            if aliases.is_empty() {
                format!("`{}`", kind.as_str())
            } else {
                format!("`{}` (alias {})", kind.as_str(), aliases.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_source_name(name: &str) -> Result<SourceKind, RequestError> {
    SourceKind::parse(name).ok_or_else(|| {
        RequestError::new(format!(
            "unknown source `{}`; valid sources are {}",
            truncate_for_message(name),
            valid_source_names()
        ))
    })
}

fn parse_sources(value: Option<&Value>) -> Result<Vec<SourceKind>, RequestError> {
    let names: Vec<&str> = match value {
        None => return Ok(SourceKind::ALL.to_vec()),
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(RequestError::new(format!(
                    "`sources` is an empty array; name at least one of {}, or leave `sources` out to query all of them",
                    valid_source_names()
                )));
            }
            items
                .iter()
                .map(|item| match item {
                    Value::String(name) => Ok(name.as_str()),
                    other => Err(RequestError::new(format!(
                        "`sources` must contain only strings, found {}; e.g. \"sources\": [\"wiki\", \"arxiv\"]",
                        json_type(other)
                    ))),
                })
                .collect::<Result<_, _>>()?
        }
        Some(other) => {
            return Err(RequestError::new(format!(
                "`sources` must be a source name or an array of names, not {}; e.g. \"sources\": [\"wiki\", \"arxiv\"], or leave it out to query all sources",
                json_type(other)
            )))
        }
    };
    let mut kinds = Vec::with_capacity(names.len());
    for name in names {
        let kind = parse_source_name(name)?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

fn parse_mode(value: Option<&Value>) -> Result<Mode, RequestError> {
    match value {
        None => Ok(Mode::Single),
        Some(Value::String(mode)) => match mode.trim().to_ascii_lowercase().as_str() {
            "single" => Ok(Mode::Single),
            "comprehensive" => Ok(Mode::Comprehensive),
            _ => Err(RequestError::new(format!(
                "unknown `mode` `{}`; use \"single\" (a list of results) or \"comprehensive\" (one object keyed by source)",
                truncate_for_message(mode)
            ))),
        },
        Some(other) => Err(RequestError::new(format!(
            "`mode` must be the string \"single\" or \"comprehensive\", not {}",
            json_type(other)
        ))),
    }
}

fn parse_max_results(value: Option<&Value>) -> Result<u8, RequestError> {
    let out_of_range = |shown: &str| {
        RequestError::new(format!(
            "`maxResults` is {shown}; it must be a whole number from 1 to {MAX_RESULTS_LIMIT} (default {DEFAULT_MAX_RESULTS})"
        ))
    };
    match value {
        None => Ok(DEFAULT_MAX_RESULTS),
        Some(Value::Number(number)) => match harmonic_shared::http::whole_number(number) {
            Some(n) if (1..=i64::from(MAX_RESULTS_LIMIT)).contains(&n) => {
                u8::try_from(n).map_err(|_| out_of_range(&number.to_string()))
            }
            _ => Err(out_of_range(&truncate_for_message(&number.to_string()))),
        },
        Some(other) => Err(RequestError::new(format!(
            "`maxResults` must be a JSON number from 1 to {MAX_RESULTS_LIMIT}, not {}; write \"maxResults\": 5 without quotes",
            json_type(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_query_is_lowercase_with_single_spaces() {
        let query = Query::parse("  Quantum \t\n Computing  ").unwrap();
        assert_eq!(query.as_str(), "Quantum \t\n Computing");
        assert_eq!(query.normalized(), "quantum computing");
    }

    #[test]
    fn control_characters_other_than_whitespace_are_refused_in_queries() {
        let refused = Query::parse("quantum\u{0}").unwrap_err();
        assert!(refused.message().contains("U+0000"), "{refused}");
        assert!(Query::parse("\u{1b}[31mred").is_err());
        assert!(Query::parse("quantum\tcomputing\n").is_ok());
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        for body in [
            &br#"{"query": "q", "maxResult": 3}"#[..],
            br#"{"query": "q", "source": "wiki"}"#,
            br#"{"query": "q", "tier": "pro"}"#,
        ] {
            let refused = DataRequest::parse(body).unwrap_err();
            assert!(
                refused.message().starts_with("unknown field `"),
                "{refused}"
            );
            assert!(refused.message().contains("`maxResults`"), "{refused}");
        }
        assert!(DataRequest::parse(
            br#"{"query": "q", "sources": "wiki", "mode": "single", "maxResults": 2}"#
        )
        .is_ok());
        let float = DataRequest::parse(br#"{"query": "q", "maxResults": 2.0}"#).unwrap();
        assert_eq!(float.max_results, 2, "JSON Schema integers include 2.0");
        assert!(DataRequest::parse(br#"{"query": "q", "maxResults": 2.5}"#).is_err());
    }

    #[test]
    fn query_length_counts_characters_not_bytes() {
        assert!(Query::parse(&"é".repeat(500)).is_ok());
        assert!(Query::parse(&"é".repeat(501)).is_err());
    }
}
