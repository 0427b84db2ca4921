//! The authorization matrix of the README: every route × every kind of caller, acting on objects
//! of user A, answers the documented status; user B can neither read, change nor detect A's
//! objects (another user's object is a 404 that looks exactly like a missing one).
use chrono::Duration;
use harmonic_data::sources::{SourceSettings, Sources};
use harmonic_data::DataApp;
use harmonic_shared::domain::rfc3339;
use harmonic_shared::lambda_http::Request;
use harmonic_shared::App;
use harmonic_tests::*;
use serde_json::{json, Value};

const USER_A: &str = "alice";
const USER_B: &str = "bob";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoCredentials,
    /// Valid format and check group, unknown key id.
    BadKey,
    /// One of A's keys, revoked.
    RevokedKey,
    /// One of A's keys, past its expiry.
    ExpiredKey,
    KeyOfA,
    KeyOfB,
    Admin,
}

const CALLERS: [Caller; 7] = [
    Caller::NoCredentials,
    Caller::BadKey,
    Caller::RevokedKey,
    Caller::ExpiredKey,
    Caller::KeyOfA,
    Caller::KeyOfB,
    Caller::Admin,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Keys,
    Usage,
    Data,
}

/// Which row of the README's authorization table a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// `POST /api/v1/keys` for user A: admin and A create (201), B is told A does not exist
    /// (404), anonymous sign-up of an existing user is 409.
    CreateForA,
    /// A's object: admin and A get `ok`, B gets 404, no credentials 401.
    OwnedByA { ok: u16 },
    /// Admin only: 403 for key holders, 401 without credentials.
    AdminOnly,
    /// `POST /api/v1/data`: metered for key holders, demo mode without a key (the admin token
    /// names no user, so it is served as a demo caller too).
    Metered,
    /// Status and documentation: anyone, credentials are not read.
    Public,
}

/// The status the README documents for `caller` on a route of kind `access`.
fn documented(access: Access, caller: Caller) -> u16 {
    use Caller::*;
    let invalid_key = matches!(caller, BadKey | RevokedKey | ExpiredKey);
    match access {
        Access::Public => 200,
        _ if invalid_key => 401,
        Access::Metered => 200,
        Access::CreateForA => match caller {
            Admin | KeyOfA => 201,
            KeyOfB => 404,
            _ => 409,
        },
        Access::OwnedByA { ok } => match caller {
            Admin | KeyOfA => ok,
            KeyOfB => 404,
            _ => 401,
        },
        Access::AdminOnly => match caller {
            Admin => 200,
            KeyOfA | KeyOfB => 403,
            _ => 401,
        },
    }
}

struct Route {
    function: Function,
    method: &'static str,
    /// `{id}` is replaced by the id of a key of A made for this case alone.
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    body: Option<Value>,
    access: Access,
}

impl Route {
    fn name(&self) -> String {
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, query.join("&"))
        }
    }
}

fn route(
    function: Function,
    method: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    access: Access,
) -> Route {
    Route {
        function,
        method,
        path,
        query,
        body: None,
        access,
    }
}

