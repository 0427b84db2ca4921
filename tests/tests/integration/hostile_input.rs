//! Hostile input: a corpus of bad requests across every route (malformed and truncated JSON,
//! wrong types, nulls, huge numbers, 1 MB bodies, unicode and control characters, header values
//! that try to smuggle text, path traversal, expression-like strings in every field and query
//! parameter, over-long and mixed-case keys, bad cursors and actions, wrong methods). Each must
//! be a 4xx JSON error that reveals no secret, and must leave the table exactly as it was.
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::lambda_http::http::HeaderValue;
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

#[derive(Debug, Clone)]
struct Case {
    name: String,
    function: Function,
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    expected: u16,
}

impl Case {
    fn new(name: impl Into<String>, function: Function, method: &str, path: &str) -> Self {
        Self {
            name: name.into(),
            function,
            method: method.to_owned(),
            path: path.to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            expected: 400,
        }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn admin(self) -> Self {
        self.header("authorization", &format!("Bearer {ADMIN_TOKEN}"))
    }

    fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(bytes.into());
        self
    }

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
        let served = answer(harmonic_data::handle(&w.data, builder.build()).await);
        assert_eq!(served.status, 200, "{}", served.text);
    }
    w
}

fn with_field(base: &Value, field: &str, value: Value) -> Value {
    let mut object: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    object.insert(field.to_owned(), value);
    Value::Object(object)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// base64url without padding, the encoding of the API's cursors.
fn base64url(bytes: impl AsRef<[u8]>) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.as_ref().chunks(3) {
        let mut triple = [0u8; 3];
        triple[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, triple[0], triple[1], triple[2]]);
        for index in 0..=chunk.len() {
            out.push(char::from(
                ALPHABET[((n >> (18 - 6 * index)) & 63) as usize],
            ));
        }
    }
    out
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

