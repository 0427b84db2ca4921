#!/usr/bin/env bash
# make deploy: deploys the stack with AWS SAM from the zips of make build.
#   First time: guided (asks for stack name, region, parameters; saves infra/samconfig.toml).
#   Needs AWS credentials in the environment and ADMIN_TOKEN (or ADMIN_TOKEN_SHA256): only the
#   token's SHA-256 is sent to AWS. SAM CLI is installed into .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ARCH=${ARCH:-arm64}
if [ -z "${ADMIN_TOKEN_SHA256:-}" ]; then
  if [ -z "${ADMIN_TOKEN:-}" ]; then
    echo "set ADMIN_TOKEN (e.g. ADMIN_TOKEN=\$(openssl rand -hex 32)) or ADMIN_TOKEN_SHA256" >&2
    exit 2
  fi
  ADMIN_TOKEN_SHA256=$(printf %s "$ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)
fi
if ! command -v sam >/dev/null 2>&1; then
  echo "[deploy] installing AWS SAM CLI into .venv (pip, aws-sam-cli==1.170.0; about a minute)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0
fi
overrides=("AdminTokenSha256=$ADMIN_TOKEN_SHA256" "Architecture=$ARCH")
[ -n "${USER_AGENT:-}" ] && overrides+=("UserAgent=$USER_AGENT")
# The keys' check secret: a NoEcho parameter, or a Secrets Manager secret the stack resolves.
if [ -n "${KEY_CHECK_SECRET:-}" ]; then overrides+=("KeyCheckSecret=$KEY_CHECK_SECRET"); fi
if [ -n "${KEY_CHECK_SECRET_ARN:-}" ]; then overrides+=("KeyCheckSecretArn=$KEY_CHECK_SECRET_ARN"); fi
if [ -z "${KEY_CHECK_SECRET:-}${KEY_CHECK_SECRET_ARN:-}" ] && ! grep -q 'KeyCheckSecret' infra/samconfig.toml 2>/dev/null; then
  echo "set KEY_CHECK_SECRET (e.g. \$(openssl rand -base64 32)) or KEY_CHECK_SECRET_ARN (a Secrets Manager secret)" >&2
  exit 2
fi
cd infra
if grep -q '^region' samconfig.toml 2>/dev/null; then
  sam deploy --parameter-overrides "${overrides[@]}"
else
  echo "[deploy] first deployment: guided"
  sam deploy --guided --parameter-overrides "${overrides[@]}"
fi
