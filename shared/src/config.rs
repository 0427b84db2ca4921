//! Configuration shared by every function: read once per container from environment variables
//! into a typed value. A bad value stops the container at cold start with a message naming the
//! variable, instead of failing requests later.
use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::apikey::KeyCheckSecret;
use crate::cors::AllowedOrigins;
use crate::domain::Tier;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

/// The admin credential, held only as its SHA-256 digest.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminTokenDigest(pub [u8; 32]);

impl std::fmt::Debug for AdminTokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminTokenDigest(<redacted>)")
    }
}

impl AdminTokenDigest {
    pub fn of_token(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (index, chunk) in hex.as_bytes().chunks(2).enumerate() {
            let text = std::str::from_utf8(chunk).ok()?;
            out[index] = u8::from_str_radix(text, 16).ok()?;
        }
        Some(Self(out))
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`: the one DynamoDB table.
    pub table_name: String,
    /// `DYNAMODB_ENDPOINT`: a DynamoDB-compatible server for local runs and tests; unset in AWS.
    pub dynamodb_endpoint: Option<String>,
    /// From `ADMIN_TOKEN` (hashed at load) or `ADMIN_TOKEN_SHA256` (hex). `None`: no admin.
    pub admin_token: Option<AdminTokenDigest>,
    /// `BCRYPT_COST`: 10..=31 (4..=31 only against a local `DYNAMODB_ENDPOINT`, for fast tests).
    pub bcrypt_cost: u32,
    /// `ALLOW_SIGNUP`: whether anyone may create a new Free user with its first key.
    pub allow_signup: bool,
    /// `MAX_KEYS_PER_USER`: active keys a user may hold at once.
    pub max_keys_per_user: u32,
    /// `FREE_MONTHLY_QUOTA`.
    pub free_monthly_quota: u64,
    /// `PRO_MONTHLY_QUOTA`.
    pub pro_monthly_quota: u64,
    /// `DEMO_MODE`: whether requests without a key are served, metered per client IP.
    pub demo_mode: bool,
    /// `USAGE_RETENTION_DAYS`: how long usage events and daily counters are kept (item TTL).
    pub usage_retention_days: u32,
    /// `AUDIT_RETENTION_DAYS` (1..=3650, default 365): how long audit entries are kept. A value
    /// out of range falls back to the default rather than failing the cold start.
    pub audit_retention_days: u32,
    /// `KEY_CACHE_TTL_SECONDS`: how long a container remembers a verified key.
    pub key_cache_ttl: Duration,
    /// `KEY_CHECK_SECRET`: the server secret of the keys' check group (at least 32 characters).
    pub key_check: KeyCheckSecret,
    /// `SIGNUP_LIMIT_PER_IP_PER_DAY`: sign-ups per client address (IPv6: per /64) per UTC day;
    /// `None` (0) is no limit.
    pub signup_limit_per_ip_per_day: Option<u32>,
    /// `CORS_ALLOWED_ORIGINS`: the web origins whose pages may read the API's answers.
    pub cors_allowed_origins: AllowedOrigins,
    /// `USAGE_FLUSH_IDLE_MS` (local runs only; unset or 0: off): flush the usage queued after
    /// responses that long after the last request, because `cargo lambda watch` hands the
    /// after-response extension an invocation's event only when the next one begins.
    pub usage_flush_idle: Option<Duration>,
}

/// What a local run uses when `KEY_CHECK_SECRET` is unset: only accepted together with a local
/// `DYNAMODB_ENDPOINT` (`make run` and the test scripts generate their own anyway).
pub const LOCAL_KEY_CHECK_SECRET: &str = "local-only-key-check-secret-never-use-in-aws";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can supply their own variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = EnvReader::new(&lookup);

        let dynamodb_endpoint = env.raw("DYNAMODB_ENDPOINT");
        let admin_token = match (env.raw("ADMIN_TOKEN"), env.raw("ADMIN_TOKEN_SHA256")) {
            (Some(token), _) => {
                if token.len() < 16 {
                    return Err(ConfigError::new(
                        "ADMIN_TOKEN",
                        "must be at least 16 characters",
                    ));
                }
                Some(AdminTokenDigest::of_token(&token))
            }
            (None, Some(hex)) => Some(
                AdminTokenDigest::from_hex(&hex.to_ascii_lowercase()).ok_or_else(|| {
                    ConfigError::new("ADMIN_TOKEN_SHA256", "must be 64 hex digits")
                })?,
            ),
            (None, None) => None,
        };
        let min_cost = if dynamodb_endpoint.is_some() { 4 } else { 10 };
        let key_check = match (env.raw("KEY_CHECK_SECRET"), &dynamodb_endpoint) {
            (Some(secret), _) => KeyCheckSecret::new(secret.trim())
                .map_err(|reason| ConfigError::new("KEY_CHECK_SECRET", reason))?,
            (None, Some(_)) => {
                tracing::warn!("KEY_CHECK_SECRET unset: using the local-only check secret");
                KeyCheckSecret::new(LOCAL_KEY_CHECK_SECRET)
                    .map_err(|reason| ConfigError::new("KEY_CHECK_SECRET", reason))?
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "KEY_CHECK_SECRET",
                    "must be set (at least 32 random characters) outside a local run",
                ))
            }
        };
        let signup_limit: u32 = env.number_in("SIGNUP_LIMIT_PER_IP_PER_DAY", 10, 0, 1_000_000)?;
        let flush_idle_ms: u64 = env.number_in("USAGE_FLUSH_IDLE_MS", 0, 0, 60_000)?;

        Ok(Self {
            table_name: env
                .raw("TABLE_NAME")
                .unwrap_or_else(|| "harmonic".to_owned()),
            bcrypt_cost: env.number_in("BCRYPT_COST", 10, min_cost, 31)?,
            allow_signup: env.boolean("ALLOW_SIGNUP", true)?,
            max_keys_per_user: env.number_in("MAX_KEYS_PER_USER", 10, 1, 1000)?,
            free_monthly_quota: env.number_in("FREE_MONTHLY_QUOTA", 1000, 0, u32::MAX as u64)?,
            pro_monthly_quota: env.number_in("PRO_MONTHLY_QUOTA", 10_000, 0, u32::MAX as u64)?,
            demo_mode: env.boolean("DEMO_MODE", true)?,
            usage_retention_days: env.number_in("USAGE_RETENTION_DAYS", 90, 1, 3650)?,
            audit_retention_days: env
                .raw("AUDIT_RETENTION_DAYS")
                .and_then(|raw| raw.trim().parse::<u32>().ok())
                .filter(|days| (1..=3650).contains(days))
                .unwrap_or(365),
            key_cache_ttl: Duration::from_secs(env.number_in(
                "KEY_CACHE_TTL_SECONDS",
                900,
                1,
                86_400,
            )?),
            cors_allowed_origins: AllowedOrigins::parse(
                &env.raw("CORS_ALLOWED_ORIGINS").unwrap_or_default(),
            )
            .map_err(|why| ConfigError::new("CORS_ALLOWED_ORIGINS", why))?,
            dynamodb_endpoint,
            admin_token,
            key_check,
            signup_limit_per_ip_per_day: (signup_limit > 0).then_some(signup_limit),
            usage_flush_idle: (flush_idle_ms > 0).then(|| Duration::from_millis(flush_idle_ms)),
        })
    }

    /// The monthly request limit of a tier; `None` is unlimited (Enterprise).
    pub fn monthly_quota(&self, tier: Tier) -> Option<u64> {
        match tier {
            Tier::Free => Some(self.free_monthly_quota),
            Tier::Pro => Some(self.pro_monthly_quota),
            Tier::Enterprise => None,
        }
    }
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            variable,
            problem: problem.into(),
        }
    }
}

/// The one reader of environment variables (`Config` here, the data function's
/// `SourceSettings` too), through a lookup: the process environment in production, a map in
/// tests. A variable that is unset or blank is absent and takes its default; every error is a
/// [`ConfigError`] naming the variable.
pub struct EnvReader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> EnvReader<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        EnvReader { lookup }
    }

    /// The value as given (untrimmed), `None` when unset or blank.
    pub fn raw(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable).filter(|value| !value.trim().is_empty())
    }

    /// The value without surrounding whitespace, `None` when unset or blank.
    pub fn trimmed(&self, variable: &str) -> Option<String> {
        self.raw(variable).map(|value| value.trim().to_owned())
    }

    /// A whole number in `min..=max`, `default` when absent.
    pub fn number_in<T>(
        &self,
        variable: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.raw(variable) else {
            return Ok(default);
        };
        let value: T = raw.trim().parse().map_err(|_| {
            ConfigError::new(variable, format!("must be a whole number (got {raw:?})"))
        })?;
        if value < min || value > max {
            return Err(ConfigError::new(
                variable,
                format!("must be between {min} and {max} (got {value})"),
            ));
        }
        Ok(value)
    }

    /// A whole number greater than 0 with no upper bound (sizes, durations), `default` when
    /// absent.
    pub fn positive(&self, variable: &'static str, default: u64) -> Result<u64, ConfigError> {
        let Some(value) = self.trimmed(variable) else {
            return Ok(default);
        };
        match value.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::new(
                variable,
                format!("`{value}` is not a whole number greater than 0"),
            )),
        }
    }

    /// `true`/`false`, `on`/`off`, `yes`/`no` or `1`/`0` in any case, `default` when absent.
    pub fn boolean(&self, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.raw(variable) else {
            return Ok(default);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Ok(true),
            "0" | "false" | "off" | "no" => Ok(false),
            _ => Err(ConfigError::new(
                variable,
                format!("must be true/false or on/off (got {raw:?})"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let config = config_with(&[("KEY_CHECK_SECRET", &"s".repeat(32))]).unwrap();
        assert_eq!(config.signup_limit_per_ip_per_day, Some(10));
        assert_eq!(config.table_name, "harmonic");
        assert_eq!(config.bcrypt_cost, 10);
        assert!(config.allow_signup && config.demo_mode);
        assert_eq!(config.max_keys_per_user, 10);
        assert_eq!(config.monthly_quota(Tier::Free), Some(1000));
        assert_eq!(config.monthly_quota(Tier::Pro), Some(10_000));
        assert_eq!(config.monthly_quota(Tier::Enterprise), None);
        assert_eq!(config.usage_retention_days, 90);
        assert!(config.admin_token.is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases = [
            ("BCRYPT_COST", "3"),
            ("BCRYPT_COST", "ten"),
            ("MAX_KEYS_PER_USER", "0"),
            ("DEMO_MODE", "maybe"),
            ("FREE_MONTHLY_QUOTA", "-1"),
            ("ADMIN_TOKEN", "short"),
            ("ADMIN_TOKEN_SHA256", "xyz"),
            ("KEY_CHECK_SECRET", "short"),
            ("SIGNUP_LIMIT_PER_IP_PER_DAY", "-1"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com/"),
        ];
        for (variable, value) in cases {
            let error = config_with(&[
                (variable, value),
                ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ])
            .unwrap_err();
            assert_eq!(error.variable, variable, "{variable}={value}");
        }
    }

    #[test]
    fn the_key_check_secret_is_required_in_aws_and_zero_means_no_sign_up_limit() {
        let error = config_with(&[]).unwrap_err();
        assert_eq!(error.variable, "KEY_CHECK_SECRET");
        let local = config_with(&[
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ("SIGNUP_LIMIT_PER_IP_PER_DAY", "0"),
        ])
        .unwrap();
        assert_eq!(local.signup_limit_per_ip_per_day, None);
        assert!(!format!("{local:?}").contains(LOCAL_KEY_CHECK_SECRET));
    }

    #[test]
    fn a_low_bcrypt_cost_is_only_accepted_against_a_local_server() {
        assert!(
            config_with(&[("BCRYPT_COST", "4"), ("KEY_CHECK_SECRET", &"s".repeat(32))]).is_err()
        );
        let local = config_with(&[
            ("BCRYPT_COST", "4"),
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
        ])
        .unwrap();
        assert_eq!(local.bcrypt_cost, 4);
    }

    #[test]
    fn the_admin_token_is_held_as_its_digest_whichever_way_it_is_given() {
        let token = "a-long-enough-admin-token";
        let secret = "s".repeat(32);
        let plain = config_with(&[("ADMIN_TOKEN", token), ("KEY_CHECK_SECRET", &secret)]).unwrap();
        let hex: String = AdminTokenDigest::of_token(token)
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hashed =
            config_with(&[("ADMIN_TOKEN_SHA256", &hex), ("KEY_CHECK_SECRET", &secret)]).unwrap();
        assert_eq!(plain.admin_token, hashed.admin_token);
        assert!(!format!("{plain:?}").contains(token));
    }
}
