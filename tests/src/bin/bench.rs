//! `make bench`: the figures issue 6 asks for — key verification, the hot path of a metered
//! request, cold start, fan-out and the quota under load — printed as a table and written to
//! docs/benchmarks.md with the machine, the date and the command.
//!
//! A custom harness rather than criterion: the tests crate's dependencies are built for every
//! `make test`, and criterion would add its compile time there. Each figure is many samples,
//! reported as the median with its spread; targets are checked on ratios and counts, which the
//! noisy 2-core machine does not distort.
//!
//! Environment: `DYNAMODB_ENDPOINT` (required; scripts/bench.sh starts dynalite),
//! `BENCH_OUTPUT` (default docs/benchmarks.md), `BENCH_BINARIES` (default target/release),
//! `BENCH_LAMBDA_ARTIFACTS` (default target/lambda), `BENCH_COMMIT` (shown in the report),
//! `BENCH_ONLY` (e.g. `1,3`: run only those sections, for development; the report is then
//! written only to an explicit `BENCH_OUTPUT`).
#[path = "bench/cold_start.rs"]
mod cold_start;
#[path = "bench/data_request.rs"]
mod data_request;
#[path = "bench/fanout.rs"]
mod fanout;
#[path = "bench/hot_path.rs"]
mod hot_path;
#[path = "bench/quota.rs"]
mod quota;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/stats.rs"]
mod stats;
#[path = "bench/verify.rs"]
mod verify;
#[path = "bench/world.rs"]
mod world;

use report::{Machine, Section};
use std::future::Future;
use std::path::PathBuf;
use std::time::Instant;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Runs one measurement; a panic becomes a failed section instead of ending the run.
async fn guarded<F>(title: &str, measurement: F) -> Option<Section>
where
    F: Future<Output = Section> + Send + 'static,
{
    match tokio::spawn(measurement).await {
        Ok(section) => Some(section),
        Err(error) => {
            let mut section = Section::new(title, "The measurement failed; see the bench output.");
            section.verdict(
                "the measurement completes",
                format!("failed: {error}"),
                false,
                "",
            );
            Some(section)
        }
    }
}

#[tokio::main]
async fn main() {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        eprintln!("bench: DYNAMODB_ENDPOINT is not set; run `make bench` (scripts/bench.sh starts dynalite)");
        std::process::exit(2);
    });
    let output = PathBuf::from(env_or("BENCH_OUTPUT", "docs/benchmarks.md"));
    let binaries = PathBuf::from(env_or("BENCH_BINARIES", "target/release"));
    let artifacts = PathBuf::from(env_or("BENCH_LAMBDA_ARTIFACTS", "target/lambda"));
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect());
    let wanted = |number: &str| {
        only.as_ref()
            .is_none_or(|list| list.iter().any(|n| n == number))
    };

    let machine = Machine::describe();
    println!("HARMONIC API benchmarks — {}", machine.one_line());
    println!("{}; DynamoDB-compatible server at {endpoint}", machine.date);
    let started = Instant::now();
    let mut sections: Vec<Section> = Vec::new();

    if wanted("1") {
        let endpoint = endpoint.clone();
        sections.extend(
            guarded("1. Key verification", async move {
                verify::run(&endpoint).await
            })
            .await,
        );
    }
    if wanted("2") {
        let endpoint = endpoint.clone();
        let result = tokio::spawn(async move {
            let (section, warm) = hot_path::run(&endpoint).await;
            let whole = data_request::run(&endpoint, &warm).await;
            (section, whole)
        })
        .await;
        match result {
            Ok((section, whole)) => sections.extend([section, whole]),
            Err(error) => {
                sections.extend(guarded("2. Hot path", async move { panic!("{error}") }).await)
            }
        }
    }
    if wanted("3") {
        let endpoint = endpoint.clone();
        sections.extend(
            guarded("3. Cold start, binary size, memory", async move {
                cold_start::run(&endpoint, &binaries, &artifacts).await
            })
            .await,
        );
    }
    if wanted("4") {
        sections.extend(guarded("4. Fan-out", fanout::run()).await);
    }
    if wanted("5") {
        let endpoint = endpoint.clone();
        sections.extend(
            guarded(
                "5. Quota under load",
                async move { quota::run(&endpoint).await },
            )
            .await,
        );
    }

    let elapsed = started.elapsed();
    report::print_summary(&sections);
    println!("\nmeasured in {:.0} s", elapsed.as_secs_f64());
    if only.is_some() && std::env::var_os("BENCH_OUTPUT").is_none() {
        println!("BENCH_ONLY is set: {} not written", output.display());
        return;
    }
    let text = report::markdown(&machine, &sections, elapsed);
    if let Some(parent) = output.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::write(&output, text) {
        Ok(()) => println!("wrote {}", output.display()),
        Err(error) => {
            eprintln!("bench: could not write {}: {error}", output.display());
            std::process::exit(1);
        }
    }
    if sections.iter().any(|section| {
        section
            .verdicts
            .iter()
            .any(|v| v.measured.starts_with("failed"))
    }) {
        std::process::exit(1);
    }
}
