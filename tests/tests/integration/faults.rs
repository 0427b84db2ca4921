//! Storage faults: a DynamoDB-compatible server this module starts, kills and restarts itself
//! (loopback only, every wait bounded). While it is down every request that needs it answers 503
//! JSON with `Retry-After` and nothing panics; when it is back the same containers serve again
//! without being rebuilt; no request that was not answered 2xx is charged; and a key whose
//! creation did not complete never works.
use chrono::Duration as Days;
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::apikey::{self, PresentedKey};
use harmonic_shared::clock::{Clock, ManualClock};
use harmonic_shared::config::Config;
use harmonic_shared::domain::{rfc3339, Period, Tier, UserId};
use harmonic_shared::lambda_http::http::{HeaderMap, HeaderValue};
use harmonic_shared::lambda_http::Request;
use harmonic_shared::store::{KeyRecord, Store};
use harmonic_shared::App;
use harmonic_tests::*;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest any single request may take while the server is down or coming back.
const REQUEST_BOUND: Duration = Duration::from_secs(15);
/// The longest the server may take to answer after it is started.
const START_BOUND: Duration = Duration::from_secs(20);

/// A dynalite process on a loopback port, persisting to its own directory so that a restart on
/// the same port and path finds the table again. Killed (and its directory removed) on drop.
struct Dynalite {
    child: Option<Child>,
    port: u16,
    path: PathBuf,
}

