//! The one-minute failure memo: a failure of (source, query) is kept for `failure_memo_ttl`, so
//! repeating it calls no upstream (and, when every requested source is known to fail, the
//! handler answers without metering).

use tokio::time::Instant;

use super::SourceError;
use crate::model::{SourceFailure, SourceKind};

/// A failure kept for `failure_memo_ttl`, so repeating its (source, query) calls no upstream.
#[derive(Debug, Clone)]
pub(super) struct RememberedFailure {
    pub(super) error: SourceError,
    pub(super) until: Instant,
}

impl RememberedFailure {
    fn seconds_left(&self) -> u64 {
        let left = self.until.saturating_duration_since(Instant::now());
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }

    /// The failure as a client sees it: the original sentence, how long it stays remembered.
    pub(super) fn to_failure(&self, kind: SourceKind) -> SourceFailure {
        let seconds = self.seconds_left().max(1);
        SourceFailure {
            source: kind,
            error: format!(
                "{} (failed within the last minute for this query; not asked again for {seconds} s)",
                self.error
            ),
            code: self.error.code(),
            retry_after_seconds: Some(seconds),
        }
    }
}
