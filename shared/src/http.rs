//! HTTP edge helpers shared by the functions: JSON responses, body parsing with clear errors,
//! path routing that works the same behind API Gateway (v1 with a stage, v2) and
//! `cargo lambda watch`, and the client address from the request context.
use lambda_http::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Bodies larger than this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The prefix every public path starts with.
pub const API_PREFIX: &str = "/api/v1";

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    // Serializing a serde_json::Value or a plain struct cannot fail; an empty object is the
    // last-resort body rather than a panic on the request path.
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Turns a handler's result into the response, errors through their one mapping.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(ApiError::into_response)
}

/// The one structured log line per request (never headers, bodies or query strings: they
/// can carry keys and tokens).
pub fn log_request(function: &'static str, method: &Method, path: &str, response: &Response<Body>) {
    tracing::info!(
        function,
        method = %method,
        path = %loggable_path(path),
        status = response.status().as_u16(),
        "request"
    );
}

/// A path as it may be logged or echoed: a segment that looks like a key (a key pasted where
/// its id belongs), or is longer than any id we route on, is replaced by `{redacted}`.
pub fn loggable_path(path: &str) -> String {
    const LONGEST_SHOWN: usize = 24;
    path.split('/')
        .map(|segment| {
            if crate::apikey::looks_like_key(segment) || segment.len() > LONGEST_SHOWN {
                "{redacted}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The path below `/api/v1`, without a trailing slash: `/keys/AbCdEfGhIj/rotate`.
/// Whatever precedes `/api/v1` (an API Gateway stage, a `cargo lambda watch` prefix) is ignored.
pub fn api_path(request: &Request) -> String {
    let raw = request.uri().path();
    let tail = match raw.find(API_PREFIX) {
        Some(index) => &raw[index + API_PREFIX.len()..],
        None => raw,
    };
    let trimmed = tail.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The path split into segments: `/keys/x/rotate` → `["keys", "x", "rotate"]`.
pub fn path_segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

pub fn method_not_allowed(method: &Method, allow: &'static str) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.as_str().chars().take(16).collect(),
        allow,
    }
}

pub fn route_not_found(path: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no route {}{}; see OPTIONS on the resource for the documented routes",
        API_PREFIX,
        crate::domain::truncate_for_message(&loggable_path(path))
    ))
}

/// A header's value as text, if present and valid UTF-8.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The client's address as API Gateway saw it (never from a client-supplied header).
pub fn client_ip(request: &Request) -> Option<String> {
    let from_context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
        _ => None,
    };
    from_context.filter(|ip| !ip.is_empty())
}

/// A query string parameter.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
}

/// The raw body bytes, refused with 413 when over the limit. Bodies are read as JSON
/// whatever the Content-Type header claims (curl's `-d` says form-urlencoded).
pub fn body_bytes(request: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes.as_slice(),
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    Ok(bytes)
}

