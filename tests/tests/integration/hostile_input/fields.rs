//! Bad fields, one at a time: wrong types, nulls, huge numbers, unicode, control characters and
//! expression-like strings in every field of the key, rotation and data bodies, and tier
//! escalations.
use super::*;

pub fn cases(w: &World) -> Vec<Case> {
    use Function::*;
    let mut cases = Vec::new();
    let key = w.key.as_str();
    let rotate_path = w.rotate_path();
    let good_data = good_data();
    let good_create = good_create();
    // 2. Wrong types, nulls, huge numbers, unicode and expression-like strings, field by field.
    let huge = |text: &str| serde_json::from_str::<Value>(text).expect("a JSON number");
    let create_fields: Vec<(&str, Value)> = vec![
        ("userId", json!(5)),
        ("userId", json!(true)),
        ("userId", json!([])),
        ("userId", json!({})),
        ("userId", Value::Null),
        ("userId", json!("")),
        ("userId", json!("a b")),
        ("userId", json!("alice\u{0}")),
        ("userId", json!("ali\u{202e}ce")),
        ("userId", json!("😀")),
        ("userId", json!("ｕｓｅｒ")),
        ("userId", json!("alice\r\nX-Injected: 1")),
        ("userId", json!("../alice")),
        ("userId", json!("a".repeat(129))),
        ("userId", json!("a".repeat(60_000))),
        ("userId", huge("18446744073709551616")),
        ("tier", json!(5)),
        ("tier", json!("gold")),
        ("tier", json!("free ")),
        ("tier", json!(["pro"])),
        ("name", json!(5)),
        ("name", json!("")),
        ("name", json!("   ")),
        ("name", json!("nul\u{0}byte")),
        ("name", json!("line\nbreak")),
        ("name", json!("bell\u{7}")),
        ("name", json!("n".repeat(101))),
        ("expiresAt", json!(5)),
        ("expiresAt", json!("tomorrow")),
        ("expiresAt", json!("2020-01-01T00:00:00Z")),
        ("expiresAt", json!("9999-12-31T23:59:59Z")),
        ("expiresAt", json!("+275760-09-13T00:00:00Z")),
        ("expiresAt", json!("2027-01-01T00:00:00\u{0}Z")),
        ("expiresAt", huge("-1")),
    ];
    for (field, value) in &create_fields {
        let body = with_field(&good_create, field, value.clone());
        cases.push(
            Case::new(
                format!("admin creates a key with {field} = {}", describe(value)),
                Keys,
                "POST",
                "/api/v1/keys",
            )
            .admin()
            .json(&body),
        );
    }
    for tier in ["pro", "enterprise"] {
        cases.push(
            Case::new(
                format!("holder raises its own tier to {tier}"),
                Keys,
                "POST",
                "/api/v1/keys",
            )
            .header("x-api-key", key)
            .json(&json!({"userId": USER, "tier": tier}))
            .expect(403),
        );
    }
    cases.push(
        Case::new(
            "anonymous sign-up as a Pro user",
            Keys,
            "POST",
            "/api/v1/keys",
        )
        .json(&json!({"userId": "newcomer", "tier": "pro"}))
        .expect(403),
    );
    cases.push(
        Case::new(
            "anonymous sign-up of an existing user",
            Keys,
            "POST",
            "/api/v1/keys",
        )
        .json(&good_create)
        .expect(409),
    );
    let rotate_fields: Vec<(&str, Value)> = vec![
        ("revokeOld", json!("yes")),
        ("revokeOld", json!(1)),
        ("revokeOld", json!([true])),
        ("gracePeriodSeconds", json!(-1)),
        ("gracePeriodSeconds", json!(86_401)),
        ("gracePeriodSeconds", huge("18446744073709551616")),
        ("gracePeriodSeconds", huge("-9223372036854775809")),
        ("gracePeriodSeconds", json!(1.5)),
        ("gracePeriodSeconds", json!("3600")),
        ("gracePeriodSeconds", json!(true)),
    ];
    for (field, value) in &rotate_fields {
        cases.push(
            Case::new(
                format!("holder rotates with {field} = {}", describe(value)),
                Keys,
                "POST",
                &rotate_path,
            )
            .header("x-api-key", key)
            .json(&with_field(&json!({}), field, value.clone())),
        );
    }
    let data_fields: Vec<(&str, Value)> = vec![
        ("query", json!(5)),
        ("query", Value::Null),
        ("query", json!([])),
        ("query", json!({})),
        ("query", json!("")),
        ("query", json!(" \t\n ")),
        ("query", json!("q".repeat(501))),
        ("query", json!("\u{0}")),
        ("query", json!("\u{0}\u{1}\u{1b}[31m")),
        ("sources", json!(5)),
        ("sources", json!({})),
        ("sources", json!([])),
        ("sources", json!([5])),
        ("sources", json!([null])),
        ("sources", json!("nope")),
        ("sources", json!("curiosity\u{0}")),
        ("sources", json!("😀")),
        ("sources", json!("wiki\r\nX-Injected: 1")),
        ("mode", json!(5)),
        ("mode", json!("fast")),
        ("mode", Value::Null),
        ("maxResults", json!(0)),
        ("maxResults", json!(21)),
        ("maxResults", json!(-1)),
        ("maxResults", huge("18446744073709551616")),
        ("maxResults", json!(5.5)),
        ("maxResults", json!("5")),
        ("maxResults", Value::Null),
    ];
    for (field, value) in &data_fields {
        let body = with_field(&good_data, field, value.clone());
        for (who, holder) in [("holder", true), ("demo caller", false)] {
            let mut case = Case::new(
                format!("{who} asks for data with {field} = {}", describe(value)),
                Data,
                "POST",
                "/api/v1/data",
            )
            .json(&body);
            if holder {
                case = case.header("x-api-key", key);
            }
            cases.push(case);
        }
    }
    for expression in EXPRESSIONS {
        let text = json!(expression);
        for field in ["userId", "tier", "expiresAt"] {
            cases.push(
                Case::new(
                    format!("admin creates a key with {field} = {expression:?}"),
                    Keys,
                    "POST",
                    "/api/v1/keys",
                )
                .admin()
                .json(&with_field(&good_create, field, text.clone())),
            );
        }
        for field in ["revokeOld", "gracePeriodSeconds"] {
            cases.push(
                Case::new(
                    format!("holder rotates with {field} = {expression:?}"),
                    Keys,
                    "POST",
                    &rotate_path,
                )
                .header("x-api-key", key)
                .json(&with_field(&json!({}), field, text.clone())),
            );
        }
        for field in ["sources", "mode", "maxResults"] {
            cases.push(
                Case::new(
                    format!("holder asks for data with {field} = {expression:?}"),
                    Data,
                    "POST",
                    "/api/v1/data",
                )
                .header("x-api-key", key)
                .json(&with_field(&good_data, field, text.clone())),
            );
        }
        cases.push(
            Case::new(
                format!("holder asks for data with sources = [{expression:?}]"),
                Data,
                "POST",
                "/api/v1/data",
            )
            .header("x-api-key", key)
            .json(&with_field(&good_data, "sources", json!([expression]))),
        );
    }

    cases
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn every_bad_field_of_a_body_is_a_4xx_json_error_that_changes_nothing() {
    let w = world().await;
    check(&w, cases(&w)).await;
}
