//! Integration tests of the data layer: request parsing, and every source driven through the
//! real reqwest code against local wiremock stubs that answer like the real services
//! (see shared/reference/upstream-apis.md).

mod arxiv;
mod common;
mod gather;
mod news;
mod request;
mod upstream;
mod weather;
mod wiki;
