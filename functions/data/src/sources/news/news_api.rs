//! NewsAPI.org (key required): recent articles matching the query, newest first. The key goes
//! in the `X-Api-Key` header, never in the URL.

use serde::Deserialize;

use super::{domain_of, non_empty, Article, NewsResults, KIND};
use crate::sources::{collapse_whitespace, SourceError, Sources};

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

pub(super) async fn fetch(
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
