# Sourced by the other scripts: the project-local tools on PATH, and the configuration
# variables a local run passes to the functions (the caller's environment wins).
export PATH="$PWD/.venv/bin:$PATH"

# Every variable of the README's configuration table that a local run forwards to the functions.
HARMONIC_VARS=(TABLE_NAME DYNAMODB_ENDPOINT AWS_REGION ADMIN_TOKEN_SHA256 BCRYPT_COST
  ALLOW_SIGNUP MAX_KEYS_PER_USER FREE_MONTHLY_QUOTA PRO_MONTHLY_QUOTA DEMO_MODE
  USAGE_RETENTION_DAYS KEY_CACHE_TTL_SECONDS RUST_LOG USER_AGENT SOURCE_TIMEOUT_MS
  REQUEST_DEADLINE_MS WIKIPEDIA_API_URL ARXIV_API_URL GDELT_API_URL OPEN_METEO_GEOCODING_URL
  OPEN_METEO_FORECAST_URL NEWS_PROVIDER HACKERNEWS_API_URL NEWSAPI_URL NEWSAPI_KEY
  CACHE_TTL_WIKI_SECONDS CACHE_TTL_ARXIV_SECONDS CACHE_TTL_NEWS_SECONDS
  CACHE_TTL_WEATHER_SECONDS CACHE_TTL_CURIOSITY_SECONDS CACHE_MAX_ENTRIES
  UPSTREAM_MAX_BYTES)

# Writes the set variables to an env file for `cargo lambda watch --env-file` (values given
# there, unlike [workspace.metadata.lambda.env], can be overridden by the caller).
# The admin token itself is never handed to the functions: cargo lambda watch logs the
# environment of every process it spawns. They get its SHA-256, as in AWS.
write_env_file() {
  local file=$1
  : >"$file"
  chmod 600 "$file"
  local name
  for name in "${HARMONIC_VARS[@]}"; do
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

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Stops a process and every process it started (children first seen, then the process), so that
# a script cleans up only what it launched itself, never another checkout's or `make run`'s.
kill_tree() {
  local pid=$1 child
  for child in $(pgrep -P "$pid" 2>/dev/null); do kill_tree "$child"; done
  kill "$pid" 2>/dev/null || true
}
