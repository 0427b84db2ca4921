//! arXiv: papers matching the query, from the export API's Atom feed.
//!
//! This module builds the search and turns the feed into the `data` shape (`ArxivResults`);
//! [`feed`] reads the Atom XML. An error entry, an empty body or an HTML page is a failure,
//! never "0 papers"; zero results is counted from the entries actually present.

mod feed;

use serde::Serialize;

use super::{collapse_whitespace, Answer, SourceError, Sources};
use crate::model::SourceKind;

const KIND: SourceKind = SourceKind::Arxiv;

/// The `data` of an arXiv result.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArxivResults {
    /// Matches arXiv reports in total (0 whenever no entry came back).
    pub total_results: u64,
    pub papers: Vec<Paper>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paper {
    /// The arXiv id with its version, without the URL: `2206.06921v3`, `hep-ex/0307015v1`.
    pub id: String,
    pub title: String,
    pub summary: String,
    pub authors: Vec<String>,
    pub published: Option<String>,
    pub updated: Option<String>,
    pub primary_category: Option<String>,
    pub categories: Vec<String>,
    pub abstract_url: String,
    pub pdf_url: Option<String>,
    pub doi: Option<String>,
    pub journal_ref: Option<String>,
    pub comment: Option<String>,
}

/// The `search_query` value: `all:term+AND+all:term2`. Terms keep letters, digits and inner
/// `-` `.` `'`; boolean words are dropped so free text cannot turn into operators.
pub(super) fn search_query(query: &str) -> Option<String> {
    let terms: Vec<String> = query
        .split_whitespace()
        .map(|word| {
            word.chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '\''))
                .collect::<String>()
                .trim_matches(|c| matches!(c, '-' | '.' | '\''))
                .to_lowercase()
        })
        .filter(|term| {
            !term.is_empty() && !matches!(term.as_str(), "and" | "or" | "not" | "andnot")
        })
        .take(12)
        .collect();
    if terms.is_empty() {
        return None;
    }
    Some(
        terms
            .iter()
            .map(|term| format!("all:{}", urlencoding::encode(term)))
            .collect::<Vec<_>>()
            .join("+AND+"),
    )
}

/// Papers matching the query; no papers (or a query with nothing arXiv can search for, which
/// calls no upstream) is "nothing matched", charged like any answer.
pub(super) async fn fetch(
    sources: &Sources,
    query: &str,
    max_results: usize,
) -> Result<Answer, SourceError> {
    let Some(search) = search_query(query) else {
        return Answer::nothing(
            ArxivResults::default(),
            format!("\"{query}\" has no words arXiv can search for"),
        );
    };
    // Built by hand: the `+AND+` and `all:` syntax is arXiv's documented form.
    let url = format!(
        "{}/api/query?search_query={search}&start=0&max_results={max_results}&sortBy=relevance&sortOrder=descending",
        sources.settings().arxiv_url
    );
    let fetched = sources.send(KIND, sources.client().get(url)).await?;

    let body = fetched.trimmed_body();
    if body.is_empty() {
        return Err(if fetched.status.is_success() {
            SourceError::BadResponse("arXiv answered an empty body".to_owned())
        } else {
            fetched.status_error(KIND)
        });
    }
    let feed = match feed::parse_feed(body) {
        Ok(feed) => feed,
        Err(_) if !fetched.status.is_success() => return Err(fetched.status_error(KIND)),
        Err(problem) => {
            return Err(SourceError::BadResponse(format!(
                "arXiv's answer is not a readable Atom feed ({problem})"
            )))
        }
    };
    // HTTP 400 today, HTTP 200 in the older format: the entry says it is an error either way.
    if let Some(error) = feed.entries.iter().find(|entry| entry.is_error()) {
        return Err(SourceError::BadResponse(format!(
            "arXiv rejected the query: {}",
            collapse_whitespace(&error.summary)
        )));
    }
    if !fetched.status.is_success() {
        return Err(fetched.status_error(KIND));
    }
    let papers: Vec<Paper> = feed
        .entries
        .into_iter()
        .filter_map(feed::RawEntry::into_paper)
        .take(max_results)
        .collect();
    let total_results = if papers.is_empty() {
        0
    } else {
        feed.total_results
            .unwrap_or(0)
            .max(u64::try_from(papers.len()).unwrap_or(u64::MAX))
    };
    let results = ArxivResults {
        total_results,
        papers,
    };
    if results.papers.is_empty() {
        Answer::nothing(results, format!("arXiv has no papers matching \"{query}\""))
    } else {
        Answer::matched(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_becomes_anded_all_terms() {
        assert_eq!(
            search_query("Quantum computing").as_deref(),
            Some("all:quantum+AND+all:computing")
        );
        assert_eq!(
            search_query("dark matter OR (energy)").as_deref(),
            Some("all:dark+AND+all:matter+AND+all:energy")
        );
        assert_eq!(search_query("!!! ???"), None);
    }
}