impl Dynalite {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "harmonic-faults-{}-{nanos}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).expect("a directory for the server's data");
        let mut server = Self {
            child: None,
            port,
            path,
        };
        server.restart().await;
        server
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the server on the same port and path and waits (bounded) until it answers.
    async fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let cli = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tools/node_modules/dynalite/cli.js"
        );
        let child = Command::new("node")
            .arg(cli)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--path")
            .arg(&self.path)
            .args([
                "--createTableMs",
                "0",
                "--deleteTableMs",
                "0",
                "--updateTableMs",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tools/node_modules/dynalite (make test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + START_BOUND;
        while !self.answers().await {
            assert!(
                Instant::now() < deadline,
                "dynalite did not answer on port {} within {START_BOUND:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server and waits for the process to end.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether anything answers a DynamoDB call on the port (as scripts/dynamodb.sh checks).
    async fn answers(&self) -> bool {
        let Ok(client) = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
        else {
            return false;
        };
        client
            .post(self.endpoint())
            .header("X-Amz-Target", "DynamoDB_20120810.ListTables")
            .header("Content-Type", "application/x-amz-json-1.0")
            .body("{}")
            .send()
            .await
            .is_ok()
    }
}

impl Drop for Dynalite {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// An app ("container") on the given server and table, with a clock the test holds.
async fn app_on(endpoint: &str, table: &str, clock: Arc<ManualClock>) -> App {
    app_on_with(endpoint, table, clock, &[]).await
}

/// [`app_on`] with configuration overrides.
async fn app_on_with(
    endpoint: &str,
    table: &str,
    clock: Arc<ManualClock>,
    overrides: &[(&'static str, &str)],
) -> App {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", table.to_owned()),
        ("DYNAMODB_ENDPOINT", endpoint.to_owned()),
        ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("BCRYPT_COST", "4".to_owned()),
    ]);
    for (name, value) in overrides {
        vars.insert(name, (*value).to_owned());
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("configuration");
    let client = Store::connect_client(Some(endpoint)).await;
    App::new(config, Store::new(client, table), clock)
}

fn data_container(app: App, stubs: &wiremock::MockServer) -> DataApp {
    let sources = Sources::new(SourceSettings::for_base_url(&stubs.uri())).expect("sources");
    DataApp::new(app, sources)
}

async fn start_stubs() -> wiremock::MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    harmonic_tests::stubs::start(listener).await
}

fn metered_request(key: Option<&str>) -> Request {
    let builder =
        request("POST", "/api/v1/data").json(json!({"query": "physics", "sources": "curiosity"}));
    match key {
        Some(key) => builder.key(key).build(),
        None => builder.build(),
    }
}

/// Runs one request, bounded in time, and says how long it took.
async fn bounded<F: std::future::Future<Output = Answer>>(
    what: &str,
    call: F,
) -> (Answer, Duration) {
    let started = Instant::now();
    let answered = tokio::time::timeout(REQUEST_BOUND, call)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {REQUEST_BOUND:?}"));
    (answered, started.elapsed())
}

fn assert_unavailable(what: &str, answered: &Answer) {
    assert_eq!(
        answered.status, 503,
        "{what} with the server down: {}",
        answered.text
    );
    assert_eq!(answered.body["success"], false, "{what}: {}", answered.text);
    assert!(
        answered.body["error"]
            .as_str()
            .is_some_and(|error| !error.is_empty()),
        "{what}: {}",
        answered.text
    );
    let retry_after = answered.header("retry-after").unwrap_or_default();
    assert!(
        retry_after.parse::<u64>().is_ok_and(|seconds| seconds >= 1),
        "{what}: Retry-After {retry_after:?}"
    );
}

async fn stored_count(store: &Store, user: &str, clock: &ManualClock) -> u64 {
    store
        .get_user(&UserId::parse(user).expect("user id"))
        .await
        .expect("read the user")
        .expect("the user exists")
        .used_in(Period::containing(clock.now()))
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_storage_outage_answers_503_and_service_resumes_by_itself_without_charging_failures() {
    let mut server = Dynalite::start().await;
    let endpoint = server.endpoint();
    let table = unique_table("faults");
    let clock = Arc::new(ManualClock::at(default_now()));
    let stubs = start_stubs().await;
    let state = data_container(app_on(&endpoint, &table, clock.clone()).await, &stubs);
    let app = &state.app;
    app.store.ensure_table().await.expect("create the table");

    // Before the outage: a key, and metered requests that succeed (the container is warm).
    let (key, _) = admin_creates_key(app, "steady", "free").await;
    let mut answered_2xx = 0u64;
    for _ in 0..2 {
        let served = answer(harmonic_data::invoke(&state, metered_request(Some(&key))).await);
        assert_eq!(served.status, 200, "{}", served.text);
        answered_2xx += 1;
    }
    let mut keys_created = 1;

    server.stop();
    assert!(!server.answers().await, "the server is down");

    let cold = data_container(app_on(&endpoint, &table, clock.clone()).await, &stubs);
    let mut slowest = Duration::ZERO;
    let mut down: Vec<(&str, Answer)> = Vec::new();
    let outage: Vec<(&str, Request)> = vec![
        (
            "admin creates a key",
            request("POST", "/api/v1/keys")
                .admin()
                .json(json!({"userId": "steady"}))
                .build(),
        ),
        (
            "anonymous sign-up",
            request("POST", "/api/v1/keys")
                .json(json!({"userId": "newcomer"}))
                .build(),
        ),
        (
            "holder lists its keys",
            request("GET", "/api/v1/keys").key(&key).build(),
        ),
    ];
    for (what, outage_request) in outage {
        let (answered, took) = bounded(what, call_keys(app, outage_request)).await;
        slowest = slowest.max(took);
        down.push((what, answered));
    }
    let (answered, took) = bounded(
        "holder reads its current usage",
        call_usage(
            app,
            request("GET", "/api/v1/usage")
                .key(&key)
                .query("action", "current")
                .build(),
        ),
    )
    .await;
    slowest = slowest.max(took);
    down.push(("holder reads its current usage", answered));
    for (what, container, key) in [
        (
            "metered data request, warm container",
            &state,
            Some(key.as_str()),
        ),
        (
            "metered data request, cold container",
            &cold,
            Some(key.as_str()),
        ),
        ("demo data request", &state, None),
    ] {
        let (answered, took) = bounded(what, async {
            answer(harmonic_data::invoke(container, metered_request(key)).await)
        })
        .await;
        slowest = slowest.max(took);
        down.push((what, answered));
    }
    for (what, answered) in &down {
        assert_unavailable(what, answered);
        assert!(!answered.text.contains(&key) && !answered.text.contains("$2"));
    }
    println!(
        "faults: {} requests answered 503 with the server down; slowest took {slowest:?}",
        down.len()
    );

    // What needs no storage still works: status, and malformed keys (refused before any read).
    let health = answer(
        harmonic_data::invoke(
            &state,
            request("GET", "/api/v1/data")
                .query("action", "health")
                .build(),
        )
        .await,
    );
    assert_eq!(health.status, 200, "{}", health.text);
    let malformed =
        answer(harmonic_data::invoke(&state, metered_request(Some("hm_not-a-key"))).await);
    assert_eq!(malformed.status, 401, "{}", malformed.text);

    // The server comes back on the same port and data: the same containers serve again.
    let restarted = Instant::now();
    server.restart().await;
    let served = answer(harmonic_data::invoke(&state, metered_request(Some(&key))).await);
    let resumed_after = restarted.elapsed();
    assert_eq!(
        served.status, 200,
        "first request after the restart: {}",
        served.text
    );
    answered_2xx += 1;
    println!(
        "faults: service resumed {resumed_after:?} after the restart began (server start included)"
    );
    let served_cold = answer(harmonic_data::invoke(&cold, metered_request(Some(&key))).await);
    assert_eq!(served_cold.status, 200, "{}", served_cold.text);
    answered_2xx += 1;
    let (new_key, _) = admin_creates_key(app, "steady", "free").await;
    keys_created += 1;
    let with_new_key = answer(harmonic_data::invoke(&state, metered_request(Some(&new_key))).await);
    assert_eq!(with_new_key.status, 200, "{}", with_new_key.text);
    answered_2xx += 1;
    let signed_up = call_keys(
        app,
        request("POST", "/api/v1/keys")
            .json(json!({"userId": "newcomer"}))
            .build(),
    )
    .await;
    assert_eq!(
        signed_up.status, 201,
        "the failed sign-up left nothing behind that blocks the user id: {}",
        signed_up.text
    );

    // Nothing that was not answered 2xx was charged.
    let usage = call_usage(
        app,
        request("GET", "/api/v1/usage")
            .key(&key)
            .query("action", "current")
            .build(),
    )
    .await;
    assert_eq!(usage.status, 200, "{}", usage.text);
    assert_eq!(usage.body["used"], answered_2xx, "{}", usage.text);
    assert_eq!(
        stored_count(&app.store, "steady", &clock).await,
        answered_2xx,
        "the stored count is the number of 2xx data answers"
    );

    // Every key item of the user is a key whose creation was answered 201, and it works.
    let listed = call_keys(
        app,
        request("GET", "/api/v1/keys")
            .admin()
            .query("userId", "steady")
            .build(),
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["total"], keys_created, "{}", listed.text);
    assert!(listed.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .all(|k| k["isActive"] == true));
}

/// Stores a key item the way the first step of a key creation does, and never activates it.
async fn half_created_key(
    store: &Store,
    config: &Config,
    user: &str,
    clock: &ManualClock,
) -> PresentedKey {
    let key = apikey::generate(&config.key_check);
    let record = KeyRecord {
        key_id: key.key_id().clone(),
        user_id: UserId::parse(user).expect("user id"),
        hash: apikey::hash(&key, 4).expect("bcrypt"),
        name: "never activated".into(),
        tier_hint: Tier::Free,
        created_at: rfc3339(clock.now()),
        expires_at: Some(rfc3339(clock.now() + Days::days(30))),
        revoked_at: None,
        rotated_to: None,
        created_with: None,
        usage_count: None,
        last_used_at: None,
    };
    store.put_key(&record).await.expect("store the key item");
    key
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_key_whose_creation_did_not_complete_never_works() {
    let t = spawn_app().await;
    let stubs = start_stubs().await;
    let state = data_container(
        App::new(t.app.config.clone(), t.store.clone(), t.clock.clone()),
        &stubs,
    );
    let (good_key, _) = admin_creates_key(&t.app, "owner", "free").await;
    let of_existing_user = half_created_key(&t.store, &t.app.config, "owner", &t.clock).await;
    let of_missing_user = half_created_key(&t.store, &t.app.config, "ghost", &t.clock).await;

    for (whose, key) in [
        ("an existing user", &of_existing_user),
        ("a user that does not exist", &of_missing_user),
    ] {
        let text = key.expose();
        let id = key.key_id().as_str();
        // The metering API: the bcrypt check passes (the item is real), the charge refuses.
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_str(text).expect("header"));
        let refused = match t.app.identify_metered(&headers, None).await {
            Err(error) => error.status(),
            Ok(caller) => match t.app.charge(&caller).await {
                Ok(charge) => panic!(
                    "a never-activated key of {whose} was charged: {:?}",
                    charge.state
                ),
                Err(refusal) => refusal.error.status(),
            },
        };
        assert_eq!(refused, 401, "metering a never-activated key of {whose}");

        let attempts: Vec<(&str, Request)> = vec![
            (
                "list keys",
                request("GET", "/api/v1/keys").key(text).build(),
            ),
            (
                "inspect itself",
                request("GET", &format!("/api/v1/keys/{id}"))
                    .key(text)
                    .build(),
            ),
            (
                "rotate itself",
                request("POST", &format!("/api/v1/keys/{id}/rotate"))
                    .key(text)
                    .build(),
            ),
            (
                "create a key",
                request("POST", "/api/v1/keys")
                    .key(text)
                    .json(json!({"userId": "owner"}))
                    .build(),
            ),
            (
                "revoke itself",
                request("DELETE", &format!("/api/v1/keys/{id}"))
                    .key(text)
                    .build(),
            ),
        ];
        for (what, attempt) in attempts {
            let answered = call_keys(&t.app, attempt).await;
            assert_eq!(
                answered.status, 401,
                "{what} with a never-activated key of {whose}: {}",
                answered.text
            );
        }
        let usage = call_usage(
            &t.app,
            request("GET", "/api/v1/usage")
                .key(text)
                .query("action", "current")
                .build(),
        )
        .await;
        assert_eq!(
            usage.status, 401,
            "usage with a key of {whose}: {}",
            usage.text
        );
        let data_answer = answer(harmonic_data::invoke(&state, metered_request(Some(text))).await);
        assert_eq!(
            data_answer.status, 401,
            "data with a key of {whose}: {}",
            data_answer.text
        );
        // The administrator sees the item for what it is: a key that is not active.
        let inspected = call_keys(
            &t.app,
            request("GET", &format!("/api/v1/keys/{id}"))
                .admin()
                .build(),
        )
        .await;
        assert_eq!(inspected.status, 200, "{}", inspected.text);
        assert_eq!(inspected.body["isActive"], false, "{}", inspected.text);
    }
    assert_eq!(
        stored_count(&t.store, "owner", &t.clock).await,
        0,
        "nothing was charged"
    );
    assert!(
        t.store
            .get_user(&UserId::parse("ghost").expect("id"))
            .await
            .expect("read")
            .is_none(),
        "no user was made for the ghost key"
    );
    let owner_keys = call_keys(
        &t.app,
        request("GET", "/api/v1/keys").key(&good_key).build(),
    )
    .await;
    assert_eq!(owner_keys.status, 200, "the owner's real key still works");
}

impl Dynalite {
    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: connections are accepted by the
    /// kernel but nothing answers, like a storage endpoint that hangs.
    fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let pid = i32::try_from(pid).expect("a pid");
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "signal {signal} to dynalite");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn a_hung_storage_server_answers_503_within_the_client_timeouts_and_charges_nothing_more() {
    let server = Dynalite::start().await;
    let endpoint = server.endpoint();
    let table = unique_table("hung");
    let clock = Arc::new(ManualClock::at(default_now()));
    let stubs = start_stubs().await;
    let state = data_container(app_on(&endpoint, &table, clock.clone()).await, &stubs);
    state
        .app
        .store
        .ensure_table()
        .await
        .expect("create the table");
    let (key, _) = admin_creates_key(&state.app, "patient", "free").await;
    let served = answer(harmonic_data::invoke(&state, metered_request(Some(&key))).await);
    assert_eq!(served.status, 200, "{}", served.text);

    server.signal(libc::SIGSTOP);
    let (hung, took) = bounded("a metered request to a hung server", async {
        answer(harmonic_data::invoke(&state, metered_request(Some(&key))).await)
    })
    .await;
    server.signal(libc::SIGCONT);
    println!(
        "faults: with the server hung, a metered request answered {} after {took:?}",
        hung.status
    );
    assert_unavailable("a metered request to a hung server", &hung);

    // The thawed server works through what was sent to it meanwhile: count once it settles
    // (unchanged for a second, at most five).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut count = stored_count(&state.app.store, "patient", &clock).await;
    let mut stable_since = Instant::now();
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now_count = stored_count(&state.app.store, "patient", &clock).await;
        if now_count != count {
            count = now_count;
            stable_since = Instant::now();
        }
    }
    assert_eq!(
        count,
        1,
        "only the request answered 200 is charged; the request answered 503 was charged {} times",
        count.saturating_sub(1)
    );
}

/// The stored count once the thawed server has worked through what it was sent (unchanged for
/// a second, at most five).
async fn settled_count(store: &Store, user: &str, clock: &ManualClock) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut count = stored_count(store, user, clock).await;
    let mut stable_since = Instant::now();
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now_count = stored_count(store, user, clock).await;
        if now_count != count {
            count = now_count;
            stable_since = Instant::now();
        }
    }
    count
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn lost_answers_of_refunds_refusals_and_usage_counters_never_miscount() {
    let server = Dynalite::start().await;
    let endpoint = server.endpoint();
    let table = unique_table("lost");
    let clock = Arc::new(ManualClock::at(default_now()));
    let app = app_on_with(
        &endpoint,
        &table,
        clock.clone(),
        &[("FREE_MONTHLY_QUOTA", "3")],
    )
    .await;
    app.store.ensure_table().await.expect("create the table");
    let (key, _) = admin_creates_key(&app, "careful", "free").await;
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_str(&key).expect("header"));
    let caller = app
        .identify_metered(&headers, None)
        .await
        .expect("verified");
    let mut charges = Vec::new();
    for _ in 0..3 {
        charges.push(app.charge(&caller).await.expect("under the limit"));
    }
    assert_eq!(stored_count(&app.store, "careful", &clock).await, 3);

    // 1. A charge at the limit: the server refuses it, but the answer is lost (hung server).
    //    Its compensation must not take back one of the three real charges.
    server.signal(libc::SIGSTOP);
    let refused = tokio::time::timeout(REQUEST_BOUND, app.charge(&caller))
        .await
        .expect("bounded");
    server.signal(libc::SIGCONT);
    assert_eq!(
        refused.expect_err("no answer, no charge").error.status(),
        503
    );
    let after_refusal = settled_count(&app.store, "careful", &clock).await;
    println!("faults: a refusal at the limit whose answer was lost leaves the count at {after_refusal} (limit 3)");
    assert_eq!(after_refusal, 3, "compensated below the real count");

    // 2. A refund whose answers are lost: applied exactly once when the server catches up.
    server.signal(libc::SIGSTOP);
    tokio::time::timeout(REQUEST_BOUND, app.refund(&charges[2]))
        .await
        .expect("bounded");
    server.signal(libc::SIGCONT);
    let after_refund = settled_count(&app.store, "careful", &clock).await;
    println!(
        "faults: a refund sent to a hung server (2 copies) took back {} request(s)",
        3 - after_refund
    );
    assert_eq!(after_refund, 2, "one refund, applied once");

    // 3. Usage recorded while the server hangs: the flush after the response cannot confirm its
    //    batch (the SDK's attempts all hang), keeps it queued and says so; the next flush (the
    //    container's next invocation) sends it again once the server is back. The server then
    //    applies every copy it received, and each is the same event and the same absolute
    //    counts: counted once.
    server.signal(libc::SIGSTOP);
    let event = harmonic_shared::store::UsageEvent {
        timestamp: rfc3339(clock.now()),
        endpoint: "/api/v1/data".into(),
        method: "POST".into(),
        sources: vec!["wiki".into()],
        response_time: 10.0,
        status: 200,
        bytes_in: 10,
        bytes_out: 10,
        key_id: None,
    };
    app.record(&charges[0], event);
    let failed = tokio::time::timeout(REQUEST_BOUND, app.flush_after_response())
        .await
        .expect("bounded");
    server.signal(libc::SIGCONT);
    println!("faults: a flush to a hung server: {failed:?}");
    assert_eq!(
        failed.written, 0,
        "nothing confirmed while the server hangs"
    );
    assert_eq!(
        failed.left, 3,
        "the event, the day and the totals stay queued"
    );
    let retried = tokio::time::timeout(REQUEST_BOUND, app.flush_after_response())
        .await
        .expect("bounded");
    assert_eq!(
        (retried.written, retried.left),
        (3, 0),
        "the next flush writes them"
    );
    assert_eq!(
        app.flush_after_response().await.written,
        0,
        "nothing is left to send"
    );
    let subject = harmonic_shared::store::Subject::User(UserId::parse("careful").expect("id"));
    let today = clock.now().date_naive();
    // Let the hung server work off every copy it had received before reading.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let day = app
        .store
        .daily_counters(&subject, today, today)
        .await
        .expect("read");
    let (events, _) = app
        .store
        .usage_history(&subject, 50, None)
        .await
        .expect("history");
    assert_eq!(events.len(), 1, "one event: {events:?}");
    assert_eq!(day.len(), 1, "the day's counters arrived");
    assert_eq!(day[0].requests, 1, "counted once: {:?}", day[0]);
    let totals = app
        .store
        .usage_stats(Period::containing(clock.now()))
        .await
        .expect("stats");
    assert_eq!(totals.requests, 1, "totals counted once: {totals:?}");
}
