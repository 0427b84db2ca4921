//! A write built on the request path and sent after the response (in the container's
//! after-response batch, [`crate::after_response`]).
use super::schema::{Item, PK, SK};

/// One PutItem to send after the response.
#[derive(Debug, Clone, PartialEq)]
pub struct DeferredPut {
    pub(crate) item: Item,
}

impl DeferredPut {
    pub(crate) fn new(item: Item) -> Self {
        Self { item }
    }

    /// The item's primary key (pk, sk); `None` for an item without one (a defect).
    pub(crate) fn key(&self) -> Option<(String, String)> {
        let text = |name: &str| self.item.get(name)?.as_s().ok().cloned();
        Some((text(PK)?, text(SK)?))
    }
}
