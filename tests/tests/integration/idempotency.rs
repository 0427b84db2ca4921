//! `Idempotency-Key` on `POST /api/v1/data` against the DynamoDB-compatible server: a retry is
//! replayed and not charged; the key cannot be turned into free fresh answers, cannot reach
//! another caller's record, and concurrent duplicates are charged once.
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::clock::Clock;
use harmonic_shared::domain::{Period, UserId};
use harmonic_shared::store::{idempotency_pk, Claimed, ExistingRecord, StoredResponse};
use harmonic_shared::App;
use harmonic_tests::*;
use serde_json::json;
use std::collections::BTreeMap;

const UUID: &str = "8e03978e-40d5-43e8-bc93-6894a57f9324";

struct World {
    t: TestApp,
    data: DataApp,
    _stubs: wiremock::MockServer,
}

async fn world() -> World {
    let t = spawn_app().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let stubs = harmonic_tests::stubs::start(listener).await;
    let data = container(&t, &stubs.uri());
    World {
        t,
        data,
        _stubs: stubs,
    }
}

fn container(t: &TestApp, upstream: &str) -> DataApp {
    let app = App::new(t.app.config.clone(), t.store.clone(), t.clock.clone());
    let sources = Sources::new(SourceSettings::for_base_url(upstream)).expect("sources");
    DataApp::new(app, sources)
}

async fn used(t: &TestApp, user: &str) -> u64 {
    t.store
        .get_user(&UserId::parse(user).unwrap())
        .await
        .unwrap()
        .unwrap()
        .used_in(Period::containing(t.clock.now()))
}

fn query(body: serde_json::Value) -> RequestBuilder {
    request("POST", "/api/v1/data").json(body)
}

fn quantum() -> serde_json::Value {
    json!({"query": "quantum computing", "sources": "wiki"})
}

