//! The audit trail of key and account actions: who (the administrator, a key holder by key id,
//! or a sign-up by client address), what (issue, rotate, revoke, tier change, usage reset), on
//! which user and key, when. Each action is one append-only item (kept
//! `Config::audit_retention_days`, by TTL) and one structured log line `"event": "audit"`.
//!
//! Who is acting is known to the request scope (authentication records it), so a handler adds
//! an entry with one call: `app.audit(AuditAction::Revoke, &user_id, Some(&key_id), detail)`.
//! A failed write is logged and never fails the action: the action already happened, and the
//! log line is the second copy of the entry.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::apikey::KeyId;
use crate::app::App;
use crate::domain::{rfc3339, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Issue,
    Rotate,
    Revoke,
    TierChange,
    UsageReset,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Issue => "issue",
            AuditAction::Rotate => "rotate",
            AuditAction::Revoke => "revoke",
            AuditAction::TierChange => "tier_change",
            AuditAction::UsageReset => "usage_reset",
        }
    }
}

/// One entry as stored and as the audit route shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub at: String,
    pub actor: Actor,
    pub action: AuditAction,
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
    /// Action-specific facts (`{"tier": "pro"}`, `{"newKeyId": ...}`); never a key or a hash.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

impl App {
    /// Appends one entry for an action the current request just performed.
    pub async fn audit(
        &self,
        action: AuditAction,
        user_id: &UserId,
        key_id: Option<&KeyId>,
        detail: serde_json::Value,
    ) {
        let now: DateTime<Utc> = self.clock.now();
        let Some(actor) = crate::request_scope::actor() else {
            tracing::warn!(action = action.as_str(), user_id = %user_id, "audit entry without a known actor");
            return;
        };
        let entry = AuditEntry {
            at: rfc3339(now),
            actor,
            action,
            user_id: user_id.clone(),
            key_id: key_id.cloned(),
            detail,
        };
        tracing::info!(
            event = "audit",
            action = action.as_str(),
            actor = %entry.actor.label(),
            user_id = %entry.user_id,
            key_id = entry.key_id.as_ref().map(|id| id.to_string()),
            detail = %entry.detail,
            "audit"
        );
        if let Err(error) = self
            .store
            .append_audit(&entry, now, self.config.audit_retention_days)
            .await
        {
            tracing::error!(action = action.as_str(), user_id = %user_id, error = %error, "audit entry not stored (the log line above keeps it)");
        }
    }
}
