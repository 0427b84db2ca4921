//! Wrong methods on every route: 405 with `Allow`.
use super::*;

pub fn cases(w: &World) -> Vec<Case> {
    use Function::*;
    let mut cases = Vec::new();
    let id = w.key_id.as_str();
    let rotate_path = w.rotate_path();
    let good_create = good_create();
    // 6. Wrong methods: 405 with Allow.
    for (function, path, methods) in [
        (
            Keys,
            "/api/v1/keys".to_owned(),
            &["PUT", "PATCH", "DELETE", "TRACE"][..],
        ),
        (
            Keys,
            "/api/v1/keys/stats".to_owned(),
            &["POST", "DELETE", "PUT"][..],
        ),
        (
            Keys,
            format!("/api/v1/keys/{id}"),
            &["POST", "PUT", "PATCH"][..],
        ),
        (Keys, rotate_path.clone(), &["GET", "DELETE", "PUT"][..]),
        (
            Usage,
            "/api/v1/usage".to_owned(),
            &["POST", "PUT", "PATCH", "HEAD"][..],
        ),
        (
            Data,
            "/api/v1/data".to_owned(),
            &["PUT", "PATCH", "HEAD", "FOO"][..],
        ),
    ] {
        for method in methods {
            cases.push(
                Case::new(
                    format!("admin sends {method} {path}"),
                    function,
                    method,
                    &path,
                )
                .admin()
                .json(&good_create)
                .expect(405),
            );
        }
    }
    cases
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn every_wrong_method_is_a_405_json_error_that_changes_nothing() {
    let w = world().await;
    check(&w, cases(&w)).await;
}
