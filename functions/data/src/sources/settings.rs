//! Configuration of the upstream sources, read once per container from the environment.
//!
//! Owns `SourceSettings` (base URLs, news provider, User-Agent, timeouts, cache TTLs,
//! politeness intervals, the upstream body cap and the failure memo's lifetime) and the NewsAPI
//! secret. Variables are read with the shared `EnvReader`, so a bad value is a `ConfigError`
//! naming its variable, like the rest of the configuration.

use std::time::Duration;

use harmonic_shared::config::{ConfigError, EnvReader};

use crate::model::SourceKind;

/// Default User-Agent. Wikimedia answers 403 to clients without contact information.
const DEFAULT_USER_AGENT: &str =
    "HarmonicAPI/0.1 (+https://github.com/harmonic-api/harmonic; api@harmonic.example)";

/// A secret that must never reach a log line or a `Debug` dump.
#[derive(Clone, PartialEq, Eq)]
pub struct NewsApiKey(String);

impl NewsApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        NewsApiKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewsApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewsApiKey(<redacted>)")
    }
}

/// Which service answers the `news` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewsProvider {
    /// GDELT DOC 2.0 at `SourceSettings::gdelt_url` (no key).
    Gdelt,
    /// Hacker News search (Algolia), no key.
    HackerNews { url: String },
    /// NewsAPI.org, key required.
    NewsApi { url: String, key: NewsApiKey },
}

impl NewsProvider {
    pub fn name(&self) -> &'static str {
        match self {
            NewsProvider::Gdelt => "gdelt",
            NewsProvider::HackerNews { .. } => "hackernews",
            NewsProvider::NewsApi { .. } => "newsapi",
        }
    }
}

/// Time-to-live of cached answers, per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTtls {
    pub wiki: Duration,
    pub arxiv: Duration,
    pub news: Duration,
    pub weather: Duration,
    pub curiosity: Duration,
}

impl CacheTtls {
    pub fn for_kind(&self, kind: SourceKind) -> Duration {
        match kind {
            SourceKind::Wiki => self.wiki,
            SourceKind::Arxiv => self.arxiv,
            SourceKind::News => self.news,
            SourceKind::Weather => self.weather,
            SourceKind::Curiosity => self.curiosity,
        }
    }
}

/// Everything the sources need to know about their environment. Fields are public so that tests
/// (and the handler) can adjust a value after `from_env` or `for_base_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    pub wikipedia_url: String,
    pub arxiv_url: String,
    pub gdelt_url: String,
    pub geocoding_url: String,
    pub forecast_url: String,
    pub news_provider: NewsProvider,
    pub user_agent: String,
    /// Budget of one source, including any politeness wait.
    pub source_timeout: Duration,
    /// Cap for the whole gather; no source runs longer than this.
    pub request_deadline: Duration,
    pub cache_ttl: CacheTtls,
    /// Bound of each source's cache.
    pub cache_max_entries: u64,
    /// arXiv terms of use: at most one request every 3 seconds.
    pub arxiv_min_interval: Duration,
    /// GDELT: at most one request every 5 seconds per IP.
    pub gdelt_min_interval: Duration,
    /// Back-off after a 429 without a usable `Retry-After` (or GDELT's rate-limit sentence).
    pub default_backoff: Duration,
    /// Longest back-off honoured, so a wild `Retry-After` cannot disable a source for hours.
    pub max_backoff: Duration,
    /// Largest upstream body read, in bytes (decoded bytes, counted while streaming); a larger
    /// answer is the source failure `too_large`, so one answer cannot exhaust the container.
    pub upstream_max_bytes: u64,
    /// How long a failure for (source, query) is remembered: repeating it within this time costs
    /// no upstream call (and, when every requested source is known to fail, no write either).
    pub failure_memo_ttl: Duration,
    /// The longest a source waits for the fleet's shared state in the table (a shared-cache
    /// read, a politeness-gate reservation) before going on without it: slow storage must cost
    /// a request a little time, never its answer.
    pub shared_state_timeout: Duration,
}

/// `UPSTREAM_MAX_BYTES` default: 2 MiB, far above any real answer (a Wikipedia summary is
/// ~2-8 KB, 20 arXiv entries ~60 KB, a GDELT page of 20 articles ~15 KB).
pub const DEFAULT_UPSTREAM_MAX_BYTES: u64 = 2 * 1024 * 1024;

const DEFAULT_WIKIPEDIA_URL: &str = "https://en.wikipedia.org";
const DEFAULT_ARXIV_URL: &str = "https://export.arxiv.org";
const DEFAULT_GDELT_URL: &str = "https://api.gdeltproject.org";
const DEFAULT_GEOCODING_URL: &str = "https://geocoding-api.open-meteo.com";
const DEFAULT_FORECAST_URL: &str = "https://api.open-meteo.com";
const DEFAULT_HACKERNEWS_URL: &str = "https://hn.algolia.com";
const DEFAULT_NEWSAPI_URL: &str = "https://newsapi.org";