async fn post(data: &DataApp, builder: RequestBuilder) -> Answer {
    answer(harmonic_data::invoke(data, builder.build()).await)
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_retry_with_the_same_key_replays_the_first_answer_and_is_not_charged() {
    let w = world().await;
    let (key, _) = admin_creates_key(&w.t.app, "retrier", "free").await;
    let first = post(
        &w.data,
        query(quantum())
            .key(&key)
            .header("Idempotency-Key", &format!("\"{UUID}\"")),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.header("x-ratelimit-used"), Some("1"));
    assert_eq!(first.header("idempotent-replayed"), None);
    // The retry (bare form of the same key) an hour later, from another container.
    w.t.clock.set(w.t.clock.now() + chrono::Duration::hours(1));
    let other_container = container(&w.t, &w._stubs.uri());
    let retry = post(
        &other_container,
        query(quantum()).key(&key).header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        retry.text, first.text,
        "the retry gets the first answer, byte for byte"
    );
    assert_eq!(retry.header("x-ratelimit-used"), Some("1"));
    assert_eq!(used(&w.t, "retrier").await, 1, "the retry was not charged");
    // A request without the key is a new request and is charged.
    let fresh = post(&w.data, query(quantum()).key(&key)).await;
    assert_eq!(fresh.header("x-ratelimit-used"), Some("2"));
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_same_key_with_another_body_is_422_and_not_charged() {
    let w = world().await;
    let (key, _) = admin_creates_key(&w.t.app, "reuser", "free").await;
    let first = post(
        &w.data,
        query(quantum()).key(&key).header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    for body in [
        json!({"query": "climate change", "sources": "wiki"}),
        json!({"query": "quantum computing", "sources": ["wiki", "arxiv"]}),
        json!({"query": "quantum computing", "sources": "wiki", "maxResults": 20}),
    ] {
        let reused = post(
            &w.data,
            query(body.clone())
                .key(&key)
                .header("Idempotency-Key", UUID),
        )
        .await;
        assert_eq!(reused.status, 422, "{body}: {}", reused.text);
        assert!(
            reused.body["error"]
                .as_str()
                .unwrap()
                .contains("different request body"),
            "{}",
            reused.text
        );
    }
    assert_eq!(
        used(&w.t, "reuser").await,
        1,
        "a reused key earns no fresh answer"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn another_caller_with_the_same_key_is_served_and_charged_on_its_own() {
    let w = world().await;
    let (alice, _) = admin_creates_key(&w.t.app, "alice", "free").await;
    let (bob, _) = admin_creates_key(&w.t.app, "bob", "free").await;
    let first = post(
        &w.data,
        query(quantum()).key(&alice).header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(first.status, 200);
    // Bob cannot read Alice's replay, nor is he blocked by it, even with another body.
    let of_bob = post(
        &w.data,
        query(quantum()).key(&bob).header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(of_bob.status, 200, "{}", of_bob.text);
    assert_eq!(of_bob.header("idempotent-replayed"), None);
    assert_eq!(of_bob.header("x-user-id"), Some("bob"));
    let other_body = json!({"query": "climate change", "sources": "wiki"});
    let of_bob_again = post(
        &w.data,
        query(other_body)
            .key(&bob)
            .header("Idempotency-Key", "bob-2"),
    )
    .await;
    assert_eq!(of_bob_again.status, 200);
    assert_eq!((used(&w.t, "alice").await, used(&w.t, "bob").await), (1, 2));
    // Demo callers are scoped by address.
    let demo_a = post(
        &w.data,
        query(quantum())
            .from_ip("203.0.113.1")
            .header("Idempotency-Key", UUID),
    )
    .await;
    let demo_b = post(
        &w.data,
        query(quantum())
            .from_ip("203.0.113.2")
            .header("Idempotency-Key", UUID),
    )
    .await;
    let demo_a_again = post(
        &w.data,
        query(quantum())
            .from_ip("203.0.113.1")
            .header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(demo_a.header("x-user-id"), Some("demo:203.0.113.1"));
    assert_eq!(demo_b.header("x-user-id"), Some("demo:203.0.113.2"));
    assert_eq!(
        demo_b.header("idempotent-replayed"),
        None,
        "another address is another caller"
    );
    assert_eq!(demo_a_again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        w.t.store
            .demo_used(
                &harmonic_shared::domain::ClientGroup::of(Some("203.0.113.1")),
                Period::containing(w.t.clock.now())
            )
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn concurrent_duplicates_from_several_containers_are_charged_once() {
    let w = world().await;
    let (key, _) = admin_creates_key(&w.t.app, "hammer", "pro").await;
    let containers: Vec<DataApp> = (0..4).map(|_| container(&w.t, &w._stubs.uri())).collect();
    let requests = (0..24).map(|i| {
        let data = &containers[i % containers.len()];
        let key = key.clone();
        async move {
            post(
                data,
                query(quantum()).key(&key).header("Idempotency-Key", UUID),
            )
            .await
        }
    });
    let answers = futures::future::join_all(requests).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    let fresh = answers
        .iter()
        .filter(|a| a.status == 200 && a.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(
        fresh, 1,
        "exactly one duplicate was served afresh: {statuses:?}"
    );
    assert!(answers
        .iter()
        .filter(|a| a.status == 409)
        .all(|a| a.header("retry-after").is_some()));
    assert_eq!(used(&w.t, "hammer").await, 1, "charged once");
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn malformed_idempotency_keys_are_400_and_nothing_is_charged_or_written() {
    let w = world().await;
    let (key, _) = admin_creates_key(&w.t.app, "sloppy", "free").await;
    let before = table_items(&w.t.store).await;
    let long = "k".repeat(256);
    for (case, value) in [
        ("empty", ""),
        ("empty string", "\"\""),
        ("unclosed quote", "\"abc"),
        ("space", "a b"),
        ("hash", "USER#bob#x"),
        ("too long", long.as_str()),
    ] {
        let refused = post(
            &w.data,
            query(quantum()).key(&key).header("Idempotency-Key", value),
        )
        .await;
        assert_eq!(refused.status, 400, "{case}: {}", refused.text);
        assert!(
            refused.body["error"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key"),
            "{case}"
        );
    }
    let twice = request("POST", "/api/v1/data")
        .json(quantum())
        .key(&key)
        .header("Idempotency-Key", "one")
        .header("Idempotency-Key", "two");
    assert_eq!(post(&w.data, twice).await.status, 400, "two headers");
    let non_ascii = harmonic_data::invoke(&w.data, {
        let mut built = query(quantum()).key(&key).build();
        built.headers_mut().insert(
            "idempotency-key",
            harmonic_shared::lambda_http::http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        built
    })
    .await;
    assert_eq!(non_ascii.status(), 400, "non-ASCII bytes");
    assert_eq!(
        table_items(&w.t.store).await,
        before,
        "nothing was written or charged"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_request_that_was_not_charged_gives_its_key_back() {
    let w = world().await;
    let (key, _) = admin_creates_key(&w.t.app, "unlucky", "free").await;
    let failing = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(500))
        .mount(&failing)
        .await;
    let broken = container(&w.t, &failing.uri());
    let failed = post(
        &broken,
        query(quantum()).key(&key).header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(failed.status, 502, "{}", failed.text);
    assert_eq!(used(&w.t, "unlucky").await, 0);
    // The retry is served afresh once the source is back, and charged then.
    let retry = post(
        &w.data,
        query(quantum()).key(&key).header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), None);
    assert_eq!(used(&w.t, "unlucky").await, 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_revoked_key_cannot_replay_and_an_expired_window_is_a_new_request() {
    let w = world().await;
    let (key, _) = admin_creates_key(&w.t.app, "window", "free").await;
    let (other_key, other_id) = admin_creates_key(&w.t.app, "window", "free").await;
    assert_eq!(
        post(
            &w.data,
            query(quantum()).key(&key).header("Idempotency-Key", UUID)
        )
        .await
        .status,
        200
    );
    // Scoped per user: the user's other key replays too (a retry after a rotation).
    let with_other_key = post(
        &w.data,
        query(quantum())
            .key(&other_key)
            .header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(with_other_key.header("idempotent-replayed"), Some("true"));
    let revoked = call_keys(
        &w.t.app,
        request("DELETE", &format!("/api/v1/keys/{other_id}"))
            .admin()
            .build(),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let replay_with_revoked = post(
        &w.data,
        query(quantum())
            .key(&other_key)
            .header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(
        replay_with_revoked.status, 401,
        "{}",
        replay_with_revoked.text
    );
    // 24 hours later the key is forgotten: the same request is served and charged again.
    w.t.clock.set(w.t.clock.now() + chrono::Duration::hours(24));
    let later = post(
        &w.data,
        query(quantum()).key(&key).header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(later.status, 200);
    assert_eq!(later.header("idempotent-replayed"), None);
    assert_eq!(used(&w.t, "window").await, 2);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_pending_claim_answers_409_until_its_lock_expires_then_the_same_body_takes_over() {
    let w = world().await;
    let (key, _) = admin_creates_key(&w.t.app, "stuck", "free").await;
    let body = quantum().to_string();
    // A first request that claimed the key and whose function then stopped.
    let pk = idempotency_pk("USER#stuck", UUID);
    let fingerprint: String = {
        use sha2::Digest;
        sha2::Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let now = w.t.clock.now().timestamp();
    let claimed =
        w.t.store
            .claim_idempotency_key(&pk, &fingerprint, now, 30, 86_400)
            .await
            .unwrap();
    assert!(matches!(claimed, Claimed::Fresh { .. }));
    let retry = || {
        request("POST", "/api/v1/data")
            .raw_body(body.clone())
            .key(&key)
            .header("Idempotency-Key", UUID)
    };
    let busy = post(&w.data, retry()).await;
    assert_eq!(busy.status, 409, "{}", busy.text);
    assert_eq!(busy.header("retry-after"), Some("30"));
    assert_eq!(used(&w.t, "stuck").await, 0);
    // Another body cannot take an abandoned claim over.
    w.t.clock
        .set(w.t.clock.now() + chrono::Duration::seconds(31));
    let other = post(
        &w.data,
        query(json!({"query": "climate change", "sources": "wiki"}))
            .key(&key)
            .header("Idempotency-Key", UUID),
    )
    .await;
    assert_eq!(other.status, 422, "{}", other.text);
    let taken_over = post(&w.data, retry()).await;
    assert_eq!(taken_over.status, 200, "{}", taken_over.text);
    assert_eq!(used(&w.t, "stuck").await, 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_replay_larger_than_one_item_is_stored_in_parts_and_comes_back_whole() {
    let t = spawn_app().await;
    let pk = idempotency_pk("USER#big", "big-one");
    let now = t.clock.now().timestamp();
    let Claimed::Fresh { token } = t
        .store
        .claim_idempotency_key(&pk, "fp", now, 30, 86_400)
        .await
        .unwrap()
    else {
        panic!("a fresh key is claimed");
    };
    // 1.2 MB with multi-byte characters: three times what one DynamoDB item holds.
    let body = format!("{{\"text\": \"{}\"}}", "ü€a".repeat(200_000));
    let stored = StoredResponse {
        status: 200,
        headers: BTreeMap::from([("content-type".to_owned(), "application/json".to_owned())]),
        body: body.clone(),
    };
    t.store
        .complete_idempotency_key(&pk, &token, &stored, now + 86_400)
        .await
        .unwrap();
    let again = t
        .store
        .claim_idempotency_key(&pk, "fp", now + 1, 30, 86_400)
        .await
        .unwrap();
    match again {
        Claimed::Existing(ExistingRecord::Done {
            response,
            fingerprint,
        }) => {
            assert_eq!(fingerprint, "fp");
            assert_eq!(response.body.len(), body.len());
            assert!(response.body == body, "the parts join back into the body");
            assert_eq!(response.headers["content-type"], "application/json");
        }
        other => panic!("expected the stored response, got {other:?}"),
    }
    let parts = table_items(&t.store)
        .await
        .keys()
        .filter(|(p, s)| p == &pk && s.starts_with("PART#"))
        .count();
    assert!(parts >= 4, "{parts} parts");
}
