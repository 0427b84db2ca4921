//! The Lambda lifecycle of the runtime stub (see runtime_stub.rs): who waits in `next`, the
//! queued invocations, the one in progress, and when it ends.
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use super::runtime_stub::{Invocation, Outcome, TRACE_ID};

/// The deadline handed with each invocation (Lambda-Runtime-Deadline-Ms, deadlineMs).
const TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Queued {
    pub(super) event: String,
    pub(super) done: oneshot::Sender<Outcome>,
}

pub(super) struct Current {
    pub(super) request_id: String,
    pub(super) handed: Instant,
    pub(super) responded: Option<(Instant, Result<String, String>)>,
    pub(super) last_extension: Option<Instant>,
    pub(super) done: oneshot::Sender<Outcome>,
}

pub(super) struct Extension {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) invoke_events: bool,
    /// Its pending `event/next` long poll.
    pub(super) waiting: Option<oneshot::Sender<String>>,
    /// Handed the current INVOKE event and not back in `event/next` yet.
    pub(super) busy: bool,
}

pub(super) struct Dispatch {
    pub(super) request_id: String,
    pub(super) deadline_ms: i64,
    pub(super) event: String,
}

#[derive(Default)]
pub(super) struct Lifecycle {
    pub(super) runtime_waiting: Option<oneshot::Sender<Dispatch>>,
    pub(super) first_next: Option<Instant>,
    pub(super) extensions: Vec<Extension>,
    pub(super) queue: VecDeque<Queued>,
    pub(super) current: Option<Current>,
    pub(super) handed: u64,
    pub(super) failure: Option<String>,
}

impl Lifecycle {
    pub(super) fn progress(&mut self, function: &str) {
        self.finish_current();
        if self.current.is_none() {
            self.dispatch(function);
        }
    }

    fn finish_current(&mut self) {
        let finished = self.current.as_ref().is_some_and(|c| c.responded.is_some())
            && !self.extensions.iter().any(|e| e.busy);
        if !finished {
            return;
        }
        let Some(current) = self.current.take() else {
            return;
        };
        let Some((responded, result)) = current.responded else {
            return;
        };
        let ended = current
            .last_extension
            .map_or(responded, |at| at.max(responded));
        let outcome = result.map(|response| Invocation {
            handed: current.handed,
            responded,
            ended,
            response,
        });
        let _ = current.done.send(outcome);
    }

    /// Hands out the next queued invocation once init is over (everyone waits in `next`).
    fn dispatch(&mut self, function: &str) {
        if self.queue.is_empty() || self.extensions.iter().any(|e| e.waiting.is_none()) {
            return;
        }
        let Some(runtime) = self.runtime_waiting.take() else {
            return;
        };
        let Some(queued) = self.queue.pop_front() else {
            return;
        };
        let request_id = format!("bench-{:08}", self.handed);
        self.handed += 1;
        let deadline_ms = chrono::Utc::now().timestamp_millis() + TIMEOUT.as_millis() as i64;
        let invoke = serde_json::json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": arn(function),
            "tracing": { "type": "X-Amzn-Trace-Id", "value": TRACE_ID }
        })
        .to_string();
        let handed = Instant::now();
        for extension in self.extensions.iter_mut().filter(|e| e.invoke_events) {
            if let Some(waiting) = extension.waiting.take() {
                extension.busy = waiting.send(invoke.clone()).is_ok();
            }
        }
        let _ = runtime.send(Dispatch {
            request_id: request_id.clone(),
            deadline_ms,
            event: queued.event,
        });
        self.current = Some(Current {
            request_id,
            handed,
            responded: None,
            last_extension: None,
            done: queued.done,
        });
    }

    pub(super) fn fail(&mut self, why: String) {
        for queued in self.queue.drain(..) {
            let _ = queued.done.send(Err(why.clone()));
        }
        if let Some(current) = self.current.take() {
            let _ = current.done.send(Err(why.clone()));
        }
        self.failure = Some(why);
    }

    pub(super) fn describe(&self) -> String {
        let extensions: Vec<String> = self
            .extensions
            .iter()
            .map(|e| {
                let state = if e.busy { "working" } else { "idle" };
                format!("{} {state}, in next: {}", e.name, e.waiting.is_some())
            })
            .collect();
        format!(
            "runtime in next: {}; extensions: [{}]; current: {}",
            self.runtime_waiting.is_some(),
            extensions.join("; "),
            self.current.as_ref().map_or("none".to_owned(), |c| format!(
                "{} responded: {}",
                c.request_id,
                c.responded.is_some()
            ))
        )
    }
}

pub(super) fn arn(function: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{function}")
}
