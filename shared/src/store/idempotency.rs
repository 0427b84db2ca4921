//! Idempotency records of `POST /api/v1/data` (the `Idempotency-Key` header): who claimed a
//! key, for which body, and the first response to replay.
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | claim | `IDEM#<scope>#<key>` | `REQUEST` | `fingerprint`, `state` (`pending`/`done`), `token`, `lockedUntil`, `expiresAt`, `ttl`; when done `status`, `headers`, `body` or `parts` |
//! | body part | same | `PART#0000`.. | `body` (a slice of a response too large for one item), `ttl` |
//!
//! The scope (`USER#<userId>` or `DEMO#<ip>`) is part of the partition key, so one caller can
//! never read or block another caller's record. A claim is one conditional `PutItem`; it
//! succeeds when no live record exists, or when a pending one was abandoned (its lock expired)
//! by a request with the same body.
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use super::{n, s, Store, StoreError};

const REQUEST_SK: &str = "REQUEST";
const PART_PREFIX: &str = "PART#";
const PENDING: &str = "pending";
const DONE: &str = "done";
/// A response body longer than this (bytes) is stored in parts: an item holds 400 KB at most.
pub const PART_BYTES: usize = 300_000;
/// More parts than this would be a body far beyond what a Lambda response can carry.
const MAX_PARTS: usize = 40;

/// The partition of one caller's record for one key.
pub fn idempotency_pk(scope: &str, key: &str) -> String {
    format!("IDEM#{scope}#{key}")
}

/// The first response to a request, as replayed to its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// What a claim found when the key was already taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistingRecord {
    /// The first request is still being served (until `locked_until`, epoch seconds).
    Pending {
        fingerprint: String,
        locked_until: i64,
    },
    Done {
        fingerprint: String,
        response: StoredResponse,
    },
}

impl ExistingRecord {
    pub fn fingerprint(&self) -> &str {
        match self {
            ExistingRecord::Pending { fingerprint, .. }
            | ExistingRecord::Done { fingerprint, .. } => fingerprint,
        }
    }
}

/// The outcome of [`Store::claim_idempotency_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// This request owns the key; `token` proves it when completing or releasing.
    Fresh {
        token: String,
    },
    Existing(ExistingRecord),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestItem {
    pk: String,
    sk: String,
    fingerprint: String,
    state: String,
    token: String,
    locked_until: i64,
    expires_at: i64,
    ttl: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parts: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PartItem {
    pk: String,
    sk: String,
    body: String,
    ttl: i64,
}

/// Splits `text` into slices of at most `size` bytes, on character boundaries.
fn split_on_char_boundaries(text: &str, size: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = size.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        parts.push(head);
        rest = tail;
    }
    parts
}

