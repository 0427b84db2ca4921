//! The HTTP exchange shared by the networked sources, and per-source politeness.
//!
//! Owns `Gate` (back-off ordered by the upstream, minimum interval between calls, one
//! connection at a time), the redirect policy (same origin only), the source's deadline as
//! `send` sees it ([`within_deadline`]) and `Sources::send`, which passes every upstream call
//! through its source's gate (and, where the fleet shares one, the fleet's gate), turns 429
//! into a back-off and reads the body while streaming up to `upstream_max_bytes` (never more
//! in memory, whatever `Content-Length` says or omits). Bodies come back as text, undecoded:
//! several upstreams answer errors in plain text, so each source checks the body before
//! parsing it.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::redirect::{Attempt, Policy};
use reqwest::StatusCode;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::fleet_gate::FleetSlot;
use super::{SourceError, Sources};
use crate::model::SourceKind;

tokio::task_local! {
    /// The deadline of the source whose fetch is running: set by the gather around each fetch,
    /// read by `send` to bound politeness waits, so every upstream module need not pass it on.
    static SOURCE_DEADLINE: Instant;
}

/// Runs `fetch` with `deadline` as its source's deadline.
pub(super) async fn within_deadline<F: std::future::Future>(
    deadline: Instant,
    fetch: F,
) -> F::Output {
    SOURCE_DEADLINE.scope(deadline, fetch).await
}

/// An upstream answer: status and the body decoded as UTF-8 (lossily, so a
/// stray invalid byte does not cost the whole answer).
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub status: StatusCode,
    pub body: String,
}

impl Fetched {
    /// The body with a possible byte-order mark and surrounding whitespace removed.
    pub fn trimmed_body(&self) -> &str {
        self.body.trim_start_matches('\u{feff}').trim()
    }

    /// True when the body looks like a JSON object or array. Upstreams sometimes answer plain
    /// text or HTML with a JSON content type (and vice versa), so the body decides, not the header.
    pub fn looks_like_json(&self) -> bool {
        matches!(self.trimmed_body().as_bytes().first(), Some(b'{' | b'['))
    }

    /// A short, single-line excerpt of the body for error messages.
    pub fn excerpt(&self) -> String {
        let collapsed = super::collapse_whitespace(self.trimmed_body());
        const LIMIT: usize = 200;
        if collapsed.chars().count() <= LIMIT {
            collapsed
        } else {
            let mut short: String = collapsed.chars().take(LIMIT).collect();
            short.push('…');
            short
        }
    }

    /// The standard failure for a non-2xx answer whose body has nothing more useful to say.
    pub fn status_error(&self, kind: SourceKind) -> SourceError {
        let excerpt = self.excerpt();
        if excerpt.is_empty() || excerpt.starts_with('<') {
            SourceError::Upstream(format!(
                "{} answered HTTP {}",
                kind.display_name(),
                self.status.as_u16()
            ))
        } else {
            SourceError::Upstream(format!(
                "{} answered HTTP {}: {excerpt}",
                kind.display_name(),
                self.status.as_u16()
            ))
        }
    }
}

/// Redirects followed in one exchange (Wikipedia needs two at most: a 301 to the normalized
/// title, a 302 from a redirect page).
const MAX_REDIRECTS: usize = 5;

/// Follows a redirect only to the origin (scheme, host, port) the exchange started at. A
/// redirect elsewhere is not followed: the 3xx comes back to `send`, which reports it as a
/// failure, so no header — NewsAPI's `X-Api-Key` in particular — ever reaches another host, and
/// no upstream can point us at an internal address or an unbounded third-party stream.
pub(crate) fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        if attempt.url().origin() != first.origin() {
            attempt.stop()
        } else if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// Politeness state of one source.
#[derive(Debug)]
pub(crate) struct Gate {
    min_interval: Option<Duration>,
    /// Earliest instant the next call may start (reserved by the previous caller).
    next_allowed: Mutex<Option<Instant>>,
    /// Until when the upstream asked us to stay away.
    backoff_until: Mutex<Option<Instant>>,
    /// One connection at a time (arXiv), held for the whole exchange.
    single_connection: Option<Semaphore>,
}

