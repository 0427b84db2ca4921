//! A minimal Lambda Runtime API for the cold-start section: hands a function process `limit`
//! `OPTIONS` invocations over HTTP/1.1 and reports when it asked for work and when it answered.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long to wait for the function's next answer.
const WAIT: Duration = Duration::from_secs(20);

/// What the stub saw, with when.
#[derive(Debug)]
enum Seen {
    /// The runtime asked for its first invocation: initialisation is over.
    Next(Instant),
    Response(Instant),
    Error(String),
}

pub struct RuntimeStub {
    pub port: u16,
    seen: mpsc::UnboundedReceiver<Seen>,
    server: tokio::task::JoinHandle<()>,
}

struct StubState {
    event: String,
    function: String,
    /// Invocations to hand out; further `next` calls wait forever (an idle container).
    limit: u64,
    handed: AtomicU64,
    seen: mpsc::UnboundedSender<Seen>,
}

impl RuntimeStub {
    pub async fn start(function: &str, limit: u64) -> RuntimeStub {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the runtime stub");
        let port = listener.local_addr().expect("stub address").port();
        let (sender, seen) = mpsc::unbounded_channel();
        let state = Arc::new(StubState {
            event: options_event(function),
            function: function.to_owned(),
            limit,
            handed: AtomicU64::new(0),
            seen: sender,
        });
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, state.clone()));
            }
        });
        RuntimeStub { port, seen, server }
    }

    /// The next response (or error) the function posted, and the first `next` call before it.
    pub async fn next_response(&mut self) -> Result<(Option<Instant>, Instant), String> {
        let mut first_next = None;
        loop {
            match tokio::time::timeout(WAIT, self.seen.recv()).await {
                Err(_) => return Err(format!("no response within {} s", WAIT.as_secs())),
                Ok(None) => return Err("runtime stub stopped".to_owned()),
                Ok(Some(Seen::Next(at))) => {
                    first_next.get_or_insert(at);
                }
                Ok(Some(Seen::Response(at))) => return Ok((first_next, at)),
                Ok(Some(Seen::Error(body))) => return Err(format!("function error: {body}")),
            }
        }
    }
}

impl Drop for RuntimeStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An API Gateway HTTP API (v2) `OPTIONS` event for the function's resource (JSON
/// documentation; no DynamoDB access), shaped like tests/fixtures/apigw/v2-options-data.json.
fn options_event(function: &str) -> String {
    let path = format!("/api/v1/{function}");
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("OPTIONS {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "host": "abcde12345.execute-api.us-east-1.amazonaws.com",
            "user-agent": "harmonic-bench",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcde12345",
            "domainName": "abcde12345.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcde12345",
            "http": {
                "method": "OPTIONS",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "harmonic-bench"
            },
            "requestId": "bench",
            "routeKey": format!("OPTIONS {path}"),
            "stage": "$default",
            "time": "29/Nov/2025:12:00:00 +0000",
            "timeEpoch": 1764417600000u64
        },
        "isBase64Encoded": false
    })
    .to_string()
}

/// One connection of the runtime client: HTTP/1.1 with keep-alive, bodies by length or chunked.
async fn serve(mut stream: TcpStream, state: Arc<StubState>) {
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let Some(head_end) = read_until(&mut stream, &mut buffer, |b| {
            find(b, b"\r\n\r\n").map(|at| at + 4)
        })
        .await
        else {
            return;
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        buffer.drain(..head_end);
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split_whitespace();
        let method = request_line.next().unwrap_or_default().to_owned();
        let target = request_line.next().unwrap_or_default().to_owned();
        let mut length = 0usize;
        let mut chunked = false;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                    _ => {}
                }
            }
        }
        let Some(body) = read_body(&mut stream, &mut buffer, length, chunked).await else {
            return;
        };

        let reply = if method == "GET" && target.ends_with("/runtime/invocation/next") {
            let number = state.handed.fetch_add(1, Ordering::Relaxed);
            if number == 0 {
                let _ = state.seen.send(Seen::Next(Instant::now()));
            }
            if number >= state.limit {
                // An idle container: the long poll never returns.
                std::future::pending::<()>().await;
            }
            let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
            let headers = format!(
                "content-type: application/json\r\n\
                 lambda-runtime-aws-request-id: bench-{number}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:{}\r\n\
                 lambda-runtime-trace-id: Root=1-692ae0c0-3f1b2a4c5d6e7f8091a2b3c4;Sampled=0\r\n",
                state.function
            );
            response("200 OK", &headers, &state.event)
        } else if method == "POST" && target.ends_with("/response") {
            let _ = state.seen.send(Seen::Response(Instant::now()));
            response("202 Accepted", "", r#"{"status":"OK"}"#)
        } else if method == "POST" && target.ends_with("/error") {
            let _ = state
                .seen
                .send(Seen::Error(String::from_utf8_lossy(&body).into_owned()));
            response("202 Accepted", "", r#"{"status":"OK"}"#)
        } else {
            response("404 Not Found", "", "{}")
        };
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Reads until `complete` finds what it needs in the buffer; `None` when the peer closed.
async fn read_until(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    complete: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    loop {
        if let Some(at) = complete(buffer) {
            return Some(at);
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

async fn read_body(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    length: usize,
    chunked: bool,
) -> Option<Vec<u8>> {
    if !chunked {
        read_until(stream, buffer, |b| (b.len() >= length).then_some(length)).await?;
        return Some(buffer.drain(..length).collect());
    }
    let mut body = Vec::new();
    loop {
        let line_end = read_until(stream, buffer, |b| find(b, b"\r\n")).await?;
        let size_text = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        buffer.drain(..line_end + 2);
        if size == 0 {
            // Optional trailers, then the empty line.
            loop {
                let end = read_until(stream, buffer, |b| find(b, b"\r\n")).await?;
                buffer.drain(..end + 2);
                if end == 0 {
                    return Some(body);
                }
            }
        }
        read_until(stream, buffer, |b| (b.len() >= size + 2).then_some(size)).await?;
        body.extend(buffer.drain(..size));
        buffer.drain(..2);
    }
}
