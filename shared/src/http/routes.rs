//! The route table type and its matcher. Each function declares its table once (`ROUTES`): the
//! public paths it serves, and per path the methods in the order `Allow` lists them, each with
//! the endpoint it dispatches to. Matching, the 405 `Allow` header and the `Allow` of an
//! `OPTIONS` answer all read that one table, and tests/tests/routes.rs proves that
//! infra/template.yaml, infra/openapi.yaml and the `cargo lambda watch` router agree with it.
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Response};

use super::{json_response, loggable_path, path_segments, API_PREFIX};
use crate::error::ApiError;

/// One public path and what each of its methods is dispatched to.
#[derive(Debug)]
pub struct Route<E: 'static> {
    /// The path as API Gateway routes it: `/api/v1/keys/{id}`, `/dashboard`. A `{name}`
    /// segment matches any one segment; the others match literally.
    pub path: &'static str,
    /// The methods, in the order `Allow` lists them, each with its endpoint.
    pub methods: &'static [(Method, E)],
}

impl<E> Route<E> {
    /// The `Allow` value: `GET, POST, OPTIONS`.
    pub fn allow(&self) -> String {
        self.methods
            .iter()
            .map(|(method, _)| method.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The pattern's segments below `/api/v1` (a path outside it, `/dashboard`, as it is).
    fn pattern_segments(&self) -> Vec<&'static str> {
        path_segments(self.path.strip_prefix(API_PREFIX).unwrap_or(self.path))
    }

    /// The `{name}` segments' values, when `segments` (of a request path) match this route.
    fn captures(&self, segments: &[&str]) -> Option<Vec<(&'static str, String)>> {
        let pattern = self.pattern_segments();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut captured = Vec::new();
        for (expected, actual) in pattern.into_iter().zip(segments) {
            match expected
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
            {
                Some(name) => captured.push((name, (*actual).to_owned())),
                None if expected == *actual => {}
                None => return None,
            }
        }
        Some(captured)
    }

    /// An `OPTIONS` answer: the resource's JSON documentation, `Allow` from this route.
    pub fn documentation(&self, documentation: &serde_json::Value) -> Response<Body> {
        let mut response = json_response(StatusCode::OK, documentation);
        if let Ok(allow) = HeaderValue::from_str(&self.allow()) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }
}

/// A request matched to its route and endpoint, with the path's `{name}` segments.
#[derive(Debug)]
pub struct Matched<E: 'static> {
    pub route: &'static Route<E>,
    pub endpoint: E,
    captured: Vec<(&'static str, String)>,
}

impl<E> Matched<E> {
    /// The raw (still percent-encoded) value of the path's `{name}` segment.
    pub fn segment(&self, name: &str) -> Result<&str, ApiError> {
        self.captured
            .iter()
            .find(|(captured, _)| *captured == name)
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| {
                ApiError::Internal(format!("route {} has no {{{name}}}", self.route.path))
            })
    }
}

/// The first route of `routes` whose path matches `path` (below `/api/v1`), and its endpoint
/// for `method`: 404 when no path matches, 405 with the route's `Allow` when the method is not
/// one of its methods. Literal routes are listed before the `{name}` ones they overlap.
pub fn find<E: Copy>(
    routes: &'static [Route<E>],
    method: &Method,
    path: &str,
) -> Result<Matched<E>, ApiError> {
    let segments = path_segments(path);
    let (route, captured) = routes
        .iter()
        .find_map(|route| route.captures(&segments).map(|captured| (route, captured)))
        .ok_or_else(|| route_not_found(path))?;
    let endpoint = route
        .methods
        .iter()
        .find(|(allowed, _)| allowed == method)
        .map(|(_, endpoint)| *endpoint)
        .ok_or_else(|| method_not_allowed(method, route.allow()))?;
    Ok(Matched {
        route,
        endpoint,
        captured,
    })
}

fn method_not_allowed(method: &Method, allow: String) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.as_str().chars().take(16).collect(),
        allow,
    }
}

pub(super) fn route_not_found(path: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no route {}{}; see OPTIONS on the resource for the documented routes",
        API_PREFIX,
        crate::domain::truncate_for_message(&loggable_path(path))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Endpoint {
        List,
        Stats,
        One,
        Documentation,
    }

    const ROUTES: &[Route<Endpoint>] = &[
        Route {
            path: "/api/v1/keys",
            methods: &[
                (Method::GET, Endpoint::List),
                (Method::OPTIONS, Endpoint::Documentation),
            ],
        },
        Route {
            path: "/api/v1/keys/stats",
            methods: &[(Method::GET, Endpoint::Stats)],
        },
        Route {
            path: "/api/v1/keys/{id}",
            methods: &[
                (Method::GET, Endpoint::One),
                (Method::DELETE, Endpoint::One),
            ],
        },
    ];

    #[test]
    fn the_first_matching_route_wins_and_captures_its_segments() {
        let stats = find(ROUTES, &Method::GET, "/keys/stats").unwrap();
        assert_eq!(stats.endpoint, Endpoint::Stats);
        let one = find(ROUTES, &Method::DELETE, "/keys/AbCdEfGhIj").unwrap();
        assert_eq!(one.endpoint, Endpoint::One);
        assert_eq!(one.segment("id").unwrap(), "AbCdEfGhIj");
        assert!(one.segment("userId").is_err());
        assert_eq!(
            find(ROUTES, &Method::OPTIONS, "/keys").unwrap().endpoint,
            Endpoint::Documentation
        );
    }

    #[test]
    fn other_methods_get_the_routes_allow_and_other_paths_a_404() {
        let refused = find(ROUTES, &Method::PUT, "/keys").unwrap_err();
        assert!(matches!(
            &refused,
            ApiError::MethodNotAllowed { allow, .. } if allow == "GET, OPTIONS"
        ));
        let stats = find(ROUTES, &Method::POST, "/keys/stats").unwrap_err();
        assert!(stats.to_string().ends_with("allowed: GET"), "{stats}");
        for path in ["/", "/keys/a/b", "/other"] {
            let missing = find(ROUTES, &Method::GET, path).unwrap_err();
            assert_eq!(missing.status(), 404, "{path}");
        }
    }

    #[test]
    fn documentation_answers_carry_the_routes_allow() {
        let answer = ROUTES[0].documentation(&serde_json::json!({ "service": "x" }));
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["allow"], "GET, OPTIONS");
    }
}