impl Gate {
    pub fn new(min_interval: Option<Duration>, single_connection: bool) -> Gate {
        Gate {
            min_interval,
            next_allowed: Mutex::new(None),
            backoff_until: Mutex::new(None),
            single_connection: single_connection.then(|| Semaphore::new(1)),
        }
    }

    /// Time left on a back-off, if one is running.
    pub fn backed_off_for(&self) -> Option<Duration> {
        let until = (*lock(&self.backoff_until))?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    pub fn back_off(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut current = lock(&self.backoff_until);
        if current.is_none_or(|existing| existing < until) {
            *current = Some(until);
        }
    }

    /// Reserves the next slot allowed by the minimum interval. Returns the instant to start at,
    /// or the wait needed when the slot comes after `latest_start` (then nothing is reserved).
    fn reserve(&self, latest_start: Instant) -> Result<Instant, Duration> {
        let now = Instant::now();
        let Some(interval) = self.min_interval else {
            return Ok(now);
        };
        let mut next = lock(&self.next_allowed);
        let start = next.map_or(now, |next| next.max(now));
        if start > latest_start {
            return Err(start - now);
        }
        *next = Some(start + interval);
        Ok(start)
    }

    /// Keeps this container's own next slot at least one interval after a call the fleet's
    /// gate scheduled at `start`, so that falling back on this gate stays polite.
    fn follow_fleet_slot(&self, start: Instant) {
        let Some(interval) = self.min_interval else {
            return;
        };
        let mut next = lock(&self.next_allowed);
        if next.is_none_or(|next| next < start + interval) {
            *next = Some(start + interval);
        }
    }
}

/// Locks a mutex that only guards plain data; a poisoned lock still holds a usable value.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sources {
    /// Sends one upstream request through `kind`'s gate.
    ///
    /// Fails with `rate_limited` without calling the upstream while a back-off runs, or when
    /// the minimum interval (this container's, or the fleet's where one is shared) would need
    /// a wait longer than half of what is left of the source's budget (the other half is left
    /// for the exchange itself). A 429 (or a 503 with `Retry-After`) starts a back-off. Any
    /// other status is returned for the source to interpret.
    pub(crate) async fn send(
        &self,
        kind: SourceKind,
        request: reqwest::RequestBuilder,
    ) -> Result<Fetched, SourceError> {
        let gate = self.gate(kind);
        if let Some(left) = gate.backed_off_for() {
            return Err(backing_off(kind, left));
        }
        let _connection = match &gate.single_connection {
            Some(semaphore) => Some(semaphore.acquire().await.map_err(|_| {
                SourceError::Upstream(format!("{} is shutting down", kind.display_name()))
            })?),
            None => None,
        };
        let start = self.politeness_slot(kind, gate).await?;
        tokio::time::sleep_until(start).await;

        let response = request
            .send()
            .await
            .map_err(|e| transport_error(kind, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        if status == StatusCode::TOO_MANY_REQUESTS
            || (status == StatusCode::SERVICE_UNAVAILABLE && headers.contains_key(RETRY_AFTER))
        {
            let duration = self.backoff_duration(&headers);
            gate.back_off(duration);
            tracing::warn!(source = %kind, status = status.as_u16(), backoff_s = duration.as_secs(), "upstream asked us to slow down");
            return Err(SourceError::RateLimited(format!(
                "{} answered HTTP {} (too many requests); not calling it again for {} s",
                kind.display_name(),
                status.as_u16(),
                duration.as_secs()
            )));
        }
        if status.is_redirection() {
            // Only a redirect to another origin gets here (see `same_origin_redirects`).
            let target = headers
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|location| response.url().join(location).ok())
                .map(|url| url.origin().ascii_serialization())
                .unwrap_or_else(|| "an unreadable location".to_owned());
            tracing::warn!(source = %kind, status = status.as_u16(), target = %target, "redirect to another host not followed");
            return Err(SourceError::Upstream(format!(
                "{} redirected to another host ({target}); not followed",
                kind.display_name()
            )));
        }
        let body = self.read_capped(kind, response).await?;
        Ok(Fetched {
            status,
            body: String::from_utf8(body)
                .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned()),
        })
    }

