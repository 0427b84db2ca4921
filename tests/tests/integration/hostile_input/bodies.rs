//! Malformed, truncated and oversized bodies (not JSON, wrong JSON kinds, invalid UTF-8, NUL
//! bytes, lone surrogates, 1e400, duplicate fields, deep nesting, 1 MB) on every route that reads
//! a body, with credentials that pass.
use super::*;

pub fn cases(w: &World) -> Vec<Case> {
    use Function::*;
    let mut cases = Vec::new();
    let key = w.key.as_str();
    let rotate_path = w.rotate_path();
    // 1. Malformed bodies on every route that reads one, with credentials that pass.
    let body_routes: Vec<(&str, Case)> = vec![
        (
            "admin creates a key",
            Case::new("", Keys, "POST", "/api/v1/keys").admin(),
        ),
        (
            "holder creates a key",
            Case::new("", Keys, "POST", "/api/v1/keys").header("x-api-key", key),
        ),
        (
            "anonymous sign-up",
            Case::new("", Keys, "POST", "/api/v1/keys"),
        ),
        (
            "holder rotates its key",
            Case::new("", Keys, "POST", &rotate_path).header("x-api-key", key),
        ),
        (
            "holder asks for data",
            Case::new("", Data, "POST", "/api/v1/data").header("x-api-key", key),
        ),
        (
            "demo caller asks for data",
            Case::new("", Data, "POST", "/api/v1/data"),
        ),
    ];
    let mega = 1024 * 1024;
    let nested = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let malformed: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not JSON", b"not json".to_vec(), 400),
        ("a truncated object", br#"{"userId": "al"#.to_vec(), 400),
        ("a body cut after a colon", br#"{"query":"#.to_vec(), 400),
        ("a lone opening brace", b"{".to_vec(), 400),
        ("an object followed by garbage", b"{} trailing".to_vec(), 400),
        ("a JSON array", b"[1, 2]".to_vec(), 400),
        ("a JSON string", br#""userId""#.to_vec(), 400),
        ("JSON null", b"null".to_vec(), 400),
        ("a JSON number", b"12".to_vec(), 400),
        ("invalid UTF-8", vec![0xff, 0xfe, b'{', 0xc3], 400),
        ("a raw NUL byte", b"{\"userId\":\0}".to_vec(), 400),
        (
            "a lone leading surrogate escape in every field",
            br#"{"userId": "\ud800", "query": "\ud800", "revokeOld": "\ud800"}"#.to_vec(),
            400,
        ),
        (
            "a lone trailing surrogate escape",
            br#"{"userId": "\udc00", "query": "\udc00"}"#.to_vec(),
            400,
        ),
        (
            "1e400 in every numeric field",
            br#"{"userId": 1e400, "query": 1e400, "maxResults": 1e400, "gracePeriodSeconds": 1e400}"#.to_vec(),
            400,
        ),
        (
            "duplicate fields whose last value has the wrong type",
            br#"{"userId": "alice", "query": "physics", "revokeOld": true, "userId": 5, "query": 5, "revokeOld": 5}"#.to_vec(),
            400,
        ),
        ("500 levels of nested arrays", nested.into_bytes(), 400),
        (
            "a 1 MB JSON string field",
            json!({"userId": "a".repeat(mega), "query": "a".repeat(mega)})
                .to_string()
                .into_bytes(),
            413,
        ),
        ("1 MB of garbage", vec![b'x'; mega], 413),
    ];
    for (route, template) in &body_routes {
        for (what, bytes, status) in &malformed {
            let mut case = template.clone().body(bytes.clone()).expect(*status);
            case.name = format!("{route} with {what}");
            cases.push(case);
        }
        if !route.contains("rotates") {
            // Rotation takes an empty body as "all defaults"; the others require one.
            let mut case = template.clone().body(b"   ".to_vec());
            case.name = format!("{route} with a blank body");
            cases.push(case);
        }
    }

    cases
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn every_malformed_or_oversized_body_is_a_4xx_json_error_that_changes_nothing() {
    let w = world().await;
    check(&w, cases(&w)).await;
}
