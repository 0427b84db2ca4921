//! News: recent articles about the query from a real news API (never simulated).
//!
//! GDELT DOC 2.0 by default (no key); Hacker News search or NewsAPI.org when configured.
//! GDELT answers refusals as HTTP 200 plain-text sentences, so the body is inspected before any
//! JSON decoding; its rate-limit sentence starts a back-off like a 429 would.
//!
//! This module owns the `data` shape every provider fills (`NewsResults`, `Article`) and the
//! choice of provider; each provider's exchange lives in its own submodule.

mod gdelt;
mod hacker_news;
mod news_api;

use serde::Serialize;

use super::{Answer, NewsProvider, SourceError, Sources};
use crate::model::SourceKind;

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
        NewsProvider::Gdelt => match gdelt::gdelt_query(query) {
            Some(search) => gdelt::fetch(sources, &search, max_results).await?,
            None => {
                return Answer::nothing(
                    NewsResults::empty(provider.name()),
                    format!(
                    "\"{query}\" has no term of two or more letters or digits for GDELT to search"
                ),
                )
            }
        },
        NewsProvider::HackerNews { url } => {
            hacker_news::fetch(sources, url, query, max_results).await?
        }
        NewsProvider::NewsApi { url, key } => {
            news_api::fetch(sources, url, key.expose(), query, max_results).await?
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

/// The text trimmed, `None` when absent or blank.
fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The host of `url` without a leading `www.`.
fn domain_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .host_str()
        .map(|host| host.trim_start_matches("www.").to_owned())
}