impl SourceSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment in production, a map in tests).
    /// An unset or blank variable takes its default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = EnvReader::new(&lookup);
        let url = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            match env.trimmed(name) {
                None => Ok(default.to_owned()),
                Some(value) => parse_base_url(name, &value),
            }
        };
        let seconds =
            |name: &'static str, default: u64| env.positive(name, default).map(Duration::from_secs);

        let news_provider = match env
            .trimmed("NEWS_PROVIDER")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("gdelt") => NewsProvider::Gdelt,
            Some("hackernews") => NewsProvider::HackerNews {
                url: url("HACKERNEWS_API_URL", DEFAULT_HACKERNEWS_URL)?,
            },
            Some("newsapi") => NewsProvider::NewsApi {
                url: url("NEWSAPI_URL", DEFAULT_NEWSAPI_URL)?,
                key: NewsApiKey::new(env.trimmed("NEWSAPI_KEY").ok_or_else(|| {
                    ConfigError::new("NEWSAPI_KEY", "is required when NEWS_PROVIDER=newsapi")
                })?),
            },
            Some(other) => {
                return Err(ConfigError::new(
                    "NEWS_PROVIDER",
                    format!("`{other}` is not one of gdelt, hackernews, newsapi"),
                ))
            }
        };

        let user_agent = env
            .trimmed("USER_AGENT")
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned());
        if !(user_agent.contains('@') || user_agent.contains("://")) {
            return Err(ConfigError::new(
                "USER_AGENT",
                "must carry contact information (a URL or an e-mail address), e.g. `MyApp/1.0 (+https://example.org; ops@example.org)`; Wikimedia refuses anonymous clients",
            ));
        }
        if reqwest::header::HeaderValue::from_str(&user_agent).is_err() {
            return Err(ConfigError::new(
                "USER_AGENT",
                "contains characters not allowed in an HTTP header",
            ));
        }

        let source_timeout = Duration::from_millis(env.positive("SOURCE_TIMEOUT_MS", 3000)?);
        let request_deadline = Duration::from_millis(env.positive("REQUEST_DEADLINE_MS", 5000)?);
        if request_deadline < source_timeout {
            return Err(ConfigError::new(
                "REQUEST_DEADLINE_MS",
                format!(
                    "({} ms) must be at least SOURCE_TIMEOUT_MS ({} ms)",
                    request_deadline.as_millis(),
                    source_timeout.as_millis()
                ),
            ));
        }

        Ok(SourceSettings {
            wikipedia_url: url("WIKIPEDIA_API_URL", DEFAULT_WIKIPEDIA_URL)?,
            arxiv_url: url("ARXIV_API_URL", DEFAULT_ARXIV_URL)?,
            gdelt_url: url("GDELT_API_URL", DEFAULT_GDELT_URL)?,
            geocoding_url: url("OPEN_METEO_GEOCODING_URL", DEFAULT_GEOCODING_URL)?,
            forecast_url: url("OPEN_METEO_FORECAST_URL", DEFAULT_FORECAST_URL)?,
            news_provider,
            user_agent,
            source_timeout,
            request_deadline,
            cache_ttl: CacheTtls {
                wiki: seconds("CACHE_TTL_WIKI_SECONDS", 86_400)?,
                arxiv: seconds("CACHE_TTL_ARXIV_SECONDS", 86_400)?,
                news: seconds("CACHE_TTL_NEWS_SECONDS", 900)?,
                weather: seconds("CACHE_TTL_WEATHER_SECONDS", 1_800)?,
                curiosity: seconds("CACHE_TTL_CURIOSITY_SECONDS", 86_400)?,
            },
            cache_max_entries: env.positive("CACHE_MAX_ENTRIES", 1000)?,
            upstream_max_bytes: env.positive("UPSTREAM_MAX_BYTES", DEFAULT_UPSTREAM_MAX_BYTES)?,
            ..Self::defaults()
        })
    }

    /// Settings for tests: every upstream at `base_url`, all other values at their defaults
    /// (news from GDELT).
    pub fn for_base_url(base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/').to_owned();
        SourceSettings {
            wikipedia_url: base.clone(),
            arxiv_url: base.clone(),
            gdelt_url: base.clone(),
            geocoding_url: base.clone(),
            forecast_url: base,
            ..Self::defaults()
        }
    }

    /// The documented defaults, as `from_env` returns them when no variable is set.
    pub fn defaults() -> Self {
        SourceSettings {
            wikipedia_url: DEFAULT_WIKIPEDIA_URL.to_owned(),
            arxiv_url: DEFAULT_ARXIV_URL.to_owned(),
            gdelt_url: DEFAULT_GDELT_URL.to_owned(),
            geocoding_url: DEFAULT_GEOCODING_URL.to_owned(),
            forecast_url: DEFAULT_FORECAST_URL.to_owned(),
            news_provider: NewsProvider::Gdelt,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            source_timeout: Duration::from_millis(3000),
            request_deadline: Duration::from_millis(5000),
            cache_ttl: CacheTtls {
                wiki: Duration::from_secs(86_400),
                arxiv: Duration::from_secs(86_400),
                news: Duration::from_secs(900),
                weather: Duration::from_secs(1_800),
                curiosity: Duration::from_secs(86_400),
            },
            cache_max_entries: 1000,
            arxiv_min_interval: Duration::from_secs(3),
            gdelt_min_interval: Duration::from_secs(5),
            default_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(600),
            upstream_max_bytes: DEFAULT_UPSTREAM_MAX_BYTES,
            failure_memo_ttl: Duration::from_secs(60),
            shared_state_timeout: Duration::from_millis(300),
        }
    }

    /// The base URL the given source calls first (for the catalogue).
    pub fn upstream_of(&self, kind: SourceKind) -> String {
        match kind {
            SourceKind::Wiki => self.wikipedia_url.clone(),
            SourceKind::Arxiv => self.arxiv_url.clone(),
            SourceKind::News => match &self.news_provider {
                NewsProvider::Gdelt => self.gdelt_url.clone(),
                NewsProvider::HackerNews { url } | NewsProvider::NewsApi { url, .. } => url.clone(),
            },
            SourceKind::Weather => format!("{} + {}", self.geocoding_url, self.forecast_url),
            SourceKind::Curiosity => "built-in knowledge base (no network)".to_owned(),
        }
    }
}

