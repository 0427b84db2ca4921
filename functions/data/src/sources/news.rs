//! News: recent articles about the query from a real news API (never simulated).
//!
//! GDELT DOC 2.0 by default (no key); Hacker News search or NewsAPI.org when configured.
//! GDELT answers refusals as HTTP 200 plain-text sentences, so the body is inspected before any
//! JSON decoding; its rate-limit sentence starts a back-off like a 429 would.

use chrono::{NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use super::upstream::Fetched;
use super::{collapse_whitespace, Answer, NewsProvider, SourceError, SourceKind, Sources};

const KIND: SourceKind = SourceKind::News;

/// The `data` of a news result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewsResults {
    /// `gdelt`, `hackernews` or `newsapi`.
    pub provider: &'static str,
    pub articles: Vec<Article>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Article {
    pub title: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// GDELT gives the language's English name (`English`, `Japanese`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// When the article was seen or published, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comments: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
}

/// Recent articles about the query; none (or a query GDELT cannot search for, which calls no
/// upstream) is "nothing matched", charged like any answer.
pub(super) async fn fetch(
    sources: &Sources,
    query: &str,
    max_results: usize,
) -> Result<Answer, SourceError> {
    let provider = &sources.settings().news_provider;
    let results = match provider {
        NewsProvider::Gdelt => match gdelt_query(query) {
            Some(search) => gdelt(sources, &search, max_results).await?,
            None => {
                return Answer::nothing(
                    NewsResults::empty(provider.name()),
                    format!(
                    "\"{query}\" has no term of two or more letters or digits for GDELT to search"
                ),
                )
            }
        },
        NewsProvider::HackerNews { url } => hacker_news(sources, url, query, max_results).await?,
        NewsProvider::NewsApi { url, key } => {
            news_api(sources, url, key.expose(), query, max_results).await?
        }
    };
    if results.articles.is_empty() {
        let message = format!(
            "{} has no recent articles about \"{query}\"",
            provider_display(provider)
        );
        Answer::nothing(results, message)
    } else {
        Answer::matched(results)
    }
}

impl NewsResults {
    fn empty(provider: &'static str) -> Self {
        NewsResults {
            provider,
            articles: Vec::new(),
        }
    }
}

fn provider_display(provider: &NewsProvider) -> &'static str {
    match provider {
        NewsProvider::Gdelt => "GDELT (last 7 days)",
        NewsProvider::HackerNews { .. } => "Hacker News",
        NewsProvider::NewsApi { .. } => "NewsAPI",
    }
}

