//! Hostile query parameters: expression-like strings, injection attempts, bad numbers and
//! forged cursors in every parameter of the usage, keys and data routes, and missing user ids.
use super::*;

pub fn cases(w: &World) -> Vec<Case> {
    use Function::*;
    let mut cases = Vec::new();
    let key = w.key.as_str();
    // 3. Query parameters: expression-like strings, injection attempts, bad numbers, cursors.
    let mut bad_texts: Vec<String> = EXPRESSIONS.iter().map(|s| s.to_string()).collect();
    bad_texts.extend(
        [
            "",
            "current\r\nX-Injected: 1",
            "../keys",
            "%00",
            "\u{0}",
            "😀",
            "\u{202e}tnerruc",
        ]
        .map(str::to_owned),
    );
    bad_texts.push("a".repeat(10_000));
    for text in &bad_texts {
        let shown = if text.len() > 40 {
            format!("{} chars", text.len())
        } else {
            format!("{text:?}")
        };
        cases.push(
            Case::new(
                format!("usage with action = {shown}"),
                Usage,
                "GET",
                "/api/v1/usage",
            )
            .admin()
            .query("action", text)
            .query("userId", USER),
        );
        cases.push(
            Case::new(
                format!("data with action = {shown}"),
                Data,
                "GET",
                "/api/v1/data",
            )
            .query("action", text),
        );
        cases.push(
            Case::new(
                format!("cache clearing with action = {shown}"),
                Data,
                "DELETE",
                "/api/v1/data",
            )
            .admin()
            .query("action", text),
        );
        cases.push(
            Case::new(
                format!("admin lists the keys of userId = {shown}"),
                Keys,
                "GET",
                "/api/v1/keys",
            )
            .admin()
            .query("userId", text),
        );
        cases.push(
            Case::new(
                format!("admin reads the usage of userId = {shown}"),
                Usage,
                "GET",
                "/api/v1/usage",
            )
            .admin()
            .query("action", "current")
            .query("userId", text),
        );
        cases.push(
            Case::new(
                format!("holder reads the usage of userId = {shown}"),
                Usage,
                "GET",
                "/api/v1/usage",
            )
            .header("x-api-key", key)
            .query("action", "history")
            .query("userId", text),
        );
        cases.push(
            Case::new(
                format!("admin resets the usage of userId = {shown}"),
                Usage,
                "DELETE",
                "/api/v1/usage",
            )
            .admin()
            .query("userId", text),
        );
        for (action, parameter) in [
            ("history", "cursor"),
            ("history", "limit"),
            ("analytics", "days"),
            ("sources", "days"),
            ("endpoints", "days"),
            ("all", "cursor"),
            ("all", "limit"),
        ] {
            let mut case = Case::new(
                format!("usage {action} with {parameter} = {shown}"),
                Usage,
                "GET",
                "/api/v1/usage",
            )
            .query("action", action)
            .query(parameter, text);
            case = if action == "all" {
                case.admin()
            } else {
                case.header("x-api-key", key)
            };
            cases.push(case);
        }
    }
    for (parameter, value) in [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "-1"),
        ("limit", "1e400"),
        ("limit", "18446744073709551616"),
        ("limit", "5.5"),
        ("limit", "0x10"),
        ("days", "0"),
        ("days", "91"),
        ("days", "-30"),
        ("days", "9223372036854775808"),
    ] {
        let action = if parameter == "days" {
            "analytics"
        } else {
            "history"
        };
        cases.push(
            Case::new(
                format!("usage {action} with {parameter} = {value}"),
                Usage,
                "GET",
                "/api/v1/usage",
            )
            .header("x-api-key", key)
            .query("action", action)
            .query(parameter, value),
        );
    }
    for (what, cursor) in [
        ("not base64", "!!!".to_owned()),
        ("padded base64", format!("{}==", base64url("EVT#"))),
        ("a user item key", base64url("USER#alice")),
        ("another user's partition", base64url("USAGE#bob")),
        ("an event key with a NUL", base64url("EVT#2026\u{0}")),
        (
            "an over-long event key",
            base64url(format!("EVT#{}", "9".repeat(200))),
        ),
        ("invalid UTF-8", base64url([0xff, 0xfe])),
    ] {
        cases.push(
            Case::new(
                format!("usage history with a cursor that is {what}"),
                Usage,
                "GET",
                "/api/v1/usage",
            )
            .header("x-api-key", key)
            .query("action", "history")
            .query("cursor", &cursor),
        );
    }
    cases.push(
        Case::new(
            "usage of every user with a cursor that is no user id",
            Usage,
            "GET",
            "/api/v1/usage",
        )
        .admin()
        .query("action", "all")
        .query("cursor", &base64url("bad id!")),
    );
    for action in ["CURRENT", "current ", "stats;drop", "cache"] {
        cases.push(
            Case::new(
                format!("usage with the near-miss action {action:?}"),
                Usage,
                "GET",
                "/api/v1/usage",
            )
            .header("x-api-key", key)
            .query("action", action),
        );
    }
    cases.push(
        Case::new(
            "admin lists keys without naming the user",
            Keys,
            "GET",
            "/api/v1/keys",
        )
        .admin(),
    );
    cases.push(
        Case::new(
            "admin reads usage without naming the user",
            Usage,
            "GET",
            "/api/v1/usage",
        )
        .admin()
        .query("action", "current"),
    );
    cases.push(
        Case::new(
            "admin resets usage without naming the user",
            Usage,
            "DELETE",
            "/api/v1/usage",
        )
        .admin(),
    );
    cases.push(
        Case::new(
            "cache clearing without an action",
            Data,
            "DELETE",
            "/api/v1/data",
        )
        .admin(),
    );
    cases.push(
        Case::new(
            "admin reads the usage of a user that does not exist",
            Usage,
            "GET",
            "/api/v1/usage",
        )
        .admin()
        .query("userId", "nobody")
        .expect(404),
    );
    cases.push(
        Case::new(
            "admin resets the usage of a user that does not exist",
            Usage,
            "DELETE",
            "/api/v1/usage",
        )
        .admin()
        .query("userId", "nobody")
        .expect(404),
    );

    cases
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn every_hostile_query_parameter_is_a_4xx_json_error_that_changes_nothing() {
    let w = world().await;
    check(&w, cases(&w)).await;
}