/// Every route of the three functions, with the parameters that make it act on user A.
fn every_route() -> Vec<Route> {
    use Access::*;
    use Function::*;
    let owned = OwnedByA { ok: 200 };
    let mut routes = vec![
        Route {
            body: Some(json!({ "userId": USER_A })),
            ..route(Keys, "POST", "/api/v1/keys", &[], CreateForA)
        },
        route(Keys, "GET", "/api/v1/keys", &[("userId", USER_A)], owned),
        route(Keys, "GET", "/api/v1/keys/stats", &[], AdminOnly),
        route(Keys, "GET", "/api/v1/keys/{id}", &[], owned),
        route(Keys, "DELETE", "/api/v1/keys/{id}", &[], owned),
        Route {
            body: Some(json!({ "gracePeriodSeconds": 0 })),
            ..route(
                Keys,
                "POST",
                "/api/v1/keys/{id}/rotate",
                &[],
                OwnedByA { ok: 201 },
            )
        },
        route(Keys, "OPTIONS", "/api/v1/keys", &[], Public),
        route(Keys, "OPTIONS", "/api/v1/keys/{id}", &[], Public),
    ];
    for action in ["current", "history", "analytics", "sources", "endpoints"] {
        let query: &'static [(&str, &str)] = match action {
            "current" => &[("action", "current"), ("userId", USER_A)],
            "history" => &[("action", "history"), ("userId", USER_A)],
            "analytics" => &[("action", "analytics"), ("userId", USER_A)],
            "sources" => &[("action", "sources"), ("userId", USER_A)],
            _ => &[("action", "endpoints"), ("userId", USER_A)],
        };
        routes.push(route(Usage, "GET", "/api/v1/usage", query, owned));
    }
    routes.extend([
        route(
            Usage,
            "GET",
            "/api/v1/usage",
            &[("action", "all")],
            AdminOnly,
        ),
        route(
            Usage,
            "GET",
            "/api/v1/usage",
            &[("action", "stats")],
            AdminOnly,
        ),
        route(
            Usage,
            "DELETE",
            "/api/v1/usage",
            &[("userId", USER_A)],
            AdminOnly,
        ),
        route(Usage, "OPTIONS", "/api/v1/usage", &[], Public),
        Route {
            body: Some(json!({ "query": "physics", "sources": "curiosity" })),
            ..route(Data, "POST", "/api/v1/data", &[], Metered)
        },
        route(Data, "GET", "/api/v1/data", &[("action", "status")], Public),
        route(
            Data,
            "GET",
            "/api/v1/data",
            &[("action", "sources")],
            Public,
        ),
        route(Data, "GET", "/api/v1/data", &[("action", "health")], Public),
        route(
            Data,
            "GET",
            "/api/v1/data",
            &[("action", "stats")],
            AdminOnly,
        ),
        route(
            Data,
            "DELETE",
            "/api/v1/data",
            &[("action", "cache")],
            AdminOnly,
        ),
        route(Data, "OPTIONS", "/api/v1/data", &[], Public),
    ]);
    routes
}

/// Users A and B, the keys of every kind of caller, and the three functions on one table.
struct World {
    t: TestApp,
    data: DataApp,
    _stubs: wiremock::MockServer,
    key_of_a: String,
    key_of_b: String,
    revoked_key: String,
    expired_key: String,
    unknown_key: String,
}

async fn data_container(t: &TestApp) -> (DataApp, wiremock::MockServer) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let stubs = harmonic_tests::stubs::start(listener).await;
    let app = App::new(t.app.config.clone(), t.store.clone(), t.clock.clone());
    let sources = Sources::new(SourceSettings::for_base_url(&stubs.uri())).expect("sources");
    (DataApp::new(app, sources), stubs)
}

