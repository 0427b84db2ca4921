//! Retry-safe metered requests: the `Idempotency-Key` request header of `POST /api/v1/data`,
//! following draft-ietf-httpapi-idempotency-key-header (IETF HTTPAPI working group).
//!
//! A request with the header claims `(caller, key)` with one conditional write before it is
//! charged. A retry with the same key and the same body within 24 hours is answered with the
//! stored first response (`Idempotent-Replayed: true`) and is not charged; while the first is
//! still being served it gets `409`; the same key with another body gets `422`. Keys are
//! scoped per caller (user id, or client address in demo mode): one caller's key never
//! touches another's record. Only a charged `200` is kept: a request that was not charged
//! (429, 502, 503) gives its key back, so its retry is served (and charged) afresh.
//! Without the header nothing here runs: no read, no write.
use harmonic_shared::http::error_response;
use harmonic_shared::lambda_http::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use harmonic_shared::lambda_http::{Body, Response};
use harmonic_shared::metering::MeteredCaller;
use harmonic_shared::store::{idempotency_pk, Claimed, ExistingRecord, StoredResponse};
use harmonic_shared::{ApiError, App};
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
/// Longest accepted key (the draft sets no limit; UUIDs are 36 characters).
pub const MAX_KEY_CHARS: usize = 255;
/// How long a key is remembered.
pub const WINDOW_SECONDS: i64 = 24 * 60 * 60;
/// How long a pending claim blocks retries: longer than the function's timeout (15 s), so a
/// claim is only taken over once the function that made it can no longer answer.
pub const LOCK_SECONDS: i64 = 30;
const REPLAYED_HEADER: &str = "idempotent-replayed";

/// A well-formed `Idempotency-Key`: 1..=255 characters of `[A-Za-z0-9._:~+/=-]`, sent as a
/// Structured Field string (`"…"`, as the draft defines it) or bare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let unquoted = match trimmed.strip_prefix('"') {
            Some(rest) => rest
                .strip_suffix('"')
                .ok_or("Idempotency-Key opens a quoted string it does not close")?,
            None => trimmed,
        };
        if unquoted.is_empty() {
            return Err("Idempotency-Key is empty; send a unique value per request, e.g. a UUID: Idempotency-Key: \"8e03978e-40d5-43e8-bc93-6894a57f9324\"".into());
        }
        let chars = unquoted.chars().count();
        if chars > MAX_KEY_CHARS {
            return Err(format!(
                "Idempotency-Key is {chars} characters long; use at most {MAX_KEY_CHARS} (a UUID is 36)"
            ));
        }
        if let Some(bad) = unquoted.chars().find(|c| !is_key_char(*c)) {
            return Err(format!(
                "Idempotency-Key may only contain letters, digits and . _ : ~ + / = - (found {:?}); a UUID is a good key",
                bad
            ));
        }
        Ok(Self(unquoted.to_owned()))
    }

    /// The key a request carries, if any. Several `Idempotency-Key` fields are refused.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let mut values = headers.get_all(HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(ApiError::BadRequest(
                "send one Idempotency-Key header, not several".into(),
            ));
        }
        let text = value.to_str().map_err(|_| {
            ApiError::BadRequest("Idempotency-Key must be printable ASCII, e.g. a UUID".into())
        })?;
        Self::parse(text).map(Some).map_err(ApiError::BadRequest)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._:~+/=-".contains(c)
}

/// The claim of a request that owns its key: completed with the response, or released.
#[derive(Debug)]
pub struct Claim {
    pk: String,
    token: String,
}

/// What [`begin`] decided.
#[derive(Debug)]
pub enum Begun {
    /// Serve the request; `Some` when it carries a key it now owns.
    Fresh(Option<Claim>),
    /// A retry: answer with this (not charged).
    Replay(Response<Body>),
}

fn scope(caller: &MeteredCaller) -> String {
    match caller {
        MeteredCaller::Key(verified) => format!("USER#{}", verified.user_id),
        MeteredCaller::Demo { group } => format!("DEMO#{group}"),
    }
}