    /// When the call may start: the fleet's slot where `kind` has a fleet gate that answers,
    /// else this container's.
    async fn politeness_slot(&self, kind: SourceKind, gate: &Gate) -> Result<Instant, SourceError> {
        let now = Instant::now();
        let deadline = SOURCE_DEADLINE
            .try_with(|deadline| *deadline)
            .unwrap_or_else(|_| now + self.settings.source_timeout);
        let latest_start = now + deadline.saturating_duration_since(now) / 2;
        let interval = gate.min_interval.filter(|interval| !interval.is_zero());
        if let (Some(fleet), Some(interval)) = (self.fleet_gate(kind), interval) {
            let timeout = self.settings.shared_state_timeout;
            match fleet.reserve(kind, interval, latest_start, timeout).await {
                FleetSlot::StartAt(start) => {
                    gate.follow_fleet_slot(start);
                    return Ok(start);
                }
                FleetSlot::Refused(error) => return Err(error),
                FleetSlot::Unavailable => {}
            }
        }
        gate.reserve(latest_start).map_err(|wait| {
            SourceError::RateLimited(format!(
                "{} allows one request every {}; the next slot is {} ms away, try again shortly",
                kind.display_name(),
                interval_text(gate.min_interval.unwrap_or_default()),
                wait.as_millis()
            ))
        })
    }

    /// Reads the body chunk by chunk (decoded bytes, if decompression is ever enabled) and
    /// stops at the cap: at most `upstream_max_bytes` plus one network chunk is ever held. An
    /// honest `Content-Length` above the cap is refused before reading anything.
    async fn read_capped(
        &self,
        kind: SourceKind,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, SourceError> {
        let cap = self.settings.upstream_max_bytes;
        let too_large = || {
            tracing::warn!(source = %kind, cap_bytes = cap, "upstream answer over the size cap");
            SourceError::TooLarge(format!(
                "{} answered more than {cap} bytes (UPSTREAM_MAX_BYTES); the answer was not read",
                kind.display_name()
            ))
        };
        let announced = response.content_length();
        if announced.is_some_and(|length| length > cap) {
            return Err(too_large());
        }
        let capacity = announced.unwrap_or(16 * 1024).min(cap);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(kind, &e))?
        {
            if u64::try_from(body.len() + chunk.len()).unwrap_or(u64::MAX) > cap {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Starts a back-off without an HTTP 429 (GDELT's 200 "Please limit requests" sentence).
    pub(crate) fn back_off(&self, kind: SourceKind) -> Duration {
        let duration = self.settings.default_backoff.min(self.settings.max_backoff);
        self.gate(kind).back_off(duration);
        duration
    }

    /// `Retry-After` in seconds or as an HTTP date, bounded; the default when absent or unusable.
    fn backoff_duration(&self, headers: &HeaderMap) -> Duration {
        let requested = headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .and_then(|value| {
                value
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs)
                    .or_else(|| {
                        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
                        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                            .to_std()
                            .ok()
                    })
            });
        requested
            .unwrap_or(self.settings.default_backoff)
            .min(self.settings.max_backoff)
    }
}

/// An interval as its politeness message says it: `3 s`, or `0.3 s` below a second.
pub(super) fn interval_text(interval: Duration) -> String {
    if interval.subsec_millis() == 0 || interval >= Duration::from_secs(10) {
        format!("{} s", interval.as_secs())
    } else {
        format!("{:.1} s", interval.as_secs_f64())
    }
}

pub(super) fn backing_off(kind: SourceKind, left: Duration) -> SourceError {
    SourceError::RateLimited(format!(
        "{} asked us to slow down; not calling it for another {} s",
        kind.display_name(),
        left.as_secs().max(1)
    ))
}

fn transport_error(kind: SourceKind, error: &reqwest::Error) -> SourceError {
    if error.is_timeout() {
        SourceError::Timeout(format!("{} did not answer in time", kind.display_name()))
    } else if error.is_redirect() {
        SourceError::Upstream(format!("{} redirected too many times", kind.display_name()))
    } else if error.is_connect() {
        SourceError::Upstream(format!("could not connect to {}", kind.display_name()))
    } else {
        tracing::debug!(source = %kind, error = %error, "transport error");
        SourceError::Upstream(format!(
            "the connection to {} failed while exchanging the request",
            kind.display_name()
        ))
    }
}
