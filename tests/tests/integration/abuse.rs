//! Issue 10, tried as an attacker would: squatting a customer's user id, sign-up floods, forged
//! keys, a leaked key in its rotation grace period, the user item growing without bound, keys
//! pasted into paths, a rotation whose second step fails, and IPv6 demo callers.
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use chrono::Duration;
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::domain::{rfc3339, Period, UserId};
use harmonic_shared::lambda_http::http::HeaderMap;
use harmonic_shared::store::{RoundTripCounter, Store};
use harmonic_shared::App;
use harmonic_tests::*;
use serde_json::json;
use sha2::{Digest, Sha256};

async fn sign_up_from(app: &App, user_id: &str, ip: &str) -> Answer {
    call_keys(
        app,
        request("POST", "/api/v1/keys")
            .from_ip(ip)
            .json(json!({ "userId": user_id }))
            .build(),
    )
    .await
}

async fn user_item(
    store: &Store,
    user_id: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user_id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read the user item")
        .item
        .expect("the user item exists")
}

async fn metered(app: &App, key: &str) -> harmonic_shared::metering::MeteredCaller {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", key.parse().expect("header"));
    app.identify_metered(&headers, None)
        .await
        .expect("a valid key")
}

fn data_app(t: &TestApp, base_url: &str) -> DataApp {
    let sources = Sources::new(SourceSettings::for_base_url(base_url)).expect("sources");
    DataApp::new(
        App::new(t.app.config.clone(), t.store.clone(), t.clock.clone()),
        sources,
    )
}

