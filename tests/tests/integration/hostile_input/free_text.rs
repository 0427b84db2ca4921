//! Free text that looks hostile: expression-like strings are valid key names and data queries,
//! and must be stored and searched verbatim, changing nothing but what the request itself does.
use super::*;

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn expression_like_strings_in_free_text_fields_are_stored_and_searched_literally() {
    // The key name and the data query are free text: hostile-looking strings are valid there.
    // They must be kept verbatim and change nothing but what the request itself does.
    let w = world().await;
    let before = table_items(&w.t.store).await;
    let mut names = Vec::new();
    for expression in EXPRESSIONS {
        let created = call_keys(
            &w.t.app,
            request("POST", "/api/v1/keys")
                .admin()
                .json(json!({"userId": USER, "name": expression}))
                .build(),
        )
        .await;
        if created.status == 409 {
            break; // the user's key limit: enough names were tried
        }
        assert_eq!(created.status, 201, "name {expression:?}: {}", created.text);
        assert_eq!(
            created.body["name"], expression,
            "the name is kept verbatim"
        );
        names.push(expression);
    }
    assert!(names.len() >= 5, "several hostile names were tried");
    let listed = call_keys(
        &w.t.app,
        request("GET", "/api/v1/keys")
            .admin()
            .query("userId", USER)
            .build(),
    )
    .await;
    let listed_names: Vec<&str> = listed.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    for name in &names {
        assert!(listed_names.contains(name), "{name:?} listed verbatim");
    }
    let after_keys = table_items(&w.t.store).await;
    let new_items: Vec<_> = changed_items(&before, &after_keys);
    assert!(
        new_items.iter().all(|item| item.starts_with("KEY#")
            || item == &format!("USER#{USER}/PROFILE")
            || item.starts_with("STATS#KEYS/")
            || item.starts_with(&format!("AUDIT#{USER}/"))),
        "creating keys touched only key items, the user, key statistics and the user's audit trail: {new_items:?}"
    );

    let mut served = 0;
    for expression in EXPRESSIONS {
        let answered = answer(
            harmonic_data::invoke(
                &w.data,
                request("POST", "/api/v1/data")
                    .key(&w.key)
                    .json(json!({"query": expression, "sources": "curiosity"}))
                    .build(),
            )
            .await,
        );
        assert!(
            answered.status == 200 || answered.status == 502,
            "query {expression:?}: {} {}",
            answered.status,
            answered.text
        );
        served += u64::from(answered.status == 200);
    }
    let user =
        w.t.store
            .get_user(&harmonic_shared::domain::UserId::parse(USER).expect("id"))
            .await
            .expect("read")
            .expect("user");
    use harmonic_shared::clock::Clock;
    let period = harmonic_shared::domain::Period::containing(w.t.clock.now());
    assert_eq!(
        user.used_in(period),
        1 + served,
        "each hostile query was counted once, like any other (plus the world's first request)"
    );
    let after_queries = table_items(&w.t.store).await;
    let touched = changed_items(&after_keys, &after_queries);
    assert!(
        touched
            .iter()
            .all(|item| item.starts_with(&format!("USAGE#{USER}/"))
                || item == &format!("USER#{USER}/PROFILE")
                || item.starts_with("STATS#USAGE#")),
        "queries touched only the caller's usage, its user item and the usage totals: {touched:?}"
    );
}
