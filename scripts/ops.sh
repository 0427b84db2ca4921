#!/usr/bin/env bash
# make logs / make delete for a deployed environment (ENV=staging|prod, infra/samconfig.toml).
#   logs    follows the three functions' logs (sam logs --tail; FN=keys|usage|data for one)
#   delete  deletes the stack; the DynamoDB table is RETAINED (DeletionPolicy: Retain and
#           deletion protection): delete it by hand only if its data is to go.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?usage: ops.sh logs|delete}
ENV=${ENV:-}
case "$ENV" in
  staging|prod) ;;
  *) echo "set ENV=staging or ENV=prod (the environments of infra/samconfig.toml)" >&2; exit 2 ;;
esac
if ! [ -x .venv/bin/sam ]; then
  echo "[$action] installing AWS SAM CLI into .venv (pip, aws-sam-cli==1.170.0; about a minute)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0
fi
stack=$(sed -n "/^\[$ENV.deploy.parameters\]/,/^\[/s/^stack_name = \"\(.*\)\"/\1/p" infra/samconfig.toml)
cd infra
case "$action" in
  logs)
    names=()
    if [ -n "${FN:-}" ]; then
      case "$FN" in keys) names=(--name KeysFunction) ;; usage) names=(--name UsageFunction) ;; data) names=(--name DataFunction) ;;
        *) echo "FN must be keys, usage or data" >&2; exit 2 ;; esac
    fi
    echo "[logs] sam logs --stack-name $stack --tail ${names[*]} (Ctrl-C to stop)"
    ../.venv/bin/sam logs --stack-name "$stack" --tail "${names[@]}"
    ;;
  delete)
    echo "[delete] deleting stack $stack; its DynamoDB table (output TableName) is retained with its data"
    ../.venv/bin/sam delete --config-env "$ENV" --stack-name "$stack"
    ;;
  *) echo "usage: ops.sh logs|delete" >&2; exit 2 ;;
esac
