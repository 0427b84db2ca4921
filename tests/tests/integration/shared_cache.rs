//! The state data containers share through the table (issue 12, item 5), through the data
//! handler against the DynamoDB-compatible server: the fleet's result cache (one upstream call
//! for the same query on two containers, expired items are misses, failures and oversized
//! answers are never shared, an unreachable table costs no answer) and arXiv's fleet-wide
//! politeness gate (calls from several containers spaced by the interval, a slot beyond the
//! request's budget refused at once and refunded, an unreachable gate item leaving each
//! container its own gate).
//!
//! Each container's deferred writes are collected, not spawned: a test sends them when it
//! plays the after-response batch (`flush`), so it can also show that nothing was written on
//! the request path.
use aws_sdk_dynamodb::types::AttributeValue;
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::clock::Clock;
use harmonic_shared::domain::{Period, UserId};
use harmonic_shared::store::{DeferredPut, Store};
use harmonic_shared::App;
use harmonic_testkit::fixtures::ARXIV_QUANTUM;
use harmonic_tests::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// arXiv's interval in these tests (3 s in production): short, and long enough to measure.
const ARXIV_INTERVAL: Duration = Duration::from_millis(300);

/// A data container: its own `Sources` (caches, gates) on the shared table, and the writes it
/// deferred until after its responses.
struct Container {
    state: DataApp,
    deferred: Arc<Mutex<Vec<DeferredPut>>>,
}

impl Container {
    /// Plays the after-response batch: sends every deferred put now; returns how many.
    async fn flush(&self, store: &Store) -> usize {
        let puts: Vec<DeferredPut> = std::mem::take(&mut *self.deferred.lock().unwrap());
        let count = puts.len();
        for put in puts {
            store
                .put_deferred_now(put)
                .await
                .expect("send a deferred put");
        }
        count
    }

    fn pending(&self) -> usize {
        self.deferred.lock().unwrap().len()
    }
}

fn settings(upstream: &MockServer) -> SourceSettings {
    let mut settings = SourceSettings::for_base_url(&upstream.uri());
    settings.arxiv_min_interval = ARXIV_INTERVAL;
    settings
}

/// A container on `t`'s table whose sources share state through `shared` (the same table,
/// or one that cannot be reached).
fn container(t: &TestApp, settings: SourceSettings, shared: Store) -> Container {
    let app = App::new(t.app.config.clone(), t.store.clone(), t.clock.clone());
    let deferred = Arc::new(Mutex::new(Vec::new()));
    let sink = deferred.clone();
    let sources = Sources::new(settings)
        .expect("sources")
        .with_shared_state(shared, Arc::new(move |put| sink.lock().unwrap().push(put)));
    Container {
        state: DataApp::new(app, sources),
        deferred,
    }
}

/// The test table reached through a port where nothing listens.
async fn unreachable(t: &TestApp) -> Store {
    Store::new(
        Store::connect_client(Some("http://127.0.0.1:9")).await,
        t.store.table(),
    )
}

async fn ask(container: &Container, key: &str, body: Value) -> Answer {
    answer(
        harmonic_data::handle(
            &container.state,
            request("POST", "/api/v1/data").key(key).json(body).build(),
        )
        .await,
    )
}

async fn upstream_calls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

async fn stored_count(t: &TestApp, user: &str) -> u64 {
    let user = t
        .store
        .get_user(&UserId::parse(user).expect("user id"))
        .await
        .expect("read the user")
        .expect("the user exists");
    user.used_in(Period::containing(t.clock.now()))
}

type Item = HashMap<String, AttributeValue>;

/// The shared-cache items of the table.
async fn cached_results(store: &Store) -> Vec<Item> {
    table_items(store)
        .await
        .into_iter()
        .filter(|((pk, _), _)| pk.starts_with("CACHE#"))
        .map(|(_, item)| item)
        .collect()
}

fn text<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name)
        .and_then(|value| value.as_s().ok())
        .map(String::as_str)
        .unwrap_or_default()
}

fn number(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} is a number in {item:?}"))
}