/// A JSON object body whose fields are read with type checks that name the field.
#[derive(Debug, Default)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    /// Parses the body as a JSON object. An empty body is an empty object when `allow_empty`.
    pub fn parse(bytes: &[u8], allow_empty: bool, example: &str) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return if allow_empty {
                Ok(Self::default())
            } else {
                Err(ApiError::BadRequest(format!(
                    "the request body is empty; send a JSON object such as {example}"
                )))
            };
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|error| {
            ApiError::BadRequest(format!(
                "the request body is not valid JSON ({}); send a JSON object such as {example}",
                describe_json_error(&error)
            ))
        })?;
        match value {
            Value::Object(map) => Ok(Self(map)),
            other => Err(ApiError::BadRequest(format!(
                "the request body must be a JSON object, not {}; send e.g. {example}",
                json_type(&other)
            ))),
        }
    }

    pub fn from_map(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// A string field; `null` counts as absent.
    pub fn optional_str(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(wrong_type(field, "a string", other)),
        }
    }

    pub fn required_str(&self, field: &str, example: &str) -> Result<&str, ApiError> {
        self.optional_str(field)?.ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`{field}` is required; send a JSON object such as {example}"
            ))
        })
    }

    pub fn optional_bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(other) => Err(wrong_type(field, "true or false", other)),
        }
    }

    /// A whole number within `min..=max`.
    pub fn optional_int(&self, field: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => match whole_number(number) {
                Some(value) if (min..=max).contains(&value) => Ok(Some(value)),
                _ => Err(ApiError::BadRequest(format!(
                    "`{field}` must be a whole number from {min} to {max}"
                ))),
            },
            Some(other) => Err(wrong_type(field, "a whole number", other)),
        }
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }

    /// Refuses a field not in `known`: a misspelt optional field would otherwise be ignored
    /// silently (the contract, infra/openapi.yaml, says `additionalProperties: false`).
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|name| !known.contains(&name.as_str())) {
            None => Ok(()),
            Some(unknown) => Err(ApiError::BadRequest(format!(
                "unknown field `{}`; the fields are {}",
                crate::domain::truncate_for_message(unknown),
                known
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// A JSON number that is a whole number: `3` and `3.0` alike (JSON Schema's `integer` is a
/// number with a zero fraction, and clients that only have floats send `3.0`).
pub fn whole_number(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.fract() == 0.0 && value.abs() < 9.0e15)
            .map(|value| value as i64)
    })
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::BadRequest(format!(
        "`{field}` must be {expected}, not {}",
        json_type(got)
    ))
}

pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json's error category and position, without echoing the input back.
fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Eof => "it ends too early",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Io => "unreadable",
    };
    format!("{what} at line {} column {}", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_to(path: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri(format!("https://example.com{path}"))
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn api_paths_ignore_stages_and_trailing_slashes() {
        assert_eq!(api_path(&request_to("/api/v1/keys")), "/keys");
        assert_eq!(api_path(&request_to("/prod/api/v1/keys/abc/")), "/keys/abc");
        assert_eq!(
            path_segments(&api_path(&request_to("/api/v1/keys/abc/rotate"))),
            ["keys", "abc", "rotate"]
        );
    }

    #[test]
    fn paths_carrying_a_key_are_redacted_before_logging_or_echoing() {
        let key_path = "/keys/hm_AbCdEfGhIjkLmNoPqRsTuVwXyZ012345";
        assert_eq!(loggable_path(key_path), "/keys/{redacted}");
        assert_eq!(
            loggable_path("/keys/AbCdEfGhIj/rotate"),
            "/keys/AbCdEfGhIj/rotate"
        );
        assert_eq!(
            loggable_path("/x/AbCdEfGhIjkLmNoPqRsTuVwXyZ012345"),
            "/x/{redacted}"
        );
        assert!(!route_not_found(key_path)
            .to_string()
            .contains("AbCdEfGhIjk"));
    }

    #[test]
    fn json_bodies_are_checked_field_by_field() {
        let body = JsonObject::parse(br#"{"a": 5, "b": null, "c": "x"}"#, false, "{}").unwrap();
        assert!(body
            .optional_str("a")
            .unwrap_err()
            .to_string()
            .contains("`a` must be a string, not a number"));
        assert_eq!(body.optional_str("b").unwrap(), None);
        assert_eq!(body.optional_str("c").unwrap(), Some("x"));
        assert!(body
            .required_str("missing", "{\"missing\": 1}")
            .unwrap_err()
            .to_string()
            .contains("`missing` is required"));
        assert!(body.optional_int("a", 0, 4).is_err());
        let floats = JsonObject::parse(br#"{"w": 3.0, "f": 3.5}"#, false, "{}").unwrap();
        assert_eq!(floats.optional_int("w", 0, 4).unwrap(), Some(3));
        assert!(floats.optional_int("f", 0, 4).is_err());
        assert!(body.reject_unknown(&["a", "b", "c"]).is_ok());
        let unknown = body.reject_unknown(&["a", "b"]).unwrap_err().to_string();
        assert!(
            unknown.contains("unknown field `c`; the fields are `a`, `b`"),
            "{unknown}"
        );
    }

    #[test]
    fn invalid_json_and_non_objects_are_explained() {
        for (raw, expected) in [
            (&b"{\"a\": "[..], "ends too early"),
            (b"not json", "syntax error"),
            (b"[1,2]", "must be a JSON object, not an array"),
            (b"", "the request body is empty"),
        ] {
            let message = JsonObject::parse(raw, false, "{}").unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
    }
}
