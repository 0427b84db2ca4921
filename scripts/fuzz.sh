#!/usr/bin/env bash
# Schema fuzzing: schemathesis generates requests from infra/openapi.yaml (valid and invalid)
# and checks every response against the document: no 5xx, documented status codes, content
# types, headers and body schemas. Run twice against a running stack: as the admin and as a
# key holder, with the negative- and positive-data acceptance checks on. Called by scripts/e2e.sh with API_URL, E2E_ADMIN_TOKEN and FUZZ_API_KEY set.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
: "${API_URL:?}" "${E2E_ADMIN_TOKEN:?}" "${FUZZ_API_KEY:?}"

# negative_data_rejection: input the document calls invalid must be refused (4xx);
# positive_data_acceptance: input it calls valid must not be refused with 400/422.
checks=no_undocumented_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance
# Fixed seed and a bounded number of cases per operation: the run is reproducible and bounded.
# The generation codec is UTF-8: bodies that are not UTF-8 never reach the functions under
# cargo lambda watch (its API Gateway emulation answers 500 itself before invoking anything);
# the in-process hostile-input suite covers such bodies against the handlers.
export SCHEMATHESIS_HOOKS=infra.fuzz_hooks
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# The coverage phase is skipped: schemathesis 4.32.5 crashes inside it on this document
# (SystemError: AST constructor recursion depth mismatch, in its own schema walker).
common=(--phases examples,fuzzing,stateful --checks "$checks" --max-examples "${FUZZ_MAX_EXAMPLES:-25}" --seed 20261129
  --generation-codec utf-8 --request-timeout 20 --workers 2 --no-color)

echo "[fuzz] schemathesis as the admin"
FUZZ_AS=admin st --config-file schemathesis.toml run infra/openapi.yaml --url "$API_URL" -H "Authorization: Bearer $E2E_ADMIN_TOKEN" "${common[@]}" >.local/fuzz-admin.log 2>&1 \
  || { tail -80 .local/fuzz-admin.log | cut -c1-300; exit 1; }
tail -4 .local/fuzz-admin.log
echo "[fuzz] schemathesis as a key holder"
st --config-file schemathesis.toml run infra/openapi.yaml --url "$API_URL" -H "X-API-Key: $FUZZ_API_KEY" "${common[@]}" >.local/fuzz-holder.log 2>&1 \
  || { tail -80 .local/fuzz-holder.log | cut -c1-300; exit 1; }
tail -4 .local/fuzz-holder.log
