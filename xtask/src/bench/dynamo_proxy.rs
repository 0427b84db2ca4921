//! A DynamoDB stand-in with distance: an HTTP/1.1 proxy in front of dynalite that waits a fixed
//! delay D before forwarding each request (one wait per round trip, as network distance adds)
//! and logs every request's operation (the `X-Amz-Target` header) with the instant it arrived.
//! Each attempt is one entry, retries included. D can be changed between requests, so that two
//! delays can be measured interleaved in one run.
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

use super::local_http::{self, Reply};

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    /// `UpdateItem`, `BatchWriteItem`, … (`unknown` without the header).
    pub operation: String,
}

pub struct DynamoProxy {
    /// `http://127.0.0.1:<port>`, for `DYNAMODB_ENDPOINT`.
    pub endpoint: String,
    state: Arc<ProxyState>,
    server: JoinHandle<()>,
}

struct ProxyState {
    /// dynalite's scheme and authority.
    upstream: Uri,
    delay_micros: AtomicU64,
    log: Mutex<Vec<Seen>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl DynamoProxy {
    /// A proxy to `upstream` (e.g. `http://127.0.0.1:8000`), with no delay yet.
    pub async fn start(upstream: &str) -> DynamoProxy {
        let upstream: Uri = upstream
            .trim_end_matches('/')
            .parse()
            .expect("DYNAMODB_ENDPOINT is a URL");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let state = Arc::new(ProxyState {
            upstream,
            delay_micros: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            client: Client::builder(TokioExecutor::new()).build(connector),
        });
        let serving = state.clone();
        let (port, server) = local_http::serve(move |request| {
            let state = serving.clone();
            async move { forward(&state, request).await }
        })
        .await;
        DynamoProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
            server,
        }
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_micros
            .store(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// How many requests arrived so far (a mark for [`DynamoProxy::since`]).
    pub fn len(&self) -> usize {
        self.state.log().len()
    }

    /// The requests that arrived after the mark `from`.
    pub fn since(&self, from: usize) -> Vec<Seen> {
        self.state.log().get(from..).unwrap_or_default().to_vec()
    }
}

impl Drop for DynamoProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ProxyState {
    fn log(&self) -> MutexGuard<'_, Vec<Seen>> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn forward(state: &ProxyState, request: Request<Incoming>) -> Reply {
    let at = Instant::now();
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .and_then(|target| target.rsplit('.').next())
        .unwrap_or("unknown")
        .to_owned();
    state.log().push(Seen { at, operation });

    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|body| body.to_bytes()) else {
        return failure("could not read the request body");
    };
    let delay = Duration::from_micros(state.delay_micros.load(Ordering::Relaxed));
    if !delay.is_zero() {
        tokio::time::sleep_until((at + delay).into()).await;
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("{}{path}", state.upstream.to_string().trim_end_matches('/')).parse()
    else {
        return failure("bad request path");
    };
    let mut outgoing = Request::builder().method(parts.method).uri::<Uri>(uri);
    for (name, value) in &parts.headers {
        // The signed Host header goes through unchanged (dynalite does not check signatures);
        // the body is re-framed by hyper.
        if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(outgoing) = outgoing.body(Full::new(body)) else {
        return failure("could not build the forwarded request");
    };
    let answer = match state.client.request(outgoing).await {
        Ok(answer) => answer,
        Err(error) => return failure(&format!("dynalite unreachable: {error}")),
    };
    let (parts, body) = answer.into_parts();
    let Ok(body) = body.collect().await.map(|body| body.to_bytes()) else {
        return failure("could not read dynalite's answer");
    };
    let mut reply = hyper::Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            reply = reply.header(name, value);
        }
    }
    reply
        .body(Full::new(body))
        .unwrap_or_else(|_| failure("could not build the answer"))
}

/// A 502 the SDK treats as a server error (it retries; the retry is logged as a request).
fn failure(why: &str) -> Reply {
    eprintln!("bench: DynamoDB proxy: {why}");
    local_http::reply(
        StatusCode::BAD_GATEWAY,
        &[("content-type", "application/x-amz-json-1.0")],
        format!(r#"{{"__type":"com.amazon.coral.service#InternalFailure","message":"{why}"}}"#),
    )
}

/// `UpdateItem 1.00, BatchWriteItem 1.00` per request, by operation, in first-seen order.
pub fn per_operation(seen: &[Seen], requests: usize) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for entry in seen {
        match counts.iter_mut().find(|(name, _)| *name == entry.operation) {
            Some((_, count)) => *count += 1,
            None => counts.push((entry.operation.clone(), 1)),
        }
    }
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(name, count)| format!("{name} {:.2}", *count as f64 / requests.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}
