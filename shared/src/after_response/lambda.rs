//! The after-response work on Lambda: an internal extension, registered before the runtime
//! starts, that waits for each invocation's end and then flushes (the runtime repository's
//! flush-after-response pattern). Lambda freezes the sandbox only once every extension has asked
//! for its next event, so the flush runs after the client has its response and before the freeze;
//! `tokio::spawn` alone would be frozen mid-write.
//!
//! Every invocation, whatever its route, signals its end: the extension waits for exactly one
//! signal per INVOKE event (bounded by the invocation's deadline, in case an invocation never
//! reached the handler), so a missing signal can never hold an invocation open.
use lambda_extension::{Extension, LambdaEvent, NextEvent};
use lambda_http::{service_fn, Body, Request, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::sync::Mutex;

use super::AfterResponse;

/// The extension's name (unique within the function).
const EXTENSION_NAME: &str = "usage-recorder";
/// Time kept back before an invocation's deadline for the flush itself.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Runs `handler` as the function's HTTP handler with `after`'s work flushed after each
/// response by an internal extension; and, when `USAGE_FLUSH_IDLE_MS` is set (locally), also
/// after that much idle time. Returns when the runtime stops.
pub async fn run<F, Fut>(after: Arc<AfterResponse>, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    let (invocation_done, done) = unbounded_channel::<()>();
    let done = Arc::new(Mutex::new(done));
    let flusher = after.clone();
    let registered = Extension::new()
        .with_events(&["INVOKE"])
        .with_events_processor(lambda_extension::service_fn(move |event: LambdaEvent| {
            let after = flusher.clone();
            let done = done.clone();
            async move { flush_after_invocation(&after, &done, event).await }
        }))
        .with_extension_name(EXTENSION_NAME)
        .register()
        .await;
    if after.idle_flush.is_some() {
        tokio::spawn(after.clone().flush_when_idle());
    }
    match registered {
        Ok(extension) => {
            let runtime = lambda_http::run(service_fn(|request: Request| {
                let response = handler(request);
                let invocation_done = invocation_done.clone();
                async move {
                    let response = response.await;
                    // The extension is waiting for this; it cannot be gone while the runtime runs.
                    let _ = invocation_done.send(());
                    Ok::<_, std::convert::Infallible>(response)
                }
            }));
            tokio::try_join!(runtime, extension.run())?;
            Ok(())
        }
        Err(error) => {
            // Only without a Lambda Extensions API (an old emulator): correct but slower, the
            // client then waits for the flush.
            tracing::error!(error = %error, "the usage-recorder extension could not register; usage is written before each response");
            lambda_http::run(service_fn(|request: Request| {
                let response = handler(request);
                let after = after.clone();
                async move {
                    let response = response.await;
                    after.flush().await;
                    Ok::<_, std::convert::Infallible>(response)
                }
            }))
            .await
        }
    }
}

/// One INVOKE event: wait for that invocation's end (at most until shortly before its
/// deadline), then flush everything queued.
async fn flush_after_invocation(
    after: &AfterResponse,
    done: &Mutex<UnboundedReceiver<()>>,
    event: LambdaEvent,
) -> Result<(), lambda_extension::Error> {
    let deadline_ms = match event.next {
        NextEvent::Invoke(invoke) => invoke.deadline_ms,
        // Internal extensions receive INVOKE events only.
        NextEvent::Shutdown(_) => return Ok(()),
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis() as u64)
        .unwrap_or(0);
    let wait =
        Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(DEADLINE_MARGIN);
    let mut done = done.lock().await;
    if tokio::time::timeout(wait, done.recv()).await.is_err() {
        tracing::warn!(
            "an invocation ended without reaching the handler; flushing at its deadline"
        );
    }
    drop(done);
    after.flush().await;
    Ok(())
}
