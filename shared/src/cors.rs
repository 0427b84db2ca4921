//! CORS for browser clients: which web origins may call the API from a page, the answer to a
//! preflight, and the headers an allowed origin's responses carry.
//!
//! In AWS the HTTP API's `CorsConfiguration` (template parameter `CorsAllowedOrigins`, the same
//! list as `CORS_ALLOWED_ORIGINS`) answers preflights before any function runs and adds these
//! headers itself. Locally `cargo lambda watch` runs with `--disable-cors`, so each function does
//! the same through [`answer_preflight`] and [`decorate`]: one behaviour in both places. The methods,
//! headers and max-age below are the ones the template states (infra/check_template.py compares).
//!
//! CORS only tells a browser which pages may read our answers; it is not access control. A
//! request without `Origin` (curl, servers) is served as before, and a disallowed origin's
//! actual request is served too, without the headers that would let its page read the answer.
use lambda_http::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::domain::truncate_for_message;
use crate::http::{header_text, json_response};

/// The methods a preflight may ask for (every method the API routes).
pub const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// The request headers a page may send.
pub const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key, x-api-key";
/// The response headers a page may read besides the CORS-safelisted ones.
pub const EXPOSE_HEADERS: &str = "retry-after, x-demo-mode, x-ratelimit-limit, \
     x-ratelimit-remaining, x-ratelimit-reset, x-ratelimit-used, x-request-id";
/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE_SECONDS: &str = "600";

/// `CORS_ALLOWED_ORIGINS`: exact origins (`https://app.example.com`), or `*` for any page.
/// Empty (the default): no cross-origin page may read the API's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    any: bool,
    exact: Vec<String>,
}

impl AllowedOrigins {
    /// Parses a comma-separated list; each entry is `*` or `http(s)://host[:port]` with no path.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut origins = Self::default();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                origins.any = true;
            } else {
                origins.exact.push(parse_origin(entry)?);
            }
        }
        Ok(origins)
    }

    pub fn is_empty(&self) -> bool {
        !self.any && self.exact.is_empty()
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if it is allowed.
    fn allow_origin_for(&self, origin: &str) -> Option<HeaderValue> {
        if self.any {
            return Some(HeaderValue::from_static("*"));
        }
        let origin = origin.to_ascii_lowercase();
        self.exact
            .iter()
            .find(|allowed| **allowed == origin)
            .and_then(|allowed| HeaderValue::from_str(allowed).ok())
    }
}

fn parse_origin(entry: &str) -> Result<String, String> {
    let lower = entry.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| format!("{entry:?} must start with https:// or http:// (or be *)"))?;
    let valid_host = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid_host {
        return Err(format!(
            "{entry:?} must be an origin: scheme://host[:port], without a path or a trailing slash"
        ));
    }
    Ok(lower)
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`. Any other
/// `OPTIONS` (curl, a client reading the documentation) is not one and reaches the route.
pub fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to a preflight ([`is_preflight`]). An allowed origin gets `204` with the
/// permissions; another origin gets `403` without them (so the browser blocks the actual
/// request) and a body that says why, for whoever reads the network panel.
pub fn answer_preflight(origins: &AllowedOrigins, request: &Request) -> Response<Body> {
    let origin = header_text(request.headers(), header::ORIGIN.as_str()).unwrap_or_default();
    let Some(allow_origin) = origins.allow_origin_for(origin) else {
        let mut refusal = json_response(
            StatusCode::FORBIDDEN,
            &json!({
                "success": false,
                "error": format!(
                    "origin {:?} may not call this API from a browser; the operator lists allowed origins in CORS_ALLOWED_ORIGINS",
                    truncate_for_message(origin)
                ),
            }),
        );
        refusal
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        return refusal;
    };
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE_SECONDS),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// Adds the CORS headers to an actual response when the request's `Origin` is allowed (a
/// preflight's answer already has them and is left as it is).
pub fn decorate(origins: &AllowedOrigins, request: &HeaderMap, response: &mut Response<Body>) {
    if origins.is_empty() || response.headers().contains_key(header::VARY) {
        return;
    }
    let headers = response.headers_mut();
    // Answers differ by Origin: shared caches must not hand one origin's answer to another.
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = header_text(request, header::ORIGIN.as_str()) else {
        return;
    };
    if let Some(allow_origin) = origins.allow_origin_for(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options_request(headers: &[(&str, &str)]) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("OPTIONS")
            .uri("https://api.example.com/api/v1/data");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    #[test]
    fn origins_are_parsed_or_refused_with_the_reason() {
        let parsed =
            AllowedOrigins::parse(" https://App.Example.com, http://localhost:3000 ,").unwrap();
        assert_eq!(
            parsed.exact,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert!(AllowedOrigins::parse("").unwrap().is_empty());
        for (bad, why) in [
            ("app.example.com", "must start with https://"),
            ("https://app.example.com/", "without a path"),
            ("https://app.example.com/path", "without a path"),
            ("ftp://x", "must start with https://"),
            ("https://", "must be an origin"),
        ] {
            let error = AllowedOrigins::parse(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn only_options_with_origin_and_request_method_is_a_preflight() {
        let origins = AllowedOrigins::parse("https://app.example.com").unwrap();
        assert!(!is_preflight(&options_request(&[])));
        assert!(!is_preflight(&options_request(&[(
            "origin",
            "https://app.example.com"
        )])));
        assert!(!is_preflight(&options_request(&[(
            "access-control-request-method",
            "POST"
        )])));
        let answer = answer_preflight(
            &origins,
            &options_request(&[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
            ]),
        );
        assert_eq!(answer.status(), 204);
        assert_eq!(
            answer.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        let refused = answer_preflight(
            &origins,
            &options_request(&[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ]),
        );
        assert_eq!(refused.status(), 403);
        assert!(!refused
            .headers()
            .contains_key("access-control-allow-origin"));
    }

    #[test]
    fn only_allowed_origins_get_the_allow_origin_header() {
        let origins = AllowedOrigins::parse("https://app.example.com").unwrap();
        let decorated = |origin: Option<&str>| {
            let mut request = HeaderMap::new();
            if let Some(origin) = origin {
                request.insert(header::ORIGIN, origin.parse().unwrap());
            }
            let mut response = Response::new(Body::Empty);
            decorate(&origins, &request, &mut response);
            response
        };
        let allowed = decorated(Some("https://APP.example.com"));
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert!(allowed.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-ratelimit-remaining"));
        for origin in [Some("https://evil.example"), None] {
            let response = decorated(origin);
            assert!(!response
                .headers()
                .contains_key("access-control-allow-origin"));
            assert_eq!(response.headers()["vary"], "Origin");
        }
        let any = AllowedOrigins::parse("*").unwrap();
        let mut response = Response::new(Body::Empty);
        let mut request = HeaderMap::new();
        request.insert(header::ORIGIN, "https://anyone.example".parse().unwrap());
        decorate(&any, &request, &mut response);
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
    }
}
