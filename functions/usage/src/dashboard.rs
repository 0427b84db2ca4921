//! `GET /dashboard`: the customer's usage page, one self-contained HTML file compiled into the
//! binary. It reads only the public API (usage and keys) with the key the visitor types, so it
//! holds no data and needs no authentication itself. Its Content-Security-Policy is computed by
//! build.rs from the page's inline script and style (no `'unsafe-inline'`, no other origin).
use harmonic_shared::lambda_http::http::{header, HeaderValue, StatusCode};
use harmonic_shared::lambda_http::{Body, Response};

const PAGE: &str = include_str!("../assets/dashboard.html");

/// The page's policy: its own script and style by hash, API calls to its own origin only.
pub const CONTENT_SECURITY_POLICY: &str = env!("DASHBOARD_CSP");

pub fn page() -> Response<Body> {
    let mut response = Response::new(Body::Text(PAGE.to_owned()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `OPTIONS /dashboard`: what the page is, as JSON like every other resource.
pub fn documentation() -> serde_json::Value {
    serde_json::json!({
        "service": "HARMONIC API — dashboard",
        "endpoints": [
            {"method": "GET", "path": "/dashboard", "returns": "the usage dashboard (HTML): quota, daily chart, breakdowns, latest requests, keys; asks for an API key, kept in the tab's sessionStorage only"}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_no_inline_code_but_the_pages_own_and_no_other_origin() {
        let policy = CONTENT_SECURITY_POLICY;
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
        assert!(!policy.contains("http"), "no other origin: {policy}");
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("connect-src 'self'"));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_renders_api_data_as_text() {
        // The one absolute URL is the SVG namespace, an identifier that is never fetched.
        let without_namespace = PAGE.replace("\"http://www.w3.org/2000/svg\"", "");
        for forbidden in [
            "http://",
            "https://",
            "//cdn",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "localStorage",
            "document.cookie",
            " style=\"",
        ] {
            assert!(
                !without_namespace.contains(forbidden),
                "the page contains {forbidden:?}"
            );
        }
        assert!(PAGE.contains("sessionStorage"));
    }
}
