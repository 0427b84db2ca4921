//! arXiv's Atom feed, read with quick-xml's namespace-aware reader: elements are matched by
//! namespace URI and local name, so both live formats (namespaces on the root or on each
//! element, any element and attribute order) read the same; a body that is not a whole Atom
//! feed is an error that says why.

use std::borrow::Cow;

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::Paper;
use crate::sources::collapse_whitespace;

const ATOM_NS: &[u8] = b"http://www.w3.org/2005/Atom";
const OPENSEARCH_NS: &[u8] = b"http://a9.com/-/spec/opensearch/1.1/";
const ARXIV_NS: &[u8] = b"http://arxiv.org/schemas/atom";

#[derive(Debug, Default)]
pub(super) struct Feed {
    pub(super) total_results: Option<u64>,
    pub(super) entries: Vec<RawEntry>,
}

#[derive(Debug, Default)]
struct RawLink {
    href: String,
    rel: Option<String>,
    media_type: Option<String>,
    title: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct RawEntry {
    id: String,
    title: String,
    pub(super) summary: String,
    authors: Vec<String>,
    published: Option<String>,
    updated: Option<String>,
    primary_category: Option<String>,
    categories: Vec<String>,
    links: Vec<RawLink>,
    doi: Option<String>,
    journal_ref: Option<String>,
    comment: Option<String>,
}

impl RawEntry {
    /// arXiv's error entry. A real paper titled "Error" has an `/abs/` id, so the title only
    /// counts when the id is not a paper's.
    pub(super) fn is_error(&self) -> bool {
        self.id.contains("/api/errors#")
            || self.id.contains("/help/api/user-manual#")
            || (self.title.trim() == "Error" && !self.id.contains("/abs/"))
    }

    pub(super) fn into_paper(self) -> Option<Paper> {
        let id = paper_id(&self.id)?;
        let link_where = |wanted: &dyn Fn(&RawLink) -> bool| {
            self.links
                .iter()
                .find(|link| wanted(link))
                .map(|link| link.href.clone())
        };
        let abstract_url = link_where(&|link| link.rel.as_deref() == Some("alternate"))
            .unwrap_or_else(|| format!("https://arxiv.org/abs/{id}"));
        let pdf_url = link_where(&|link| link.title.as_deref() == Some("pdf"))
            .or_else(|| link_where(&|link| link.media_type.as_deref() == Some("application/pdf")))
            .or_else(|| link_where(&|link| link.href.contains("/pdf/")));
        let doi = non_empty(self.doi.as_deref()).or_else(|| {
            link_where(&|link| link.title.as_deref() == Some("doi")).map(|href| {
                match href.find("doi.org/") {
                    Some(at) => href[at + "doi.org/".len()..].to_owned(),
                    None => href,
                }
            })
        });
        Some(Paper {
            id,
            title: collapse_whitespace(&self.title),
            summary: collapse_whitespace(&self.summary),
            authors: self.authors,
            published: non_empty(self.published.as_deref()),
            updated: non_empty(self.updated.as_deref()),
            primary_category: self.primary_category,
            categories: self.categories,
            abstract_url,
            pdf_url,
            doi,
            journal_ref: non_empty(self.journal_ref.as_deref()),
            comment: non_empty(self.comment.as_deref()),
        })
    }
}

/// `http://arxiv.org/abs/hep-ex/0307015v1` → `hep-ex/0307015v1`.
fn paper_id(entry_id: &str) -> Option<String> {
    let entry_id = entry_id.trim();
    let id = match entry_id.find("/abs/") {
        Some(at) => &entry_id[at + "/abs/".len()..],
        None => entry_id,
    };
    (!id.is_empty()).then(|| id.to_owned())
}

fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(collapse_whitespace)
        .filter(|text| !text.is_empty())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Atom,
    OpenSearch,
    Arxiv,
    Other,
}

fn namespace_of(resolved: &ResolveResult<'_>) -> Ns {
    match resolved {
        ResolveResult::Bound(ns) if ns.0 == ATOM_NS => Ns::Atom,
        ResolveResult::Bound(ns) if ns.0 == OPENSEARCH_NS => Ns::OpenSearch,
        ResolveResult::Bound(ns) if ns.0 == ARXIV_NS => Ns::Arxiv,
        _ => Ns::Other,
    }
}

/// Walks the feed's events, collecting entries.
#[derive(Default)]
struct FeedReader {
    feed: Feed,
    saw_root: bool,
    /// Open elements; non-zero at the end of the body means it was cut short.
    depth: usize,
    entry: Option<RawEntry>,
    in_author: bool,
    text: String,
}