/// Builds a GDELT query from free text. Words are ANDed (GDELT's default); phrases the client
/// put in double quotes stay phrases; hyphenated words are quoted (GDELT requires it);
/// one-character terms and bare boolean words (`OR` outside parentheses is an error) are dropped.
pub fn gdelt_query(query: &str) -> Option<String> {
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

async fn gdelt(
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
pub fn gdelt_time(compact: &str) -> Option<String> {
    NaiveDateTime::parse_from_str(compact.trim(), "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|time| time.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Lossy repair of almost-JSON: invalid escapes become literal backslashes, raw control
/// characters become spaces.
pub fn repair_json(body: &str) -> String {
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

#[derive(Debug, Deserialize)]
struct HnResponse {
    #[serde(default)]
    hits: Vec<HnHit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HnHit {
    #[serde(rename = "objectID")]
    object_id: Option<String>,
    title: Option<String>,
    url: Option<String>,
    author: Option<String>,
    points: Option<u64>,
    num_comments: Option<u64>,
    created_at: Option<String>,
}

async fn hacker_news(
    sources: &Sources,
    base: &str,
    query: &str,
    max_results: usize,
) -> Result<NewsResults, SourceError> {
    let hits = max_results.to_string();
    let request = sources
        .client()
        .get(format!("{base}/api/v1/search"))
        .query(&[("query", query), ("tags", "story"), ("hitsPerPage", &hits)]);
    let fetched = sources.send(KIND, request).await?;
    let response: HnResponse = decode_json(&fetched, "Hacker News")?;
    let articles = response
        .hits
        .into_iter()
        .filter_map(|hit| {
            let title = non_empty(hit.title)?;
            // Ask HN and similar posts have no URL: link to the discussion instead.
            let url = non_empty(hit.url).or_else(|| {
                hit.object_id
                    .as_ref()
                    .map(|id| format!("https://news.ycombinator.com/item?id={id}"))
            })?;
            Some(Article {
                title: collapse_whitespace(&title),
                domain: domain_of(&url),
                url,
                seen_at: hit.created_at,
                author: hit.author,
                points: hit.points,
                comments: hit.num_comments,
                ..Article::default()
            })
        })
        .take(max_results)
        .collect();
    Ok(NewsResults {
        provider: "hackernews",
        articles,
    })
}

#[derive(Debug, Deserialize)]
struct NewsApiResponse {
    status: Option<String>,
    code: Option<String>,
    message: Option<String>,
    #[serde(default)]
    articles: Vec<NewsApiArticle>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NewsApiArticle {
    source: Option<NewsApiSource>,
    author: Option<String>,
    title: Option<String>,
    url: Option<String>,
    url_to_image: Option<String>,
    published_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct NewsApiSource {
    name: Option<String>,
}

async fn news_api(
    sources: &Sources,
    base: &str,
    key: &str,
    query: &str,
    max_results: usize,
) -> Result<NewsResults, SourceError> {
    let page_size = max_results.to_string();
    let request = sources
        .client()
        .get(format!("{base}/v2/everything"))
        .header("X-Api-Key", key)
        .query(&[
            ("q", query),
            ("pageSize", &page_size),
            ("sortBy", "publishedAt"),
        ]);
    let fetched = sources.send(KIND, request).await?;
    if !fetched.looks_like_json() {
        return Err(if fetched.status.is_success() {
            SourceError::BadResponse(format!(
                "NewsAPI answered a non-JSON body: {}",
                fetched.excerpt()
            ))
        } else {
            fetched.status_error(KIND)
        });
    }
    let response: NewsApiResponse = serde_json::from_str(fetched.trimmed_body()).map_err(|e| {
        SourceError::BadResponse(format!("NewsAPI's answer could not be read: {e}"))
    })?;
    if response.status.as_deref() == Some("error") || !fetched.status.is_success() {
        let message = response.message.unwrap_or_else(|| "no message".to_owned());
        return Err(match response.code.as_deref() {
            Some("rateLimited") => {
                sources.back_off(KIND);
                SourceError::RateLimited(format!("NewsAPI: {message}"))
            }
            _ => SourceError::Upstream(format!("NewsAPI: {message}")),
        });
    }
    let articles = response
        .articles
        .into_iter()
        .filter_map(|raw| {
            let title = non_empty(raw.title).filter(|t| t != "[Removed]")?;
            let url = non_empty(raw.url)?;
            Some(Article {
                title: collapse_whitespace(&title),
                domain: domain_of(&url),
                url,
                seen_at: raw.published_at,
                image: non_empty(raw.url_to_image),
                author: non_empty(raw.author),
                source_name: raw.source.and_then(|s| non_empty(s.name)),
                ..Article::default()
            })
        })
        .take(max_results)
        .collect();
    Ok(NewsResults {
        provider: "newsapi",
        articles,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(
    fetched: &Fetched,
    upstream: &str,
) -> Result<T, SourceError> {
    if !fetched.status.is_success() {
        return Err(fetched.status_error(KIND));
    }
    if !fetched.looks_like_json() {
        return Err(SourceError::BadResponse(format!(
            "{upstream} answered a non-JSON body: {}",
            fetched.excerpt()
        )));
    }
    serde_json::from_str(fetched.trimmed_body()).map_err(|e| {
        SourceError::BadResponse(format!("{upstream}'s answer could not be read: {e}"))
    })
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

fn domain_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .host_str()
        .map(|host| host.trim_start_matches("www.").to_owned())
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
