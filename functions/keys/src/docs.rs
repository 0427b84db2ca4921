//! `OPTIONS` on the keys routes: what a developer needs to call them (the answer's `Allow` is
//! the matched route's, from the route table).
use serde_json::{json, Value};

pub fn documentation() -> Value {
    json!({
        "service": "HARMONIC API — keys",
        "authentication": {
            "admin": "Authorization: Bearer <admin token>",
            "keyHolder": "X-API-Key: hm_<32 letters and digits>",
            "signUp": "POST /api/v1/keys without credentials creates a new Free user and its first key (when sign-up is open)"
        },
        "keyFormat": "hm_ + 10-character key id + 18-character secret + 4-character check group (keyed with a server secret), all [A-Za-z0-9]; the key id is public and used in paths, never the key itself",
        "endpoints": [
            {"method": "POST", "path": "/api/v1/keys", "body": {"userId": "string (required)", "name": "string?", "tier": "free|pro|enterprise (admin only)", "expiresAt": "RFC 3339 instant?"}, "returns": "201 with the key, shown once"},
            {"method": "GET", "path": "/api/v1/keys", "query": {"userId": "admin only"}, "returns": "the user's keys (never the key itself)"},
            {"method": "GET", "path": "/api/v1/keys/stats", "returns": "totals: generated, active, revoked, expired (admin)"},
            {"method": "GET", "path": "/api/v1/keys/audit", "query": {"userId": "admin only", "limit": "1..100, default 50", "cursor": "nextCursor of the previous page"}, "returns": "the user's key and account actions, newest first: who, what, which key, when"},
            {"method": "GET", "path": "/api/v1/keys/{id}", "returns": "one key's details"},
            {"method": "DELETE", "path": "/api/v1/keys/{id}", "returns": "revocation, effective on the next request (idempotent)"},
            {"method": "PUT", "path": "/api/v1/users/{userId}/tier", "body": {"tier": "free|pro|enterprise"}, "returns": "admin: the user's new tier and its live keys"},
            {"method": "POST", "path": "/api/v1/keys/{id}/rotate", "body": {"revokeOld": "boolean, default true", "gracePeriodSeconds": "0..86400, default 0"}, "returns": "201 with the new key, shown once"}
        ],
        "errors": "JSON {\"success\": false, \"error\": \"...\"}; another user's key answers 404"
    })
}
