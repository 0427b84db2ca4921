//! arXiv against a stub that answers like the export API, in both live Atom formats.

use harmonic_data::model::SourceKind;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{failure, run, sources, success};

const ARXIV: SourceKind = SourceKind::Arxiv;

/// Current format: namespaces on the root, https links, `title="pdf"` link.
const ROOT_NAMESPACES: &str = r#"<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/G79xvO0tGdRYEe8vHn0XokC5HLI</id>
  <title>arXiv Query: search_query=all:quantum AND all:computing&amp;id_list=&amp;start=0&amp;max_results=5</title>
  <updated>2025-11-11T18:30:58Z</updated>
  <opensearch:itemsPerPage>5</opensearch:itemsPerPage>
  <opensearch:totalResults>1234</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <entry>
    <id>http://arxiv.org/abs/2206.06921v3</id>
    <title>Attainable forms of
      Assouad spectra</title>
    <updated>2025-01-30T01:23:42Z</updated>
    <link href="https://arxiv.org/abs/2206.06921v3" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/2206.06921v3" rel="related" type="application/pdf" title="pdf"/>
    <summary>Let $d\in\mathbb{N}$ and let $φ$ be a function &amp; more:
  the spectrum can fail to be Hölder in a neighbourhood of 1 &lt;proof&gt;.
</summary>
    <category term="math.CA" scheme="http://arxiv.org/schemas/atom"/>
    <category term="math.MG" scheme="http://arxiv.org/schemas/atom"/>
    <published>2022-06-14T15:35:46Z</published>
    <arxiv:primary_category term="math.CA"/>
    <author><name>Alex Rutar</name></author>
    <author><name>Kathryn E. Hare</name></author>
    <author><name>Kevin G. Hare</name></author>
    <author><name>Sascha Troscheit</name></author>
    <author><name>Han Yu</name></author>
    <author><name>Jonathan M. Fraser</name></author>
    <arxiv:doi>10.1512/iumj.2024.73.9928</arxiv:doi>
    <arxiv:journal_ref>Indiana Univ. Math. J. 73 (2024)</arxiv:journal_ref>
    <arxiv:comment>27 pages, 2 figures</arxiv:comment>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/quant-ph/9508027v2</id>
    <title>Polynomial-Time Algorithms for Prime Factorization and Discrete Logarithms on a Quantum Computer</title>
    <updated>1996-01-25T00:00:00Z</updated>
    <link href="https://arxiv.org/abs/quant-ph/9508027v2" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/quant-ph/9508027v2" rel="related" type="application/pdf" title="pdf"/>
    <summary>A digital computer is generally believed to be an efficient universal computing device.</summary>
    <category term="quant-ph" scheme="http://arxiv.org/schemas/atom"/>
    <published>1995-08-30T00:00:00Z</published>
    <arxiv:primary_category term="quant-ph"/>
    <author><name>Peter W. Shor</name></author>
  </entry>
</feed>
"#;

/// Older format: namespaces declared on each element (with other prefixes), different element
/// and attribute order, http links, a PDF link without `title`, a DOI only as a link, an
/// old-style id.
const PER_ELEMENT_NAMESPACES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%3Aelectron" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all:electron&amp;id_list=&amp;start=0&amp;max_results=5</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2023-06-15T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">2</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <entry>
    <author>
      <name>D0 Collaboration</name>
      <arxiv:affiliation xmlns:arxiv="http://arxiv.org/schemas/atom">Fermilab</arxiv:affiliation>
    </author>
    <summary>  We present a measurement
      of the electron charge asymmetry.  </summary>
    <published>2003-07-07T13:46:39-04:00</published>
    <x:doi xmlns:x="http://arxiv.org/schemas/atom">10.1103/PhysRevD.69.012002</x:doi>
    <title>Search for the electron
   charge asymmetry</title>
    <link type="application/pdf" title="pdf" rel="related" href="http://arxiv.org/pdf/hep-ex/0307015v1"/>
    <link type="text/html" rel="alternate" href="http://arxiv.org/abs/hep-ex/0307015v1"/>
    <id>http://arxiv.org/abs/hep-ex/0307015v1</id>
    <updated>2003-07-07T13:46:39-04:00</updated>
    <category scheme="http://arxiv.org/schemas/atom" term="hep-ex"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" scheme="http://arxiv.org/schemas/atom" term="hep-ex"/>
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">4 pages</arxiv:comment>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/1001.0001v1</id>
    <title>Second paper</title>
    <summary>Text.</summary>
    <author><name>A. Author</name></author>
    <link rel="alternate" href="http://arxiv.org/abs/1001.0001v1" type="text/html"/>
    <link rel="related" href="http://arxiv.org/pdf/1001.0001v1" type="application/pdf"/>
    <link title="doi" href="http://dx.doi.org/10.1000/xyz123" rel="related"/>
  </entry>