impl FeedReader {
    fn start(&mut self, ns: Ns, local: &[u8], element: &BytesStart<'_>) -> Result<(), String> {
        self.text.clear();
        if !self.saw_root {
            self.saw_root = true;
            if (ns, local) != (Ns::Atom, b"feed".as_slice()) {
                return Err(format!(
                    "the root element is <{}>, not an Atom <feed>",
                    String::from_utf8_lossy(local)
                ));
            }
            return Ok(());
        }
        match (ns, local) {
            (Ns::Atom, b"entry") => self.entry = Some(RawEntry::default()),
            (Ns::Atom, b"author") => self.in_author = true,
            _ => {}
        }
        let Some(entry) = self.entry.as_mut() else {
            return Ok(());
        };
        match (ns, local) {
            (Ns::Atom, b"link") => {
                let mut link = RawLink::default();
                for (key, value) in attributes(element) {
                    match key.as_str() {
                        "href" => link.href = value,
                        "rel" => link.rel = Some(value),
                        "type" => link.media_type = Some(value),
                        "title" => link.title = Some(value),
                        _ => {}
                    }
                }
                if !link.href.is_empty() {
                    entry.links.push(link);
                }
            }
            (Ns::Atom, b"category") => {
                if let Some(term) = attribute(element, "term") {
                    entry.categories.push(term);
                }
            }
            (Ns::Arxiv, b"primary_category") => {
                entry.primary_category = attribute(element, "term");
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, ns: Ns, local: &[u8]) {
        let text = std::mem::take(&mut self.text);
        if (ns, local) == (Ns::OpenSearch, b"totalResults".as_slice()) {
            self.feed.total_results = text.trim().parse().ok();
            return;
        }
        if (ns, local) == (Ns::Atom, b"entry".as_slice()) {
            if let Some(entry) = self.entry.take() {
                self.feed.entries.push(entry);
            }
            return;
        }
        let in_author = self.in_author;
        let Some(entry) = self.entry.as_mut() else {
            return;
        };
        match (ns, local) {
            (Ns::Atom, b"author") => self.in_author = false,
            (Ns::Atom, b"name") if in_author => {
                let name = collapse_whitespace(&text);
                if !name.is_empty() {
                    entry.authors.push(name);
                }
            }
            (Ns::Atom, b"id") => entry.id = text,
            (Ns::Atom, b"title") => entry.title = text,
            (Ns::Atom, b"summary") => entry.summary = text,
            (Ns::Atom, b"published") => entry.published = Some(text),
            (Ns::Atom, b"updated") => entry.updated = Some(text),
            (Ns::Arxiv, b"doi") => entry.doi = Some(text),
            (Ns::Arxiv, b"journal_ref") => entry.journal_ref = Some(text),
            (Ns::Arxiv, b"comment") => entry.comment = Some(text),
            _ => {}
        }
    }

    fn push_reference(&mut self, reference: &BytesRef<'_>) {
        if let Ok(Some(c)) = reference.resolve_char_ref() {
            self.text.push(c);
            return;
        }
        let name = reference.decode().unwrap_or(Cow::Borrowed(""));
        match quick_xml::escape::resolve_predefined_entity(&name) {
            Some(resolved) => self.text.push_str(resolved),
            // An undeclared entity (HTML's &nbsp; in a summary): keep it visible, not fatal.
            None => {
                self.text.push('&');
                self.text.push_str(&name);
                self.text.push(';');
            }
        }
    }
}

fn attributes(element: &BytesStart<'_>) -> Vec<(String, String)> {
    element
        .attributes()
        .with_checks(false)
        .flatten()
        .map(|attr| {
            let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
            let value = match attr.unescape_value() {
                Ok(value) => value.into_owned(),
                Err(_) => String::from_utf8_lossy(&attr.value).into_owned(),
            };
            (key, value)
        })
        .collect()
}

fn attribute(element: &BytesStart<'_>, name: &str) -> Option<String> {
    attributes(element)
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// Parses an arXiv Atom feed. Errors describe why the body is not one.
pub(super) fn parse_feed(body: &str) -> Result<Feed, String> {
    let mut reader = NsReader::from_str(body);
    let mut state = FeedReader::default();
    loop {
        let (ns, event) = match reader.read_resolved_event() {
            Ok((resolved, event)) => (namespace_of(&resolved), event),
            Err(e) => {
                return Err(format!(
                    "malformed XML at byte {}: {e}",
                    reader.buffer_position()
                ))
            }
        };
        match event {
            Event::Start(element) => {
                state.depth += 1;
                state.start(ns, element.local_name().as_ref(), &element)?;
            }
            Event::Empty(element) => {
                state.start(ns, element.local_name().as_ref(), &element)?;
                state.end(ns, element.local_name().as_ref());
            }
            Event::End(element) => {
                state.depth = state.depth.saturating_sub(1);
                state.end(ns, element.local_name().as_ref());
            }
            Event::Text(text) => {
                let text = text
                    .decode()
                    .map_err(|e| format!("undecodable text: {e}"))?;
                state.text.push_str(&text);
            }
            Event::CData(data) => {
                let data = data
                    .decode()
                    .map_err(|e| format!("undecodable CDATA: {e}"))?;
                state.text.push_str(&data);
            }
            Event::GeneralRef(reference) => state.push_reference(&reference),
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !state.saw_root {
        return Err("no XML element in the body".to_owned());
    }
    if state.depth > 0 {
        return Err("the feed ends before its closing tags (truncated body)".to_owned());
    }
    Ok(state.feed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_lose_the_url_and_keep_the_version() {
        assert_eq!(
            paper_id("http://arxiv.org/abs/hep-ex/0307015v1").as_deref(),
            Some("hep-ex/0307015v1")
        );
        assert_eq!(
            paper_id("https://arxiv.org/abs/2206.06921v3").as_deref(),
            Some("2206.06921v3")
        );
    }

    #[test]
    fn an_html_page_is_not_a_feed() {
        let error = parse_feed("<!DOCTYPE html><html><body>Oops</body></html>").unwrap_err();
        assert!(error.contains("<html>"), "{error}");
    }
}