fn fingerprint(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Before charging: claims the request's key, or answers its retry.
pub async fn begin(
    app: &App,
    caller: &MeteredCaller,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Begun, ApiError> {
    let Some(key) = IdempotencyKey::from_headers(headers)? else {
        return Ok(Begun::Fresh(None));
    };
    let pk = idempotency_pk(&scope(caller), key.as_str());
    let fingerprint = fingerprint(body);
    let now = app.clock.now().timestamp();
    let claimed = app
        .store
        .claim_idempotency_key(&pk, &fingerprint, now, LOCK_SECONDS, WINDOW_SECONDS)
        .await?;
    let existing = match claimed {
        Claimed::Fresh { token } => return Ok(Begun::Fresh(Some(Claim { pk, token }))),
        Claimed::Existing(existing) => existing,
    };
    if existing.fingerprint() != fingerprint {
        return Err(ApiError::Unprocessable(
            "this Idempotency-Key was already used with a different request body in the last 24 hours; send a new key for a new request".into(),
        ));
    }
    match existing {
        ExistingRecord::Pending { locked_until, .. } => {
            let mut response = error_response(ApiError::Conflict(
                "a request with this Idempotency-Key is still being served; retry shortly to get its response".into(),
            ));
            let wait = (locked_until - now).clamp(1, LOCK_SECONDS);
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(wait));
            Ok(Begun::Replay(response))
        }
        ExistingRecord::Done { response, .. } => {
            ensure_key_still_live(app, caller).await?;
            tracing::info!(
                status = response.status,
                "idempotent retry answered from the stored response"
            );
            Ok(Begun::Replay(replay(response)))
        }
    }
}

/// A replay is not metered, but a revoked key must not read even its own past answers.
async fn ensure_key_still_live(app: &App, caller: &MeteredCaller) -> Result<(), ApiError> {
    let MeteredCaller::Key(verified) = caller else {
        return Ok(());
    };
    let live = app
        .store
        .get_user(&verified.user_id)
        .await?
        .is_some_and(|user| user.key_is_live(&verified.key_id, app.clock.now()));
    if live {
        Ok(())
    } else {
        app.auth.forget(&verified.key_id).await;
        Err(ApiError::invalid_api_key())
    }
}

fn replay(stored: StoredResponse) -> Response<Body> {
    let mut response = Response::new(Body::Text(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// After serving: a charged `200` is kept for its retries; anything else gives the key back.
pub async fn finish(app: &App, claim: Option<Claim>, response: &Response<Body>) {
    let Some(claim) = claim else { return };
    if response.status() != StatusCode::OK {
        return release(app, Some(claim)).await;
    }
    let body = match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    let stored = StoredResponse {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body,
    };
    let ttl = app.clock.now().timestamp() + WINDOW_SECONDS;
    if let Err(error) = app
        .store
        .complete_idempotency_key(&claim.pk, &claim.token, &stored, ttl)
        .await
    {
        // The retry then waits out the lock and is served afresh: never free, at worst charged.
        tracing::warn!(error = %error, "idempotent response not stored");
    }
}

/// Gives the key back: the request was not charged.
pub async fn release(app: &App, claim: Option<Claim>) {
    let Some(claim) = claim else { return };
    if let Err(error) = app
        .store
        .release_idempotency_key(&claim.pk, &claim.token)
        .await
    {
        tracing::warn!(error = %error, "idempotency key not released; retries wait for its lock");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_structured_field_strings_or_bare_tokens() {
        let uuid = "8e03978e-40d5-43e8-bc93-6894a57f9324";
        assert_eq!(
            IdempotencyKey::parse(&format!("\"{uuid}\""))
                .unwrap()
                .as_str(),
            uuid
        );
        assert_eq!(IdempotencyKey::parse(uuid).unwrap().as_str(), uuid);
        assert!(IdempotencyKey::parse(&"a".repeat(MAX_KEY_CHARS)).is_ok());
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        for (raw, expected) in [
            ("", "empty"),
            ("\"\"", "empty"),
            ("\"open", "does not close"),
            ("has space", "may only contain"),
            ("a#b", "may only contain"),
            ("é", "may only contain"),
            (&"a".repeat(MAX_KEY_CHARS + 1), "at most 255"),
        ] {
            let error = IdempotencyKey::parse(raw).unwrap_err();
            assert!(error.contains(expected), "{raw:?}: {error}");
        }
    }

    #[test]
    fn fingerprints_differ_with_the_body() {
        assert_eq!(fingerprint(b"{}"), fingerprint(b"{}"));
        assert_ne!(fingerprint(b"{\"a\":1}"), fingerprint(b"{\"a\":2}"));
        assert_eq!(fingerprint(b"").len(), 64);
    }
}
