//! The three functions' route tables (`harmonic_keys::ROUTES`, `harmonic_usage::ROUTES`,
//! `harmonic_data::ROUTES`) are the routes; the deployment's descriptions of them must agree:
//! the HttpApi events of infra/template.yaml, the operations of infra/openapi.yaml (the first
//! tag of each names the function) and the `cargo lambda watch` router of the workspace
//! Cargo.toml. A difference fails with the route (method, path, function) and the file named.
//! Needs no server: it only reads files.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use harmonic_shared::http::Route;
use serde_yaml_ng::Value as Yaml;

/// A route as the files state it: method, public path, function.
type Routed = (String, String, String);

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = workspace().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn add_table<E>(into: &mut BTreeSet<Routed>, function: &str, routes: &[Route<E>]) {
    for route in routes {
        for (method, _) in route.methods {
            into.insert((
                method.as_str().to_owned(),
                route.path.to_owned(),
                function.to_owned(),
            ));
        }
    }
}

/// What the Rust route tables serve.
fn tables() -> BTreeSet<Routed> {
    let mut routes = BTreeSet::new();
    add_table(&mut routes, "keys", harmonic_keys::ROUTES);
    add_table(&mut routes, "usage", harmonic_usage::ROUTES);
    add_table(&mut routes, "data", harmonic_data::ROUTES);
    routes
}

fn text<'a>(value: &'a Yaml, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Yaml::as_str)
}

/// The HttpApi events of the template's functions; the function is named by its `CodeUri`
/// (`../target/lambda/<function>/bootstrap.zip`). CloudFormation tags (`!Ref`, `!Sub`,
/// `!GetAtt`) are kept as tagged values and never read here.
fn template_routes(problems: &mut Vec<String>) -> BTreeSet<Routed> {
    let template: Yaml =
        serde_yaml_ng::from_str(&read("infra/template.yaml")).expect("infra/template.yaml is YAML");
    let mut routes = BTreeSet::new();
    let Some(resources) = template.get("Resources").and_then(Yaml::as_mapping) else {
        problems.push("infra/template.yaml: no Resources".into());
        return routes;
    };
    for (name, resource) in resources {
        if text(resource, "Type") != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap_or("?");
        let properties = resource.get("Properties");
        let code_uri = properties.and_then(|p| text(p, "CodeUri")).unwrap_or("");
        let Some(function) = code_uri
            .strip_prefix("../target/lambda/")
            .and_then(|rest| rest.strip_suffix("/bootstrap.zip"))
        else {
            problems.push(format!(
                "infra/template.yaml: {name}.CodeUri must be ../target/lambda/<function>/bootstrap.zip, not {code_uri:?}"
            ));
            continue;
        };
        let events = properties
            .and_then(|p| p.get("Events"))
            .and_then(Yaml::as_mapping);
        for (event_name, event) in events.into_iter().flatten() {
            if text(event, "Type") != Some("HttpApi") {
                continue;
            }
            let event_properties = event.get("Properties");
            let method = event_properties.and_then(|p| text(p, "Method"));
            let path = event_properties.and_then(|p| text(p, "Path"));
            let (Some(method), Some(path)) = (method, path) else {
                problems.push(format!(
                    "infra/template.yaml: {name}.Events.{}: needs a Method and a Path",
                    event_name.as_str().unwrap_or("?")
                ));
                continue;
            };
            if !routes.insert((method.to_uppercase(), path.to_owned(), function.to_owned())) {
                problems.push(format!(
                    "infra/template.yaml: {method} {path} is routed twice"
                ));
            }
        }
    }
    routes
}

/// The operations of the OpenAPI document, each routed to the function of its first tag.
fn openapi_routes(problems: &mut Vec<String>) -> BTreeSet<Routed> {
    let document: Yaml =
        serde_yaml_ng::from_str(&read("infra/openapi.yaml")).expect("infra/openapi.yaml is YAML");
    let mut routes = BTreeSet::new();
    let paths = document.get("paths").and_then(Yaml::as_mapping);
    for (path, item) in paths.into_iter().flatten() {
        let path = path.as_str().unwrap_or("?");
        let operations = item.as_mapping().into_iter().flatten();
        for (method, operation) in operations {
            let Some(method) = method.as_str().filter(|m| HTTP_METHODS.contains(m)) else {
                continue;
            };
            let first_tag = operation
                .get("tags")
                .and_then(Yaml::as_sequence)
                .and_then(|tags| tags.first())
                .and_then(Yaml::as_str);
            match first_tag {
                Some(function) => {
                    routes.insert((method.to_uppercase(), path.to_owned(), function.to_owned()));
                }
                None => problems.push(format!(
                    "infra/openapi.yaml: {} {path} has no tags (the first tag names the function)",
                    method.to_uppercase()
                )),
            }
        }
    }
    routes
}