// ---------------------------------------------------------------- item 1: squatting

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_admin_cannot_hand_a_tier_or_keys_to_a_user_someone_else_signed_up() {
    let t = spawn_app().await;
    let squatter = sign_up_from(&t.app, "acme", "203.0.113.66").await;
    assert_eq!(squatter.status, 201, "{}", squatter.text);
    let squatter_key = squatter.body["key"].as_str().unwrap().to_owned();

    let operator = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(json!({"userId": "acme", "tier": "pro", "name": "prod"}))
            .build(),
    )
    .await;
    assert_eq!(operator.status, 409, "{}", operator.text);
    let message = operator.body["error"].as_str().unwrap();
    assert!(
        message.contains("not created by the administrator"),
        "{message}"
    );
    assert!(
        message.contains("203.0.113.66"),
        "says where it signed up from: {message}"
    );
    assert!(
        message.contains("PUT /api/v1/users/acme/tier"),
        "says how to proceed: {message}"
    );
    assert!(!operator.text.contains(&squatter_key));

    // Nothing changed: still Free, still one key, the squatter's.
    let user = t
        .store
        .get_user(&UserId::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.tier, harmonic_shared::domain::Tier::Free);
    assert_eq!(user.live_keys.len(), 1);
    let provenance = serde_json::to_value(&user.created_by).unwrap();
    assert_eq!(provenance["via"], "signup");
    assert_eq!(provenance["ip"], "203.0.113.66");
    assert_eq!(provenance["at"], rfc3339(default_now()));

    // The explicit tier change shows the operator whose keys it is upgrading.
    let changed = admin_sets_tier(&t.app, "acme", "pro").await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["createdBy"]["via"], "signup");
    let live = changed.body["liveKeys"].as_array().unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["id"], squatter.body["id"]);
    assert!(
        !changed.text.contains(&squatter_key),
        "never the key itself"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_admin_still_issues_more_keys_for_users_it_created_and_records_that_it_did() {
    let t = spawn_app().await;
    let (_, _) = admin_creates_key(&t.app, "bigco", "pro").await;
    for body in [
        json!({"userId": "bigco"}),
        json!({"userId": "bigco", "tier": "pro"}),
    ] {
        let more = call_keys(
            &t.app,
            request("POST", "/api/v1/keys").admin().json(body).build(),
        )
        .await;
        assert_eq!(more.status, 201, "{}", more.text);
        assert_eq!(more.body["tier"], "pro");
    }
    let user = t
        .store
        .get_user(&UserId::parse("bigco").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.live_keys.len(), 3);
    assert!(user.created_by.as_ref().is_some_and(|c| c.is_admin()));
    // Sign-up of the admin's user is refused, as any existing user.
    assert_eq!(
        sign_up_from(&t.app, "bigco", "203.0.113.7").await.status,
        409
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_tier_route_is_the_admins_only_and_explains_bad_input() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "tiered", "free").await;
    let put = |who: Option<&str>, user: &str, body: serde_json::Value| {
        let mut builder = request("PUT", &format!("/api/v1/users/{user}/tier")).json(body);
        builder = match who {
            Some("admin") => builder.admin(),
            Some(key) => builder.key(key),
            None => builder,
        };
        builder.build()
    };
    let cases: Vec<(&str, harmonic_shared::lambda_http::Request, u16)> = vec![
        (
            "no credentials",
            put(None, "tiered", json!({"tier": "pro"})),
            401,
        ),
        (
            "the user's own key",
            put(Some(&key), "tiered", json!({"tier": "pro"})),
            403,
        ),
        (
            "no such user",
            put(Some("admin"), "nobody", json!({"tier": "pro"})),
            404,
        ),
        (
            "unknown tier",
            put(Some("admin"), "tiered", json!({"tier": "gold"})),
            400,
        ),
        ("tier missing", put(Some("admin"), "tiered", json!({})), 400),
        (
            "bad user id",
            put(Some("admin"), "a%20b", json!({"tier": "pro"})),
            400,
        ),
    ];
    for (what, attempt, status) in cases {
        let answered = call_keys(&t.app, attempt).await;
        assert_eq!(answered.status, status, "{what}: {}", answered.text);
        assert_eq!(answered.body["success"], false, "{what}");
    }
    let user = t
        .store
        .get_user(&UserId::parse("tiered").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        user.tier,
        harmonic_shared::domain::Tier::Free,
        "nothing changed"
    );
    let email = admin_creates_key(&t.app, "first.last@example.com", "free").await;
    assert!(!email.0.is_empty());
    let encoded = admin_sets_tier(&t.app, "first.last%40example.com", "enterprise").await;
    assert_eq!(encoded.status, 200, "{}", encoded.text);
}

// ---------------------------------------------------------------- item 2: sign-up floods

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn sign_ups_are_limited_per_address_per_day_exactly_under_concurrency() {
    let t = spawn_app_with(&[("SIGNUP_LIMIT_PER_IP_PER_DAY", "5")]).await;
    let attempts = (0..20).map(|n| {
        let app = t.app.clone();
        tokio::spawn(async move { sign_up_from(&app, &format!("flood{n}"), "192.0.2.50").await })
    });
    let mut created = 0;
    let mut refused = Vec::new();
    for attempt in attempts {
        let answered = attempt.await.expect("task");
        match answered.status.as_u16() {
            201 => created += 1,
            429 => refused.push(answered),
            other => panic!("unexpected {other}: {}", answered.text),
        }
    }
    assert_eq!(created, 5, "exactly the limit is admitted");
    assert_eq!(refused.len(), 15);
    let first = &refused[0];
    assert!(
        first.body["error"]
            .as_str()
            .unwrap()
            .contains("too many sign-ups"),
        "{}",
        first.text
    );
    assert_eq!(
        first.header("retry-after"),
        Some("43200"),
        "until 00:00 UTC"
    );
    let users = t.store.count_users().await.unwrap();
    assert_eq!(users, 5, "no user was made for a refused sign-up");

    // Another address is not affected; the next UTC day starts again.
    assert_eq!(
        sign_up_from(&t.app, "elsewhere", "192.0.2.51").await.status,
        201
    );
    t.clock.set(default_now() + Duration::hours(12));
    assert_eq!(
        sign_up_from(&t.app, "tomorrow", "192.0.2.50").await.status,
        201
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn ipv6_sign_ups_and_demo_callers_are_grouped_by_their_64() {
    let t = spawn_app_with(&[("SIGNUP_LIMIT_PER_IP_PER_DAY", "2")]).await;
    assert_eq!(
        sign_up_from(&t.app, "v6a", "2001:db8:7:1::1").await.status,
        201
    );
    assert_eq!(
        sign_up_from(&t.app, "v6b", "2001:db8:7:1::2").await.status,
        201
    );
    let third = sign_up_from(&t.app, "v6c", "2001:db8:7:1:ffff::3").await;
    assert_eq!(third.status, 429, "same /64: {}", third.text);
    assert_eq!(
        sign_up_from(&t.app, "v6d", "2001:db8:7:2::1").await.status,
        201
    );

    let stubs = wiremock::MockServer::start().await;
    let state = data_app(&t, &stubs.uri());
    let mut used = Vec::new();
    for ip in ["2001:db8:9:9::1", "2001:db8:9:9:abcd::77"] {
        let answered = answer(
            harmonic_data::invoke(
                &state,
                request("POST", "/api/v1/data")
                    .from_ip(ip)
                    .json(json!({"query": "physics", "sources": "curiosity"}))
                    .build(),
            )
            .await,
        );
        assert_eq!(answered.status, 200, "{}", answered.text);
        assert_eq!(answered.header("x-user-id"), Some("demo:2001:db8:9:9::/64"));
        used.push(answered.header("x-ratelimit-used").unwrap().to_owned());
    }
    assert_eq!(used, ["1", "2"], "one quota for the whole /64");
}

// ---------------------------------------------------------------- item 4: forged keys

/// The check group as it was before issue 10: unkeyed SHA-256, computable by anyone.
fn unkeyed_check(unchecked: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let digest = Sha256::digest(unchecked.as_bytes());
    let mut value = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut out = [0u8; 4];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn forged_keys_are_refused_before_any_read_whether_or_not_their_id_exists() {
    let t = spawn_app().await;
    let (_, real_id) = admin_creates_key(&t.app, "victim", "pro").await;
    let counter = RoundTripCounter::default();
    let client = Store::connect_client_counting(Some(&endpoint()), Some(counter.clone())).await;
    let counted = App::new(
        t.app.config.clone(),
        Store::new(client, t.store.table()),
        t.clock.clone(),
    );
    let other_secret =
        harmonic_shared::apikey::KeyCheckSecret::new("an-attackers-guess-at-the-secret-000")
            .unwrap();
    let mut forged = Vec::new();
    for id in [real_id.clone(), "NoSuchId00".to_owned()] {
        let unchecked = format!("{id}{}", "x".repeat(18));
        forged.push((
            format!("{id}, unkeyed check"),
            format!("hm_{unchecked}{}", unkeyed_check(&unchecked)),
        ));
        forged.push((format!("{id}, check 0000"), format!("hm_{unchecked}0000")));
    }
    forged.push((
        "a key made with another secret".into(),
        harmonic_shared::apikey::generate(&other_secret)
            .expose()
            .to_owned(),
    ));
    let stubs = wiremock::MockServer::start().await;
    let state = DataApp::new(
        counted,
        Sources::new(SourceSettings::for_base_url(&stubs.uri())).unwrap(),
    );
    for (what, key) in &forged {
        let before = counter.count();
        let keys_answer =
            call_keys(&state.app, request("GET", "/api/v1/keys").key(key).build()).await;
        let data_answer = answer(
            harmonic_data::invoke(
                &state,
                request("POST", "/api/v1/data")
                    .key(key)
                    .json(json!({"query": "x", "sources": "curiosity"}))
                    .build(),
            )
            .await,
        );
        assert_eq!(keys_answer.status, 401, "{what}: {}", keys_answer.text);
        assert_eq!(data_answer.status, 401, "{what}: {}", data_answer.text);
        // The same refusal, apart from each answer's own request id.
        let refusal = |body: &serde_json::Value| {
            let mut body = body.clone();
            body.as_object_mut()
                .map(|fields| fields.remove("requestId"));
            body
        };
        assert_eq!(
            refusal(&keys_answer.body),
            refusal(&data_answer.body),
            "{what}: the same refusal"
        );
        assert_eq!(
            counter.count() - before,
            0,
            "{what}: no DynamoDB round trip (so no bcrypt either)"
        );
    }
    println!(
        "abuse: {} forged keys refused with 0 DynamoDB round trips",
        forged.len()
    );
}

// ---------------------------------------------------------------- item 5: grace period

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_key_in_its_grace_period_calls_data_but_cannot_manage_keys() {
    let t = spawn_app().await;
    let (old_key, old_id) = admin_creates_key(&t.app, "leaky", "free").await;
    let rotated = call_keys(
        &t.app,
        request("POST", &format!("/api/v1/keys/{old_id}/rotate"))
            .key(&old_key)
            .json(json!({"gracePeriodSeconds": 3600}))
            .build(),
    )
    .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let new_key = rotated.body["newKey"]["key"].as_str().unwrap().to_owned();
    let new_id = rotated.body["newKey"]["id"].as_str().unwrap().to_owned();

    // Still works for what it is paid for: data and usage.
    let caller = metered(&t.app, &old_key).await;
    assert!(
        t.app.charge(&caller).await.is_ok(),
        "data during the grace period"
    );
    let usage = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&old_key)
            .query("action", "current")
            .build(),
    )
    .await;
    assert_eq!(usage.status, 200, "{}", usage.text);

    let before = table_items(&t.store).await;
    let attempts = vec![
        (
            "create a key",
            request("POST", "/api/v1/keys")
                .key(&old_key)
                .json(json!({"userId": "leaky"}))
                .build(),
        ),
        (
            "rotate itself again",
            request("POST", &format!("/api/v1/keys/{old_id}/rotate"))
                .key(&old_key)
                .build(),
        ),
        (
            "rotate the new key",
            request("POST", &format!("/api/v1/keys/{new_id}/rotate"))
                .key(&old_key)
                .build(),
        ),
        (
            "revoke the new key",
            request("DELETE", &format!("/api/v1/keys/{new_id}"))
                .key(&old_key)
                .build(),
        ),
        (
            "revoke itself",
            request("DELETE", &format!("/api/v1/keys/{old_id}"))
                .key(&old_key)
                .build(),
        ),
    ];
    for (what, attempt) in attempts {
        let refused = call_keys(&t.app, attempt).await;
        assert_eq!(
            refused.status, 403,
            "{what} with a key in its grace period: {}",
            refused.text
        );
        assert!(
            refused.text.contains("cannot create, rotate or revoke"),
            "{what}: {}",
            refused.text
        );
    }
    let after = table_items(&t.store).await;
    assert_eq!(before.len(), after.len(), "no key item was made");

    // The new key manages keys; the already rotated key cannot be rotated again by anyone.
    let again = call_keys(
        &t.app,
        request("POST", &format!("/api/v1/keys/{old_id}/rotate"))
            .key(&new_key)
            .build(),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.text);
    let more = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .key(&new_key)
            .json(json!({"userId": "leaky"}))
            .build(),
    )
    .await;
    assert_eq!(more.status, 201, "{}", more.text);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_key_a_holder_creates_never_outlives_the_key_it_was_created_with() {
    let t = spawn_app().await;
    let ends = default_now() + Duration::days(7);
    let created = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(json!({"userId": "temp", "expiresAt": rfc3339(ends)}))
            .build(),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let week_key = created.body["key"].as_str().unwrap().to_owned();
    let week_id = created.body["id"].as_str().unwrap().to_owned();
    for (what, body) in [
        ("no expiry asked", json!({"userId": "temp"})),
        (
            "a later expiry asked",
            json!({"userId": "temp", "expiresAt": rfc3339(ends + Duration::days(300))}),
        ),
    ] {
        let child = call_keys(
            &t.app,
            request("POST", "/api/v1/keys")
                .key(&week_key)
                .json(body)
                .build(),
        )
        .await;
        assert_eq!(child.status, 201, "{what}: {}", child.text);
        assert_eq!(child.body["expiresAt"], rfc3339(ends), "{what}");
    }
    let sooner = default_now() + Duration::days(1);
    let child = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .key(&week_key)
            .json(json!({"userId": "temp", "expiresAt": rfc3339(sooner)}))
            .build(),
    )
    .await;
    assert_eq!(
        child.body["expiresAt"],
        rfc3339(sooner),
        "a sooner expiry is kept"
    );
    assert_eq!(child.body["id"].as_str().map(|s| s.len()), Some(10));
    let inspected = call_keys(
        &t.app,
        request(
            "GET",
            &format!("/api/v1/keys/{}", child.body["id"].as_str().unwrap()),
        )
        .admin()
        .build(),
    )
    .await;
    assert_eq!(inspected.body["createdWith"], week_id.as_str());
}

// ---------------------------------------------------------------- item 7: bounded user item

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_user_item_stays_under_1_kb_after_any_number_of_create_revoke_cycles() {
    let t = spawn_app().await;
    // The longest user id there can be (128 characters): the worst case.
    let user = &format!("{}@example.com", "c".repeat(116));
    let (admin_key, _) = admin_creates_key(&t.app, user, "pro").await;
    let max = t.app.config.max_keys_per_user as usize;
    let mut live: Vec<(String, String)> = Vec::new();
    let mut sizes = Vec::new();
    for cycle in 0..60 {
        if live.len() + 1 == max {
            let (_, id) = live.remove(0);
            let revoked = call_keys(
                &t.app,
                request("DELETE", &format!("/api/v1/keys/{id}"))
                    .admin()
                    .build(),
            )
            .await;
            assert_eq!(revoked.status, 200, "{}", revoked.text);
        }
        let made = call_keys(
            &t.app,
            request("POST", "/api/v1/keys")
                .key(&admin_key)
                .json(json!({"userId": user, "name": format!("cycle {cycle}")}))
                .build(),
        )
        .await;
        assert_eq!(made.status, 201, "cycle {cycle}: {}", made.text);
        let key = made.body["key"].as_str().unwrap().to_owned();
        let id = made.body["id"].as_str().unwrap().to_owned();
        let caller = metered(&t.app, &key).await;
        t.app.charge(&caller).await.expect("charge");
        live.push((key, id));
        sizes.push(dynamodb_item_size(&user_item(&t.store, user).await));
    }
    let stored = t
        .store
        .get_user(&UserId::parse(user).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.live_keys.len(),
        max,
        "the user holds the maximum of live keys"
    );
    let largest = *sizes.iter().max().unwrap();
    println!("abuse: user item with {max} live keys over 60 create/revoke cycles: {} to {largest} bytes (DynamoDB size)", sizes[0]);
    assert!(largest < 1024, "user item {largest} bytes");
    assert_eq!(
        sizes[sizes.len() - 1],
        sizes[sizes.len() - 2],
        "the size no longer grows with cycles"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn key_lists_show_each_keys_use_without_a_second_write_on_the_metered_path() {
    let t = spawn_app().await;
    let (key, id) = admin_creates_key(&t.app, "counted", "free").await;
    let counter = RoundTripCounter::default();
    let client = Store::connect_client_counting(Some(&endpoint()), Some(counter.clone())).await;
    let counted = App::new(
        t.app.config.clone(),
        Store::new(client, t.store.table()),
        t.clock.clone(),
    );
    let caller = metered(&counted, &key).await;
    let before = counter.count();
    let mut last = None;
    for n in 0..3 {
        t.clock.set(default_now() + Duration::seconds(n));
        last = Some(counted.charge(&caller).await.expect("charge"));
    }
    assert_eq!(
        counter.count() - before,
        3,
        "one round trip per warm metered charge"
    );
    counted.refund(last.as_ref().unwrap()).await;
    let listed = call_keys(&t.app, request("GET", "/api/v1/keys").key(&key).build()).await;
    let entry = &listed.body["keys"][0];
    assert_eq!(
        entry["usageCount"], 2,
        "three charged, one refunded: {}",
        listed.text
    );
    assert_eq!(
        entry["lastUsedAt"],
        rfc3339(default_now() + Duration::seconds(2))
    );
    let revoked = call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{id}"))
            .admin()
            .build(),
    )
    .await;
    assert_eq!(revoked.status, 200);
    let inspected = call_keys(
        &t.app,
        request("GET", &format!("/api/v1/keys/{id}"))
            .admin()
            .build(),
    )
    .await;
    assert_eq!(
        inspected.body["usageCount"], 2,
        "kept on the key item: {}",
        inspected.text
    );
    assert_eq!(
        inspected.body["lastUsedAt"],
        rfc3339(default_now() + Duration::seconds(2))
    );
    let item = user_item(&t.store, "counted").await;
    assert!(
        item.keys().all(|name| !name.contains(&id)),
        "no trace of the revoked key on the user item: {item:?}"
    );
}

// ---------------------------------------------------------------- item 8: keys in paths

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_key_pasted_into_a_path_is_a_400_that_never_echoes_it() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "paster", "free").await;
    for (method, path) in [
        ("DELETE", format!("/api/v1/keys/{key}")),
        ("GET", format!("/api/v1/keys/{key}")),
        ("POST", format!("/api/v1/keys/{key}/rotate")),
        ("DELETE", format!("/api/v1/keys/{}", key.to_uppercase())),
    ] {
        let answered = call_keys(&t.app, request(method, &path).key(&key).build()).await;
        assert_eq!(answered.status, 400, "{method} {path}: {}", answered.text);
        assert!(answered.body["error"]
            .as_str()
            .unwrap()
            .contains("that is the key itself"));
        assert!(!answered.text.contains(&key[3..13]), "{}", answered.text);
    }
    let unknown_route = call_usage(
        &t.app,
        request("GET", &format!("/api/v1/usage/{key}"))
            .key(&key)
            .build(),
    )
    .await;
    assert_eq!(unknown_route.status, 404);
    assert!(
        !unknown_route.text.contains(&key[3..13]),
        "{}",
        unknown_route.text
    );
    let user = t
        .store
        .get_user(&UserId::parse("paster").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.live_keys.len(), 1, "nothing was revoked");
}

