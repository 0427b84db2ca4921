//! Hostile paths: traversal, encoded separators and NULs, CR LF, expression-like and unknown
//! key ids, mis-cased ids, unknown routes.
use super::*;

pub fn cases(w: &World) -> Vec<Case> {
    use Function::*;
    let mut cases = Vec::new();
    let id = w.key_id.as_str();
    // 4. Paths: traversal, encoded separators and NULs, expression-like ids, unknown ids.
    let unknown_id = harmonic_shared::apikey::generate(&key_check_secret())
        .key_id()
        .to_string();
    let mut segments: Vec<String> = vec![
        "..%2F..%2Fetc%2Fpasswd".into(),
        "..".into(),
        "%2e%2e".into(),
        "%00".into(),
        format!("{}%00", &id[..9]),
        format!("{id}%00"),
        format!("{id}%2F"),
        format!("{id}%0D%0ASet-Cookie:%20a=b"),
        id.to_uppercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
            + "X",
        "a".repeat(2_000),
        unknown_id.clone(),
    ];
    segments.extend(
        EXPRESSIONS
            .iter()
            .map(|e| urlencoding::encode(e).into_owned()),
    );
    for segment in &segments {
        let shown: String = segment.chars().take(40).collect();
        for (method, suffix) in [("GET", ""), ("DELETE", ""), ("POST", "/rotate")] {
            cases.push(
                Case::new(
                    format!("admin {method}s key path segment {shown:?}{suffix}"),
                    Keys,
                    method,
                    &format!("/api/v1/keys/{segment}{suffix}"),
                )
                .admin()
                .expect(404),
            );
        }
    }
    for (function, path) in [
        (Keys, "/api/v1/keys/../keys/stats"),
        (Keys, "/api/v1/keys/../../etc/passwd"),
        (Keys, "/api/v1/keys/./stats/.."),
        (Keys, "/api/v1/keys/stats%2F.."),
        (Keys, "/api/v1/keys/x/y/z"),
        (Keys, "/api/v1/"),
        (Keys, "/etc/passwd"),
        (Usage, "/api/v1/usage/../keys"),
        (Usage, "/api/v1/usage/%2e%2e/keys"),
        (Usage, "/api/v1/usage/extra"),
        (Data, "/api/v1/data/..%2F..%2Fetc%2Fpasswd"),
        (Data, "/api/v1/data/%00"),
        (Data, "/api/v1/dataX"),
    ] {
        cases.push(
            Case::new(format!("admin GETs {path}"), function, "GET", path)
                .admin()
                .expect(404),
        );
    }
    cases.push(
        Case::new(
            format!("admin GETs {id} with the key's own id mis-cased"),
            Keys,
            "GET",
            &format!("/api/v1/keys/{}", swap_case(id)),
        )
        .admin()
        .expect(404),
    );

    cases
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn every_hostile_path_is_a_404_json_error_that_changes_nothing() {
    let w = world().await;
    check(&w, cases(&w)).await;
}