fn epoch_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Overwrites a cached result's value and expiry, as another writer (or time) would.
async fn rewrite_cached_result(store: &Store, item: &Item, value: &str, expires_at: i64) {
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", item["pk"].clone())
        .key("sk", item["sk"].clone())
        .update_expression("SET #value = :value, expiresAt = :at, #ttl = :at")
        .expression_attribute_names("#value", "value")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
        .expression_attribute_values(":at", AttributeValue::N(expires_at.to_string()))
        .send()
        .await
        .expect("rewrite the cached result");
}

/// An arXiv stand-in that notes when each call arrived.
#[derive(Clone, Default)]
struct TimedArxiv(Arc<Mutex<Vec<Instant>>>);

impl Respond for TimedArxiv {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(Instant::now());
        ResponseTemplate::new(200).set_body_raw(
            ARXIV_QUANTUM.as_bytes().to_vec(),
            "application/atom+xml; charset=utf-8",
        )
    }
}

impl TimedArxiv {
    async fn start() -> (Self, MockServer) {
        let arxiv = TimedArxiv::default();
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/query"))
            .respond_with(arxiv.clone())
            .mount(&server)
            .await;
        (arxiv, server)
    }

    fn arrivals(&self) -> Vec<Instant> {
        let mut arrivals = self.0.lock().unwrap().clone();
        arrivals.sort();
        arrivals
    }
}

async fn stubs() -> MockServer {
    harmonic_tests::stubs::start(
        std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port"),
    )
    .await
}

