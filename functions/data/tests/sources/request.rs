//! Table-driven tests of `DataRequest::parse`: good bodies and every kind of bad one.

use harmonic_data::model::{Mode, SourceKind};
use harmonic_data::request::DataRequest;

#[test]
fn good_bodies_parse_into_requests() {
    use SourceKind::*;
    let cases: &[(&str, &[SourceKind], Mode, u8)] = &[
        (
            r#"{"query":"quantum computing"}"#,
            &[Wiki, Arxiv, News, Weather, Curiosity],
            Mode::Single,
            5,
        ),
        (
            r#"{"query":"x","sources":"wiki"}"#,
            &[Wiki],
            Mode::Single,
            5,
        ),
        (
            r#"{"query":"x","sources":"Wikipedia"}"#,
            &[Wiki],
            Mode::Single,
            5,
        ),
        (
            r#"{"query":"x","sources":["arxiv","WIKI","wikipedia","arxiv"]}"#,
            &[Arxiv, Wiki],
            Mode::Single,
            5,
        ),
        (
            r#"{"query":"x","sources":["climate","kb","news"]}"#,
            &[Weather, Curiosity, News],
            Mode::Single,
            5,
        ),
        (
            r#"{"query":"x","mode":"comprehensive","maxResults":20}"#,
            &[Wiki, Arxiv, News, Weather, Curiosity],
            Mode::Comprehensive,
            20,
        ),
        (
            r#"{"query":"x","mode":"single","maxResults":1}"#,
            &[Wiki, Arxiv, News, Weather, Curiosity],
            Mode::Single,
            1,
        ),
    ];
    for (body, sources, mode, max_results) in cases {
        let request = DataRequest::parse(body.as_bytes())
            .unwrap_or_else(|e| panic!("case {body}: {}", e.message()));
        assert_eq!(request.sources, *sources, "case {body}");
        assert_eq!(request.mode, *mode, "case {body}");
        assert_eq!(request.max_results, *max_results, "case {body}");
    }
}

#[test]
fn the_query_is_trimmed_and_normalized_for_the_cache() {
    let request = DataRequest::parse(br#"{"query":"  Black   Holes\n"}"#).unwrap();
    assert_eq!(request.query.as_str(), "Black   Holes");
    assert_eq!(request.query.normalized(), "black holes");
}

#[test]
fn bad_bodies_are_refused_with_a_message_naming_the_problem() {
    let long_query = format!(r#"{{"query":"{}"}}"#, "a".repeat(501));
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty body", b"".to_vec(), &["empty", "\"query\""]),
        (
            "invalid UTF-8",
            b"{\"query\":\"\xff\xfe\"}".to_vec(),
            &["UTF-8"],
        ),
        ("invalid JSON", b"{query: x}".to_vec(), &["not valid JSON"]),
        (
            "truncated JSON",
            br#"{"query":"quantum"#.to_vec(),
            &["ends too early"],
        ),
        (
            "array body",
            br#"["query"]"#.to_vec(),
            &["an array", "JSON object"],
        ),
        (
            "string body",
            br#""quantum""#.to_vec(),
            &["a string", "JSON object"],
        ),
        ("null body", b"null".to_vec(), &["null", "JSON object"]),
        (
            "an unknown field (a paid request is not guessed at)",
            br#"{"query":"x","extra":{"ignored":true}}"#.to_vec(),
            &["unknown field `extra`", "`maxResults`"],
        ),
        (
            "missing query",
            br#"{"sources":"wiki"}"#.to_vec(),
            &["no `query`", "\"query\": \"quantum computing\""],
        ),
        (
            "null query",
            br#"{"query":null}"#.to_vec(),
            &["`query` must be a string", "null"],
        ),
        (
            "numeric query",
            br#"{"query":42}"#.to_vec(),
            &["`query` must be a string", "a number"],
        ),
        (
            "blank query",
            br#"{"query":"   "}"#.to_vec(),
            &["`query` is empty"],
        ),
        (
            "long query",
            long_query.into_bytes(),
            &["501 characters", "at most 500"],
        ),
        (
            "unknown source",
            br#"{"query":"x","sources":"google"}"#.to_vec(),
            &[
                "unknown source `google`",
                "`wiki`",
                "`curiosity`",
                "climate",
            ],
        ),
        (
            "unknown source in list",
            br#"{"query":"x","sources":["wiki","bing"]}"#.to_vec(),
            &["unknown source `bing`"],
        ),
        (
            "empty source list",
            br#"{"query":"x","sources":[]}"#.to_vec(),
            &["empty array", "leave `sources` out"],
        ),
        (
            "null sources",
            br#"{"query":"x","sources":null}"#.to_vec(),
            &["`sources` must be", "null"],
        ),
        (
            "numeric source",
            br#"{"query":"x","sources":[1]}"#.to_vec(),
            &["only strings", "a number"],
        ),
        (
            "object sources",
            br#"{"query":"x","sources":{"wiki":true}}"#.to_vec(),
            &["`sources` must be", "an object"],
        ),
        (
            "unknown mode",
            br#"{"query":"x","mode":"deep"}"#.to_vec(),
            &["unknown `mode` `deep`", "comprehensive"],
        ),
        (
            "numeric mode",
            br#"{"query":"x","mode":1}"#.to_vec(),
            &["`mode` must be", "a number"],
        ),
        (
            "maxResults 0",
            br#"{"query":"x","maxResults":0}"#.to_vec(),
            &["`maxResults` is 0", "1 to 20"],
        ),
        (
            "maxResults 21",
            br#"{"query":"x","maxResults":21}"#.to_vec(),
            &["`maxResults` is 21", "1 to 20"],
        ),
        (
            "maxResults negative",
            br#"{"query":"x","maxResults":-3}"#.to_vec(),
            &["`maxResults` is -3"],
        ),
        (
            "maxResults 1e300",
            br#"{"query":"x","maxResults":1e300}"#.to_vec(),
            &["`maxResults` is", "1 to 20"],
        ),
        (
            "maxResults fraction",
            br#"{"query":"x","maxResults":2.5}"#.to_vec(),
            &["`maxResults` is 2.5", "whole number"],
        ),
        (
            "maxResults string",
            br#"{"query":"x","maxResults":"5"}"#.to_vec(),
            &[
                "`maxResults` must be a JSON number",
                "a string",
                "without quotes",
            ],
        ),
        (
            "maxResults null",
            br#"{"query":"x","maxResults":null}"#.to_vec(),
            &["`maxResults` must be", "null"],
        ),
    ];
    for (case, body, fragments) in cases {
        let error = DataRequest::parse(&body).expect_err(case);
        for fragment in fragments {
            assert!(
                error.message().contains(fragment),
                "case {case}: message {:?} should mention {fragment:?}",
                error.message()
            );
        }
        assert_eq!(error.to_string(), error.message(), "case {case}");
    }
}
