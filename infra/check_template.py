#!/usr/bin/env python3
"""Static cross-checks of the SAM template (no AWS, no network).

1. refs: every Ref / Fn::GetAtt / Fn::Sub ${...} in the template names a
   parameter, a resource or a pseudo parameter (cfn-lint 1.58.0 misses bad
   refs in AWS::Serverless::Function Environment variables).
2. cors: the HttpApi CorsConfiguration (methods, headers, exposed headers,
   max age) == the constants of shared/src/cors.rs, which the functions use
   when they answer preflights themselves (cargo lambda watch --disable-cors).

The routes (template events == openapi.yaml == the Cargo.toml watch router ==
the functions' route tables) are checked by tests/tests/routes.rs, against the
Rust tables themselves.

Usage: check_template.py [--repo DIR]   (exit 0 and one line per check when OK)
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

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

    checks = [
        ("refs", check_refs, "template.yaml references names that do not exist",
         "{n} Ref/GetAtt/Sub targets in template.yaml exist"),
        ("cors", check_cors, "the template's CorsConfiguration and shared/src/cors.rs disagree",
         "{n} CorsConfiguration settings agree with shared/src/cors.rs"),
    ]
    status = 0
    for name, check, failed, passed in checks:
        fail = Failures()
        n = check(args.repo, fail)
        if fail.items:
            print(f"FAIL {name}: {failed}:")
            for item in fail.items:
                print(f"  - {item}")
            status = 1
        else:
            print(f"ok   {name}: {passed.format(n=n)}")
    return status

if __name__ == "__main__":
    sys.exit(main())
