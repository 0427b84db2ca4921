//! `GET /api/v1/openapi.json`: the contract, infra/openapi.yaml, served as JSON.
//! infra/openapi.json is generated from the YAML by `infra/openapi_json.py` and checked to be
//! current by `make validate` (part of `make test`), so the document served is the one the
//! schema fuzzing and the route cross-check read.
use harmonic_shared::lambda_http::http::{header, HeaderValue, StatusCode};
use harmonic_shared::lambda_http::{Body, Response};

/// The generated JSON document, compiled into the binary.
pub const DOCUMENT: &str = include_str!("../../../infra/openapi.json");

pub fn response() -> Response<Body> {
    let mut response = Response::new(Body::Text(DOCUMENT.to_owned()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_json_that_describes_itself() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).expect("JSON");
        assert_eq!(document["openapi"], "3.1.0");
        assert!(document["paths"]["/api/v1/openapi.json"]["get"].is_object());
        assert!(document["paths"]["/api/v1/data"]["post"].is_object());
    }
}
