//! A Lambda Runtime API and Extensions API stand-in with Lambda's lifecycle, for running the
//! release function binaries as Lambda runs them.
//!
//! - Runtime API (paths of the lambda_runtime crate): `GET /2018-06-01/runtime/invocation/next`
//!   (long poll; the event with the Lambda-Runtime-* headers), `POST …/invocation/<id>/response`
//!   and `…/<id>/error` (202), `POST /2018-06-01/runtime/init/error`.
//! - Extensions API (paths of the lambda-extension crate): `POST /2020-01-01/extension/register`
//!   (200, `Lambda-Extension-Identifier`, `{"functionName", "functionVersion", "handler"}`), only
//!   during init; `GET /2020-01-01/extension/event/next` (long poll; INVOKE events);
//!   `POST /2020-01-01/extension/{init,exit}/error`.
//! - Lifecycle, as on Lambda (not as `cargo lambda watch`, which hands an extension invocation N's
//!   event only when N+1 begins): init ends when the runtime and every registered extension wait
//!   in `next`; an invocation is handed to the runtime and, as an INVOKE event, to every extension
//!   subscribed to INVOKE at the same moment; it ends (the environment may freeze, the next one may
//!   be handed out, Lambda bills up to here) when the runtime has posted its response AND each of
//!   those extensions has called `event/next` again. With no extension it ends at the response.
//!   No SHUTDOWN phase: the bench kills the process.
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::lifecycle::{arn, Extension, Lifecycle, Queued};
use super::local_http::{self, reply, Reply};

/// How long an invocation may take, from being queued to its end.
const WAIT: Duration = Duration::from_secs(20);
pub(super) const TRACE_ID: &str = "Root=1-692ae0c0-3f1b2a4c5d6e7f8091a2b3c4;Sampled=0";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const JSON: (&str, &str) = ("content-type", "application/json");

/// One invocation as the stub saw it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The event went to the runtime (and the INVOKE event to the extensions).
    pub handed: Instant,
    /// The runtime's response POST arrived: what the client waits for.
    pub responded: Instant,
    /// The last of the runtime and the extensions was done: what Lambda bills.
    pub ended: Instant,
    /// The body the runtime posted (the API Gateway response).
    pub response: String,
}

impl Invocation {
    pub fn response_time(&self) -> Duration {
        self.responded - self.handed
    }

    pub fn billed(&self) -> Duration {
        self.ended - self.handed
    }
}

pub(super) type Outcome = Result<Invocation, String>;

pub struct RuntimeStub {
    pub port: u16,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

struct Shared {
    function: String,
    life: Mutex<Lifecycle>,
}

impl RuntimeStub {
    pub async fn start(function: &str) -> RuntimeStub {
        let shared = Arc::new(Shared {
            function: format!("harmonic-{function}"),
            life: Mutex::new(Lifecycle::default()),
        });
        let serving = shared.clone();
        let (port, server) = local_http::serve(move |request| {
            let shared = serving.clone();
            async move { handle(&shared, request).await }
        })
        .await;
        RuntimeStub {
            port,
            shared,
            server,
        }
    }

    /// Queues one invocation and waits for its end (see the module's lifecycle).
    pub async fn invoke(&self, event: String) -> Outcome {
        let (done, outcome) = oneshot::channel();
        {
            let mut life = self.shared.lock();
            if let Some(why) = &life.failure {
                return Err(why.clone());
            }
            life.queue.push_back(Queued { event, done });
            life.progress(&self.shared.function);
        }
        match tokio::time::timeout(WAIT, outcome).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err("the runtime stub stopped".to_owned()),
            Err(_) => Err(format!(
                "the invocation did not end within {} s ({})",
                WAIT.as_secs(),
                self.shared.lock().describe()
            )),
        }
    }

    /// When the runtime first asked for work (its initialisation was over).
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.lock().first_next
    }

    /// The names of the registered extensions.
    pub fn extensions(&self) -> Vec<String> {
        let life = self.shared.lock();
        life.extensions.iter().map(|e| e.name.clone()).collect()
    }
}

