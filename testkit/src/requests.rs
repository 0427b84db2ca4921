//! Lambda HTTP requests built as API Gateway (HTTP API) delivers them, for calling a function's
//! handler in process, and [`Answer`]: a response read back as status, headers and JSON.
use harmonic_shared::lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use harmonic_shared::lambda_http::http::{HeaderMap, Method, StatusCode};
use harmonic_shared::lambda_http::request::RequestContext;
use harmonic_shared::lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use std::collections::HashMap;

/// The admin token of the apps the suites build; [`RequestBuilder::admin`] presents it.
pub const ADMIN_TOKEN: &str = "integration-admin-token-0123456789";

/// Builds a Lambda HTTP request as API Gateway (HTTP API) would deliver it. Cloneable, so that a
/// table of cases can start from one template.
#[derive(Clone)]
pub struct RequestBuilder {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    query: HashMap<String, String>,
    body: Body,
    source_ip: String,
}

pub fn request(method: &str, path: &str) -> RequestBuilder {
    RequestBuilder {
        method: Method::from_bytes(method.as_bytes()).expect("method"),
        path: path.to_owned(),
        headers: Vec::new(),
        query: HashMap::new(),
        body: Body::Empty,
        source_ip: "198.51.100.7".to_owned(),
    }
}

impl RequestBuilder {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn admin(self) -> Self {
        self.header("authorization", &format!("Bearer {ADMIN_TOKEN}"))
    }

    pub fn key(self, key: &str) -> Self {
        self.header("x-api-key", key)
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Body::Text(body.to_string());
        self
    }

    pub fn raw_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Body::Binary(body.into());
        self
    }

    pub fn from_ip(mut self, ip: &str) -> Self {
        self.source_ip = ip.to_owned();
        self
    }

    pub fn build(self) -> Request {
        let mut uri = format!("https://api.example.com{}", self.path);
        if !self.query.is_empty() {
            let pairs: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v)))
                .collect();
            uri = format!("{uri}?{}", pairs.join("&"));
        }
        let mut builder = harmonic_shared::lambda_http::http::Request::builder()
            .method(self.method.clone())
            .uri(uri);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.method = self.method;
        context.http.source_ip = Some(self.source_ip);
        builder
            .body(self.body)
            .expect("request")
            .with_query_string_parameters(self.query)
            .with_request_context(RequestContext::ApiGatewayV2(context))
    }
}

/// A response's status and JSON body, for assertions.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn answer(response: Response<Body>) -> Answer {
    let (parts, body) = response.into_parts();
    let text = match body {
        Body::Text(text) => text,
        Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
        text,
    }
}
