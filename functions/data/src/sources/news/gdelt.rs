//! GDELT DOC 2.0 (the default news provider, no key): the query in GDELT's syntax, the article
//! list, and its HTTP-200 plain-text refusals (a rate-limit sentence starts a back-off).

use chrono::{NaiveDateTime, SecondsFormat};
use serde::Deserialize;

use super::{domain_of, non_empty, Article, NewsResults, KIND};
use crate::sources::upstream::Fetched;
use crate::sources::{collapse_whitespace, SourceError, Sources};

/// Builds a GDELT query from free text. Words are ANDed (GDELT's default); phrases the client
/// put in double quotes stay phrases; hyphenated words are quoted (GDELT requires it);
/// one-character terms and bare boolean words (`OR` outside parentheses is an error) are dropped.
pub(super) fn gdelt_query(query: &str) -> Option<String> {
    let mut parts = Vec::new();
    for (index, segment) in query.split('"').enumerate() {
        let words: Vec<String> = segment.split_whitespace().filter_map(clean_term).collect();
        let quoted = index % 2 == 1;
        if quoted && words.len() > 1 {
            parts.push(format!("\"{}\"", words.join(" ")));
            continue;
        }
        for word in words {
            if word.contains('-') {
                parts.push(format!("\"{word}\""));
            } else {
                parts.push(word);
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn clean_term(word: &str) -> Option<String> {
    let cleaned: String = word
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-')
        .collect();
    let cleaned = cleaned.trim_matches('-').to_owned();
    let boolean = matches!(cleaned.to_ascii_lowercase().as_str(), "or" | "and" | "not");
    (cleaned.chars().count() > 1 && !boolean).then_some(cleaned)
}

#[derive(Debug, Default, Deserialize)]
struct GdeltResponse {
    #[serde(default)]
    articles: Vec<GdeltArticle>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GdeltArticle {
    url: Option<String>,
    title: Option<String>,
    seendate: Option<String>,
    socialimage: Option<String>,
    domain: Option<String>,
    language: Option<String>,
    sourcecountry: Option<String>,
}

pub(super) async fn fetch(
    sources: &Sources,
    gdelt_query: &str,
    max_results: usize,
) -> Result<NewsResults, SourceError> {
    let url = format!("{}/api/v2/doc/doc", sources.settings().gdelt_url);
    let max_records = max_results.to_string();
    let request = sources.client().get(url).query(&[
        ("query", gdelt_query),
        ("mode", "ArtList"),
        ("format", "json"),
        ("maxrecords", max_records.as_str()),
        ("sort", "DateDesc"),
        ("timespan", "7d"),
    ]);
    let fetched = sources.send(KIND, request).await?;
    if !fetched.status.is_success() {
        return Err(fetched.status_error(KIND));
    }
    let body = fetched.trimmed_body();
    if body.is_empty() {
        // GDELT sometimes answers nothing at all when nothing matched.
        return Ok(NewsResults {
            provider: "gdelt",
            articles: Vec::new(),
        });
    }
    if !fetched.looks_like_json() {
        return Err(plain_text_refusal(sources, &fetched));
    }
    let response: GdeltResponse = match serde_json::from_str(body) {
        Ok(response) => response,
        Err(first) => {
            // Titles with invalid escapes have been seen; repair them rather than lose the page.
            serde_json::from_str(&repair_json(body)).map_err(|_| {
                SourceError::BadResponse(format!("GDELT's answer is not valid JSON: {first}"))
            })?
        }
    };
    let articles = response
        .articles
        .into_iter()
        .filter_map(|raw| {
            let url = non_empty(raw.url)?;
            Some(Article {
                title: raw
                    .title
                    .map(|t| collapse_whitespace(&t))
                    .unwrap_or_default(),
                domain: non_empty(raw.domain).or_else(|| domain_of(&url)),
                url,
                language: non_empty(raw.language),
                country: non_empty(raw.sourcecountry),
                seen_at: raw.seendate.as_deref().and_then(gdelt_time),
                image: non_empty(raw.socialimage),
                ..Article::default()
            })
        })
        .take(max_results)
        .collect();
    Ok(NewsResults {
        provider: "gdelt",
        articles,
    })
}

/// A 200 plain-text sentence from GDELT: a rate-limit notice (→ back-off) or a query refusal.
fn plain_text_refusal(sources: &Sources, fetched: &Fetched) -> SourceError {
    let sentence = fetched.excerpt();
    if sentence.to_ascii_lowercase().contains("limit requests") {
        let backoff = sources.back_off(KIND);
        tracing::warn!(source = %KIND, backoff_s = backoff.as_secs(), "GDELT asked us to slow down");
        SourceError::RateLimited(format!(
            "GDELT asked us to slow down (\"{sentence}\"); not calling it again for {} s",
            backoff.as_secs()
        ))
    } else {
        SourceError::BadResponse(format!("GDELT refused the query: {sentence}"))
    }
}

/// `20240615T170000Z` → `2024-06-15T17:00:00Z`.
fn gdelt_time(compact: &str) -> Option<String> {
    NaiveDateTime::parse_from_str(compact.trim(), "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|time| time.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Lossy repair of almost-JSON: invalid escapes become literal backslashes, raw control
/// characters become spaces.
fn repair_json(body: &str) -> String {
    let mut repaired = String::with_capacity(body.len() + 16);
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek().copied() {
                Some(next @ ('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't')) => {
                    repaired.push('\\');
                    repaired.push(next);
                    chars.next();
                }
                Some('u') => {
                    let hex: String = chars.clone().skip(1).take(4).collect();
                    if hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                        repaired.push('\\');
                    } else {
                        repaired.push_str("\\\\");
                    }
                }
                _ => repaired.push_str("\\\\"),
            },
            c if c.is_control() => repaired.push(' '),
            c => repaired.push(c),
        }
    }
    repaired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdelt_queries_follow_gdelt_rules() {
        let cases = [
            ("climate change", Some("climate change")),
            ("COVID-19 vaccine", Some("\"COVID-19\" vaccine")),
            (
                "\"machine learning\" ethics",
                Some("\"machine learning\" ethics"),
            ),
            ("cats OR dogs", Some("cats dogs")),
            ("a b c", None),
            ("x \"y\" 5G", Some("5G")),
            ("東京 オリンピック", Some("東京 オリンピック")),
        ];
        for (input, expected) in cases {
            assert_eq!(gdelt_query(input).as_deref(), expected, "case {input:?}");
        }
    }

    #[test]
    fn gdelt_times_become_rfc3339() {
        assert_eq!(
            gdelt_time("20240615T170000Z").as_deref(),
            Some("2024-06-15T17:00:00Z")
        );
        assert_eq!(gdelt_time("yesterday"), None);
    }

    #[test]
    fn invalid_escapes_are_repaired() {
        let broken =
            r#"{"articles":[{"title":"Path C:\data \q \u12 ok","url":"https://a.example/x"}]}"#;
        assert!(serde_json::from_str::<serde_json::Value>(broken).is_err());
        let repaired: serde_json::Value = serde_json::from_str(&repair_json(broken)).unwrap();
        assert_eq!(repaired["articles"][0]["title"], r"Path C:\data \q \u12 ok");
        // Valid escapes are kept as they are.
        assert_eq!(repair_json(r#""a\"b\u00e9\n""#), r#""a\"b\u00e9\n""#);
    }
}
