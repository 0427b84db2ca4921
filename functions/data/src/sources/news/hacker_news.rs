//! Hacker News search (Algolia), no key: stories matching the query.

use serde::Deserialize;

use super::{domain_of, non_empty, Article, NewsResults, KIND};
use crate::sources::upstream::Fetched;
use crate::sources::{collapse_whitespace, SourceError, Sources};

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

pub(super) async fn fetch(
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
