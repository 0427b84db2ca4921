//! A write built on the request path and sent after the response (in the container's after-response batch).
use super::schema::Item;
/// One PutItem to send after the response.
#[derive(Debug, Clone, PartialEq)]
pub struct DeferredPut {
    pub(crate) item: Item,
}
impl DeferredPut {
    pub(crate) fn new(item: Item) -> Self {
        Self { item }
    }
}
