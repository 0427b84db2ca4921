# Sourced by the other scripts: the project-local tools on PATH, the env file of a local run, and
# helpers to wait for a server, pick a free port and start and stop process groups.
export PATH="$PWD/.venv/bin:$PATH"

# Writes the set variables to an env file for `cargo lambda watch --env-file` (values given
# there, unlike [workspace.metadata.lambda.env], can be overridden by the caller). Which
# variables: `cargo xtask env-vars`, i.e. those of the README's configuration table (the one
# list; xtask's test fails when it and the Rust readers drift apart).
# The admin token itself is never handed to the functions: cargo lambda watch logs the
# environment of every process it spawns. They get its SHA-256, as in AWS.
write_env_file() {
  local file=$1
  local names name
  names=$(cargo xtask env-vars)
  : >"$file"
  chmod 600 "$file"
  for name in $names; do
    if [ -n "${!name:-}" ]; then printf '%s=%s\n' "$name" "${!name}" >>"$file"; fi
  done
  if [ -n "${ADMIN_TOKEN:-}" ] && [ -z "${ADMIN_TOKEN_SHA256:-}" ]; then
    printf 'ADMIN_TOKEN_SHA256=%s\n' "$(printf %s "$ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)" >>"$file"
  fi
}

# Waits until an HTTP server answers on a URL (any status), or fails after $2 seconds.
wait_for_http() {
  local url=$1 seconds=${2:-60}
  local deadline=$((SECONDS + seconds))
  until curl -s -o /dev/null "$url"; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.5
  done
}

# Waits until URL answers 2xx to METHOD (default GET), at most SECONDS: a stack's function is
# started (cargo lambda watch starts a function's processes on its first request).
wait_for_ok() {
  local url=$1 seconds=${2:-60} method=${3:-GET}
  local deadline=$((SECONDS + seconds))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' -X "$method" "$url")" == 2* ]]; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.5
  done
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Background processes run in process groups of their own, so that a script stops exactly what
# it started, never another checkout's processes or a `make run` (no pkill patterns).
# `start_group CMD ARGS... &` then `pid=$!`: setsid makes the command the leader of a new group
# whose id is its pid (a background job of a script is not a group leader, so setsid does not
# fork). `stop_group PID` signals the whole group: cargo lambda watch and the functions it
# spawned, make and its children.
start_group() { exec setsid "$@"; }
stop_group() {
  local pgid=$1
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 -- "-$pgid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
}
