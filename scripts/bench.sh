#!/usr/bin/env bash
# make bench: builds the release binaries, starts a local DynamoDB-compatible server (dynalite)
# on a free port, runs the benchmarks (`target/release/xtask bench`, xtask/src/bench), which print
# a table and write docs/benchmarks.md, and stops the server on exit. Not part of `make test`.
# The bench fails (non-zero) if a figure could not be measured, e.g. a missing function binary.
# Sections 3, 6 and 7 run the release function binaries (target/release/{keys,usage,data}) under
# the bench's Lambda Runtime + Extensions API stub, DynamoDB behind its latency-injecting proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

port=$(free_port)
cleanup() { scripts/dynamodb.sh stop "$port" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "[bench] building the release binaries (LTO, one codegen unit: several minutes the first time)"
# Two invocations, no `--bin` filter: `--bin` applies to every package selected with it, so one
# combined command would build only the bench (sections 3, 6 and 7 need the functions').
cargo build --release -p harmonic-keys -p harmonic-usage -p harmonic-data
cargo build --release -p xtask

scripts/dynamodb.sh start "$port"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD 2>/dev/null; then commit="$commit (with uncommitted changes)"; fi

started=$SECONDS
DYNAMODB_ENDPOINT="http://127.0.0.1:$port" BENCH_COMMIT="$commit" target/release/xtask bench
echo "[bench] measured in $((SECONDS - started)) s; figures in docs/benchmarks.md"
