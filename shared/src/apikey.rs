//! The API key format, key generation, hashing and verification.
//!
//! A key is `hm_` followed by 32 characters of `[A-Za-z0-9]`:
//!
//! ```text
//! hm_ AbCdEfGhIj kLmNoPqRsTuVwXyZ01 2345
//!     └ key id ┘ └──── secret ─────┘ └check┘
//!       10 chars      18 chars       4 chars
//! ```
//!
//! * the **key id** is public: the lookup handle (one GetItem, never a scan) and the `{id}` in paths;
//! * the **secret** carries 18 × log2(62) ≈ 107 bits from the operating system's CSPRNG;
//! * the **check group** is keyed: base62 of HMAC-SHA-256 of the rest under the server secret
//!   `KEY_CHECK_SECRET`. A mistyped key, and a key made up by someone who knows a (public) key id
//!   but not the secret, is refused without any database read or bcrypt, in the same time whether
//!   the id exists or not.
//!
//! Only a bcrypt hash of the whole key is stored. A container remembers keys it already verified
//! by their SHA-256 digest, so a warm request does no bcrypt.
use hmac::{Hmac, Mac};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

pub const PREFIX: &str = "hm_";
pub const KEY_ID_LEN: usize = 10;
pub const SECRET_LEN: usize = 18;
pub const CHECK_LEN: usize = 4;
pub const BODY_LEN: usize = KEY_ID_LEN + SECRET_LEN + CHECK_LEN;
pub const KEY_LEN: usize = PREFIX.len() + BODY_LEN;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The public id of a key: 10 characters of `[A-Za-z0-9]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// Parses a key id from a path segment. Anything else (other lengths, other characters,
    /// `..`, percent escapes) is simply not a key id.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == KEY_ID_LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What lists show instead of the key: the prefix and the public id.
    pub fn preview(&self) -> String {
        format!("{PREFIX}{}…", self.0)
    }
}

impl TryFrom<String> for KeyId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| "not a key id".to_owned())
    }
}

impl From<KeyId> for String {
    fn from(value: KeyId) -> Self {
        value.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The server secret behind the check group (`KEY_CHECK_SECRET`). Never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyCheckSecret(Vec<u8>);

impl KeyCheckSecret {
    /// The shortest secret accepted: 32 bytes (256 bits when random).
    pub const MIN_LEN: usize = 32;

    pub fn new(secret: &str) -> Result<Self, String> {
        if secret.len() < Self::MIN_LEN {
            return Err(format!("must be at least {} characters", Self::MIN_LEN));
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    /// Four base62 characters: HMAC-SHA-256 of the key id and secret under this server secret.
    fn check_group(&self, unchecked: &str) -> String {
        // HMAC takes keys of any length, so `new_from_slice` cannot fail.
        let tag: [u8; 32] = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mut mac) => {
                mac.update(unchecked.as_bytes());
                mac.finalize().into_bytes().into()
            }
            Err(_) => [0; 32],
        };
        let mut value = u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]);
        let mut out = [0u8; CHECK_LEN];
        for slot in out.iter_mut().rev() {
            *slot = BASE62[(value % 62) as usize];
            value /= 62;
        }
        out.iter().map(|b| char::from(*b)).collect()
    }
}

impl fmt::Debug for KeyCheckSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyCheckSecret(<redacted>)")
    }
}

/// Whether a piece of text (a path segment, a query value) looks like a key rather than a key
/// id: it carries the `hm_` prefix (in any case). Such text is never echoed or logged.
pub fn looks_like_key(text: &str) -> bool {
    text.to_ascii_lowercase().contains(PREFIX)
}

/// Why a presented key was refused before any database read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key does not start with \"hm_\"")]
    Prefix,
    #[error("the key is not hm_ followed by 32 letters and digits")]
    Shape,
    #[error("the key's check characters do not match (mistyped or made-up key)")]
    Check,
}

/// A key as presented in `X-API-Key`, already format-checked. Its text never appears in
/// `Debug` output, logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedKey {
    full: String,
    key_id: KeyId,
}

impl PresentedKey {
    /// Checks the key's form and its keyed check group (no I/O; the comparison takes the same
    /// time wherever the check characters differ).
    pub fn parse(raw: &str, secret: &KeyCheckSecret) -> Result<Self, KeyFormatError> {
        use subtle::ConstantTimeEq;
        let body = raw.strip_prefix(PREFIX).ok_or(KeyFormatError::Prefix)?;
        if body.len() != BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyFormatError::Shape);
        }
        let (unchecked, check) = body.split_at(KEY_ID_LEN + SECRET_LEN);
        let expected = secret.check_group(unchecked);
        if !bool::from(expected.as_bytes().ct_eq(check.as_bytes())) {
            return Err(KeyFormatError::Check);
        }
        Ok(Self {
            full: raw.to_owned(),
            key_id: KeyId(body[..KEY_ID_LEN].to_owned()),
        })
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The full key text, for hashing and for the one-time display at creation.
    pub fn expose(&self) -> &str {
        &self.full
    }

    /// SHA-256 of the whole key: what the verified-key cache remembers.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.full.as_bytes()).into()
    }
}

impl fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresentedKey({}…)", self.key_id)
    }
}

/// Makes a new key from the operating system's CSPRNG (rand's thread RNG, seeded and
/// reseeded from the OS).
pub fn generate(check_secret: &KeyCheckSecret) -> PresentedKey {
    let mut rng = rand::rng();
    let key_id = Alphanumeric.sample_string(&mut rng, KEY_ID_LEN);
    let secret = Alphanumeric.sample_string(&mut rng, SECRET_LEN);
    let unchecked = format!("{key_id}{secret}");
    let full = format!(
        "{PREFIX}{unchecked}{}",
        check_secret.check_group(&unchecked)
    );
    PresentedKey {
        full,
        key_id: KeyId(key_id),
    }
}

/// bcrypt of the whole key. CPU-heavy: call it from `spawn_blocking`.
pub fn hash(key: &PresentedKey, cost: u32) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(key.expose(), cost)
}

/// Checks a key against its stored bcrypt hash. CPU-heavy: call it from `spawn_blocking`.
pub fn verify(key: &PresentedKey, stored_hash: &str) -> bool {
    bcrypt::verify(key.expose(), stored_hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> KeyCheckSecret {
        KeyCheckSecret::new("unit-test-key-check-secret-0123456789").unwrap()
    }

    #[test]
    fn a_key_made_without_the_server_secret_is_refused_at_parse() {
        let other = KeyCheckSecret::new("another-server-secret-abcdefghijklmnop").unwrap();
        let mut refused = 0;
        for _ in 0..200 {
            let forged = generate(&other);
            if PresentedKey::parse(forged.expose(), &secret()) == Err(KeyFormatError::Check) {
                refused += 1;
            }
        }
        // 4 base62 characters: a forged check group matches once in 62^4 = 14.8 million.
        assert!(refused >= 199, "{refused} of 200 forged keys refused");
    }

    #[test]
    fn short_secrets_and_debug_output_are_guarded() {
        assert!(KeyCheckSecret::new("too short").is_err());
        assert!(!format!("{:?}", secret()).contains("unit-test"));
    }

    #[test]
    fn text_carrying_the_key_prefix_looks_like_a_key() {
        assert!(looks_like_key("hm_AbCdEfGhIj"));
        assert!(looks_like_key("HM_abc"));
        assert!(!looks_like_key("AbCdEfGhIj"));
        assert!(!looks_like_key("stats"));
    }

    #[test]
    fn generated_keys_have_the_documented_shape_and_pass_their_own_check() {
        for _ in 0..200 {
            let key = generate(&secret());
            let text = key.expose();
            assert_eq!(text.len(), KEY_LEN);
            assert!(text.starts_with("hm_"));
            assert!(text[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(
                PresentedKey::parse(text, &secret()).unwrap().key_id(),
                key.key_id()
            );
        }
    }

    #[test]
    fn generated_keys_do_not_repeat() {
        let keys: std::collections::HashSet<String> = (0..1000)
            .map(|_| generate(&secret()).expose().to_owned())
            .collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn a_single_changed_character_is_caught_by_the_check_group() {
        let key = generate(&secret());
        let text = key.expose().to_owned();
        let mut caught = 0;
        let mut tried = 0;
        for position in 3..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            tried += 1;
            if PresentedKey::parse(&typo, &secret()).is_err() {
                caught += 1;
            }
        }
        assert_eq!(caught, tried, "every one-character typo is refused");
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        let good = generate(&secret()).expose().to_owned();
        let cases: Vec<(String, KeyFormatError)> = vec![
            ("".into(), KeyFormatError::Prefix),
            (good.replacen("hm_", "HM_", 1), KeyFormatError::Prefix),
            (good.replacen("hm_", "Hm_", 1), KeyFormatError::Prefix),
            (format!("{good}x"), KeyFormatError::Shape),
            (good[..KEY_LEN - 1].to_owned(), KeyFormatError::Shape),
            (format!("hm_{}", "é".repeat(16)), KeyFormatError::Shape),
            (format!("hm_{}", "-".repeat(32)), KeyFormatError::Shape),
            (format!("hm_{}", "a".repeat(32)), KeyFormatError::Check),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                PresentedKey::parse(&raw, &secret()),
                Err(expected),
                "case {raw:?}"
            );
        }
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let key = generate(&secret());
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[3 + KEY_ID_LEN..]));
        assert!(shown.contains(key.key_id().as_str()));
    }

    #[test]
    fn bcrypt_hash_verifies_the_key_and_nothing_else() {
        let key = generate(&secret());
        let stored = hash(&key, 4).unwrap();
        assert!(stored.starts_with("$2"));
        assert!(verify(&key, &stored));
        assert!(!verify(&generate(&secret()), &stored));
        assert!(!verify(&key, "not a hash"));
    }

    #[test]
    fn key_ids_from_paths_accept_only_ten_alphanumerics() {
        assert!(KeyId::parse("AbCdEfGhIj").is_some());
        for bad in [
            "",
            "short",
            "AbCdEfGhIjK",
            "../../etc/",
            "AbCdEfGh%2",
            "AbCdEfGhI ",
        ] {
            assert!(KeyId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
