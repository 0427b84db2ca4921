//! The upstream services' answers, recorded in their real formats (testkit/fixtures/upstream;
//! see ../shared/reference/upstream-apis.md): the stand-ins in [`crate::stubs`] serve them, and
//! the fan-out benchmark serves them after a delay.
pub const WIKI_SUMMARY_QUANTUM: &str =
    include_str!("../fixtures/upstream/wiki-summary-quantum-computing.json");
pub const WIKI_SUMMARY_AI: &str =
    include_str!("../fixtures/upstream/wiki-summary-artificial-intelligence.json");
pub const WIKI_SUMMARY_CLIMATE: &str =
    include_str!("../fixtures/upstream/wiki-summary-climate-change.json");
pub const WIKI_NOT_FOUND: &str = include_str!("../fixtures/upstream/wiki-not-found.json");
pub const WIKI_SEARCH_QUANTUM: &str = include_str!("../fixtures/upstream/wiki-search-quantum.json");
pub const ARXIV_QUANTUM: &str = include_str!("../fixtures/upstream/arxiv-quantum-computing.xml");
pub const GDELT_ARTICLES: &str = include_str!("../fixtures/upstream/gdelt-articles.json");
pub const GEOCODING_BERLIN: &str = include_str!("../fixtures/upstream/geocoding-berlin.json");
pub const FORECAST_BERLIN: &str = include_str!("../fixtures/upstream/forecast-berlin.json");
