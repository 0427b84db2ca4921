#!/usr/bin/env python3
"""Static cross-checks of the deployment description (no AWS, no network).

1. routes: the (method, path) -> function routes of the HttpApi events in
   infra/template.yaml == the operations of infra/openapi.yaml (the first tag
   of each operation names the function) == the paths of the root Cargo.toml
   [workspace.metadata.lambda.watch.router] (used by `cargo lambda watch`).
   The router maps a path either to a function name (all methods) or to a
   list of {method, function} tables; both forms are understood.
2. refs: every Ref / Fn::GetAtt / Fn::Sub ${...} in the template names a
   parameter, a resource or a pseudo parameter (cfn-lint 1.58.0 misses bad
   refs in AWS::Serverless::Function Environment variables).
3. cors: the HttpApi CorsConfiguration (methods, headers, exposed headers,
   max age) == the constants of shared/src/cors.rs, which the functions use
   when they answer preflights themselves (cargo lambda watch --disable-cors).

Usage: check_routes.py [--repo DIR]   (exit 0 and one line per check when OK)
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import yaml

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
CODE_URI = re.compile(r"^\.\./target/lambda/([A-Za-z0-9_-]+)/bootstrap\.zip$")


class Tag:
    """A CloudFormation short-form intrinsic (!Ref, !Sub, ...), kept as data."""

    def __init__(self, name: str, value):
        self.name = name
        self.value = value


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> Tag:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tag(suffix, value)


CfnLoader.add_multi_constructor("!", _tag)


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        self.items.append(msg)


def intrinsic(value):
    """Return (name, argument) for an intrinsic in either form, else None."""
    if isinstance(value, Tag):
        return value.name, value.value
    if isinstance(value, dict) and len(value) == 1:
        (k, v), = value.items()
        if k == "Ref":
            return "Ref", v
        if k.startswith("Fn::"):
            return k[4:], v
    return None


def template_routes(tpl: dict, fail: Failures) -> dict[tuple[str, str], str]:
    routes: dict[tuple[str, str], str] = {}
    resources = tpl.get("Resources", {})
    apis = [n for n, r in resources.items() if r.get("Type") == "AWS::Serverless::HttpApi"]
    if len(apis) != 1:
        fail.add(f"template: expected exactly one AWS::Serverless::HttpApi, found {apis}")
    for name, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        m = CODE_URI.match(str(props.get("CodeUri", "")))
        if not m:
            fail.add(f"template: {name}.CodeUri must be ../target/lambda/<fn>/bootstrap.zip, "
                     f"got {props.get('CodeUri')!r}")
            continue
        fn = m.group(1)
        for ev_name, ev in (props.get("Events") or {}).items():
            if ev.get("Type") != "HttpApi":
                continue
            ep = ev.get("Properties", {})
            where = f"template: {name}.Events.{ev_name}"
            api = intrinsic(ep.get("ApiId"))
            if not api or api[0] != "Ref" or (apis and api[1] != apis[0]):
                fail.add(f"{where}: ApiId must be !Ref {apis[0] if apis else 'HttpApi'}")
            if str(ep.get("PayloadFormatVersion")) != "2.0":
                fail.add(f"{where}: PayloadFormatVersion must be \"2.0\"")
            method, path = str(ep.get("Method", "")).upper(), ep.get("Path")
            if method.lower() not in HTTP_METHODS or not path:
                fail.add(f"{where}: needs an explicit Method (not ANY) and Path, got {method} {path}")
                continue
            key = (method, path)
            if key in routes:
                fail.add(f"{where}: duplicate route {method} {path}")
            routes[key] = fn
    return routes


def openapi_routes(spec: dict, fail: Failures) -> dict[tuple[str, str], str]:
    routes: dict[tuple[str, str], str] = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            tags = op.get("tags") or []
            if not tags:
                fail.add(f"openapi: {method.upper()} {path} has no tags (first tag = function)")
                continue
            routes[(method.upper(), path)] = tags[0]
    return routes


def router_routes(cargo: dict, fail: Failures) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Return (path -> function for any-method entries, (method, path) -> function)."""
    router = (cargo.get("workspace", {}).get("metadata", {}).get("lambda", {})
              .get("watch", {}).get("router"))
    any_method: dict[str, str] = {}
    per_method: dict[tuple[str, str], str] = {}
    if not isinstance(router, dict) or not router:
        fail.add("Cargo.toml: [workspace.metadata.lambda.watch.router] is missing or empty")
        return any_method, per_method
    for path, target in router.items():
        if isinstance(target, str):
            any_method[path] = target
        elif isinstance(target, list):
            for entry in target:
                if not isinstance(entry, dict) or "function" not in entry:
                    fail.add(f"Cargo.toml router: {path}: entry {entry!r} lacks `function`")
                    continue
                method = str(entry.get("method", "")).upper()
                if method:
                    per_method[(method, path)] = entry["function"]
                else:
                    any_method[path] = entry["function"]
        else:
            fail.add(f"Cargo.toml router: {path}: expected a function name or a list, got {target!r}")
    return any_method, per_method


