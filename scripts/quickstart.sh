#!/usr/bin/env bash
# Checks that the README's quick start works verbatim on a machine without internet: starts
# `make run OFFLINE=1` on free ports (its own table and data directory), runs the curl lines of
# the README's "Quick start" block as written (the port and the `hm_...` placeholder replaced by
# the key the first line returned), and checks their answers and that the terminal shows no
# multi-kilobyte lines. Called by scripts/e2e.sh (part of `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

port=$(free_port)
dynamo_port=$(free_port)
data_dir=$(mktemp -d)
log=.local/quickstart-run.log
run_pid=""
cleanup() {
  trap - EXIT INT TERM
  # make run leads a process group of its own (start_group); its script stops its own groups.
  if [ -n "$run_pid" ]; then stop_group "$run_pid"; fi
  # make run stops its dynalite on exit; stop it here too in case make run was killed first.
  scripts/dynamodb.sh stop "$dynamo_port" >/dev/null 2>&1 || true
  rm -rf "$data_dir"
}
trap cleanup EXIT INT TERM

mkdir -p .local
echo "[quickstart] make run OFFLINE=1 on 127.0.0.1:$port (output in $log)"
# No RUST_LOG or upstream URLs from the caller: what a newcomer's shell has.
env -u RUST_LOG -u WIKIPEDIA_API_URL -u ARXIV_API_URL -u GDELT_API_URL -u OPEN_METEO_GEOCODING_URL \
  -u OPEN_METEO_FORECAST_URL -u DYNAMODB_ENDPOINT -u TABLE_NAME \
  ADMIN_TOKEN="quickstart-$(python3 -c 'import secrets; print(secrets.token_hex(12))')" \
  DYNAMODB_DATA="$data_dir" \
  setsid make --no-print-directory run OFFLINE=1 PORT="$port" DYNAMODB_PORT="$dynamo_port" >"$log" 2>&1 &
run_pid=$!
wait_for_http "http://127.0.0.1:$port/api/v1/keys" 300 \
  || { echo "[quickstart] make run OFFLINE=1 did not answer" >&2; tail -30 "$log" >&2; exit 1; }

# The curl lines of the README's first ```sh block after "## Quick start".
mapfile -t lines < <(awk '/^## Quick start/{q=1} q&&/^```sh/{b=1;next} b&&/^```/{exit} b&&/^curl /' README.md)
[ "${#lines[@]}" -eq 3 ] || { echo "[quickstart] expected 3 curl lines in the README quick start, found ${#lines[@]}" >&2; exit 1; }

key=""
expected=(201 200 200)
for index in "${!lines[@]}"; do
  line=${lines[$index]//localhost:9000/localhost:$port}
  if [ -n "$key" ]; then line=${line//hm_.../$key}; fi
  out=$(bash -c "$line -sS -w '\\n%{http_code}'")
  status=${out##*$'\n'}
  body=${out%$'\n'*}
  if [ "$status" != "${expected[$index]}" ]; then
    echo "[quickstart] line $((index + 1)) answered $status, expected ${expected[$index]}: $body" >&2
    exit 1
  fi
  case $index in
    0) key=$(printf %s "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])') ;;
    1) printf %s "$body" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["results"][0]["data"]["title"] == "Quantum computing", d' ;;
    2) printf %s "$body" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["used"] == 1 and d["remaining"] == 999, d' ;;
  esac
  echo "[quickstart] ok   line $((index + 1)): $status"
done

longest=$(awk '{ if (length($0) > max) max = length($0) } END { print max + 0 }' "$log")
if [ "$longest" -gt 2000 ]; then
  echo "[quickstart] the terminal of make run shows a line of $longest characters:" >&2
  awk 'length($0) > 2000 { print substr($0, 1, 300) "..." }' "$log" | head -3 >&2
  exit 1
fi
grep -q '"message":"request"\|"request"' "$log" \
  || { echo "[quickstart] the functions' own request logs (RUST_LOG=info) are missing" >&2; tail -20 "$log" >&2; exit 1; }
echo "[quickstart] ok   the quick start works verbatim offline; longest terminal line $longest characters"
