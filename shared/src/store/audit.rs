//! Audit entries: append-only, one item per action, newest first per user, removed by TTL.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `AUDIT#<userId>` | `<at RFC 3339>#<nonce>` | `at`, `actor` (`kind`, `keyId` / `clientIp`), `action`, `userId`, `keyId`, `detail`, `ttl` |
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;

use super::schema::{audit_pk, audit_sk};
use super::{s, Store, StoreError};
use crate::audit::AuditEntry;
use crate::domain::UserId;

#[derive(Serialize)]
struct AuditItem<'a> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    entry: &'a AuditEntry,
    ttl: i64,
}

impl Store {
    /// Appends an entry; never overwrites one (`attribute_not_exists`, and a random nonce in
    /// the sort key so that two actions in the same millisecond are two items).
    pub async fn append_audit(
        &self,
        entry: &AuditEntry,
        now: DateTime<Utc>,
        retention_days: u32,
    ) -> Result<(), StoreError> {
        let nonce: u32 = rand::rng().random();
        let item = AuditItem {
            pk: audit_pk(&entry.user_id),
            sk: audit_sk(&entry.at, nonce),
            entry,
            ttl: (now + chrono::Duration::days(i64::from(retention_days))).timestamp(),
        };
        self.put_new(item).await
    }

    /// A page of a user's entries, newest first, and the position to continue from.
    pub async fn audit_trail(
        &self,
        user_id: &UserId,
        limit: i32,
        after: Option<&str>,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        let pk = audit_pk(user_id);
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk.clone()))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(sk) = after {
            query = query
                .exclusive_start_key("pk", s(pk))
                .exclusive_start_key("sk", s(sk));
        }
        let output = query.send().await?;
        let entries = output
            .items()
            .iter()
            .map(|item| Ok(serde_dynamo::from_item(item.clone())?))
            .collect::<Result<Vec<AuditEntry>, StoreError>>()?;
        let next = output
            .last_evaluated_key()
            .and_then(|key| key.get("sk"))
            .and_then(|sk| sk.as_s().ok())
            .cloned();
        Ok((entries, next))
    }

    /// Whether `text` has the shape of an audit sort key (cursor validation).
    pub fn is_audit_sort_key(text: &str) -> bool {
        let Some((at, nonce)) = text.rsplit_once('#') else {
            return false;
        };
        nonce.len() == 8
            && nonce.bytes().all(|b| b.is_ascii_hexdigit())
            && DateTime::parse_from_rfc3339(at).is_ok()
    }
}