/// Generates the corpus: malformed bodies × body routes, bad fields × their routes, bad query
/// parameters, bad paths, bad credentials × authenticated routes, wrong methods.
fn corpus(w: &World) -> Vec<Case> {
    use Function::*;
    let mut cases = Vec::new();
    let key = w.key.as_str();
    let id = w.key_id.as_str();
    let rotate_path = format!("/api/v1/keys/{id}/rotate");
    let good_data = json!({"query": "physics", "sources": "curiosity"});
    let good_create = json!({"userId": USER});

    // 1. Malformed bodies on every route that reads one, with credentials that pass.
    let body_routes: Vec<(&str, Case)> = vec![
        (
            "admin creates a key",
            Case::new("", Keys, "POST", "/api/v1/keys").admin(),
        ),
        (
            "holder creates a key",
            Case::new("", Keys, "POST", "/api/v1/keys").header("x-api-key", key),
        ),
        (
            "anonymous sign-up",
            Case::new("", Keys, "POST", "/api/v1/keys"),
        ),
        (
            "holder rotates its key",
            Case::new("", Keys, "POST", &rotate_path).header("x-api-key", key),
        ),
        (
            "holder asks for data",
            Case::new("", Data, "POST", "/api/v1/data").header("x-api-key", key),
        ),
        (
            "demo caller asks for data",
            Case::new("", Data, "POST", "/api/v1/data"),
        ),
    ];
    let mega = 1024 * 1024;
    let nested = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let malformed: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not JSON", b"not json".to_vec(), 400),
        ("a truncated object", br#"{"userId": "al"#.to_vec(), 400),
        ("a body cut after a colon", br#"{"query":"#.to_vec(), 400),
        ("a lone opening brace", b"{".to_vec(), 400),
        ("an object followed by garbage", b"{} trailing".to_vec(), 400),
        ("a JSON array", b"[1, 2]".to_vec(), 400),
        ("a JSON string", br#""userId""#.to_vec(), 400),
        ("JSON null", b"null".to_vec(), 400),
        ("a JSON number", b"12".to_vec(), 400),
        ("invalid UTF-8", vec![0xff, 0xfe, b'{', 0xc3], 400),
        ("a raw NUL byte", b"{\"userId\":\0}".to_vec(), 400),
        (
            "a lone leading surrogate escape in every field",
            br#"{"userId": "\ud800", "query": "\ud800", "revokeOld": "\ud800"}"#.to_vec(),
            400,
        ),
        (
            "a lone trailing surrogate escape",
            br#"{"userId": "\udc00", "query": "\udc00"}"#.to_vec(),
            400,
        ),
        (
            "1e400 in every numeric field",
            br#"{"userId": 1e400, "query": 1e400, "maxResults": 1e400, "gracePeriodSeconds": 1e400}"#.to_vec(),
            400,
        ),
        (
            "duplicate fields whose last value has the wrong type",
            br#"{"userId": "alice", "query": "physics", "revokeOld": true, "userId": 5, "query": 5, "revokeOld": 5}"#.to_vec(),
            400,
        ),
        ("500 levels of nested arrays", nested.into_bytes(), 400),
        (
            "a 1 MB JSON string field",
            json!({"userId": "a".repeat(mega), "query": "a".repeat(mega)})
                .to_string()
                .into_bytes(),
            413,
        ),
        ("1 MB of garbage", vec![b'x'; mega], 413),
    ];
    for (route, template) in &body_routes {
        for (what, bytes, status) in &malformed {
            let mut case = template.clone().body(bytes.clone()).expect(*status);
            case.name = format!("{route} with {what}");
            cases.push(case);
        }
        if !route.contains("rotates") {
            // Rotation takes an empty body as "all defaults"; the others require one.
            let mut case = template.clone().body(b"   ".to_vec());
            case.name = format!("{route} with a blank body");
            cases.push(case);
        }
    }

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

    // 4. Paths: traversal, encoded separators and NULs, expression-like ids, unknown ids.
    let unknown_id = harmonic_shared::apikey::generate(&key_check_secret())
        .key_id()
        .to_string();
    let mut segments: Vec<String> = vec![
        "..%2F..%2Fetc%2Fpasswd".into(),
        "..".into(),
        "%2e%2e".into(),
        "%00".into(),
        format!("{}%00", &id[..9]),
        format!("{id}%00"),
        format!("{id}%2F"),
        format!("{id}%0D%0ASet-Cookie:%20a=b"),
        id.to_uppercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
            + "X",
        "a".repeat(2_000),
        unknown_id.clone(),
    ];
    segments.extend(EXPRESSIONS.iter().map(|e| percent_encode(e)));
    for segment in &segments {
        let shown: String = segment.chars().take(40).collect();
        for (method, suffix) in [("GET", ""), ("DELETE", ""), ("POST", "/rotate")] {
            cases.push(
                Case::new(
                    format!("admin {method}s key path segment {shown:?}{suffix}"),
                    Keys,
                    method,
                    &format!("/api/v1/keys/{segment}{suffix}"),
                )
                .admin()
                .expect(404),
            );
        }
    }
    for (function, path) in [
        (Keys, "/api/v1/keys/../keys/stats"),
        (Keys, "/api/v1/keys/../../etc/passwd"),
        (Keys, "/api/v1/keys/./stats/.."),
        (Keys, "/api/v1/keys/stats%2F.."),
        (Keys, "/api/v1/keys/x/y/z"),
        (Keys, "/api/v1/"),
        (Keys, "/etc/passwd"),
        (Usage, "/api/v1/usage/../keys"),
        (Usage, "/api/v1/usage/%2e%2e/keys"),
        (Usage, "/api/v1/usage/extra"),
        (Data, "/api/v1/data/..%2F..%2Fetc%2Fpasswd"),
        (Data, "/api/v1/data/%00"),
        (Data, "/api/v1/dataX"),
    ] {
        cases.push(
            Case::new(format!("admin GETs {path}"), function, "GET", path)
                .admin()
                .expect(404),
        );
    }
    cases.push(
        Case::new(
            format!("admin GETs {id} with the key's own id mis-cased"),
            Keys,
            "GET",
            &format!("/api/v1/keys/{}", swap_case(id)),
        )
        .admin()
        .expect(404),
    );

    // 5. Credentials: over-long, mixed-case, truncated, unknown and smuggling keys and tokens.
    let rest = &key[3..];
    let mut bad_keys: Vec<(String, String)> = vec![
        ("an empty key".into(), String::new()),
        ("the bare prefix".into(), "hm_".into()),
        ("the HM_ prefix".into(), format!("HM_{rest}")),
        ("the Hm_ prefix".into(), format!("Hm_{rest}")),
        ("the hM_ prefix".into(), format!("hM_{rest}")),
        ("the key in upper case".into(), key.to_uppercase()),
        ("the key with a character more".into(), format!("{key}x")),
        (
            "the key with a character less".into(),
            key[..key.len() - 1].to_owned(),
        ),
        (
            "the key with a tab inside".into(),
            format!("{}\t{}", &key[..10], &key[10..]),
        ),
        ("the key twice".into(), format!("{key},{key}")),
        (
            "a key of 10,000 characters".into(),
            format!("hm_{}", "A".repeat(10_000)),
        ),
        (
            "a key with non-ASCII letters".into(),
            format!("hm_{}é", &rest[..rest.len() - 2]),
        ),
        (
            "a key with an encoded CR LF".into(),
            format!("{key}%0d%0aSet-Cookie: a=b"),
        ),
        (
            "a key with path traversal".into(),
            "hm_..%2F..%2Fetc%2Fpasswd0123456789".into(),
        ),
        (
            "a well-formed key with an unknown id".into(),
            harmonic_shared::apikey::generate(&key_check_secret())
                .expose()
                .to_owned(),
        ),
    ];
    bad_keys.extend(
        EXPRESSIONS
            .iter()
            .map(|e| (format!("the key {e:?}"), e.to_string())),
    );
    let mut bad_tokens: Vec<(String, String)> = vec![
        (
            "a wrong admin token".into(),
            "Bearer wrong-token-wrong-token".into(),
        ),
        (
            "the admin token in lower-case scheme".into(),
            format!("bearer {ADMIN_TOKEN}"),
        ),
        (
            "the admin token without a scheme".into(),
            ADMIN_TOKEN.to_owned(),
        ),
        (
            "the admin token as Basic".into(),
            format!("Basic {ADMIN_TOKEN}"),
        ),
        ("a bare Bearer".into(), "Bearer".into()),
        (
            "the admin token with a suffix".into(),
            format!("Bearer {ADMIN_TOKEN}x"),
        ),
        (
            "the admin token with a tab and more".into(),
            format!("Bearer {ADMIN_TOKEN}\tX-Injected: 1"),
        ),
        (
            "the admin token cut short".into(),
            format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
        ),
        (
            "a non-ASCII token".into(),
            "Bearer tökén-tökén-tökén".into(),
        ),
    ];
    bad_tokens.extend(
        EXPRESSIONS
            .iter()
            .map(|e| (format!("the token {e:?}"), format!("Bearer {e}"))),
    );
    let authenticated: Vec<(&str, Case)> = vec![
        ("lists keys", Case::new("", Keys, "GET", "/api/v1/keys")),
        (
            "reads key statistics",
            Case::new("", Keys, "GET", "/api/v1/keys/stats"),
        ),
        (
            "inspects a key",
            Case::new("", Keys, "GET", &format!("/api/v1/keys/{id}")),
        ),
        (
            "reads current usage",
            Case::new("", Usage, "GET", "/api/v1/usage").query("action", "current"),
        ),
        (
            "asks for data",
            Case::new("", Data, "POST", "/api/v1/data").json(&good_data),
        ),
        (
            "clears the cache",
            Case::new("", Data, "DELETE", "/api/v1/data").query("action", "cache"),
        ),
    ];
    for (does, template) in &authenticated {
        for (what, value) in &bad_keys {
            let mut case = template.clone().header("x-api-key", value).expect(401);
            case.name = format!("a caller with {what} {does}");
            cases.push(case);
        }
        for (what, value) in &bad_tokens {
            let mut case = template.clone().header("authorization", value).expect(401);
            case.name = format!("a caller with {what} {does}");
            cases.push(case);
        }
    }

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
    async fn call(&self, case: &Case) -> Answer {
        let mut builder = request(&case.method, &case.path);
        for (name, value) in &case.query {
            builder = builder.query(name, value);
        }
        for (name, value) in &case.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &case.body {
            builder = builder.raw_body(body.clone());
        }
        let request = builder.build();
        match case.function {
            Function::Keys => call_keys(&self.t.app, request).await,
            Function::Usage => call_usage(&self.t.app, request).await,
            Function::Data => answer(harmonic_data::handle(&self.data, request).await),
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

#[tokio::test]
async fn every_hostile_request_is_a_4xx_json_error_that_reveals_nothing_and_changes_nothing() {
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

#[test]
fn header_values_with_cr_or_lf_cannot_even_be_built() {
    // A request carrying a raw CR or LF in a header value cannot exist here: the http crate
    // refuses to build one (and API Gateway refuses to deliver one), so the corpus above sends
    // the closest things that can be built: tabs, encoded CR LF and non-ASCII bytes.
    for smuggled in [
        "hm_x\r\nSet-Cookie: a=b",
        "Bearer token\nX-Injected: 1",
        "value\rmore",
        "nul\0byte",
    ] {
        assert!(
            HeaderValue::from_str(smuggled).is_err(),
            "{smuggled:?} was accepted as a header value"
        );
    }
    assert!(HeaderValue::from_bytes(b"tab\tand obs-text \xff").is_ok());
}

#[tokio::test]
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
            harmonic_data::handle(
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
