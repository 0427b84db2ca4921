#!/usr/bin/env bash
# make run: the whole API locally. dynalite (persisted under .local/dynamodb) on
# 127.0.0.1:$DYNAMODB_PORT, the table created if missing, then cargo lambda watch on
# 127.0.0.1:$PORT routing /api/v1/{keys,usage,data} to the three functions. Ctrl-C stops all.
#   OFFLINE=1       also start the upstream stand-ins (`xtask upstream-stubs`, the stubs of
#                   the end-to-end suite) and point every source at them: no internet needed.
#   RUST_LOG        the functions' log filter (default info), passed in the env file;
#   WATCH_RUST_LOG  cargo lambda watch's own filter (default warn): it reads RUST_LOG itself, and
#                   at info/debug it prints multi-kilobyte lines of its own.
#   DYNAMODB_DATA   where dynalite keeps the table (default .local/dynamodb).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

PORT=${PORT:-9000}
DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
export TABLE_NAME=${TABLE_NAME:-harmonic}
export DYNAMODB_ENDPOINT=${DYNAMODB_ENDPOINT:-http://127.0.0.1:$DYNAMODB_PORT}
export RUST_LOG=${RUST_LOG:-info}
# cargo lambda watch hands the after-response extension invocation N only when N+1 begins:
# also flush the queued usage this long after the last request (see README, configuration).
export USAGE_FLUSH_IDLE_MS=${USAGE_FLUSH_IDLE_MS:-250}
WATCH_RUST_LOG=${WATCH_RUST_LOG:-warn}
DYNAMODB_DATA=${DYNAMODB_DATA:-.local/dynamodb}
mkdir -p .local
if [ -z "${ADMIN_TOKEN:-}" ] && [ -z "${ADMIN_TOKEN_SHA256:-}" ]; then
  if [ ! -s .local/admin-token ]; then
    (umask 077; python3 -c 'import secrets; print("local-" + secrets.token_urlsafe(24))' >.local/admin-token)
  fi
  ADMIN_TOKEN=$(cat .local/admin-token)
  export ADMIN_TOKEN
fi

# The keys' check secret (HMAC key of the check group): generated once, kept with the data, so
# keys made by one run keep working in the next.
if [ -z "${KEY_CHECK_SECRET:-}" ]; then
  if [ ! -s .local/key-check-secret ]; then
    (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >.local/key-check-secret)
  fi
  KEY_CHECK_SECRET=$(cat .local/key-check-secret)
  export KEY_CHECK_SECRET
fi

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "[run] stopping"
  # Each leads a process group of its own (start_group): stop exactly those groups.
  if [ -n "${watch_pid:-}" ]; then stop_group "$watch_pid"; fi
  if [ -n "${stubs_pid:-}" ]; then stop_group "$stubs_pid"; fi
  scripts/dynamodb.sh stop "$DYNAMODB_PORT"
}
trap cleanup EXIT INT TERM

if [ "${OFFLINE:-0}" = "1" ]; then
  echo "[run] OFFLINE=1: building and starting the upstream stand-ins (testkit/src/stubs.rs)"
  cargo build --quiet -p xtask
  stubs_port=$(free_port)
  start_group target/debug/xtask upstream-stubs --port "$stubs_port" >.local/stubs-run.log 2>&1 &
  stubs_pid=$!
  wait_for_http "http://127.0.0.1:$stubs_port/" 30 || { echo "[run] the stand-ins did not start" >&2; cat .local/stubs-run.log >&2; exit 1; }
  for name in WIKIPEDIA_API_URL ARXIV_API_URL GDELT_API_URL OPEN_METEO_GEOCODING_URL OPEN_METEO_FORECAST_URL; do
    export "$name=http://127.0.0.1:$stubs_port"
  done
  echo "[run] sources answered by the stand-ins on 127.0.0.1:$stubs_port (canned answers, e.g. \"quantum\" on wiki)"
fi
echo "[run] starting dynalite (DynamoDB-compatible) on 127.0.0.1:$DYNAMODB_PORT, data in $DYNAMODB_DATA"
scripts/dynamodb.sh start "$DYNAMODB_PORT" "$DYNAMODB_DATA"
echo "[run] creating table $TABLE_NAME if missing"
cargo xtask create-table

write_env_file .local/run.env
cat <<MSG

[run] HARMONIC API will listen on http://127.0.0.1:$PORT (first build takes a few minutes)
[run] admin token (local only): $ADMIN_TOKEN
[run] try:
  curl -X POST http://localhost:$PORT/api/v1/keys -H "Content-Type: application/json" -d '{"userId": "user123"}'

MSG
# --disable-cors: OPTIONS must reach the functions (they answer it with documentation), as
# behind API Gateway without a CORS configuration.
# The functions get RUST_LOG from the env file; the emulator its own, quieter filter.
RUST_LOG=$WATCH_RUST_LOG start_group cargo lambda watch -A 127.0.0.1 -P "$PORT" --disable-cors --env-file .local/run.env &
watch_pid=$!
wait "$watch_pid"
