#!/usr/bin/env bash
# make run: the whole API locally. dynalite (persisted under .local/dynamodb) on
# 127.0.0.1:$DYNAMODB_PORT, the table created if missing, then cargo lambda watch on
# 127.0.0.1:$PORT routing /api/v1/{keys,usage,data} to the three functions. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

PORT=${PORT:-9000}
DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
export TABLE_NAME=${TABLE_NAME:-harmonic}
export DYNAMODB_ENDPOINT=${DYNAMODB_ENDPOINT:-http://127.0.0.1:$DYNAMODB_PORT}
export RUST_LOG=${RUST_LOG:-info}
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
  if [ -n "${watch_pid:-}" ]; then kill_tree "$watch_pid"; fi
  scripts/dynamodb.sh stop "$DYNAMODB_PORT"
}
trap cleanup EXIT INT TERM

echo "[run] starting dynalite (DynamoDB-compatible) on 127.0.0.1:$DYNAMODB_PORT, data in .local/dynamodb"
scripts/dynamodb.sh start "$DYNAMODB_PORT" .local/dynamodb
echo "[run] creating table $TABLE_NAME if missing"
cargo run --quiet -p harmonic-tests --bin harmonic-local -- create-table

write_env_file .local/run.env
cat <<MSG

[run] HARMONIC API will listen on http://127.0.0.1:$PORT (first build takes a few minutes)
[run] admin token (local only): $ADMIN_TOKEN
[run] try:
  curl -X POST http://localhost:$PORT/api/v1/keys -H "Content-Type: application/json" -d '{"userId": "user123"}'

MSG
# --disable-cors: OPTIONS must reach the functions (they answer it with documentation), as
# behind API Gateway without a CORS configuration.
cargo lambda watch -A 127.0.0.1 -P "$PORT" --disable-cors --env-file .local/run.env &
watch_pid=$!
wait "$watch_pid"
