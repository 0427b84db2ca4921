//! Hostile credentials: over-long, mixed-case, truncated, unknown and smuggling keys (`X-API-Key`)
//! and admin tokens (`Authorization`) on every authenticated route.
use super::*;
use harmonic_shared::lambda_http::http::HeaderValue;

pub fn cases(w: &World) -> Vec<Case> {
    use Function::*;
    let mut cases = Vec::new();
    let key = w.key.as_str();
    let id = w.key_id.as_str();
    let good_data = good_data();
    // 5. Credentials: over-long, mixed-case, truncated, unknown and smuggling keys and tokens.
    let rest = &key[3..];
    let mut bad_keys: Vec<(String, String)> = vec![
        ("an empty key".into(), String::new()),
        ("the bare prefix".into(), "hm_".into()),
        ("the HM_ prefix".into(), format!("HM_{rest}")),
        ("the Hm_ prefix".into(), format!("Hm_{rest}")),
        ("the hM_ prefix".into(), format!("hM_{rest}")),
        ("the key in upper case".into(), key.to_uppercase()),
        ("the key with a character more".into(), format!("{key}x")),
        (
            "the key with a character less".into(),
            key[..key.len() - 1].to_owned(),
        ),
        (
            "the key with a tab inside".into(),
            format!("{}\t{}", &key[..10], &key[10..]),
        ),
        ("the key twice".into(), format!("{key},{key}")),
        (
            "a key of 10,000 characters".into(),
            format!("hm_{}", "A".repeat(10_000)),
        ),
        (
            "a key with non-ASCII letters".into(),
            format!("hm_{}é", &rest[..rest.len() - 2]),
        ),
        (
            "a key with an encoded CR LF".into(),
            format!("{key}%0d%0aSet-Cookie: a=b"),
        ),
        (
            "a key with path traversal".into(),
            "hm_..%2F..%2Fetc%2Fpasswd0123456789".into(),
        ),
        (
            "a well-formed key with an unknown id".into(),
            harmonic_shared::apikey::generate(&key_check_secret())
                .expose()
                .to_owned(),
        ),
    ];
    bad_keys.extend(
        EXPRESSIONS
            .iter()
            .map(|e| (format!("the key {e:?}"), e.to_string())),
    );
    let mut bad_tokens: Vec<(String, String)> = vec![
        (
            "a wrong admin token".into(),
            "Bearer wrong-token-wrong-token".into(),
        ),
        (
            "the admin token in lower-case scheme".into(),
            format!("bearer {ADMIN_TOKEN}"),
        ),
        (
            "the admin token without a scheme".into(),
            ADMIN_TOKEN.to_owned(),
        ),
        (
            "the admin token as Basic".into(),
            format!("Basic {ADMIN_TOKEN}"),
        ),
        ("a bare Bearer".into(), "Bearer".into()),
        (
            "the admin token with a suffix".into(),
            format!("Bearer {ADMIN_TOKEN}x"),
        ),
        (
            "the admin token with a tab and more".into(),
            format!("Bearer {ADMIN_TOKEN}\tX-Injected: 1"),
        ),
        (
            "the admin token cut short".into(),
            format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
        ),
        (
            "a non-ASCII token".into(),
            "Bearer tökén-tökén-tökén".into(),
        ),
    ];
    bad_tokens.extend(
        EXPRESSIONS
            .iter()
            .map(|e| (format!("the token {e:?}"), format!("Bearer {e}"))),
    );
    let authenticated: Vec<(&str, Case)> = vec![
        ("lists keys", Case::new("", Keys, "GET", "/api/v1/keys")),
        (
            "reads key statistics",
            Case::new("", Keys, "GET", "/api/v1/keys/stats"),
        ),
        (
            "inspects a key",
            Case::new("", Keys, "GET", &format!("/api/v1/keys/{id}")),
        ),
        (
            "reads current usage",
            Case::new("", Usage, "GET", "/api/v1/usage").query("action", "current"),
        ),
        (
            "asks for data",
            Case::new("", Data, "POST", "/api/v1/data").json(&good_data),
        ),
        (
            "clears the cache",
            Case::new("", Data, "DELETE", "/api/v1/data").query("action", "cache"),
        ),
    ];
    for (does, template) in &authenticated {
        for (what, value) in &bad_keys {
            let mut case = template.clone().header("x-api-key", value).expect(401);
            case.name = format!("a caller with {what} {does}");
            cases.push(case);
        }
        for (what, value) in &bad_tokens {
            let mut case = template.clone().header("authorization", value).expect(401);
            case.name = format!("a caller with {what} {does}");
            cases.push(case);
        }
    }

    cases
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn every_hostile_key_or_token_is_a_401_json_error_that_changes_nothing() {
    let w = world().await;
    check(&w, cases(&w)).await;
}

#[test]
fn header_values_with_cr_or_lf_cannot_even_be_built() {
    // A request carrying a raw CR or LF in a header value cannot exist here: the http crate
    // refuses to build one (and API Gateway refuses to deliver one), so the cases above send
    // the closest things that can be built: tabs, encoded CR LF and non-ASCII bytes.
    for smuggled in [
        "hm_x\r\nSet-Cookie: a=b",
        "Bearer token\nX-Injected: 1",
        "value\rmore",
        "nul\0byte",
    ] {
        assert!(
            HeaderValue::from_str(smuggled).is_err(),
            "{smuggled:?} was accepted as a header value"
        );
    }
    assert!(HeaderValue::from_bytes(b"tab\tand obs-text \xff").is_ok());
}
