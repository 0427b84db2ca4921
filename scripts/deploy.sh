#!/usr/bin/env bash
# make deploy ENV=staging|prod: deploys the stack of that environment (infra/samconfig.toml) with
# AWS SAM from the zips of make build. Needs AWS credentials in the environment, ADMIN_TOKEN (or
# ADMIN_TOKEN_SHA256: only the token's SHA-256 is sent to AWS) and USER_AGENT (the contact sent to
# the upstream services). ALARM_EMAIL subscribes an address to the alarm topic. SAM CLI is
# installed into .venv on first use.
#
# `sam deploy --parameter-overrides` replaces the environment's parameter_overrides instead of
# adding to them, so this script merges them: the environment's first, then the ones given here.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ARCH=${ARCH:-arm64}
ENV=${ENV:-}
case "$ENV" in
  staging|prod) ;;
  *) echo "set ENV=staging or ENV=prod (the environments of infra/samconfig.toml)" >&2; exit 2 ;;
esac
if [ -z "${ADMIN_TOKEN_SHA256:-}" ]; then
  if [ -z "${ADMIN_TOKEN:-}" ]; then
    echo "set ADMIN_TOKEN (e.g. ADMIN_TOKEN=\$(openssl rand -hex 32)) or ADMIN_TOKEN_SHA256" >&2
    exit 2
  fi
  ADMIN_TOKEN_SHA256=$(printf %s "$ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)
fi
if [ -z "${USER_AGENT:-}" ]; then
  echo "set USER_AGENT to the operator's contact, e.g. USER_AGENT='HarmonicAPI/1.0 (ops@example.com)'" >&2
  exit 2
fi
if [ -z "${KEY_CHECK_SECRET:-}${KEY_CHECK_SECRET_ARN:-}" ]; then
  echo "set KEY_CHECK_SECRET (the same value as the stack's first deploy, e.g. \$(openssl rand -base64 32) the first time) or KEY_CHECK_SECRET_ARN (a Secrets Manager secret)" >&2
  exit 2
fi
# --check-only: the arguments are complete (make deploy checks before the long build).
[ "${1:-}" = "--check-only" ] && exit 0
if ! command -v sam >/dev/null 2>&1; then
  echo "[deploy] installing AWS SAM CLI into .venv (pip, aws-sam-cli==1.170.0; about a minute)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0
fi
mapfile -t overrides < <(.venv/bin/python - "$ENV" <<'PY'
import shlex, sys, tomllib
config = tomllib.load(open("infra/samconfig.toml", "rb"))
for item in shlex.split(config[sys.argv[1]]["deploy"]["parameters"].get("parameter_overrides", "")):
    print(item)
PY
)
overrides+=("AdminTokenSha256=$ADMIN_TOKEN_SHA256" "Architecture=$ARCH" "UserAgent=$USER_AGENT")
[ -n "${ALARM_EMAIL:-}" ] && overrides+=("AlarmEmail=$ALARM_EMAIL")
echo "[deploy] sam deploy --config-env $ENV (stack $(sed -n "/^\[$ENV.deploy.parameters\]/,/^\[/s/^stack_name = \"\(.*\)\"/\1/p" infra/samconfig.toml))"
# The keys' check secret: a NoEcho parameter, or a Secrets Manager secret the stack resolves.
if [ -n "${KEY_CHECK_SECRET:-}" ]; then overrides+=("KeyCheckSecret=$KEY_CHECK_SECRET"); fi
if [ -n "${KEY_CHECK_SECRET_ARN:-}" ]; then overrides+=("KeyCheckSecretArn=$KEY_CHECK_SECRET_ARN"); fi
cd infra
sam deploy --config-env "$ENV" --parameter-overrides "${overrides[@]}"