fn parse_base_url(name: &'static str, value: &str) -> Result<String, ConfigError> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(ConfigError::new(
            name,
            format!("`{value}` is not an http(s) URL such as https://example.org"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        assert_eq!(
            SourceSettings::from_lookup(|_| None).unwrap(),
            SourceSettings::defaults()
        );
    }

    #[test]
    fn values_from_the_environment_override_defaults() {
        let settings = SourceSettings::from_lookup(lookup(&[
            ("WIKIPEDIA_API_URL", "http://127.0.0.1:9/"),
            ("SOURCE_TIMEOUT_MS", "250"),
            ("REQUEST_DEADLINE_MS", "400"),
            ("CACHE_TTL_NEWS_SECONDS", "60"),
            ("NEWS_PROVIDER", "HackerNews"),
            ("UPSTREAM_MAX_BYTES", "65536"),
        ]))
        .unwrap();
        assert_eq!(settings.upstream_max_bytes, 65_536);
        assert_eq!(settings.wikipedia_url, "http://127.0.0.1:9");
        assert_eq!(settings.source_timeout, Duration::from_millis(250));
        assert_eq!(settings.request_deadline, Duration::from_millis(400));
        assert_eq!(settings.cache_ttl.news, Duration::from_secs(60));
        assert_eq!(
            settings.news_provider,
            NewsProvider::HackerNews {
                url: "https://hn.algolia.com".to_owned()
            }
        );
    }

    #[test]
    fn each_bad_value_is_an_error_naming_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("SOURCE_TIMEOUT_MS", "fast")], "SOURCE_TIMEOUT_MS"),
            (&[("SOURCE_TIMEOUT_MS", "0")], "SOURCE_TIMEOUT_MS"),
            (&[("SOURCE_TIMEOUT_MS", "6000")], "REQUEST_DEADLINE_MS"),
            (&[("CACHE_MAX_ENTRIES", "-1")], "CACHE_MAX_ENTRIES"),
            (&[("UPSTREAM_MAX_BYTES", "2MB")], "UPSTREAM_MAX_BYTES"),
            (&[("UPSTREAM_MAX_BYTES", "0")], "UPSTREAM_MAX_BYTES"),
            (
                &[("CACHE_TTL_ARXIV_SECONDS", "1.5")],
                "CACHE_TTL_ARXIV_SECONDS",
            ),
            (&[("ARXIV_API_URL", "export.arxiv.org")], "ARXIV_API_URL"),
            (&[("GDELT_API_URL", "ftp://x.org")], "GDELT_API_URL"),
            (&[("NEWS_PROVIDER", "bbc")], "NEWS_PROVIDER"),
            (&[("NEWS_PROVIDER", "newsapi")], "NEWSAPI_KEY"),
            (&[("USER_AGENT", "curl/8.0")], "USER_AGENT"),
        ];
        for (pairs, variable) in cases {
            let error = SourceSettings::from_lookup(lookup(pairs)).unwrap_err();
            assert_eq!(error.variable, *variable, "case {pairs:?}: {error}");
            assert!(
                error.to_string().starts_with(variable),
                "case {pairs:?}: {error}"
            );
        }
    }

    #[test]
    fn the_newsapi_key_never_shows_in_debug_output() {
        let settings = SourceSettings::from_lookup(lookup(&[
            ("NEWS_PROVIDER", "newsapi"),
            ("NEWSAPI_KEY", "secret-123"),
        ]))
        .unwrap();
        assert!(!format!("{settings:?}").contains("secret-123"));
        assert!(
            matches!(settings.news_provider, NewsProvider::NewsApi { ref key, .. } if key.expose() == "secret-123")
        );
    }
}