async fn world() -> World {
    // Each case that acts on a key of A gets its own: A holds many keys at once.
    let t = spawn_app_with(&[("MAX_KEYS_PER_USER", "1000")]).await;
    let (key_of_a, _) = admin_creates_key(&t.app, USER_A, "free").await;
    let (key_of_b, _) = admin_creates_key(&t.app, USER_B, "free").await;
    let (revoked_key, revoked_id) = admin_creates_key(&t.app, USER_A, "free").await;
    let revoked = call_keys(
        &t.app,
        request("DELETE", &format!("/api/v1/keys/{revoked_id}"))
            .admin()
            .build(),
    )
    .await;
    assert_eq!(revoked.status, 200, "revoking: {}", revoked.text);
    let expiring = call_keys(
        &t.app,
        request("POST", "/api/v1/keys")
            .admin()
            .json(json!({
                "userId": USER_A,
                "expiresAt": rfc3339(default_now() + Duration::hours(1)),
            }))
            .build(),
    )
    .await;
    assert_eq!(expiring.status, 201, "{}", expiring.text);
    let expired_key = expiring.body["key"].as_str().expect("key").to_owned();
    t.clock.set(default_now() + Duration::hours(2));
    let unknown_key = harmonic_shared::apikey::generate(&t.app.config.key_check)
        .expose()
        .to_owned();
    let (data, stubs) = data_container(&t).await;
    let w = World {
        t,
        data,
        _stubs: stubs,
        key_of_a,
        key_of_b,
        revoked_key,
        expired_key,
        unknown_key,
    };
    // A has usage to see: one metered request.
    let used = w
        .call(
            Function::Data,
            request("POST", "/api/v1/data")
                .key(&w.key_of_a)
                .json(json!({ "query": "physics", "sources": "curiosity" }))
                .build(),
        )
        .await;
    assert_eq!(used.status, 200, "A's metered request: {}", used.text);
    w
}

impl World {
    fn as_caller(&self, builder: RequestBuilder, caller: Caller) -> RequestBuilder {
        match caller {
            Caller::NoCredentials => builder,
            Caller::BadKey => builder.key(&self.unknown_key),
            Caller::RevokedKey => builder.key(&self.revoked_key),
            Caller::ExpiredKey => builder.key(&self.expired_key),
            Caller::KeyOfA => builder.key(&self.key_of_a),
            Caller::KeyOfB => builder.key(&self.key_of_b),
            Caller::Admin => builder.admin(),
        }
    }

    async fn call(&self, function: Function, request: Request) -> Answer {
        match function {
            Function::Keys => call_keys(&self.t.app, request).await,
            Function::Usage => call_usage(&self.t.app, request).await,
            Function::Data => answer(harmonic_data::invoke(&self.data, request).await),
        }
    }

    /// Builds `route` for `caller`, with `id` in place of `{id}`.
    fn build(&self, route: &Route, caller: Caller, id: &str) -> Request {
        let mut builder = request(route.method, &route.path.replace("{id}", id));
        for (name, value) in route.query {
            builder = builder.query(name, value);
        }
        if let Some(body) = &route.body {
            builder = builder.json(body.clone());
        }
        self.as_caller(builder, caller).build()
    }
}

