//! Section 3, cold start: each release binary through a minimal Lambda Runtime API stub: time from
//! process spawn to the first response, binary sizes, and peak resident memory after a burst.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::report::Section;
use crate::stats::{duration, thousands, Summary};
use crate::world::ADMIN_TOKEN;

const FUNCTIONS: [&str; 3] = ["keys", "usage", "data"];
const COLD_STARTS: usize = 10;
const BURST: u64 = 500;
const WAIT: Duration = Duration::from_secs(20);
const MIB: f64 = 1024.0 * 1024.0;

/// What the stub saw, with when.
#[derive(Debug)]
enum Seen {
    /// The runtime asked for its first invocation: initialisation is over.
    Next(Instant),
    Response(Instant),
    Error(String),
}

struct RuntimeStub {
    port: u16,
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
    async fn start(function: &str, limit: u64) -> RuntimeStub {
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
    async fn next_response(&mut self) -> Result<(Option<Instant>, Instant), String> {
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

fn spawn_function(binary: &Path, function: &str, port: u16, endpoint: &str) -> Child {
    Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("harmonic-{function}"))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_REGION", "us-east-1")
        .env("TABLE_NAME", "bench-cold-start")
        .env("DYNAMODB_ENDPOINT", endpoint)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("spawn {}: {error}", binary.display()))
}

/// Peak and current resident set of a live process, in bytes.
fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let output = child.wait_with_output();
    output
        .map(|output| String::from_utf8_lossy(&output.stderr).into_owned())
        .unwrap_or_default()
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

fn size_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|meta| meta.len())
}

fn megabytes(bytes: u64) -> String {
    format!(
        "{:.2} MB ({:.2} MiB, {} bytes)",
        bytes as f64 / 1e6,
        bytes as f64 / MIB,
        thousands(bytes)
    )
}