impl Drop for RuntimeStub {
    fn drop(&mut self) {
        self.server.abort();
        // Ends the pending long polls, so their connections close.
        let mut life = self.shared.lock();
        life.runtime_waiting = None;
        life.extensions.clear();
        life.queue.clear();
        life.current = None;
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Lifecycle> {
        self.life
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn error_reply(status: StatusCode, kind: &str, message: &str) -> Reply {
    let body = serde_json::json!({ "errorType": kind, "errorMessage": message }).to_string();
    reply(status, &[JSON], body)
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Reply {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (extension_id, extension_name) = (
        header("lambda-extension-identifier"),
        header("lambda-extension-name"),
    );
    let accepts_account = header("lambda-extension-accept-feature")
        .is_some_and(|features| features.contains("accountId"));
    let body = match request.into_body().collect().await {
        Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        Err(_) => return error_reply(StatusCode::BAD_REQUEST, "BadRequest", "unreadable body"),
    };
    let invocation = path
        .strip_prefix(INVOCATION)
        .and_then(|rest| rest.split_once('/'));
    match (method, path.as_str(), invocation) {
        (Method::GET, "/2018-06-01/runtime/invocation/next", _) => runtime_next(shared).await,
        (Method::POST, _, Some((id, "response"))) => posted(shared, id, Ok(body)),
        (Method::POST, _, Some((id, "error"))) => posted(shared, id, Err(body)),
        (Method::POST, "/2018-06-01/runtime/init/error", _)
        | (Method::POST, "/2020-01-01/extension/init/error", _)
        | (Method::POST, "/2020-01-01/extension/exit/error", _) => {
            let mut life = shared.lock();
            life.fail(format!("{path}: {body}"));
            reply(StatusCode::ACCEPTED, &[JSON], r#"{"status":"OK"}"#)
        }
        (Method::POST, "/2020-01-01/extension/register", _) => {
            register(shared, extension_name, accepts_account, &body)
        }
        (Method::GET, "/2020-01-01/extension/event/next", _) => {
            extension_next(shared, extension_id).await
        }
        _ => error_reply(StatusCode::NOT_FOUND, "NotFound", &path),
    }
}

async fn runtime_next(shared: &Shared) -> Reply {
    let (waiting, dispatched) = oneshot::channel();
    {
        let mut life = shared.lock();
        life.first_next.get_or_insert_with(Instant::now);
        life.runtime_waiting = Some(waiting);
        life.progress(&shared.function);
    }
    let Ok(dispatch) = dispatched.await else {
        return error_reply(StatusCode::INTERNAL_SERVER_ERROR, "Stopped", "stub stopped");
    };
    let (deadline, arn) = (dispatch.deadline_ms.to_string(), arn(&shared.function));
    let headers = [
        JSON,
        (
            "lambda-runtime-aws-request-id",
            dispatch.request_id.as_str(),
        ),
        ("lambda-runtime-deadline-ms", deadline.as_str()),
        ("lambda-runtime-invoked-function-arn", arn.as_str()),
        ("lambda-runtime-trace-id", TRACE_ID),
    ];
    reply(StatusCode::OK, &headers, dispatch.event)
}

fn posted(shared: &Shared, request_id: &str, result: Result<String, String>) -> Reply {
    let now = Instant::now();
    let mut life = shared.lock();
    match &mut life.current {
        Some(current) if current.request_id == request_id && current.responded.is_none() => {
            current.responded = Some((now, result));
        }
        _ => {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                "no such invocation in progress",
            )
        }
    }
    life.progress(&shared.function);
    reply(StatusCode::ACCEPTED, &[JSON], r#"{"status":"OK"}"#)
}

fn register(shared: &Shared, name: Option<String>, accepts_account: bool, body: &str) -> Reply {
    let Some(name) = name.filter(|name| !name.is_empty()) else {
        return error_reply(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Lambda-Extension-Name missing",
        );
    };
    let events: Vec<String> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|body| serde_json::from_value(body.get("events")?.clone()).ok())
        .unwrap_or_default();
    let mut life = shared.lock();
    if life.handed > 0 {
        return error_reply(
            StatusCode::FORBIDDEN,
            "Extension.InvalidState",
            "extensions register during init, before the first invocation",
        );
    }
    let id = format!(
        "bench-extension-{}-{:08x}",
        life.extensions.len(),
        rand::random::<u32>()
    );
    life.extensions.push(Extension {
        id: id.clone(),
        name,
        invoke_events: events.iter().any(|event| event == "INVOKE"),
        waiting: None,
        busy: false,
    });
    let mut answer = serde_json::json!({
        "functionName": shared.function,
        "functionVersion": "$LATEST",
        "handler": "bootstrap"
    });
    if accepts_account {
        answer["accountId"] = "123456789012".into();
    }
    reply(
        StatusCode::OK,
        &[JSON, ("lambda-extension-identifier", id.as_str())],
        answer.to_string(),
    )
}

async fn extension_next(shared: &Shared, id: Option<String>) -> Reply {
    let (waiting, event) = oneshot::channel();
    {
        let mut guard = shared.lock();
        let life = &mut *guard;
        let now = Instant::now();
        let Some(extension) = life
            .extensions
            .iter_mut()
            .find(|e| Some(&e.id) == id.as_ref())
        else {
            return error_reply(
                StatusCode::FORBIDDEN,
                "Extension.UnknownExtensionIdentifier",
                "register first",
            );
        };
        if std::mem::take(&mut extension.busy) {
            if let Some(current) = &mut life.current {
                current.last_extension = Some(current.last_extension.map_or(now, |at| at.max(now)));
            }
        }
        extension.waiting = Some(waiting);
        life.progress(&shared.function);
    }
    let Ok(event) = event.await else {
        return error_reply(StatusCode::INTERNAL_SERVER_ERROR, "Stopped", "stub stopped");
    };
    let event_id = format!("{:032x}", rand::random::<u128>());
    reply(
        StatusCode::OK,
        &[
            JSON,
            ("lambda-extension-event-identifier", event_id.as_str()),
        ],
        event,
    )
}
