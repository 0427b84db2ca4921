//! `cargo xtask bench` (run by `make bench` from a release build): the figures issue 6 asks for — key verification, the hot path of a metered
//! request, cold start, fan-out and the quota under load — printed as a table and written to
//! docs/benchmarks.md with the machine, the date and the command.
//!
//! A custom harness rather than criterion: xtask is built for every `make test` (clippy, the
//! tools of the end-to-end stage), and criterion would add its compile time there. Each figure is many samples,
//! reported as the median with its spread; targets are checked on ratios and counts, which the
//! noisy 2-core machine does not distort.
//!
//! It refuses to run from a debug build, and when a section that runs the function binaries
//! (3, 6, 7) is wanted it fails at once if a binary is missing, rather than reporting a figure as
//! "not measured". A figure that could not be taken fails the run (exit status non-zero).
//!
//! Environment: `DYNAMODB_ENDPOINT` (required; scripts/bench.sh starts dynalite),
//! `BENCH_OUTPUT` (default docs/benchmarks.md), `BENCH_BINARIES` (default target/release),
//! `BENCH_LAMBDA_ARTIFACTS` (default target/lambda), `BENCH_COMMIT` (shown in the report),
//! `BENCH_ONLY` (e.g. `1,3`: run only those sections, for development; the report is then
//! written only to an explicit `BENCH_OUTPUT`).
mod cold_start;
mod data_request;
mod dynamo_proxy;
mod fanout;
mod first_request;
mod function_process;
mod hot_path;
mod lambda_cost;
mod lambda_events;
mod lifecycle;
mod local_http;
mod quota;
mod report;
mod round_trips;
mod runtime_stub;
#[cfg(test)]
mod runtime_stub_tests;
mod shared_cache;
mod stats;
mod verify;
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

/// The function binaries each section runs (`BENCH_BINARIES`/<name>).
const FUNCTION_BINARIES: [(&str, &[&str]); 3] = [
    ("3", &["keys", "usage", "data"]),
    ("6", &["data"]),
    ("7", &["data"]),
];

pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    if cfg!(debug_assertions) {
        return Err("the bench measures release code: run `make bench`, or `cargo build --release -p xtask` and `target/release/xtask bench`".into());
    }
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").map_err(|_| {
        "bench: DYNAMODB_ENDPOINT is not set; run `make bench` (scripts/bench.sh starts dynalite)"
    })?;
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
    let mut missing: Vec<String> = FUNCTION_BINARIES
        .iter()
        .filter(|(section, _)| wanted(section))
        .flat_map(|(_, names)| names.iter())
        .map(|name| binaries.join(name))
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Err(format!(
            "bench: sections 3, 6 and 7 run the release function binaries; missing: {}. \
Build them with `cargo build --release -p harmonic-keys -p harmonic-usage -p harmonic-data` \
(make bench does), or set BENCH_BINARIES",
            missing.join(", ")
        )
        .into());
    }
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
        let both = endpoint.clone();
        sections.extend(
            guarded("2a. Hot path: authentication + metering", async move {
                hot_path::run(&endpoint).await
            })
            .await,
        );
        sections.extend(
            guarded(
                "2b. Hot path: a whole request to the curiosity source",
                async move { data_request::run(&both).await },
            )
            .await,
        );
    }
    if wanted("3") {
        let endpoint = endpoint.clone();
        let binaries = binaries.clone();
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

    if wanted("6") {
        let (endpoint, binaries) = (endpoint.clone(), binaries.clone());
        sections.extend(
            guarded(round_trips::TITLE, async move {
                round_trips::run(&endpoint, &binaries).await
            })
            .await,
        );
    }
    if wanted("7") {
        let (endpoint, binaries) = (endpoint.clone(), binaries.clone());
        sections.extend(
            guarded(first_request::TITLE, async move {
                first_request::run(&endpoint, &binaries).await
            })
            .await,
        );
    }
    if wanted("8") {
        let endpoint = endpoint.clone();
        sections.extend(
            guarded(shared_cache::TITLE, async move {
                shared_cache::shared_cache_hit(&endpoint).await
            })
            .await,
        );
    }

    let elapsed = started.elapsed();
    report::print_summary(&sections);
    println!("\nmeasured in {:.0} s", elapsed.as_secs_f64());
    if only.is_some() && std::env::var_os("BENCH_OUTPUT").is_none() {
        println!("BENCH_ONLY is set: {} not written", output.display());
        return unmet(&sections);
    }
    let text = report::markdown(&machine, &sections, elapsed);
    if let Some(parent) = output.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&output, text)
        .map_err(|error| format!("bench: could not write {}: {error}", output.display()))?;
    println!("wrote {}", output.display());
    unmet(&sections)
}

/// A measurement that failed or a figure that could not be taken (a verdict or a row reading
/// "failed…" or "not measured") makes the run fail: a report with holes must not pass for a
/// complete one.
fn unmet(sections: &[Section]) -> Result<(), Box<dyn std::error::Error>> {
    let hole = |text: &str| text.starts_with("failed") || text.starts_with("not measured");
    let holes: Vec<String> = sections
        .iter()
        .flat_map(|section| {
            let verdicts = section
                .verdicts
                .iter()
                .filter(|v| hole(&v.measured))
                .map(move |v| format!("{}: {} ({})", section.title, v.target, v.measured));
            let rows = section
                .rows
                .iter()
                .filter(|(_, value)| hole(value))
                .map(move |(metric, value)| format!("{}: {metric} ({value})", section.title));
            verdicts.chain(rows)
        })
        .collect();
    if holes.is_empty() {
        Ok(())
    } else {
        Err(format!("bench: incomplete measurements:\n  {}", holes.join("\n  ")).into())
    }
}
