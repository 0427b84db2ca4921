//! Hostile input: a corpus of bad requests across every route, split by theme, one test each
//! (and one world, so one table, each): malformed and oversized bodies ([`bodies`]), bad fields
//! ([`fields`]), hostile query parameters and cursors ([`query`]), paths ([`paths`]), keys and
//! tokens ([`credentials`]), wrong methods ([`methods`]). Each case must be a 4xx JSON error that
//! reveals no secret and leaves the table exactly as it was ([`check`]); [`free_text`] checks the
//! fields where hostile-looking text is valid.
mod bodies;
mod credentials;
mod fields;
mod free_text;
mod methods;
mod paths;
mod query;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::App;
use harmonic_tests::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const USER: &str = "alice";

/// Strings that mean something to DynamoDB expressions, SQL, shells or templates. The product
/// only ever passes client text as expression *values*, so none of them may change anything.
const EXPRESSIONS: [&str; 12] = [
    "attribute_exists(pk)",
    "#kid",
    ":now",
    ") OR (1=1",
    "pk = :pk OR attribute_not_exists(sk)",
    "liveKeys.#kid > :nowEpoch",
    "SET tier = :tier REMOVE liveKeys",
    "USER#alice",
    "m#2026-11",
    "' OR '1'='1' --",
    "${jndi:ldap://127.0.0.1/x}",
    "<script>alert(1)</script>",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Keys,
    Usage,
    Data,
}

/// One hostile request: its name (what a failure names), the function that answers it, the
/// request (the suite's builder) and the status expected.
#[derive(Clone)]
struct Case {
    name: String,
    function: Function,
    request: RequestBuilder,
    expected: u16,
}

impl Case {
    fn new(name: impl Into<String>, function: Function, method: &str, path: &str) -> Self {
        Self {
            name: name.into(),
            function,
            request: request(method, path),
            expected: 400,
        }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.query(name, value);
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    fn admin(mut self) -> Self {
        self.request = self.request.admin();
        self
    }

    fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.request = self.request.raw_body(bytes);
        self
    }

    /// The value's JSON text as the raw body (binary, as a client's bytes arrive).
    fn json(self, value: &Value) -> Self {
        self.body(value.to_string())
    }

    fn expect(mut self, status: u16) -> Self {
        self.expected = status;
        self
    }
}

/// The user, its key, and the three functions on one table.
struct World {
    t: TestApp,
    data: DataApp,
    _stubs: wiremock::MockServer,
    key: String,
    key_id: String,
}

async fn world() -> World {
    let t = spawn_app().await;
    let (key, key_id) = admin_creates_key(&t.app, USER, "free").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let stubs = harmonic_tests::stubs::start(listener).await;
    let app = App::new(t.app.config.clone(), t.store.clone(), t.clock.clone());
    let sources = Sources::new(SourceSettings::for_base_url(&stubs.uri())).expect("sources");
    let w = World {
        t,
        data: DataApp::new(app, sources),
        _stubs: stubs,
        key,
        key_id,
    };
    // Usage and a demo caller exist, so that a request touching them would show.
    for credentials in [Some(w.key.as_str()), None] {
        let mut builder = request("POST", "/api/v1/data")
            .json(json!({"query": "physics", "sources": "curiosity"}));
        if let Some(key) = credentials {
            builder = builder.key(key);
        }
        let served = answer(harmonic_data::invoke(&w.data, builder.build()).await);
        assert_eq!(served.status, 200, "{}", served.text);
    }
    w
}

fn with_field(base: &Value, field: &str, value: Value) -> Value {
    let mut object: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    object.insert(field.to_owned(), value);
    Value::Object(object)
}

/// The valid body of a data request, which the field cases spoil one field at a time.
fn good_data() -> Value {
    json!({"query": "physics", "sources": "curiosity"})
}

/// The valid body of the admin's key creation.
fn good_create() -> Value {
    json!({"userId": USER})
}

/// base64url without padding, the encoding of the API's cursors.
fn base64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A value as a case name shows it: short values whole, long ones by their start and length.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    let length = text.chars().count();
    if length > 60 {
        format!(
            "{}… ({length} chars)",
            text.chars().take(30).collect::<String>()
        )
    } else {
        text
    }
}

