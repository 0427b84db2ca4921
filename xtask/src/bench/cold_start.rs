//! Section 3, cold start: each release binary through a minimal Lambda Runtime API stub: time from
//! process spawn to the first response, binary sizes, and peak resident memory after a burst.
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::function_process::FunctionProcess;
use super::lambda_events::options_event;
use super::report::Section;
use super::runtime_stub::RuntimeStub;
use super::stats::{duration, thousands, Summary};

const FUNCTIONS: [&str; 3] = ["keys", "usage", "data"];
const COLD_STARTS: usize = 10;
const BURST: u64 = 500;
const MIB: f64 = 1024.0 * 1024.0;

fn spawn_function(binary: &Path, function: &str, port: u16, endpoint: &str) -> FunctionProcess {
    FunctionProcess::spawn(binary, function, port, "bench-cold-start", endpoint, &[])
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
codegen unit, stripped, panic = abort) is started as Lambda would start it, against the bench's \
Lambda Runtime + Extensions API stub on 127.0.0.1 (runtime_stub.rs: Lambda's lifecycle, see \
section 6): `GET /2018-06-01/runtime/invocation/next` answers with an API Gateway HTTP API (v2) \
`OPTIONS /api/v1/<fn>` event (JSON documentation, no DynamoDB access) and the Lambda-Runtime-* \
headers; `POST …/response` answers 202. Environment: only the Lambda variables, AWS_REGION, \
TABLE_NAME, DYNAMODB_ENDPOINT, ADMIN_TOKEN, BCRYPT_COST=10 and RUST_LOG=warn. Built for this \
machine (x86_64-unknown-linux-gnu; `make build` targets arm64 by default). Cold start = from \
spawn to the first response POST received by the stub (10 fresh processes per function); init = \
spawn to the runtime's first `next` call. A cold *metered* request (key read, bcrypt, meter) is \
section 7. Peak RSS = VmHWM from /proc/<pid>/status after 500 invocations served by one process.",
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
            let stub = RuntimeStub::start(function).await;
            let spawned = Instant::now();
            let child = spawn_function(&binary, function, stub.port, endpoint);
            match stub.invoke(options_event(function)).await {
                Ok(invocation) => {
                    cold.push(invocation.responded - spawned);
                    if let Some(next) = stub.first_next() {
                        init.push(next - spawned);
                    }
                    if let Some((hwm, _)) = child.memory() {
                        first_rss.push(hwm);
                    }
                    child.stop();
                }
                Err(problem) => {
                    let stderr = child.stop();
                    failure = Some(format!("{problem}; stderr: {stderr}"));
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
                super::stats::nanos(cold.max)
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
        let stub = RuntimeStub::start(function).await;
        let child = spawn_function(&binary, function, stub.port, endpoint);
        let started = Instant::now();
        let mut answered = 0;
        let mut problem = None;
        while answered < BURST {
            match stub.invoke(options_event(function)).await {
                Ok(_) => answered += 1,
                Err(error) => {
                    problem = Some(error);
                    break;
                }
            }
        }
        let elapsed = started.elapsed();
        let memory = child.memory();
        let stderr = child.stop();
        if let Some(problem) = problem {
            section.row(
                format!("{function}: burst"),
                format!("failed after {answered}: {problem}; stderr: {stderr}"),
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
            format!("slowest median {} ({function})", super::stats::nanos(worst)),
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