def fmt(routes) -> str:
    return ", ".join(f"{m} {p}" for m, p in sorted(routes, key=lambda r: (r[1], r[0])))


def check_routes(repo: Path, fail: Failures) -> int:
    tpl = yaml.load((repo / "infra/template.yaml").read_text(), Loader=CfnLoader)
    spec = yaml.safe_load((repo / "infra/openapi.yaml").read_text())
    cargo = tomllib.loads((repo / "Cargo.toml").read_text())

    t = template_routes(tpl, fail)
    o = openapi_routes(spec, fail)
    any_method, per_method = router_routes(cargo, fail)

    if set(t) != set(o):
        if set(t) - set(o):
            fail.add(f"routes in template but not in openapi.yaml: {fmt(set(t) - set(o))}")
        if set(o) - set(t):
            fail.add(f"routes in openapi.yaml but not in template: {fmt(set(o) - set(t))}")
    for key in sorted(set(t) & set(o)):
        if t[key] != o[key]:
            fail.add(f"{key[0]} {key[1]}: template routes it to {t[key]!r}, "
                     f"openapi.yaml tags it {o[key]!r}")

    # The router: paths must match exactly; the function must match per route.
    t_paths = {p for _, p in t}
    r_paths = set(any_method) | {p for _, p in per_method}
    if t_paths - r_paths:
        fail.add(f"paths in template but not routed in Cargo.toml: {sorted(t_paths - r_paths)}")
    if r_paths - t_paths:
        fail.add(f"paths routed in Cargo.toml but not in template: {sorted(r_paths - t_paths)}")
    for (method, path), fn in sorted(t.items()):
        routed = per_method.get((method, path), any_method.get(path))
        if path in r_paths and routed is None:
            fail.add(f"Cargo.toml router: {method} {path} is not routed (per-method list lacks it)")
        elif routed is not None and routed != fn:
            fail.add(f"{method} {path}: template -> {fn!r}, Cargo.toml router -> {routed!r}")
    for (method, path), fn in sorted(per_method.items()):
        if (method, path) not in t:
            fail.add(f"Cargo.toml router routes {method} {path} (-> {fn}), the template does not")
    return len(t)