pub async fn run(endpoint: &str, binaries: &Path, lambda_artifacts: &Path) -> Section {
    let mut section = Section::new(
        "3. Cold start, binary size, memory",
        "Each release binary (`target/release/<fn>`: the workspace release profile, LTO, one \
codegen unit, stripped, panic = abort) is started as Lambda would start it, against a minimal \
Lambda Runtime API stub on 127.0.0.1 in the bench: `GET /2018-06-01/runtime/invocation/next` \
answers with an API Gateway HTTP API (v2) `OPTIONS /api/v1/<fn>` event (JSON documentation, no \
DynamoDB access) and the Lambda-Runtime-* headers; `POST …/response` answers 202. Environment: \
only the Lambda variables, AWS_REGION, TABLE_NAME, DYNAMODB_ENDPOINT, ADMIN_TOKEN and RUST_LOG=warn. \
Built for this machine (x86_64-unknown-linux-gnu; `make build` targets arm64 by default). \
Cold start = from spawn to the first response POST received by the stub (10 fresh processes per \
function); init = spawn to the first `next` call. Peak RSS = VmHWM from /proc/<pid>/status after \
500 invocations served by one process.",
    );
    println!("\n== {}", section.title);
    let mut worst_cold: Option<(String, f64)> = None;
    let mut biggest: Option<(String, u64)> = None;
    let mut peak: Option<(String, u64)> = None;
    let mut failures = Vec::new();

    for function in FUNCTIONS {
        let binary: PathBuf = binaries.join(function);
        let Some(size) = size_of(&binary) else {
            failures.push(format!("{function}: {} not found", binary.display()));
            continue;
        };
        section.row(
            format!("{function}: binary size (target/release)"),
            megabytes(size),
        );
        if biggest.as_ref().is_none_or(|(_, b)| size > *b) {
            biggest = Some((function.to_owned(), size));
        }
        for artifact in ["bootstrap", "bootstrap.zip"] {
            let path = lambda_artifacts.join(function).join(artifact);
            if let Some(bytes) = size_of(&path) {
                section.row(
                    format!("{function}: {} (cargo lambda build)", path.display()),
                    megabytes(bytes),
                );
            }
        }

        let mut cold = Vec::with_capacity(COLD_STARTS);
        let mut init = Vec::with_capacity(COLD_STARTS);
        let mut first_rss = Vec::with_capacity(COLD_STARTS);
        let mut failure = None;
        for _ in 0..COLD_STARTS {
            let mut stub = RuntimeStub::start(function, 1).await;
            let spawned = Instant::now();
            let child = spawn_function(&binary, function, stub.port, endpoint);
            match stub.next_response().await {
                Ok((first_next, answered)) => {
                    cold.push(answered - spawned);
                    if let Some(next) = first_next {
                        init.push(next - spawned);
                    }
                    if let Some((hwm, _)) = memory_of(child.id()) {
                        first_rss.push(hwm);
                    }
                    stop(child);
                }
                Err(problem) => {
                    let stderr = stop(child);
                    failure = Some(format!("{problem}; stderr: {}", last_lines(&stderr)));
                    break;
                }
            }
        }
        if let Some(problem) = failure {
            section.row(
                format!("{function}: cold start"),
                format!("failed: {problem}"),
            );
            failures.push(format!("{function}: {problem}"));
            continue;
        }
        let cold = Summary::of(&cold);
        section.row(
            format!("{function}: spawn → first response"),
            format!(
                "{}, max {}",
                cold.median_iqr(),
                crate::stats::nanos(cold.max)
            ),
        );
        section.row(
            format!("{function}: spawn → first `next` (init)"),
            Summary::of(&init).median_iqr(),
        );
        if worst_cold
            .as_ref()
            .is_none_or(|(_, worst)| cold.p50 > *worst)
        {
            worst_cold = Some((function.to_owned(), cold.p50));
        }
        if let Some(rss) = first_rss.iter().max() {
            section.row(
                format!("{function}: peak RSS after the first response"),
                megabytes(*rss),
            );
        }

        // A burst in one process.
        let mut stub = RuntimeStub::start(function, BURST).await;
        let child = spawn_function(&binary, function, stub.port, endpoint);
        let started = Instant::now();
        let mut answered = 0;
        let mut problem = None;
        while answered < BURST {
            match stub.next_response().await {
                Ok(_) => answered += 1,
                Err(error) => {
                    problem = Some(error);
                    break;
                }
            }
        }
        let elapsed = started.elapsed();
        let memory = memory_of(child.id());
        let stderr = stop(child);
        if let Some(problem) = problem {
            section.row(
                format!("{function}: burst"),
                format!(
                    "failed after {answered}: {problem}; stderr: {}",
                    last_lines(&stderr)
                ),
            );
            failures.push(format!("{function}: burst failed after {answered}"));
            continue;
        }
        section.row(
            format!("{function}: burst of {BURST} invocations"),
            format!(
                "{answered} responses in {} ({:.0} /s, stub included)",
                duration(elapsed),
                answered as f64 / elapsed.as_secs_f64()
            ),
        );
        if let Some((hwm, rss)) = memory {
            section.row(
                format!("{function}: peak RSS (VmHWM) after the burst"),
                format!("{} (VmRSS now {})", megabytes(hwm), megabytes(rss)),
            );
            if peak.as_ref().is_none_or(|(_, p)| hwm > *p) {
                peak = Some((function.to_owned(), hwm));
            }
        }
    }

    let complete = failures.is_empty();
    let failed_note = if complete {
        String::new()
    } else {
        format!(" Not measured: {}.", failures.join("; "))
    };
    match worst_cold {
        Some((function, worst)) => section.verdict(
            "cold start < 30 ms to first response",
            format!("slowest median {} ({function})", crate::stats::nanos(worst)),
            complete && worst < 30e6,
            format!(
                "Init builds the configuration, one SDK client (static credentials and region \
from the environment: no credential or metadata lookups) and, for data, one HTTP client and the \
caches; nothing touches the network before the first event. Measured on this machine's x86_64 \
cores against a local stub; Lambda adds its own sandbox start.{failed_note}"
            ),
        ),
        None => section.verdict(
            "cold start < 30 ms to first response",
            "not measured",
            false,
            failed_note.clone(),
        ),
    }
    if let Some((function, size)) = biggest {
        section.verdict(
            "each binary < 10 MB",
            format!("largest {} ({function})", megabytes(size)),
            complete && (size as f64) < 10e6,
            if (size as f64) < 10e6 {
                format!(
                    "Release profile with LTO, one codegen unit, strip, panic = abort and \
opt-level \"s\" (bcrypt kept at 3); only the AWS features Lambda uses (no SSO or credential \
process providers), no charset tables in reqwest.{failed_note}"
                )
            } else {
                format!(
                    "The release profile already has LTO, one codegen unit, strip and panic = \
abort, at opt-level 3. The bulk is shared by all three binaries (data is ~1 MB larger for its \
sources, parsers and knowledge base): the DynamoDB SDK with aws-config's credential providers \
(including the sso and credentials-process features, never used in Lambda, which gets its \
credentials from the environment) and the TLS stack (rustls over aws-lc-rs, a large C crypto \
library). Candidates to get under 10 MB, not measured here: opt-level = \"s\" or \"z\" for the \
release profile (these functions are I/O-bound), dropping the unused aws-config features, and \
rustls over ring. For deployment the zipped artifact is what Lambda limits (50 MB), see `make \
build`.{failed_note}"
                )
            },
        );
    }
    match peak {
        Some((function, hwm)) => section.verdict(
            "peak RSS < 30 MB",
            format!("highest {} ({function})", megabytes(hwm)),
            complete && (hwm as f64) < 30e6,
            format!(
                "One process serving {BURST} invocations in sequence (Lambda gives a container one \
request at a time); the caches hold little for OPTIONS requests, so this is the runtime's and \
the clients' baseline.{failed_note}"
            ),
        ),
        None => section.verdict("peak RSS < 30 MB", "not measured", false, failed_note),
    }
    section
}