</feed>
"#;

const NO_ENTRY_TOTAL_ZERO: &str = r#"<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/x</id>
  <title>arXiv Query: search_query=all:zzzqqq</title>
  <updated>2025-11-11T18:30:58Z</updated>
  <opensearch:itemsPerPage>5</opensearch:itemsPerPage>
  <opensearch:totalResults>0</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
</feed>
"#;

/// The older format said 1 result while sending no entry.
const NO_ENTRY_TOTAL_ONE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">ArXiv Query: search_query=all:zzzqqq</title>
  <id>http://arxiv.org/api/y</id>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
</feed>
"#;

fn error_feed(id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <entry>
    <id>{id}</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.12345</summary>
    <updated>2025-11-11T00:00:00-05:00</updated>
    <link href="{id}" rel="alternate" type="text/html"/>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>"#
    )
}

fn atom(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(body.to_owned(), "application/atom+xml; charset=UTF-8")
}

async fn stub(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .respond_with(atom(status, body))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn the_query_uses_arxiv_search_syntax() {
    let server = MockServer::start().await;
    Mock::given(path("/api/query"))
        .and(query_param("search_query", "all:quantum AND all:computing"))
        .and(query_param("start", "0"))
        .and(query_param("max_results", "5"))
        .and(query_param("sortBy", "relevance"))
        .and(query_param("sortOrder", "descending"))
        .respond_with(atom(200, ROOT_NAMESPACES))
        .expect(1)
        .mount(&server)
        .await;

    success(run(&sources(&server), ARXIV, "Quantum computing").await);
}

#[tokio::test]
async fn root_namespace_feeds_give_complete_papers() {
    let server = stub(200, ROOT_NAMESPACES).await;

    let data = success(run(&sources(&server), ARXIV, "assouad spectra").await).data;

    assert_eq!(data["totalResults"], 1234);
    let papers = data["papers"].as_array().unwrap();
    assert_eq!(papers.len(), 2);
    let paper = &papers[0];
    assert_eq!(paper["id"], "2206.06921v3");
    assert_eq!(paper["title"], "Attainable forms of Assouad spectra");
    assert_eq!(
        paper["summary"],
        r"Let $d\in\mathbb{N}$ and let $φ$ be a function & more: the spectrum can fail to be Hölder in a neighbourhood of 1 <proof>."
    );
    assert_eq!(paper["authors"].as_array().unwrap().len(), 6);
    assert_eq!(paper["authors"][0], "Alex Rutar");
    assert_eq!(paper["authors"][5], "Jonathan M. Fraser");
    assert_eq!(paper["published"], "2022-06-14T15:35:46Z");
    assert_eq!(paper["updated"], "2025-01-30T01:23:42Z");
    assert_eq!(paper["primaryCategory"], "math.CA");
    assert_eq!(
        paper["categories"],
        serde_json::json!(["math.CA", "math.MG"])
    );
    assert_eq!(paper["abstractUrl"], "https://arxiv.org/abs/2206.06921v3");
    assert_eq!(paper["pdfUrl"], "https://arxiv.org/pdf/2206.06921v3");
    assert_eq!(paper["doi"], "10.1512/iumj.2024.73.9928");
    assert_eq!(paper["journalRef"], "Indiana Univ. Math. J. 73 (2024)");
    assert_eq!(paper["comment"], "27 pages, 2 figures");
    assert_eq!(papers[1]["id"], "quant-ph/9508027v2");
    assert_eq!(papers[1]["doi"], serde_json::Value::Null);
}

#[tokio::test]
async fn per_element_namespace_feeds_read_the_same_way() {
    let server = stub(200, PER_ELEMENT_NAMESPACES).await;

    let data = success(run(&sources(&server), ARXIV, "electron").await).data;

    let papers = data["papers"].as_array().unwrap();
    assert_eq!(papers.len(), 2);
    let paper = &papers[0];
    assert_eq!(paper["id"], "hep-ex/0307015v1");
    assert_eq!(paper["title"], "Search for the electron charge asymmetry");
    assert_eq!(
        paper["summary"],
        "We present a measurement of the electron charge asymmetry."
    );
    assert_eq!(paper["authors"], serde_json::json!(["D0 Collaboration"]));
    assert_eq!(paper["primaryCategory"], "hep-ex");
    assert_eq!(
        paper["abstractUrl"],
        "http://arxiv.org/abs/hep-ex/0307015v1"
    );
    assert_eq!(paper["pdfUrl"], "http://arxiv.org/pdf/hep-ex/0307015v1");
    assert_eq!(
        paper["doi"], "10.1103/PhysRevD.69.012002",
        "a DOI under any prefix"
    );
    assert_eq!(paper["comment"], "4 pages");
    // PDF found by type without a title attribute, DOI found as a link.
    assert_eq!(papers[1]["pdfUrl"], "http://arxiv.org/pdf/1001.0001v1");
    assert_eq!(papers[1]["doi"], "10.1000/xyz123");
}

#[tokio::test]
async fn max_results_limits_the_papers_returned() {
    let server = stub(200, ROOT_NAMESPACES).await;
    let sources = sources(&server);
    let request = crate::common::request(serde_json::json!({
        "query": "quantum", "sources": "arxiv", "maxResults": 1
    }));

    let gathered = sources.gather(&request).await;

    let data = &gathered.successes().next().unwrap().data;
    assert_eq!(data["papers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn zero_results_are_counted_from_the_entries_present() {
    for (case, body) in [
        ("total 0", NO_ENTRY_TOTAL_ZERO),
        ("old format, total 1", NO_ENTRY_TOTAL_ONE),
    ] {
        let server = stub(200, body).await;

        let result = success(run(&sources(&server), ARXIV, "zzzqqq").await);

        assert_eq!(result.data["papers"], serde_json::json!([]), "case {case}");
        assert_eq!(result.data["totalResults"], 0, "case {case}");
        assert!(!result.matched, "case {case}");
        assert_eq!(
            result.message.as_deref(),
            Some("arXiv has no papers matching \"zzzqqq\""),
            "case {case}"
        );
    }
}

#[tokio::test]
async fn the_error_entry_is_a_failure_with_its_message_at_http_400_and_200() {
    for (status, id) in [
        (
            400,
            "https://arxiv.org/api/errors#incorrect_id_format_for_1234.12345",
        ),
        (
            200,
            "http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345",
        ),
        (200, "https://arxiv.org/help/api/user-manual#query_details"),
    ] {
        let server = stub(status, &error_feed(id)).await;

        let failure = failure(run(&sources(&server), ARXIV, "1234.12345").await);

        assert_eq!(failure.code, "bad_response", "HTTP {status} {id}");
        assert!(
            failure.error.contains("incorrect id format for 1234.12345"),
            "{}",
            failure.error
        );
    }
}

#[tokio::test]
async fn empty_and_html_bodies_are_failures_not_zero_papers() {
    let truncated: String = ROOT_NAMESPACES.chars().take(900).collect();
    let html = "<!DOCTYPE html>\n<html><head><title>arXiv</title></head><body><h1>Service Unavailable</h1></body></html>";
    for (case, status, body, code) in [
        ("empty 200", 200, "", "bad_response"),
        ("whitespace 200", 200, "  \n", "bad_response"),
        ("HTML 200", 200, html, "bad_response"),
        ("HTML 500", 500, html, "upstream_error"),
        ("truncated XML", 200, truncated.as_str(), "bad_response"),
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/api/query"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body.to_owned(), "text/html"))
            .mount(&server)
            .await;

        let failure = failure(run(&sources(&server), ARXIV, "electron").await);

        assert_eq!(failure.code, code, "case {case}: {}", failure.error);
    }
}

#[tokio::test]
async fn a_second_call_within_three_seconds_fails_fast_without_reaching_arxiv() {
    let server = MockServer::start().await;
    Mock::given(path("/api/query"))
        .respond_with(atom(200, ROOT_NAMESPACES))
        .expect(1)
        .mount(&server)
        .await;
    let sources = sources(&server);

    success(run(&sources, ARXIV, "first query").await);
    let started = std::time::Instant::now();
    let second = failure(run(&sources, ARXIV, "second query").await);

    assert_eq!(second.code, "rate_limited");
    assert!(
        second.error.contains("one request every 3 s"),
        "{}",
        second.error
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "failed fast"
    );
}

#[tokio::test]
async fn a_503_with_retry_after_backs_off() {
    let server = MockServer::start().await;
    Mock::given(path("/api/query"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "30"))
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = crate::common::settings(&server);
    settings.arxiv_min_interval = std::time::Duration::ZERO;
    let sources = harmonic_data::sources::Sources::new(settings).unwrap();

    assert_eq!(
        failure(run(&sources, ARXIV, "a query").await).code,
        "rate_limited"
    );
    assert_eq!(
        failure(run(&sources, ARXIV, "another").await).code,
        "rate_limited"
    );
}