/// The watch router: a path routed to one function for every method, or a list of
/// `{ method, function }` tables.
struct Router {
    any_method: BTreeSet<(String, String)>,
    per_method: BTreeSet<Routed>,
}

fn router(problems: &mut Vec<String>) -> Router {
    let cargo: toml::Value = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml is TOML");
    let mut node = Some(&cargo);
    for key in ["workspace", "metadata", "lambda", "watch", "router"] {
        node = node.and_then(|value| value.get(key));
    }
    let entries = node
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    if entries.is_empty() {
        problems.push("Cargo.toml: [workspace.metadata.lambda.watch.router] is missing".into());
    }
    let mut router = Router {
        any_method: BTreeSet::new(),
        per_method: BTreeSet::new(),
    };
    for (path, target) in &entries {
        match target {
            toml::Value::String(function) => {
                router.any_method.insert((path.clone(), function.clone()));
            }
            toml::Value::Array(list) => {
                for entry in list {
                    let function = entry.get("function").and_then(toml::Value::as_str);
                    let method = entry.get("method").and_then(toml::Value::as_str);
                    match (method, function) {
                        (Some(method), Some(function)) => {
                            router.per_method.insert((
                                method.to_uppercase(),
                                path.clone(),
                                function.to_owned(),
                            ));
                        }
                        (None, Some(function)) => {
                            router
                                .any_method
                                .insert((path.clone(), function.to_owned()));
                        }
                        (_, None) => problems.push(format!(
                            "Cargo.toml router: {path}: an entry without `function`"
                        )),
                    }
                }
            }
            other => problems.push(format!(
                "Cargo.toml router: {path}: expected a function name or a list, not {other}"
            )),
        }
    }
    router
}

/// Every route of `expected` missing from `found`, and every route of `found` not in `expected`.
fn compare(
    problems: &mut Vec<String>,
    expected: &BTreeSet<Routed>,
    found: &BTreeSet<Routed>,
    file: &str,
) {
    for (method, path, function) in expected.difference(found) {
        problems.push(format!(
            "{method} {path} ({function}): in the {function} route table, not in {file}"
        ));
    }
    for (method, path, function) in found.difference(expected) {
        problems.push(format!(
            "{method} {path} ({function}): in {file}, not in the {function} route table"
        ));
    }
}

fn compare_router(problems: &mut Vec<String>, tables: &BTreeSet<Routed>, router: &Router) {
    const FILE: &str = "the Cargo.toml watch router";
    let table_paths: BTreeSet<(String, String)> = tables
        .iter()
        .map(|(_, path, function)| (path.clone(), function.clone()))
        .collect();
    for (method, path, function) in tables {
        let routed = router
            .any_method
            .contains(&(path.clone(), function.clone()))
            || router
                .per_method
                .contains(&(method.clone(), path.clone(), function.clone()));
        if !routed {
            problems.push(format!(
                "{method} {path} ({function}): in the {function} route table, not routed to {function} by {FILE}"
            ));
        }
    }
    for (path, function) in &router.any_method {
        if !table_paths.contains(&(path.clone(), function.clone())) {
            problems.push(format!(
                "* {path} ({function}): in {FILE}, not in the {function} route table"
            ));
        }
    }
    for routed in router.per_method.difference(tables) {
        let (method, path, function) = routed;
        problems.push(format!(
            "{method} {path} ({function}): in {FILE}, not in the {function} route table"
        ));
    }
}

#[test]
fn template_openapi_and_the_watch_router_agree_with_the_route_tables() {
    let tables = tables();
    let mut problems = Vec::new();
    let template = template_routes(&mut problems);
    let openapi = openapi_routes(&mut problems);
    let router = router(&mut problems);
    compare(&mut problems, &tables, &template, "infra/template.yaml");
    compare(&mut problems, &tables, &openapi, "infra/openapi.yaml");
    compare_router(&mut problems, &tables, &router);
    assert!(
        problems.is_empty(),
        "the route tables and the deployment's files disagree:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn a_route_missing_from_a_file_is_named_with_its_method_path_and_file() {
    let tables = tables();
    let mut fewer = tables.clone();
    let removed = (
        "GET".to_owned(),
        "/api/v1/keys/stats".to_owned(),
        "keys".to_owned(),
    );
    assert!(
        fewer.remove(&removed),
        "the keys table routes GET /api/v1/keys/stats"
    );
    let mut problems = Vec::new();
    compare(&mut problems, &tables, &fewer, "infra/template.yaml");
    assert_eq!(
        problems,
        ["GET /api/v1/keys/stats (keys): in the keys route table, not in infra/template.yaml"]
    );
}