/// What is wrong with an answer besides its status, if anything.
fn shape_problem(answer: &Answer) -> Option<String> {
    if answer.header("content-type") != Some("application/json; charset=utf-8") {
        return Some(format!(
            "content-type {:?} is not JSON",
            answer.header("content-type")
        ));
    }
    if !answer.status.is_success() {
        let error = answer.body["error"].as_str().unwrap_or_default();
        if answer.body["success"] != false || error.is_empty() {
            return Some(format!(
                "error body is not {{\"success\": false, \"error\": \"...\"}}: {}",
                answer.text
            ));
        }
    }
    if answer.status == 401 && answer.header("www-authenticate").is_none() {
        return Some("401 without WWW-Authenticate".into());
    }
    None
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn every_route_answers_every_kind_of_caller_as_the_authorization_table_documents() {
    let w = world().await;
    let routes = every_route();
    let mut failures = Vec::new();
    let mut cases = 0;
    for route in &routes {
        for caller in CALLERS {
            cases += 1;
            let case = format!("{caller:?} → {}", route.name());
            let id = if route.path.contains("{id}") {
                admin_creates_key(&w.t.app, USER_A, "free").await.1
            } else {
                String::new()
            };
            let got = w.call(route.function, w.build(route, caller, &id)).await;
            let expected = documented(route.access, caller);
            if got.status != expected {
                failures.push(format!(
                    "{case}: expected {expected}, got {}: {}",
                    got.status, got.text
                ));
                continue;
            }
            if let Some(problem) = shape_problem(&got) {
                failures.push(format!("{case}: {problem}"));
            }
            if route.access == Access::Metered && got.status == 200 {
                let demo = matches!(caller, Caller::NoCredentials | Caller::Admin);
                let user = match caller {
                    Caller::KeyOfA => Some(USER_A),
                    Caller::KeyOfB => Some(USER_B),
                    _ => None,
                };
                if (got.header("x-demo-mode") == Some("true")) != demo
                    || user.is_some_and(|user| got.header("x-user-id") != Some(user))
                {
                    failures.push(format!(
                        "{case}: metered as the wrong subject (x-user-id {:?}, x-demo-mode {:?})",
                        got.header("x-user-id"),
                        got.header("x-demo-mode")
                    ));
                }
            }
        }
    }
    assert_eq!(cases, routes.len() * CALLERS.len());
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ from the authorization table:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// What the admin sees of A: every key, each key alone, and every usage view.
async fn view_of_a(w: &World, ids: &[String]) -> Vec<(String, Value)> {
    let mut views = Vec::new();
    let listing = w
        .call(
            Function::Keys,
            request("GET", "/api/v1/keys")
                .admin()
                .query("userId", USER_A)
                .build(),
        )
        .await;
    views.push(("keys of A".to_owned(), listing.body));
    for id in ids {
        let key = w
            .call(
                Function::Keys,
                request("GET", &format!("/api/v1/keys/{id}"))
                    .admin()
                    .build(),
            )
            .await;
        views.push((format!("key {id}"), key.body));
    }
    for action in ["current", "history", "analytics", "sources", "endpoints"] {
        let usage = w
            .call(
                Function::Usage,
                request("GET", "/api/v1/usage")
                    .admin()
                    .query("action", action)
                    .query("userId", USER_A)
                    .build(),
            )
            .await;
        assert_eq!(
            usage.status, 200,
            "admin reads A's {action}: {}",
            usage.text
        );
        views.push((format!("usage {action} of A"), usage.body));
    }
    views
}

/// The answer with every mention of `object` replaced, to compare it with a missing object's.
fn without(answer: &Answer, object: &str) -> (u16, String) {
    // The request id differs per request by design; everything else must be identical.
    let request_id = answer.header("x-request-id").unwrap_or("<none>");
    (
        answer.status.as_u16(),
        answer
            .text
            .replace(object, "<object>")
            .replace(request_id, "<request id>"),
    )
}

#[tokio::test]
#[ignore = "needs DynamoDB: make test, or DYNAMODB_ENDPOINT=http://127.0.0.1:PORT cargo test -p harmonic-tests --test integration -- --include-ignored"]
async fn user_b_can_neither_read_nor_change_nor_detect_the_objects_of_user_a() {
    let w = world().await;
    let (_, id_of_a) = admin_creates_key(&w.t.app, USER_A, "free").await;
    let listing = w
        .call(
            Function::Keys,
            request("GET", "/api/v1/keys").key(&w.key_of_a).build(),
        )
        .await;
    let ids_of_a: Vec<String> = listing.body["keys"]
        .as_array()
        .expect("A's keys")
        .iter()
        .map(|key| key["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(
        ids_of_a.len() >= 4,
        "A holds several keys: {}",
        listing.text
    );
    let missing_id = harmonic_shared::apikey::generate(&key_check_secret())
        .key_id()
        .to_string();
    let missing_user = "nobody-at-all";

    let table_before = table_items(&w.t.store).await;
    let a_before = view_of_a(&w, &ids_of_a).await;

    // Each attempt of B on A's object, beside the same attempt on an object that does not exist.
    type Attempt = (
        Function,
        &'static str,
        String,
        Vec<(&'static str, String)>,
        Value,
    );
    let on_key = |method: &'static str, suffix: &str, body: Value| -> [Attempt; 2] {
        [id_of_a.clone(), missing_id.clone()].map(|id| {
            (
                Function::Keys,
                method,
                format!("/api/v1/keys/{id}{suffix}"),
                vec![],
                body.clone(),
            )
        })
    };
    let on_user = |function: Function,
                   method: &'static str,
                   path: &str,
                   extra: &[(&'static str, &'static str)],
                   body_of: &dyn Fn(&str) -> Value|
     -> [Attempt; 2] {
        [USER_A, missing_user].map(|user| {
            let mut query: Vec<(&'static str, String)> =
                extra.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            if body_of(user).is_null() {
                query.push(("userId", user.to_owned()));
            }
            (function, method, path.to_owned(), query, body_of(user))
        })
    };
    let no_body = |_: &str| Value::Null;
    let mut pairs: Vec<[Attempt; 2]> = vec![
        on_key("GET", "", Value::Null),
        on_key("DELETE", "", Value::Null),
        on_key("POST", "/rotate", json!({ "gracePeriodSeconds": 0 })),
        on_key("POST", "/rotate", json!({ "revokeOld": false })),
        on_user(Function::Keys, "GET", "/api/v1/keys", &[], &no_body),
        on_user(
            Function::Keys,
            "POST",
            "/api/v1/keys",
            &[],
            &|user: &str| json!({ "userId": user }),
        ),
        on_user(
            Function::Keys,
            "POST",
            "/api/v1/keys",
            &[],
            &|user: &str| json!({ "userId": user, "tier": "enterprise", "name": "takeover" }),
        ),
    ];
    for action in ["current", "history", "analytics", "sources", "endpoints"] {
        pairs.push(on_user(
            Function::Usage,
            "GET",
            "/api/v1/usage",
            &[("action", action)],
            &no_body,
        ));
    }
    pairs.push(on_user(
        Function::Usage,
        "DELETE",
        "/api/v1/usage",
        &[],
        &no_body,
    ));

    let mut failures = Vec::new();
    for pair in &pairs {
        let mut answers = Vec::new();
        for (function, method, path, query, body) in pair {
            let mut builder = request(method, path).key(&w.key_of_b);
            for (name, value) in query {
                builder = builder.query(name, value);
            }
            if !body.is_null() {
                builder = builder.json(body.clone());
            }
            answers.push(w.call(*function, builder.build()).await);
        }
        let (method, path, query) = (pair[0].1, &pair[0].2, &pair[0].3);
        let case = format!("B: {method} {path} {query:?}");
        let on_a = &answers[0];
        if on_a.status.is_success() || ![403, 404].contains(&on_a.status.as_u16()) {
            failures.push(format!(
                "{case}: expected 404 (or 403 on an admin-only route), got {}: {}",
                on_a.status, on_a.text
            ));
        }
        let object_of_a = if path.contains(&id_of_a) {
            (id_of_a.as_str(), missing_id.as_str())
        } else {
            (USER_A, missing_user)
        };
        if without(on_a, object_of_a.0) != without(&answers[1], object_of_a.1) {
            failures.push(format!(
                "{case}: A's object answers differently from a missing one: {} {} vs {} {}",
                on_a.status, on_a.text, answers[1].status, answers[1].text
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} attempts of B leak or act on A's objects:\n{}",
        failures.len(),
        pairs.len(),
        failures.join("\n")
    );

    let a_after = view_of_a(&w, &ids_of_a).await;
    for ((name, before), (_, after)) in a_before.iter().zip(&a_after) {
        assert_eq!(before, after, "B's attempts changed {name}");
    }
    assert_eq!(
        table_before,
        table_items(&w.t.store).await,
        "B's attempts changed the table"
    );
    let a_still_works = w
        .call(
            Function::Keys,
            request("GET", &format!("/api/v1/keys/{id_of_a}"))
                .key(&w.key_of_a)
                .build(),
        )
        .await;
    assert_eq!(a_still_works.status, 200, "{}", a_still_works.text);
    assert_eq!(a_still_works.body["isActive"], true);
}