impl Store {
    /// Claims `pk` for a request whose body has `fingerprint`: one conditional `PutItem`.
    /// The record lives `window_seconds`; a pending claim may be taken over after
    /// `lock_seconds` (the first request's function was stopped) by the same body only.
    pub async fn claim_idempotency_key(
        &self,
        pk: &str,
        fingerprint: &str,
        now: i64,
        lock_seconds: i64,
        window_seconds: i64,
    ) -> Result<Claimed, StoreError> {
        // A record that disappears between the refused claim and the read (released by a
        // failed first request) is claimed again; twice is plenty.
        for _ in 0..3 {
            let token = format!("{:032x}", rand::random::<u128>());
            let item = RequestItem {
                pk: pk.to_owned(),
                sk: REQUEST_SK.to_owned(),
                fingerprint: fingerprint.to_owned(),
                state: PENDING.to_owned(),
                token: token.clone(),
                locked_until: now + lock_seconds,
                expires_at: now + window_seconds,
                ttl: now + window_seconds,
                status: None,
                headers: None,
                body: None,
                parts: None,
            };
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(serde_dynamo::to_item(item)?))
                .condition_expression(
                    "attribute_not_exists(pk) OR expiresAt <= :now \
                     OR (#state = :pending AND lockedUntil <= :now AND fingerprint = :fp)",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":pending", s(PENDING))
                .expression_attribute_values(":fp", s(fingerprint))
                .send()
                .await
                .map_err(StoreError::from);
            match result {
                Ok(_) => return Ok(Claimed::Fresh { token }),
                Err(StoreError::ConditionFailed) => {}
                Err(other) => return Err(other),
            }
            if let Some(existing) = self.read_idempotency_record(pk).await? {
                return Ok(Claimed::Existing(existing));
            }
        }
        Err(StoreError::Unavailable(
            "idempotency record changed under every claim".into(),
        ))
    }

    /// The record of `pk` with its body reassembled (strongly consistent).
    async fn read_idempotency_record(
        &self,
        pk: &str,
    ) -> Result<Option<ExistingRecord>, StoreError> {
        let mut items: Vec<HashMap<String, AttributeValue>> = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let mut request = None;
        let mut parts = BTreeMap::new();
        for item in items {
            let sort_key = item.get("sk").and_then(|v| v.as_s().ok()).cloned();
            match sort_key.as_deref() {
                Some(REQUEST_SK) => {
                    request = Some(serde_dynamo::from_item::<_, RequestItem>(item)?)
                }
                Some(other) if other.starts_with(PART_PREFIX) => {
                    let part: PartItem = serde_dynamo::from_item(item)?;
                    parts.insert(part.sk, part.body);
                }
                _ => {}
            }
        }
        let Some(request) = request else {
            return Ok(None);
        };
        if request.state != DONE {
            return Ok(Some(ExistingRecord::Pending {
                fingerprint: request.fingerprint,
                locked_until: request.locked_until,
            }));
        }
        let body = match (request.body, request.parts) {
            (Some(body), _) => body,
            (None, Some(count)) => {
                let mut body = String::new();
                for index in 0..count {
                    let part = parts.get(&part_sk(index)).ok_or_else(|| {
                        StoreError::Corrupt(format!("idempotency record lacks part {index}"))
                    })?;
                    body.push_str(part);
                }
                body
            }
            (None, None) => String::new(),
        };
        Ok(Some(ExistingRecord::Done {
            fingerprint: request.fingerprint,
            response: StoredResponse {
                status: request.status.unwrap_or(200),
                headers: request.headers.unwrap_or_default(),
                body,
            },
        }))
    }

    /// Stores the response of the request that owns the claim (`token`). A body too large for
    /// one item is written in parts first, so that a reader never sees `done` without them.
    pub async fn complete_idempotency_key(
        &self,
        pk: &str,
        token: &str,
        response: &StoredResponse,
        ttl: i64,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(REQUEST_SK))
            .condition_expression("#token = :token AND #state = :pending")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#headers", "headers")
            .expression_attribute_names("#body", "body")
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":pending", s(PENDING))
            .expression_attribute_values(":done", s(DONE))
            .expression_attribute_values(":status", n(response.status))
            .expression_attribute_values(
                ":headers",
                AttributeValue::M(
                    response
                        .headers
                        .iter()
                        .map(|(name, value)| (name.clone(), s(value)))
                        .collect(),
                ),
            );
        if response.body.len() <= PART_BYTES {
            update = update
                .update_expression(
                    "SET #state = :done, #status = :status, #headers = :headers, #body = :body",
                )
                .expression_attribute_values(":body", s(&response.body));
        } else {
            let parts = split_on_char_boundaries(&response.body, PART_BYTES);
            if parts.len() > MAX_PARTS {
                return Err(StoreError::Internal(format!(
                    "a response of {} bytes is too large to keep for replay",
                    response.body.len()
                )));
            }
            let writes = parts.iter().enumerate().map(|(index, part)| {
                let item = PartItem {
                    pk: pk.to_owned(),
                    sk: part_sk(index),
                    body: (*part).to_owned(),
                    ttl,
                };
                async move {
                    self.client
                        .put_item()
                        .table_name(&self.table)
                        .set_item(Some(serde_dynamo::to_item(item)?))
                        .send()
                        .await?;
                    Ok::<_, StoreError>(())
                }
            });
            for result in futures::future::join_all(writes).await {
                result?;
            }
            update = update
                .update_expression(
                    "SET #state = :done, #status = :status, #headers = :headers, parts = :parts REMOVE #body",
                )
                .expression_attribute_values(":parts", n(parts.len()));
        }
        update.send().await?;
        Ok(())
    }

    /// Gives the key back (the request was not charged): a retry is served afresh.
    pub async fn release_idempotency_key(&self, pk: &str, token: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(REQUEST_SK))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(token))
            .send()
            .await
            .map_err(StoreError::from);
        match result {
            // Another request took the claim over meanwhile: it is not ours to delete.
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(other) => Err(other),
        }
    }
}

fn part_sk(index: usize) -> String {
    format!("{PART_PREFIX}{index:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_split_on_character_boundaries_and_join_back() {
        let text = "é".repeat(10) + "abc";
        let parts = split_on_char_boundaries(&text, 3);
        assert!(parts.iter().all(|part| part.len() <= 3));
        assert_eq!(parts.concat(), text);
        assert!(split_on_char_boundaries("", 3).is_empty());
    }
}
