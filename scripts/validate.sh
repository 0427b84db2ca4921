#!/usr/bin/env bash
# Static validation of the deployment description; offline apart from the
# first pip install. Run from anywhere: bash scripts/validate.sh
#
#   cfn-lint   infra/template.yaml with the serverless rules
#              (cfn-lint-serverless): zero errors AND zero warnings (cfn-lint's
#              default exit code is non-zero on warnings too; there is no
#              .cfnlintrc: a rule is only ever skipped on one resource, in its
#              Metadata, with the reason next to it)
#   checkov    the IaC scanner over the template: every check passes or is
#              skipped on its resource (Metadata.checkov.skip) with a comment
#   openapi    infra/openapi.yaml is a valid OpenAPI 3.1 document
#   examples   every example in openapi.yaml matches its schema
#   openapi-json infra/openapi.json (served at GET /api/v1/openapi.json) is openapi.yaml converted
#   routes     template HttpApi routes == openapi.yaml operations == the
#              Cargo.toml [workspace.metadata.lambda.watch.router] paths,
#              with the same function for each
#   refs       every Ref/GetAtt/Sub target in the template exists
#
# Tools live in the project venv .venv (created with `python3 -m venv .venv`
# if missing; Python >= 3.11 for tomllib). Pinned versions are installed only
# when the installed ones differ.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# The pins live in tools/requirements.txt (one place for every project-local Python tool).
pinned() { sed -n "s/^$1==\([^ ]*\).*/\1/p" tools/requirements.txt; }
CFN_LINT_VERSION=$(pinned cfn-lint)
CFN_LINT_SERVERLESS_VERSION=$(pinned cfn-lint-serverless)
CHECKOV_VERSION=$(pinned checkov)
OPENAPI_SPEC_VALIDATOR_VERSION=$(pinned openapi-spec-validator)  # brings jsonschema, referencing, PyYAML
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

if [[ ! -x "$PY" ]]; then
  echo "validate: creating venv .venv with $(python3 --version 2>&1)"
  python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "validate: .venv has $("$PY" --version 2>&1); Python >= 3.11 is needed (tomllib). Remove .venv and rerun." >&2
  exit 1
fi

installed_version() {  # prints the installed version of a distribution, or nothing
  "$PY" - "$1" <<'EOF' 2>/dev/null || true
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
EOF
}

wanted=()
[[ "$(installed_version cfn-lint)" == "$CFN_LINT_VERSION" ]] || wanted+=("cfn-lint==$CFN_LINT_VERSION")
[[ "$(installed_version cfn-lint-serverless)" == "$CFN_LINT_SERVERLESS_VERSION" ]] \
  || wanted+=("cfn-lint-serverless==$CFN_LINT_SERVERLESS_VERSION")
[[ "$(installed_version checkov)" == "$CHECKOV_VERSION" ]] || wanted+=("checkov==$CHECKOV_VERSION")
[[ "$(installed_version openapi-spec-validator)" == "$OPENAPI_SPEC_VALIDATOR_VERSION" ]] \
  || wanted+=("openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION")
if ((${#wanted[@]})); then
  echo "validate: installing into .venv: ${wanted[*]} (and their dependencies)"
  "$PY" -m pip install --quiet "${wanted[@]}"
fi

failed=0
# run NAME OK_MESSAGE COMMAND...: one "ok" line on success; the output on failure.
run() {
  local name="$1" ok="$2" out start end rc=0
  shift 2
  start=$(date +%s.%N)
  out="$("$@" 2>&1)" || rc=$?
  end=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  if ((rc == 0)); then
    if [[ -n "$ok" ]]; then
      echo "ok   $name: $ok (${secs}s)"
    else  # the check printed its own "ok" line(s)
      echo "$out" | sed "s/\$/ (${secs}s)/"
    fi
  else
    echo "FAIL $name (exit $rc):"
    echo "$out" | sed 's/^/  /'
    failed=1
  fi
}

run cfn-lint "infra/template.yaml has 0 errors and 0 warnings (cfn-lint $CFN_LINT_VERSION + cfn-lint-serverless $CFN_LINT_SERVERLESS_VERSION)" \
  "$VENV/bin/cfn-lint" --append-rules cfn_lint_serverless.rules -- infra/template.yaml
# checkov: --skip-download keeps it offline (it would otherwise try its vendor's API and print a
# traceback); the summary line names how many checks passed and how many were skipped with a reason.
checkov_summary() {
  local out
  out="$("$VENV/bin/checkov" -f infra/template.yaml --framework cloudformation --compact --quiet --skip-download 2>&1)" \
    || { echo "$out"; return 1; }
  grep -q "Failed checks: 0" <<<"$out" || { echo "$out"; return 1; }
  echo "ok   checkov: infra/template.yaml $(grep -o 'Passed checks: [0-9]*, Failed checks: 0, Skipped checks: [0-9]*' <<<"$out") (checkov $CHECKOV_VERSION; every skip has its reason in the template)"
}
run checkov "" checkov_summary
run openapi "infra/openapi.yaml is valid OpenAPI 3.1 (openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION)" \
  "$VENV/bin/openapi-spec-validator" --schema 3.1 infra/openapi.yaml
run examples "" "$PY" infra/check_examples.py infra/openapi.yaml
run template "" "$PY" infra/check_template.py --repo "$ROOT"
run openapi-json "" "$PY" infra/openapi_json.py --check

exit "$failed"