PSEUDO = {"AWS::AccountId", "AWS::NoValue", "AWS::NotificationARNs", "AWS::Partition",
          "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}
SUB_VAR = re.compile(r"\$\{(?!!)([^}]+)\}")


def check_refs(repo: Path, fail: Failures) -> int:
    tpl = yaml.load((repo / "infra/template.yaml").read_text(), Loader=CfnLoader)
    names = set(tpl.get("Parameters", {})) | set(tpl.get("Resources", {})) | PSEUDO
    count = 0

    def target_ok(target: str, where: str, local: set[str] = frozenset()) -> None:
        nonlocal count
        count += 1
        base = target.split(".", 1)[0]
        if target not in names and base not in names and target not in local:
            fail.add(f"template {where}: reference to unknown {target!r}")

    def walk(node, where: str) -> None:
        it = intrinsic(node)
        if it:
            name, arg = it
            if name == "Ref":
                target_ok(str(arg), where)
            elif name == "GetAtt":
                target = arg[0] if isinstance(arg, list) else str(arg)
                target_ok(target, where)
            elif name == "Sub":
                text, local = (arg[0], set(arg[1])) if isinstance(arg, list) else (arg, set())
                if isinstance(text, str):
                    for var in SUB_VAR.findall(text):
                        target_ok(var.strip(), where, local)
                if isinstance(arg, list) and len(arg) > 1:
                    walk(arg[1], where)
                return
            walk(arg, where)
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    for section in ("Resources", "Outputs", "Conditions", "Globals"):
        walk(tpl.get(section, {}), section)
    return count


RUST_CONST = re.compile(r'pub const ([A-Z_]+): &str = "((?:[^"\\]|\\\n)*)";', re.S)


def check_cors(repo: Path, fail: Failures) -> int:
    tpl = yaml.load((repo / "infra/template.yaml").read_text(), Loader=CfnLoader)
    rust = {name: re.sub(r"\\\n\s*", "", value)
            for name, value in RUST_CONST.findall((repo / "shared/src/cors.rs").read_text())}
    apis = [r for r in tpl.get("Resources", {}).values() if r.get("Type") == "AWS::Serverless::HttpApi"]
    cors = apis[0].get("Properties", {}).get("CorsConfiguration") if apis else None
    it = intrinsic(cors)
    if it and it[0] == "If":
        cors = it[1][1]
    if not isinstance(cors, dict):
        fail.add("template: the HttpApi has no CorsConfiguration (or not as !If [cond, config, NoValue])")
        return 0

    def as_set(text: str) -> set[str]:
        return {part.strip().lower() for part in text.split(",") if part.strip()}

    pairs = [("AllowMethods", "ALLOW_METHODS"), ("AllowHeaders", "ALLOW_HEADERS"),
             ("ExposeHeaders", "EXPOSE_HEADERS")]
    for field, const in pairs:
        template_values = {str(v).lower() for v in cors.get(field) or []}
        if const not in rust:
            fail.add(f"shared/src/cors.rs: constant {const} not found")
        elif template_values != as_set(rust[const]):
            fail.add(f"CorsConfiguration.{field} {sorted(template_values)} != cors.rs {const} "
                     f"{sorted(as_set(rust[const]))}")
    if str(cors.get("MaxAge")) != rust.get("MAX_AGE_SECONDS"):
        fail.add(f"CorsConfiguration.MaxAge {cors.get('MaxAge')} != cors.rs MAX_AGE_SECONDS "
                 f"{rust.get('MAX_AGE_SECONDS')}")
    return len(pairs) + 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args()

    status = 0
    fail = Failures()
    n = check_routes(args.repo, fail)
    if fail.items:
        print("FAIL routes: template, openapi.yaml and the Cargo.toml router disagree:")
        for item in fail.items:
            print(f"  - {item}")
        status = 1
    else:
        print(f"ok   routes: {n} (method, path) -> function routes agree in template.yaml, "
              "openapi.yaml and the Cargo.toml router")

    fail = Failures()
    n = check_refs(args.repo, fail)
    if fail.items:
        print("FAIL refs: template.yaml references names that do not exist:")
        for item in fail.items:
            print(f"  - {item}")
        status = 1
    else:
        print(f"ok   refs: {n} Ref/GetAtt/Sub targets in template.yaml exist")

    fail = Failures()
    n = check_cors(args.repo, fail)
    if fail.items:
        print("FAIL cors: the template's CorsConfiguration and shared/src/cors.rs disagree:")
        for item in fail.items:
            print(f"  - {item}")
        status = 1
    else:
        print(f"ok   cors: {n} CorsConfiguration settings agree with shared/src/cors.rs")
    return status


if __name__ == "__main__":
    sys.exit(main())
