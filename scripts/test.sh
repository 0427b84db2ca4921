#!/usr/bin/env bash
# make test: every check, on a clean clone, with nothing but Rust, Node and Python installed.
#   1. formatting and lints (cargo fmt --check, clippy -D warnings)
#   2. unit tests (a plain `cargo test --workspace`), then the integration suite, whose tests are
#      #[ignore]d without a server, with --include-ignored against a real DynamoDB-compatible
#      server (dynalite) that this script starts on a free port and stops at the end; each test
#      uses its own table
#   3. infrastructure checks (cfn-lint, OpenAPI, route cross-check)
#   4. the end-to-end suite through `cargo lambda watch` and its router, with the upstream
#      sources answered by local stubs
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
dynamo_port=$(free_port)
cleanup() {
  trap - EXIT INT TERM
  scripts/dynamodb.sh stop "$dynamo_port"
}
trap cleanup EXIT INT TERM

step "1/4 formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "2/4 unit and integration tests (dynalite on 127.0.0.1:$dynamo_port)"
scripts/dynamodb.sh start "$dynamo_port"
export DYNAMODB_ENDPOINT="http://127.0.0.1:$dynamo_port"
cargo test --workspace --quiet
cargo test --quiet -p harmonic-tests --test integration -- --include-ignored

step "3/4 infrastructure: template, OpenAPI document, routes"
scripts/validate.sh

step "4/4 end to end through cargo lambda watch"
scripts/e2e.sh