// ---------------------------------------------------------------- item 10: rotation

/// Makes the immediate deactivation of a key (the revoke step) fail before it is sent.
#[derive(Debug)]
struct FailDeactivation;

impl Intercept for FailDeactivation {
    fn name(&self) -> &'static str {
        "FailDeactivation"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let body = context.request().body().bytes().unwrap_or_default();
        if String::from_utf8_lossy(body).contains("attribute_exists(liveKeys.#kid)") {
            return Err("injected storage fault".into());
        }
        Ok(())
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_rotation_whose_revoke_step_fails_still_shows_the_new_key_with_a_warning() {
    let t = spawn_app().await;
    let (old_key, old_id) = admin_creates_key(&t.app, "rotator", "pro").await;
    let client = Store::connect_client_intercepted(Some(&endpoint()), FailDeactivation).await;
    let faulty = App::new(
        t.app.config.clone(),
        Store::new(client, t.store.table()),
        t.clock.clone(),
    );
    let rotated = call_keys(
        &faulty,
        request("POST", &format!("/api/v1/keys/{old_id}/rotate"))
            .key(&old_key)
            .build(),
    )
    .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    assert!(rotated.body["oldKeyRevokesAt"].is_null());
    let warning = rotated.body["warning"].as_str().unwrap();
    assert!(
        warning.contains("still live")
            && warning.contains(&format!("DELETE /api/v1/keys/{old_id}")),
        "{warning}"
    );
    let new_key = rotated.body["newKey"]["key"].as_str().unwrap().to_owned();
    assert_eq!(rotated.header("cache-control"), Some("no-store"));

    // Both keys work; the new key then revokes the old one.
    for key in [&old_key, &new_key] {
        let caller = metered(&t.app, key).await;
        assert!(t.app.charge(&caller).await.is_ok());
    }
    let revoked = call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{old_id}"))
            .key(&new_key)
            .build(),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let listed = call_keys(&t.app, request("GET", "/api/v1/keys").key(&new_key).build()).await;
    assert_eq!(listed.body["total"], 2);
    let stored = t
        .store
        .get_user(&UserId::parse("rotator").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.used_in(Period::containing(default_now())), 2);
}

// ---------------------------------------------------------------- item 6: totals

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn refunded_requests_are_shown_apart_from_billed_ones() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "refundee", "free").await;
    let unreachable = data_app(&t, "http://127.0.0.1:9");
    let good = data_app(&t, &wiremock::MockServer::start().await.uri());
    let failed = answer(
        harmonic_data::invoke(
            &unreachable,
            request("POST", "/api/v1/data")
                .key(&key)
                .json(json!({"query": "x", "sources": "wiki"}))
                .build(),
        )
        .await,
    );
    assert_eq!(failed.status, 502, "{}", failed.text);
    let served = answer(
        harmonic_data::invoke(
            &good,
            request("POST", "/api/v1/data")
                .key(&key)
                .json(json!({"query": "physics", "sources": "curiosity"}))
                .build(),
        )
        .await,
    );
    assert_eq!(served.status, 200, "{}", served.text);
    let stats = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .admin()
            .query("action", "stats")
            .build(),
    )
    .await;
    assert_eq!(stats.body["requests"], 1, "billed: {}", stats.text);
    assert_eq!(stats.body["refunded"], 1, "{}", stats.text);
    let analytics = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "analytics")
            .query("days", "1")
            .build(),
    )
    .await;
    assert_eq!(
        analytics.body["daily"][0]["requests"], 1,
        "{}",
        analytics.text
    );
    assert_eq!(
        analytics.body["daily"][0]["refunded"], 1,
        "{}",
        analytics.text
    );
    assert_eq!(analytics.body["total"]["refunded"], 1, "{}", analytics.text);
    let current = call_usage(
        &t.app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "current")
            .build(),
    )
    .await;
    assert_eq!(current.body["used"], 1);
}
