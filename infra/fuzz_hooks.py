"""Schemathesis hooks for scripts/fuzz.sh.

Under `cargo lambda watch`, a request body that is not valid UTF-8 never reaches the functions:
the emulator's API Gateway conversion answers 500 itself. Such bodies are kept out of the fuzz
run; the in-process hostile-input suite (tests/tests/integration/hostile_input.rs) sends them
to the handlers directly, which answer 400.
"""
import schemathesis


def _is_utf8(body) -> bool:
    try:
        if isinstance(body, (bytes, bytearray)):
            bytes(body).decode("utf-8")
        elif isinstance(body, str):
            body.encode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return False
    return True


@schemathesis.hook
def filter_body(ctx, body):
    return _is_utf8(body)


@schemathesis.check
def no_undocumented_server_error(ctx, response, case):
    """Like `not_a_server_error`, except for the one documented 5xx: `POST /api/v1/data`
    answers 502 (not charged) when every requested source failed, e.g. a weather query for a
    random string that is no place. Any other 5xx, or a 502 without its failedSources, fails."""
    if response.status_code < 500:
        return None
    if response.status_code == 502 and case.method.upper() == "POST" and case.path == "/api/v1/data":
        body = response.json()
        if isinstance(body, dict) and body.get("failedSources"):
            return None
    raise AssertionError(f"Server error {response.status_code}: {response.text[:200]}")


@schemathesis.hook
def map_query(ctx, query):
    """`cursor` is opaque: only a value this API issued (`nextCursor`, `X-Next-Cursor`) is
    valid, which no schema can describe, so a generated one is refused with 400 whatever the
    generation mode. It is left out of generated requests; the integration suite
    (usage_api, export) checks that foreign cursors are refused."""
    if isinstance(query, dict):
        query.pop("cursor", None)
    return query


# Constraints no schema can state, applied to generated requests (each is tested directly in
# the integration suite: authz_matrix, keys_api, idempotency):
# - the administrator must name the user (`userId`) on the per-user listings; a key holder
#   must not (it is implied by the key);
# - `expiresAt` must lie in the future at the time of the request, and within 3650 days;
# - an `Idempotency-Key` is one logical request: the document's example key reused with other
#   bodies is rightly a 422, so each generated request gets a key of its own.
import os
import uuid
from datetime import datetime, timedelta, timezone

_ADMIN_RUN = os.environ.get("FUZZ_AS") == "admin"


@schemathesis.hook
def map_case(ctx, case):
    return _apply_unstatable_constraints(case)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """The same constraints for the cases that are not generated (the examples and stateful
    phases send the document's own examples, e.g. its one example Idempotency-Key and cursor)."""
    _apply_unstatable_constraints(case)
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)


def _apply_unstatable_constraints(case):
    path, method = case.path, case.method.upper()
    if _ADMIN_RUN and method == "GET" and path in ("/api/v1/keys", "/api/v1/usage", "/api/v1/keys/audit"):
        query = case.query if isinstance(case.query, dict) else {}
        action = query.get("action")
        if "userId" not in query and action not in ("all", "stats", "export"):
            query["userId"] = "e2e-fuzzer"
            case.query = query
    if method == "POST" and path == "/api/v1/keys" and isinstance(case.body, dict):
        expires = case.body.get("expiresAt")
        if isinstance(expires, str):
            try:
                when = datetime.fromisoformat(expires.replace("Z", "+00:00"))
                now = datetime.now(timezone.utc)
                # In the future, and at most 3650 days ahead (both refused with 400 otherwise).
                if when.tzinfo is not None and not now < when <= now + timedelta(days=3650):
                    case.body.pop("expiresAt")
            except ValueError:
                pass
    if method == "POST" and path == "/api/v1/data" and isinstance(case.headers, dict):
        if "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = f'"{uuid.uuid4()}"'
    return case
