#!/usr/bin/env bash
# Starts or stops the local DynamoDB-compatible server (dynalite) on 127.0.0.1.
#   scripts/dynamodb.sh start PORT [DATA_DIR]   in memory, or persisted under DATA_DIR
#   scripts/dynamodb.sh stop  PORT
# Why dynalite: its conditional updates are atomic (exact quotas can be tested on it), it
# supports GSIs and Query like DynamoDB, and it starts in a quarter of a second.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?start or stop}
port=${2:?port}
mkdir -p .local
pidfile=".local/dynalite-$port.pid"

case "$action" in
  start)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "[dynamodb] already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
      exit 0
    fi
    args=(--host 127.0.0.1 --port "$port" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0)
    if [ -n "${3:-}" ]; then mkdir -p "$3"; args+=(--path "$3"); fi
    nohup node tools/node_modules/dynalite/cli.js "${args[@]}" >".local/dynalite-$port.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if curl -s -o /dev/null -X POST "http://127.0.0.1:$port/" \
          -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
          -H 'Content-Type: application/x-amz-json-1.0' -d '{}'; then
        echo "[dynamodb] dynalite answering on 127.0.0.1:$port (pid $(cat "$pidfile"))"
        exit 0
      fi
      sleep 0.1
    done
    echo "[dynamodb] dynalite did not answer on port $port; its log:" >&2
    cat ".local/dynalite-$port.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    ;;
  *)
    echo "usage: $0 start|stop PORT [DATA_DIR]" >&2
    exit 2
    ;;
esac