fn swap_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

impl World {
    fn rotate_path(&self) -> String {
        format!("/api/v1/keys/{}/rotate", self.key_id)
    }

    async fn call(&self, case: &Case) -> Answer {
        let request = case.request.clone().build();
        match case.function {
            Function::Keys => call_keys(&self.t.app, request).await,
            Function::Usage => call_usage(&self.t.app, request).await,
            Function::Data => answer(harmonic_data::invoke(&self.data, request).await),
        }
    }
}

type Items = TableSnapshot;

/// The items that differ between two snapshots, for the failure message.
fn changed_items(before: &Items, after: &Items) -> Vec<String> {
    let mut keys: Vec<&(String, String)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|(pk, sk)| format!("{pk}/{sk}"))
        .collect()
}

/// What is wrong with an answer to a hostile request, if anything.
fn problems(case: &Case, got: &Answer, secrets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    if got.status != case.expected {
        found.push(format!("expected {}, got {}", case.expected, got.status));
    }
    if !got.status.is_client_error() {
        found.push(format!("not a 4xx: {}", got.status));
    }
    if got.header("content-type") != Some("application/json; charset=utf-8") {
        found.push(format!("content-type {:?}", got.header("content-type")));
    }
    let error = got.body["error"].as_str().unwrap_or_default();
    if got.body["success"] != false || error.trim().is_empty() {
        found.push("body is not {\"success\": false, \"error\": <text>}".into());
    }
    for secret in secrets {
        if got.text.contains(secret)
            || got.headers.iter().any(|(_, v)| {
                v.as_bytes()
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes())
            })
        {
            found.push(format!(
                "the answer reveals a secret ({}…)",
                &secret[..secret.len().min(6)]
            ));
        }
    }
    if got.status == 401 && got.header("www-authenticate").is_none() {
        found.push("401 without WWW-Authenticate".into());
    }
    if got.status == 405 && got.header("allow").is_none() {
        found.push("405 without Allow".into());
    }
    found
}
/// Sends every case in turn and fails, naming each mishandled case, unless each answer is the
/// expected 4xx JSON error that reveals no secret and the table is unchanged after each.
async fn check(w: &World, cases: Vec<Case>) {
    println!("hostile input: {} requests", cases.len());
    let names: std::collections::HashSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "every case has its own name");

    let key_record =
        w.t.store
            .get_key(&harmonic_shared::apikey::KeyId::parse(&w.key_id).expect("id"))
            .await
            .expect("read the key")
            .expect("the key item");
    let secret = &w.key[13..31];
    let secrets = [
        w.key.as_str(),
        secret,
        ADMIN_TOKEN,
        "$2",
        key_record.hash.as_str(),
    ];

    let mut before = table_items(&w.t.store).await;
    let original = before.clone();
    let mut failures = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for case in &cases {
        let got = w.call(case).await;
        *statuses.entry(got.status.as_u16()).or_default() += 1;
        let mut found = problems(case, &got, &secrets);
        let after = table_items(&w.t.store).await;
        if after != before {
            found.push(format!(
                "the table changed: {:?}",
                changed_items(&before, &after)
            ));
            before = after;
        }
        if !found.is_empty() {
            let excerpt: String = got.text.chars().take(300).collect();
            failures.push(format!("{}: {} ({excerpt})", case.name, found.join("; ")));
        }
    }
    println!("hostile input statuses: {statuses:?}");
    assert!(
        failures.is_empty(),
        "{} of {} hostile requests were mishandled:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(
        original,
        table_items(&w.t.store).await,
        "the corpus changed the table"
    );
}

/// Every theme's cases together: the whole corpus.
fn corpus(w: &World) -> Vec<Case> {
    [
        bodies::cases(w),
        fields::cases(w),
        query::cases(w),
        paths::cases(w),
        credentials::cases(w),
        methods::cases(w),
    ]
    .concat()
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn the_corpus_has_over_a_hundred_requests_each_with_its_own_name() {
    let w = world().await;
    let cases = corpus(&w);
    println!("hostile input corpus: {} requests", cases.len());
    assert!(
        cases.len() >= 100,
        "the corpus has {} requests",
        cases.len()
    );
    let names: std::collections::HashSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "every case has its own name");
}