async fn gate_item(store: &Store) -> Option<Item> {
    table_items(store)
        .await
        .remove(&("GATE#arxiv".to_owned(), "GATE".to_owned()))
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_same_query_on_two_containers_reaches_the_upstream_once() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "two-containers", "free").await;
    let upstream = stubs().await;
    let first = container(&t, settings(&upstream), t.store.clone());
    let second = container(&t, settings(&upstream), t.store.clone());

    let from_upstream = ask(
        &first,
        &key,
        json!({"query": "quantum computing", "sources": "wiki"}),
    )
    .await;
    let written_on_the_request_path = cached_results(&t.store).await.len();
    let deferred = first.flush(&t.store).await;
    let shared = cached_results(&t.store).await;
    let from_fleet = ask(
        &second,
        &key,
        json!({"query": "  quantum   computing ", "sources": "wiki"}),
    )
    .await;

    assert_eq!(from_upstream.status, 200, "{}", from_upstream.text);
    assert_eq!(from_fleet.status, 200, "{}", from_fleet.text);
    assert_eq!(
        upstream_calls(&upstream).await,
        1,
        "the second container was answered by the fleet's cache"
    );
    let (a, b) = (
        &from_upstream.body["results"][0],
        &from_fleet.body["results"][0],
    );
    assert_eq!(a["data"]["title"], "Quantum computing", "{a}");
    assert_eq!(b["data"], a["data"]);
    assert_eq!(b["matched"], a["matched"]);
    assert_eq!(b["message"], a["message"]);
    assert_eq!(a["fromCache"], false);
    assert_eq!(b["fromCache"], true);
    assert_eq!(
        from_fleet.header("x-ratelimit-used"),
        Some("2"),
        "both charged"
    );

    assert_eq!(
        written_on_the_request_path, 0,
        "the put waits for the batch"
    );
    assert_eq!(deferred, 1);
    assert_eq!(shared.len(), 1);
    let item = &shared[0];
    assert!(text(item, "pk").starts_with("CACHE#wiki#"), "{item:?}");
    assert_eq!(
        text(item, "pk").len(),
        "CACHE#wiki#".len() + 64,
        "SHA-256 hex"
    );
    assert_eq!(text(item, "sk"), "RESULT");
    let expires_at = number(item, "expiresAt");
    assert_eq!(number(item, "ttl"), expires_at);
    let lifetime = expires_at - epoch_seconds();
    assert!(
        (86_390..=86_400).contains(&lifetime),
        "wiki's TTL: {lifetime}"
    );
    let value: Value = serde_json::from_str(text(item, "value")).expect("JSON text");
    assert_eq!(value["data"], a["data"]);
    assert_eq!(second.pending(), 0, "a shared hit is not written back");
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn an_expired_shared_result_is_a_miss_even_while_the_item_is_still_there() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "expired", "free").await;
    let upstream = stubs().await;
    let body = json!({"query": "quantum computing", "sources": "wiki"});
    let writer = container(&t, settings(&upstream), t.store.clone());
    ask(&writer, &key, body.clone()).await;
    writer.flush(&t.store).await;
    let item = cached_results(&t.store).await.remove(0);
    let planted = r#"{"data":{"title":"Planted by the test"},"noMatch":null}"#;

    // Live: the planted value is served, so the item really is what containers read.
    rewrite_cached_result(&t.store, &item, planted, epoch_seconds() + 600).await;
    let live = ask(
        &container(&t, settings(&upstream), t.store.clone()),
        &key,
        body.clone(),
    )
    .await;
    // Expired a minute ago, not deleted (dynalite never deletes; DynamoDB can take days).
    rewrite_cached_result(&t.store, &item, planted, epoch_seconds() - 60).await;
    let after_expiry = container(&t, settings(&upstream), t.store.clone());
    let expired = ask(&after_expiry, &key, body).await;

    assert_eq!(live.status, 200, "{}", live.text);
    assert_eq!(
        live.body["results"][0]["data"]["title"],
        "Planted by the test"
    );
    assert_eq!(expired.status, 200, "{}", expired.text);
    assert_eq!(
        expired.body["results"][0]["data"]["title"],
        "Quantum computing"
    );
    assert_eq!(expired.body["results"][0]["fromCache"], false);
    assert_eq!(
        upstream_calls(&upstream).await,
        2,
        "the expired item was a miss"
    );
    assert_eq!(after_expiry.pending(), 1, "the fresh answer replaces it");
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn with_the_shared_cache_unreachable_the_upstream_answers() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "cache-down", "free").await;
    let upstream = stubs().await;
    let cut_off = container(&t, settings(&upstream), unreachable(&t).await);

    let started = Instant::now();
    let answered = ask(
        &cut_off,
        &key,
        json!({"query": "quantum computing", "sources": ["wiki", "arxiv"]}),
    )
    .await;
    let took = started.elapsed();

    assert_eq!(answered.status, 200, "{}", answered.text);
    assert_eq!(
        answered.body["failedSources"],
        json!([]),
        "{}",
        answered.text
    );
    let results = answered.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert!(results
        .iter()
        .all(|r| r["fromCache"] == false && r["matched"] == true));
    assert_eq!(
        answered.header("x-ratelimit-used"),
        Some("1"),
        "charged normally"
    );
    assert_eq!(upstream_calls(&upstream).await, 2);
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn failures_are_never_written_to_the_shared_cache() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "failures", "free").await;
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(500).set_body_raw("Internal Server Error", "text/plain"),
        )
        .mount(&upstream)
        .await;
    let body = json!({"query": "Berlin", "sources": ["wiki", "weather", "arxiv"]});
    let first = container(&t, settings(&upstream), t.store.clone());
    let second = container(&t, settings(&upstream), t.store.clone());

    let failed = ask(&first, &key, body.clone()).await;
    let flushed = first.flush(&t.store).await;
    let failed_elsewhere = ask(&second, &key, body).await;

    assert_eq!(failed.status, 502, "{}", failed.text);
    assert_eq!(failed.header("x-ratelimit-used"), Some("0"), "refunded");
    assert_eq!(failed_elsewhere.status, 502, "{}", failed_elsewhere.text);
    assert_eq!(flushed, 0, "nothing deferred for failures");
    assert_eq!(second.pending(), 0);
    assert!(cached_results(&t.store).await.is_empty());
    assert_eq!(
        upstream_calls(&upstream).await,
        6,
        "the second container asked every upstream again: failures are remembered per container"
    );
    assert_eq!(stored_count(&t, "failures").await, 0);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn answers_too_large_for_one_item_are_kept_in_their_container_only() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "too-large", "free").await;
    let upstream = MockServer::start().await;
    let extract = "a".repeat(400_000);
    Mock::given(path("/api/rest_v1/page/summary/Huge_article"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            json!({"type": "standard", "title": "Huge article", "extract": extract}).to_string(),
            "application/json",
        ))
        .mount(&upstream)
        .await;
    let body = json!({"query": "Huge article", "sources": "wiki"});
    let only = container(&t, settings(&upstream), t.store.clone());

    let first = ask(&only, &key, body.clone()).await;
    let again = ask(&only, &key, body).await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.body["results"][0]["data"]["extract"]
            .as_str()
            .map(str::len),
        Some(400_000)
    );
    assert_eq!(only.pending(), 0, "no put for a value over the item limit");
    assert!(cached_results(&t.store).await.is_empty());
    assert_eq!(
        again.body["results"][0]["fromCache"], true,
        "still cached here"
    );
    assert_eq!(upstream_calls(&upstream).await, 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn arxiv_calls_from_containers_at_once_are_spaced_by_the_interval() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "fleet-gate", "pro").await;
    let (arxiv, upstream) = TimedArxiv::start().await;
    let containers: Vec<Container> = (0..3)
        .map(|_| container(&t, settings(&upstream), t.store.clone()))
        .collect();

    // Different queries, so that no container can be answered by another's cached result.
    let answers = futures::future::join_all(
        containers
            .iter()
            .zip(["quantum", "entanglement", "superposition"])
            .map(|(container, query)| {
                ask(container, &key, json!({"query": query, "sources": "arxiv"}))
            }),
    )
    .await;

    for answered in &answers {
        assert_eq!(answered.status, 200, "{}", answered.text);
        assert_eq!(
            answered.body["failedSources"],
            json!([]),
            "{}",
            answered.text
        );
    }
    let arrivals = arxiv.arrivals();
    assert_eq!(arrivals.len(), 3);
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= ARXIV_INTERVAL,
            "calls {gap:?} apart, under {ARXIV_INTERVAL:?}"
        );
    }
    let gate = gate_item(&t.store).await.expect("the gate item");
    assert!(
        number(&gate, "nextSlot") > chrono::Utc::now().timestamp_millis() - 5_000,
        "{gate:?}"
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_fleet_slot_beyond_the_budget_fails_arxiv_at_once_and_is_refunded_when_alone() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "too-busy", "free").await;
    let (arxiv, upstream) = TimedArxiv::start().await;
    // Other containers hold arXiv for the next minute.
    let next_slot = chrono::Utc::now().timestamp_millis() + 60_000;
    t.store
        .client()
        .put_item()
        .table_name(t.store.table())
        .item("pk", AttributeValue::S("GATE#arxiv".into()))
        .item("sk", AttributeValue::S("GATE".into()))
        .item("nextSlot", AttributeValue::N(next_slot.to_string()))
        .send()
        .await
        .expect("plant the gate item");
    let busy = container(&t, settings(&upstream), t.store.clone());

    let started = Instant::now();
    let alone = ask(&busy, &key, json!({"query": "quantum", "sources": "arxiv"})).await;
    let took = started.elapsed();
    let beside_kb = ask(
        &busy,
        &key,
        json!({"query": "quantum", "sources": ["arxiv", "kb"]}),
    )
    .await;

    assert_eq!(alone.status, 502, "{}", alone.text);
    assert!(
        took < Duration::from_secs(1),
        "failed fast, not after a wait: {took:?}"
    );
    let failure = &alone.body["failedSources"][0];
    assert_eq!(failure["code"], "rate_limited", "{}", alone.text);
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("for the whole service"),
        "{failure}"
    );
    assert_eq!(alone.header("x-ratelimit-used"), Some("0"), "refunded");
    assert!(alone.header("retry-after").is_some());
    assert_eq!(beside_kb.status, 200, "{}", beside_kb.text);
    assert_eq!(beside_kb.body["failedSources"][0]["code"], "rate_limited");
    assert_eq!(
        beside_kb.header("x-ratelimit-used"),
        Some("1"),
        "charged: kb answered"
    );
    assert_eq!(stored_count(&t, "too-busy").await, 1);
    assert!(arxiv.arrivals().is_empty(), "arXiv was never called");
    let gate = gate_item(&t.store).await.expect("the gate item");
    assert_eq!(number(&gate, "nextSlot"), next_slot, "no slot was reserved");
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn with_the_gate_item_unreachable_each_container_keeps_its_own_interval() {
    let t = spawn_app().await;
    let (key, _) = admin_creates_key(&t.app, "gate-down", "pro").await;
    let (arxiv, upstream) = TimedArxiv::start().await;
    let mut slow = settings(&upstream);
    slow.arxiv_min_interval = Duration::from_secs(60);
    let first = container(&t, slow.clone(), unreachable(&t).await);
    let second = container(&t, slow, unreachable(&t).await);

    let started = Instant::now();
    let called = ask(
        &first,
        &key,
        json!({"query": "quantum", "sources": "arxiv"}),
    )
    .await;
    let held_back = ask(
        &first,
        &key,
        json!({"query": "entanglement", "sources": "arxiv"}),
    )
    .await;
    let elsewhere = ask(
        &second,
        &key,
        json!({"query": "entanglement", "sources": "arxiv"}),
    )
    .await;
    let took = started.elapsed();

    assert_eq!(called.status, 200, "{}", called.text);
    assert_eq!(held_back.status, 502, "{}", held_back.text);
    let failure = &held_back.body["failedSources"][0];
    assert_eq!(failure["code"], "rate_limited");
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("allows one request every 60 s; the next slot is"),
        "this container's own gate: {failure}"
    );
    assert_eq!(held_back.header("x-ratelimit-used"), Some("1"), "refunded");
    assert_eq!(
        elsewhere.status, 200,
        "another container has its own gate: {}",
        elsewhere.text
    );
    assert_eq!(arxiv.arrivals().len(), 2);
    assert!(
        took < Duration::from_secs(5),
        "no request waited long: {took:?}"
    );
    assert!(gate_item(&t.store).await.is_none());
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn gate_reservations_from_a_stale_assumption_reread_the_item_and_never_overlap() {
    use harmonic_shared::clock::ManualClock;
    use harmonic_shared::store::{GateRequest, GateReservation};
    let t = spawn_app().await;
    let now = default_now();
    let clock = ManualClock::at(now);
    let ms = chrono::Duration::milliseconds;
    let ask_gate = |assumed, latest_start| GateRequest {
        upstream: "arxiv",
        spacing: Duration::from_millis(3_100),
        latest_start,
        assumed_next_slot: assumed,
    };

    let first = t
        .store
        .reserve_gate_slot(ask_gate(None, now + ms(1_500)), &clock)
        .await
        .expect("a free gate");
    // A container that never saw the item (or saw an old value) plans a slot that is taken:
    // its write is refused, it reads the item and takes the next slot.
    let second = t
        .store
        .reserve_gate_slot(ask_gate(None, now + ms(3_100)), &clock)
        .await
        .expect("the gate after a re-read");
    let stale = t
        .store
        .reserve_gate_slot(ask_gate(Some(now - ms(60_000)), now + ms(6_000)), &clock)
        .await
        .expect("the gate after a re-read");
    let written = gate_item(&t.store).await.expect("the gate item");

    assert_eq!(
        first,
        GateReservation::Reserved {
            start: now,
            next_slot: now + ms(3_100)
        }
    );
    assert_eq!(
        second,
        GateReservation::Reserved {
            start: now + ms(3_100),
            next_slot: now + ms(6_200)
        }
    );
    assert_eq!(
        stale,
        GateReservation::TooLate {
            next_free: now + ms(6_200),
            next_slot: Some(now + ms(6_200))
        },
        "a slot after the latest start is not taken"
    );
    assert_eq!(
        number(&written, "nextSlot"),
        (now + ms(6_200)).timestamp_millis(),
        "the refused plan wrote nothing"
    );
}
