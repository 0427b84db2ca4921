#!/usr/bin/env bash
# The end-to-end suite: the three functions under `cargo lambda watch` (several instances each)
# with the router of Cargo.toml, on the DynamoDB-compatible server at $DYNAMODB_ENDPOINT (or one
# started here), with upstream sources answered by local stubs. Runs the ignored tests of
# tests/tests/e2e against it, the dashboard's real-browser test (tests/browser) and schema fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

pids=()
own_dynamo=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ "$status" -ne 0 ] && [ -f .local/e2e-watch.log ]; then
    echo "[e2e] failed (exit $status); the last lines of the stacks' log (.local/e2e-watch.log):" >&2
    tail -60 .local/e2e-watch.log >&2
  fi
  # Each process this script started leads a process group of its own (start_group): stop those
  # groups (cargo lambda watch with its function processes), and nothing else.
  for pid in "${pids[@]}"; do stop_group "$pid"; done
  if [ -n "$own_dynamo" ]; then scripts/dynamodb.sh stop "$own_dynamo"; fi
}
trap cleanup EXIT INT TERM

if [ -z "${DYNAMODB_ENDPOINT:-}" ]; then
  own_dynamo=$(free_port)
  scripts/dynamodb.sh start "$own_dynamo"
  export DYNAMODB_ENDPOINT="http://127.0.0.1:$own_dynamo"
fi

echo "[e2e] building the functions and the tools (xtask: the stubs, create-table)"
cargo build --quiet -p harmonic-keys -p harmonic-usage -p harmonic-data
cargo build --quiet -p xtask

stub_port=$(free_port)
start_group target/debug/xtask upstream-stubs --port "$stub_port" >.local/stubs.log 2>&1 &
pids+=($!)
wait_for_http "http://127.0.0.1:$stub_port/" 30 || { echo "[e2e] stubs did not start" >&2; cat .local/stubs.log >&2; exit 1; }

export TABLE_NAME="e2e-$(date +%s)-$RANDOM"
export ADMIN_TOKEN="e2e-admin-token-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
export BCRYPT_COST=${BCRYPT_COST:-10}
export KEY_CHECK_SECRET="e2e-key-check-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
# The suites sign up many users from 127.0.0.1; the limit itself is tested on the second stack.
export SIGNUP_LIMIT_PER_IP_PER_DAY=${SIGNUP_LIMIT_PER_IP_PER_DAY:-0}
export RUST_LOG=${RUST_LOG:-info}
# See scripts/run.sh: the usage of the last request is written without waiting for another.
export USAGE_FLUSH_IDLE_MS=${USAGE_FLUSH_IDLE_MS:-250}
export SOURCE_TIMEOUT_MS=${SOURCE_TIMEOUT_MS:-1500}
for name in WIKIPEDIA_API_URL ARXIV_API_URL GDELT_API_URL OPEN_METEO_GEOCODING_URL OPEN_METEO_FORECAST_URL; do
  export "$name=http://127.0.0.1:$stub_port"
done
cargo xtask create-table

mkdir -p .local
write_env_file .local/e2e.env
watch_port=$(free_port)
echo "[e2e] cargo lambda watch on 127.0.0.1:$watch_port (logs in .local/e2e-watch.log)"
RUST_LOG=warn start_group cargo lambda watch -A 127.0.0.1 -P "$watch_port" --disable-cors --ignore-changes --env-file .local/e2e.env >.local/e2e-watch.log 2>&1 &
pids+=($!)
wait_for_http "http://127.0.0.1:$watch_port/api/v1/keys" 300 || { echo "[e2e] cargo lambda watch did not answer" >&2; tail -50 .local/e2e-watch.log >&2; exit 1; }

# A second stack whose Free quota is 100, for the exactness-under-concurrency tests.
limited_port=$(free_port)
TABLE_NAME="$TABLE_NAME-limited" cargo xtask create-table
TABLE_NAME="$TABLE_NAME-limited" FREE_MONTHLY_QUOTA=100 SIGNUP_LIMIT_PER_IP_PER_DAY=3 write_env_file .local/e2e-limited.env
echo "[e2e] second stack (Free quota 100) on 127.0.0.1:$limited_port"
RUST_LOG=warn start_group cargo lambda watch -A 127.0.0.1 -P "$limited_port" --disable-cors --ignore-changes --env-file .local/e2e-limited.env >>.local/e2e-watch.log 2>&1 &
pids+=($!)
wait_for_http "http://127.0.0.1:$limited_port/api/v1/keys" 300 || { echo "[e2e] the limited stack did not answer" >&2; exit 1; }

# Start every function of both stacks before the suites (each answers 2xx once it runs), so that
# no test meets a function process that is still starting.
for port in "$watch_port" "$limited_port"; do
  for check in "OPTIONS /api/v1/keys" "GET /dashboard" "GET /api/v1/data?action=status"; do
    wait_for_ok "http://127.0.0.1:$port${check#* }" 300 "${check%% *}" \
      || { echo "[e2e] 127.0.0.1:$port did not answer $check with 2xx" >&2; exit 1; }
  done
done

API_URL="http://127.0.0.1:$watch_port" E2E_LIMITED_API_URL="http://127.0.0.1:$limited_port" \
  E2E_ADMIN_TOKEN="$ADMIN_TOKEN" E2E_LOG_FILE="$PWD/.local/e2e-watch.log" \
  cargo test --quiet -p harmonic-tests --test e2e -- --ignored --test-threads 1

# The dashboard page in a real browser (headless Chromium + selenium), against the same stacks.
scripts/bootstrap.sh --browser
echo "[e2e] the dashboard in headless Chromium (screenshots in target/dashboard/)"
API_URL="http://127.0.0.1:$watch_port" E2E_LIMITED_API_URL="http://127.0.0.1:$limited_port" \
  E2E_ADMIN_TOKEN="$ADMIN_TOKEN" SCREENSHOT_DIR="$PWD/target/dashboard" .venv/bin/python tests/browser/dashboard_test.py

# Schema fuzzing against the same stack, with a key holder of its own (Enterprise: never 429).
fuzz_key=$(curl -s -X POST "http://127.0.0.1:$watch_port/api/v1/keys" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -d '{"userId": "e2e-fuzzer", "tier": "enterprise"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
API_URL="http://127.0.0.1:$watch_port" E2E_ADMIN_TOKEN="$ADMIN_TOKEN" FUZZ_API_KEY="$fuzz_key" scripts/fuzz.sh

# The README quick start, verbatim, against `make run OFFLINE=1` (a stack of its own).
scripts/quickstart.sh
