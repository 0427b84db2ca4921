//! The keys function against the DynamoDB-compatible server.
use chrono::Duration;
use harmonic_tests::*;
use serde_json::json;

async fn sign_up(app: &harmonic_shared::App, user_id: &str) -> Answer {
    call_keys(
        app,
        request("POST", "/api/v1/keys")
            .json(json!({ "userId": user_id }))
            .build(),
    )
    .await
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_quick_start_sign_up_creates_a_free_user_and_shows_the_key_once() {
    let t = spawn_app().await;
    let created = sign_up(&t.app, "user123").await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let key = created.body["key"].as_str().unwrap();
    assert!(key.starts_with("hm_") && key.len() == 35);
    assert_eq!(created.body["success"], true);
    assert_eq!(created.body["userId"], "user123");
    assert_eq!(created.body["tier"], "free");
    assert_eq!(created.body["quotaMonthly"], 1000);
    assert_eq!(
        created.body["message"],
        "Save this key now. It will not be shown again."
    );
    assert_eq!(&key[3..13], created.body["id"].as_str().unwrap());
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn create_list_get_rotate_revoke_and_the_key_never_appears_again() {
    let t = spawn_app().await;
    let created = sign_up(&t.app, "alice").await;
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();

    let listed = call_keys(&t.app, request("GET", "/api/v1/keys").key(&key).build()).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["keys"][0]["id"], id.as_str());
    assert_eq!(listed.body["keys"][0]["isActive"], true);
    assert_eq!(listed.body["keys"][0]["preview"], format!("hm_{id}…"));

    let inspected = call_keys(
        &t.app,
        request("GET", &format!("/api/v1/keys/{id}"))
            .key(&key)
            .build(),
    )
    .await;
    assert_eq!(inspected.status, 200);
    assert_eq!(inspected.body["name"], "Default key");
    for shown in [&listed.text, &inspected.text] {
        assert!(!shown.contains(&key), "the key is never shown again");
        assert!(!shown.contains("$2"), "no bcrypt hash in responses");
    }

    let rotated = call_keys(
        &t.app,
        request("POST", &format!("/api/v1/keys/{id}/rotate"))
            .key(&key)
            .build(),
    )
    .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    assert_eq!(rotated.body["oldKeyId"], id.as_str());
    let new_key = rotated.body["newKey"]["key"].as_str().unwrap().to_owned();
    let new_id = rotated.body["newKey"]["id"].as_str().unwrap().to_owned();
    assert_eq!(rotated.body["newKey"]["name"], "Default key (rotated)");
    assert_eq!(rotated.body["newKey"]["tier"], "free");

    let old_refused = call_keys(&t.app, request("GET", "/api/v1/keys").key(&key).build()).await;
    assert_eq!(old_refused.status, 401, "rotation revoked the old key now");
    assert_eq!(old_refused.body["error"], "Invalid API key");

    let revoked = call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{new_id}"))
            .key(&new_key)
            .build(),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.body["keyId"], new_id.as_str());
    assert!(revoked.body["revokedAt"].is_string());

    let after = call_keys(&t.app, request("GET", "/api/v1/keys").key(&new_key).build()).await;
    assert_eq!(
        after.status, 401,
        "a revoked key is refused on the next request"
    );

    let again = call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{new_id}"))
            .admin()
            .build(),
    )
    .await;
    assert_eq!(again.status, 200, "revocation is idempotent");
    assert_eq!(again.body["revokedAt"], revoked.body["revokedAt"]);

    let admin_list = call_keys(
        &t.app,
        request("GET", "/api/v1/keys")
            .admin()
            .query("userId", "alice")
            .build(),
    )
    .await;
    assert_eq!(admin_list.body["total"], 2);
    assert!(admin_list.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["isActive"] == false && k["revokedAt"].is_string()));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn revocation_reaches_a_container_that_had_the_key_cached() {
    let t = spawn_app().await;
    let (key, id) = admin_creates_key(&t.app, "bob", "pro").await;
    let other = t.another_container();
    let warm = call_keys(&other, request("GET", "/api/v1/keys").key(&key).build()).await;
    assert_eq!(
        warm.status, 200,
        "the other container verified and cached the key"
    );

    let revoked = call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{id}"))
            .admin()
            .build(),
    )
    .await;
    assert_eq!(revoked.status, 200);
    let refused = call_keys(&other, request("GET", "/api/v1/keys").key(&key).build()).await;
    assert_eq!(refused.status, 401);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn another_users_keys_answer_404_on_every_route() {
    let t = spawn_app().await;
    let (key_a, id_a) = admin_creates_key(&t.app, "user-a", "free").await;
    let (key_b, _) = admin_creates_key(&t.app, "user-b", "free").await;
    let routes = [
        ("GET", format!("/api/v1/keys/{id_a}")),
        ("DELETE", format!("/api/v1/keys/{id_a}")),
        ("POST", format!("/api/v1/keys/{id_a}/rotate")),
    ];
    for (method, path) in &routes {
        let answer = call_keys(&t.app, request(method, path).key(&key_b).build()).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.text);
        assert_eq!(answer.body["success"], false);
    }
    let listing = call_keys(
        &t.app,
        request("GET", "/api/v1/keys")
            .key(&key_b)
            .query("userId", "user-a")
            .build(),
    )
    .await;
    assert_eq!(listing.status, 404);
    let create_for_a = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .key(&key_b)
            .json(json!({"userId": "user-a"}))
            .build(),
    )
    .await;
    assert_eq!(create_for_a.status, 404);
    let still_works = call_keys(&t.app, request("GET", "/api/v1/keys").key(&key_a).build()).await;
    assert_eq!(
        still_works.status, 200,
        "B's attempts changed nothing of A's"
    );
    assert_eq!(still_works.body["keys"][0]["isActive"], true);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn concurrent_sign_ups_for_one_user_id_admit_exactly_one() {
    let t = spawn_app().await;
    let attempts = (0..12).map(|_| {
        let app = t.another_container();
        async move { sign_up(&app, "contested").await.status.as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        11,
        "{statuses:?}"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn malformed_keys_are_refused_without_a_database_read() {
    // A store that cannot be reached: any read would answer 503, not 401.
    let unreachable = harmonic_shared::store::Store::new(
        harmonic_shared::store::Store::connect_client(Some("http://127.0.0.1:9")).await,
        "nowhere",
    );
    let t = spawn_app().await;
    let app = harmonic_shared::App::new(t.app.config.clone(), unreachable, t.clock.clone());
    let valid = harmonic_shared::apikey::generate(&t.app.config.key_check)
        .expose()
        .to_owned();
    let typo = format!(
        "{}{}",
        &valid[..34],
        if valid.ends_with('a') { 'b' } else { 'a' }
    );
    for bad in [
        "hm_short",
        "HM_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "hm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        typo.as_str(),
        "",
    ] {
        let answer = call_keys(&app, request("GET", "/api/v1/keys").key(bad).build()).await;
        assert_eq!(answer.status, 401, "{bad:?}: {}", answer.text);
        assert_eq!(answer.body["error"], "Invalid API key");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn bad_inputs_get_a_4xx_json_error_that_says_what_was_wrong() {
    let t = spawn_app().await;
    let (holder_key, _) = admin_creates_key(&t.app, "holder", "free").await;
    let huge = format!("{{\"userId\": \"{}\"}}", "x".repeat(70_000));
    let cases: Vec<(&str, harmonic_tests::RequestBuilder, u16, &str)> = vec![
        (
            "invalid JSON",
            request("POST", "/api/v1/keys").raw_body("{\"userId\": "),
            400,
            "not valid JSON",
        ),
        (
            "wrong type",
            request("POST", "/api/v1/keys").json(json!({"userId": 42})),
            400,
            "must be a string",
        ),
        (
            "null userId",
            request("POST", "/api/v1/keys").json(json!({"userId": null})),
            400,
            "is required",
        ),
        (
            "missing userId",
            request("POST", "/api/v1/keys").json(json!({"name": "x"})),
            400,
            "is required",
        ),
        (
            "bad characters",
            request("POST", "/api/v1/keys").json(json!({"userId": "a/../b"})),
            400,
            "may only contain",
        ),
        (
            "expression-like",
            request("POST", "/api/v1/keys").json(json!({"userId": "attribute_exists(pk)"})),
            400,
            "may only contain",
        ),
        (
            "huge body",
            request("POST", "/api/v1/keys").raw_body(huge.into_bytes()),
            413,
            "larger than",
        ),
        (
            "unknown tier",
            request("POST", "/api/v1/keys")
                .admin()
                .json(json!({"userId": "u1", "tier": "gold"})),
            400,
            "tier must be one of",
        ),
        (
            "tier without admin",
            request("POST", "/api/v1/keys").json(json!({"userId": "u2", "tier": "pro"})),
            403,
            "only the administrator",
        ),
        (
            "holder changes tier",
            request("POST", "/api/v1/keys")
                .key(&holder_key)
                .json(json!({"userId": "holder", "tier": "enterprise"})),
            403,
            "only the administrator",
        ),
        (
            "array body",
            request("POST", "/api/v1/keys").json(json!(["user"])),
            400,
            "must be a JSON object",
        ),
        (
            "bad admin token",
            request("POST", "/api/v1/keys")
                .header("authorization", "Bearer nope")
                .json(json!({"userId": "u3"})),
            401,
            "Invalid admin token",
        ),
        (
            "rotate bad grace",
            request("POST", "/api/v1/keys/AAAAAAAAAA/rotate")
                .admin()
                .json(json!({"gracePeriodSeconds": 86401})),
            404,
            "no such key",
        ),
        (
            "path traversal id",
            request("GET", "/api/v1/keys/..%2F..%2Fetc").admin(),
            404,
            "no such key",
        ),
        (
            "wrong method",
            request("PUT", "/api/v1/keys").admin(),
            405,
            "not allowed",
        ),
        (
            "unknown route",
            request("GET", "/api/v1/keys/AAAAAAAAAA/other").admin(),
            404,
            "no route",
        ),
        (
            "list without credentials",
            request("GET", "/api/v1/keys"),
            401,
            "credentials required",
        ),
        (
            "admin list without userId",
            request("GET", "/api/v1/keys").admin(),
            400,
            "userId",
        ),
        (
            "stats as holder",
            request("GET", "/api/v1/keys/stats").key(&holder_key),
            403,
            "administrator",
        ),
    ];
    for (case, builder, status, message) in cases {
        let answer = call_keys(&t.app, builder.build()).await;
        assert_eq!(answer.status.as_u16(), status, "{case}: {}", answer.text);
        assert_eq!(answer.body["success"], false, "{case}: JSON error body");
        let error = answer.body["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{case}: {error}");
    }
    assert_eq!(
        call_keys(&t.app, request("PUT", "/api/v1/keys").build())
            .await
            .header("allow"),
        Some("GET, POST, OPTIONS")
    );
    // Nothing above created a user.
    for user in ["u1", "u2", "u3", "attribute_exists(pk)"] {
        if let Ok(id) = harmonic_shared::domain::UserId::parse(user) {
            assert!(t.store.get_user(&id).await.unwrap().is_none(), "{user}");
        }
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn rotation_validates_its_body() {
    let t = spawn_app().await;
    let (key, id) = admin_creates_key(&t.app, "rotator", "free").await;
    for (body, expected) in [
        (json!({"gracePeriodSeconds": 86401}), "from 0 to 86400"),
        (json!({"gracePeriodSeconds": -1}), "from 0 to 86400"),
        (
            json!({"gracePeriodSeconds": "60"}),
            "must be a whole number",
        ),
        (json!({"revokeOld": "yes"}), "true or false"),
    ] {
        let answer = call_keys(
            &t.app,
            request("POST", &format!("/api/v1/keys/{id}/rotate"))
                .key(&key)
                .json(body.clone())
                .build(),
        )
        .await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert!(answer.body["error"].as_str().unwrap().contains(expected));
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_rotation_grace_period_keeps_the_old_key_working_until_it_ends() {
    let t = spawn_app().await;
    let (key, id) = admin_creates_key(&t.app, "graceful", "pro").await;
    let rotated = call_keys(
        &t.app,
        request("POST", &format!("/api/v1/keys/{id}/rotate"))
            .key(&key)
            .json(json!({"gracePeriodSeconds": 600}))
            .build(),
    )
    .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let old_ok = call_keys(&t.app, request("GET", "/api/v1/keys").key(&key).build()).await;
    assert_eq!(old_ok.status, 200, "old key works during the grace period");
    t.clock.set(default_now() + Duration::seconds(601));
    let old_refused = call_keys(&t.app, request("GET", "/api/v1/keys").key(&key).build()).await;
    assert_eq!(
        old_refused.status, 401,
        "old key stops when the grace period ends"
    );
    let new_key = rotated.body["newKey"]["key"].as_str().unwrap();
    let new_ok = call_keys(&t.app, request("GET", "/api/v1/keys").key(new_key).build()).await;
    assert_eq!(new_ok.status, 200);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_user_holds_at_most_max_keys_per_user_active_keys() {
    let t = spawn_app_with(&[("MAX_KEYS_PER_USER", "2")]).await;
    admin_creates_key(&t.app, "limited", "free").await;
    admin_creates_key(&t.app, "limited", "free").await;
    let third = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(json!({"userId": "limited"}))
            .build(),
    )
    .await;
    assert_eq!(third.status, 409, "{}", third.text);
    assert!(third.body["error"]
        .as_str()
        .unwrap()
        .contains("maximum of 2"));
    let listed = call_keys(
        &t.app,
        request("GET", "/api/v1/keys")
            .admin()
            .query("userId", "limited")
            .build(),
    )
    .await;
    assert_eq!(
        listed.body["total"], 2,
        "the refused key left no item behind"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn expired_keys_stop_working_free_their_slot_and_count_as_expired() {
    let t = spawn_app_with(&[("MAX_KEYS_PER_USER", "1")]).await;
    let expires = (default_now() + Duration::hours(1)).to_rfc3339();
    let created = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(json!({"userId": "temp", "expiresAt": expires}))
            .build(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let key = created.body["key"].as_str().unwrap();
    assert_eq!(
        call_keys(&t.app, request("GET", "/api/v1/keys").key(key).build())
            .await
            .status,
        200
    );
    t.clock.set(default_now() + Duration::hours(2));
    assert_eq!(
        call_keys(&t.app, request("GET", "/api/v1/keys").key(key).build())
            .await
            .status,
        401
    );
    let stats = call_keys(&t.app, request("GET", "/api/v1/keys/stats").admin().build()).await;
    assert_eq!(stats.status, 200);
    assert_eq!(stats.body["generated"], 1);
    assert_eq!(stats.body["expired"], 1);
    assert_eq!(stats.body["active"], 0);
    let replacement = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(json!({"userId": "temp"}))
            .build(),
    )
    .await;
    assert_eq!(
        replacement.status, 201,
        "the expired key's slot was freed: {}",
        replacement.text
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn key_statistics_are_durable_across_containers() {
    let t = spawn_app().await;
    let (_, first) = admin_creates_key(&t.app, "s1", "free").await;
    admin_creates_key(&t.app, "s2", "pro").await;
    admin_creates_key(&t.app, "s3", "enterprise").await;
    call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{first}"))
            .admin()
            .build(),
    )
    .await;
    let restarted = t.another_container();
    let stats = call_keys(
        &restarted,
        request("GET", "/api/v1/keys/stats").admin().build(),
    )
    .await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    assert_eq!(stats.body["generated"], 3);
    assert_eq!(stats.body["revoked"], 1);
    assert_eq!(stats.body["active"], 2);
    assert_eq!(stats.body["expired"], 0);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn sign_up_can_be_closed_and_existing_users_are_not_taken_over() {
    let closed = spawn_app_with(&[("ALLOW_SIGNUP", "false")]).await;
    let refused = sign_up(&closed.app, "newbie").await;
    assert_eq!(refused.status, 401, "{}", refused.text);

    let t = spawn_app().await;
    assert_eq!(sign_up(&t.app, "taken").await.status, 201);
    let again = sign_up(&t.app, "taken").await;
    assert_eq!(again.status, 409);
    assert!(again.body["error"]
        .as_str()
        .unwrap()
        .contains("already exists"));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn admins_set_tiers_and_holders_add_keys_for_themselves() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "upgrader", "free").await;
    let second = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .key(&key)
            .json(json!({"userId": "upgrader", "name": "ci"}))
            .build(),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.body["name"], "ci");
    // Issue 10: a tier change is its own explicit admin action (POST /keys only issues keys).
    let through_create = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(json!({"userId": "upgrader", "tier": "enterprise"}))
            .build(),
    )
    .await;
    assert_eq!(through_create.status, 409, "{}", through_create.text);
    assert!(through_create
        .text
        .contains("PUT /api/v1/users/upgrader/tier"));
    let upgraded = admin_sets_tier(&t.app, "upgrader", "enterprise").await;
    assert_eq!(upgraded.status, 200, "{}", upgraded.text);
    assert_eq!(upgraded.body["tier"], "enterprise");
    assert_eq!(upgraded.body["previousTier"], "free");
    assert_eq!(
        upgraded.body["liveKeys"].as_array().unwrap().len(),
        2,
        "the answer lists the user's live keys: {}",
        upgraded.text
    );
    assert!(
        upgraded.body["quotaMonthly"].is_null(),
        "enterprise is unlimited"
    );
    let listed = call_keys(&t.app, request("GET", "/api/v1/keys").key(&key).build()).await;
    assert!(listed.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["tier"] == "enterprise"));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn keys_are_stored_as_bcrypt_hashes_of_the_configured_cost() {
    let t = spawn_app_with(&[("BCRYPT_COST", "10")]).await;
    let (key, id) = admin_creates_key(&t.app, "hashed", "free").await;
    let record = t
        .store
        .get_key(&harmonic_shared::apikey::KeyId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(record.hash.starts_with("$2b$10$"), "bcrypt, cost 10");
    assert!(!record.hash.contains(&key[3..]));
    assert!(
        !format!("{record:?}").contains(&record.hash),
        "Debug redacts the hash"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn options_documents_the_routes() {
    let t = spawn_app().await;
    for path in [
        "/api/v1/keys",
        "/api/v1/keys/AAAAAAAAAA",
        "/api/v1/keys/AAAAAAAAAA/rotate",
    ] {
        let answer = call_keys(&t.app, request("OPTIONS", path).build()).await;
        assert_eq!(answer.status, 200);
        assert!(answer.body["endpoints"].as_array().unwrap().len() >= 5);
    }
}
