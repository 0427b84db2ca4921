//! Wikipedia: the summary of the article that best matches the query.
//!
//! Strategy: ask the REST page-summary endpoint for the query as a title first (one call for
//! exact titles, and Wikipedia's own 301/302 redirects resolve case and synonyms); only on 404
//! resolve the free text with the search endpoint and fetch that title's summary. No article
//! and no search hit is an answer ("nothing matched"), not a failure.
//!
//! The query is first put in Wikipedia's title form ([`title`]), and that one string is both
//! the cache key and what is fetched, so whoever asks first cannot decide what a differently
//! written query gets.

use serde::{Deserialize, Serialize};

use super::upstream::Fetched;
use super::{collapse_whitespace, Answer, SourceError, Sources};
use crate::model::SourceKind;

const KIND: SourceKind = SourceKind::Wiki;

/// The `data` of a Wikipedia result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WikiSummary {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub extract: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `standard`, `disambiguation`, `no-extract` or `mainpage`.
    #[serde(rename = "type")]
    pub page_type: String,
    pub disambiguation: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Coordinates>,
    /// True when the query was not a title and the search endpoint chose the article.
    pub resolved_by_search: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Deserialize)]
struct RawSummary {
    #[serde(rename = "type", default)]
    page_type: Option<String>,
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    extract: Option<String>,
    #[serde(default)]
    thumbnail: Option<RawImage>,
    #[serde(default)]
    content_urls: Option<RawContentUrls>,
    #[serde(default)]
    coordinates: Option<Coordinates>,
}

#[derive(Debug, Deserialize)]
struct RawImage {
    source: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawContentUrls {
    desktop: Option<RawPageUrl>,
}

#[derive(Debug, Deserialize)]
struct RawPageUrl {
    page: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawSearch {
    #[serde(default)]
    pages: Vec<RawSearchPage>,
}

#[derive(Debug, Deserialize)]
struct RawSearchPage {
    title: Option<String>,
    key: Option<String>,
}

/// The summary for `title` (already in [`title`] form), or "nothing matched".
pub(super) async fn fetch(sources: &Sources, title: &str) -> Result<Answer, SourceError> {
    if let Some(summary) = summary(sources, title).await? {
        return Answer::matched(summary);
    }
    let nothing = || {
        Answer::nothing(
            serde_json::Value::Null,
            format!("Wikipedia has no article matching \"{title}\""),
        )
    };
    let Some(found) = search_title(sources, title).await? else {
        return nothing();
    };
    match summary(sources, &found).await? {
        Some(mut summary) => {
            summary.resolved_by_search = true;
            Answer::matched(summary)
        }
        None => nothing(),
    }
}

/// A query in Wikipedia's title form: whitespace and underscores collapse to single spaces
/// (MediaWiki treats `_` and ` ` alike) and the first letter is upper-cased, because only the
/// first letter of a title is case-insensitive on Wikipedia: `ayrton Senna` is `Ayrton Senna`,
/// while `AIDS`, `Aids` and `AiDS` are three different titles and stay three queries.
pub fn title(query: &str) -> String {
    let spaced = collapse_whitespace(&query.replace('_', " "));
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}

/// The path segment of a title: spaces become `_`, then the whole title is percent-encoded as
/// ONE segment, `/` included (`AC/DC` → `AC%2FDC`), non-ASCII as UTF-8 (`Zürich` → `Z%C3%BCrich`).
pub fn title_segment(title: &str) -> String {
    urlencoding::encode(&collapse_whitespace(title).replace(' ', "_")).into_owned()
}

/// The page summary of `title`; `None` when Wikipedia has no such page (404).
async fn summary(sources: &Sources, title: &str) -> Result<Option<WikiSummary>, SourceError> {
    let url = format!(
        "{}/api/rest_v1/page/summary/{}",
        sources.settings().wikipedia_url,
        title_segment(title)
    );
    let fetched = sources.send(KIND, sources.client().get(url)).await?;
    if fetched.status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let raw: RawSummary = decode_json(&fetched)?;
    let page_type = raw.page_type.unwrap_or_else(|| "standard".to_owned());
    Ok(Some(WikiSummary {
        title: raw.title.ok_or_else(|| {
            SourceError::BadResponse("Wikipedia's summary has no title".to_owned())
        })?,
        description: raw.description.map(|d| collapse_whitespace(&d)),
        extract: collapse_whitespace(raw.extract.as_deref().unwrap_or_default()),
        thumbnail: raw.thumbnail.and_then(|image| image.source),
        url: raw
            .content_urls
            .and_then(|urls| urls.desktop)
            .and_then(|desktop| desktop.page),
        disambiguation: page_type == "disambiguation",
        page_type,
        coordinates: raw.coordinates,
        resolved_by_search: false,
    }))
}

/// The title of the best search hit for free text; `None` when the search finds nothing.
async fn search_title(sources: &Sources, query: &str) -> Result<Option<String>, SourceError> {
    let url = format!(
        "{}/w/rest.php/v1/search/page",
        sources.settings().wikipedia_url
    );
    let request = sources
        .client()
        .get(url)
        .query(&[("q", query), ("limit", "1")]);
    let fetched = sources.send(KIND, request).await?;
    let search: RawSearch = decode_json(&fetched)?;
    Ok(search
        .pages
        .into_iter()
        .find_map(|page| page.title.or(page.key)))
}

/// Decodes a 2xx JSON answer. Error statuses and non-JSON bodies (Wikimedia's plain-text 403
/// and 429 pages, HTML error pages) are never handed to the JSON decoder.
fn decode_json<T: serde::de::DeserializeOwned>(fetched: &Fetched) -> Result<T, SourceError> {
    if !fetched.status.is_success() {
        return Err(fetched.status_error(KIND));
    }
    if !fetched.looks_like_json() {
        return Err(SourceError::BadResponse(format!(
            "Wikipedia answered HTTP {} with a non-JSON body: {}",
            fetched.status.as_u16(),
            fetched.excerpt()
        )));
    }
    serde_json::from_str(fetched.trimmed_body())
        .map_err(|e| SourceError::BadResponse(format!("Wikipedia's answer could not be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_differ_only_where_wikipedia_titles_do() {
        assert_eq!(title("ayrton senna"), "Ayrton senna");
        assert_eq!(title("  ayrton_Senna "), "Ayrton Senna");
        assert_eq!(title("Ayrton Senna"), title("ayrton  Senna"));
        assert_ne!(
            title("AIDS"),
            title("aids"),
            "the rest of a title is case-sensitive"
        );
        assert_eq!(title("éclair"), "Éclair");
    }

    #[test]
    fn titles_are_encoded_as_one_path_segment() {
        assert_eq!(title_segment("AC/DC"), "AC%2FDC");
        assert_eq!(title_segment("Zürich"), "Z%C3%BCrich");
        assert_eq!(title_segment("Ayrton  Senna"), "Ayrton_Senna");
        assert_eq!(
            title_segment("C++ (language)?"),
            "C%2B%2B_%28language%29%3F"
        );
    }
}
