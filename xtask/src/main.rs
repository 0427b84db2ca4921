//! The project's tools, `cargo xtask <command>` (alias in .cargo/config.toml). They live here,
//! not in the tests crate, so that building a tool never builds the suites and the suites never
//! depend on a tool; what both need (request builders, upstream stand-ins) is harmonic-testkit.
//!
//!   create-table            creates the table on the local DynamoDB-compatible server
//!   upstream-stubs [--port N]   serves the upstream stand-ins (default port 8090)
//!   env-vars                the configuration variables a local run forwards to the functions
//!   bench                   the benchmarks of `make bench` (a release build; see scripts/bench.sh)
mod bench;
mod create_table;
mod env_vars;
mod upstream_stubs;

use std::process::ExitCode;

const USAGE: &str =
    "usage: cargo xtask create-table | upstream-stubs [--port N] | env-vars | bench";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Each command's failure is printed and makes the exit status non-zero.
    let outcome = match args.first().map(String::as_str) {
        Some("create-table") => create_table::run().await,
        Some("upstream-stubs") => upstream_stubs::run(&args[1..]).await,
        Some("env-vars") => env_vars::print(),
        Some("bench") => bench::run().await,
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}").into()),
        None => Err(USAGE.into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}
