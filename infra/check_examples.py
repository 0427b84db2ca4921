#!/usr/bin/env python3
"""Check that every example in infra/openapi.yaml conforms to its schema.

openapi-spec-validator checks the document's structure, not its examples.
This validates, with JSON Schema 2020-12 (the OpenAPI 3.1 dialect) and
format checking, every `example` / `examples` of request bodies, responses,
parameters and headers, and every `example` inside components.schemas.
Usage: check_examples.py [path/to/openapi.yaml]   (exit 0 and one line when OK)
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:harmonic:openapi"


def main() -> int:
    spec_file = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("openapi.yaml")
    doc = yaml.safe_load(spec_file.read_text())
    registry = Registry().with_resource(BASE, Resource.from_contents(doc, default_specification=DRAFT202012))
    checker = FormatChecker()
    failures: list[str] = []
    count = 0

    def resolve(obj: dict) -> tuple[dict, str | None]:
        """Follow a local $ref (components/...) once; return (object, pointer)."""
        ref = obj.get("$ref") if isinstance(obj, dict) else None
        if not ref:
            return obj, None
        node = doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, ref

    def check(schema_pointer: str, value, where: str) -> None:
        nonlocal count
        count += 1
        validator = Draft202012Validator({"$ref": f"{BASE}#{schema_pointer}"},
                                         registry=registry, format_checker=checker)
        for err in validator.iter_errors(value):
            loc = "/".join(str(p) for p in err.absolute_path) or "(root)"
            failures.append(f"{where}: at {loc}: {err.message}")

    def examples_of(obj: dict, where: str):
        if "example" in obj:
            yield obj["example"], where
        for name, ex in (obj.get("examples") or {}).items():
            ex, _ = resolve(ex)
            if "value" in ex:
                yield ex["value"], f"{where} examples.{name}"

    def esc(s: str) -> str:
        return s.replace("~", "~0").replace("/", "~1")

    def check_media(content: dict, pointer: str, where: str) -> None:
        for mt, media in (content or {}).items():
            if "schema" not in media:
                continue
            for value, w in examples_of(media, f"{where} {mt}"):
                check(f"{pointer}/content/{esc(mt)}/schema", value, w)

    def check_headers(headers: dict, pointer: str, where: str) -> None:
        for name, h in (headers or {}).items():
            h, ref = resolve(h)
            hp = ref.lstrip("#") if ref else f"{pointer}/headers/{esc(name)}"
            for value, w in examples_of(h, f"{where} header {name}"):
                check(f"{hp}/schema", value, w)

    def check_params(params: list, pointer: str, where: str) -> None:
        for i, p in enumerate(params or []):
            p, ref = resolve(p)
            pp = ref.lstrip("#") if ref else f"{pointer}/parameters/{i}"
            for value, w in examples_of(p, f"{where} parameter {p.get('name')}"):
                check(f"{pp}/schema", value, w)

    for path, item in (doc.get("paths") or {}).items():
        ip = f"/paths/{esc(path)}"
        check_params(item.get("parameters"), ip, path)
        for method, op in item.items():
            if not isinstance(op, dict) or method == "parameters":
                continue
            op_p, where = f"{ip}/{method}", f"{method.upper()} {path}"
            check_params(op.get("parameters"), op_p, where)
            if "requestBody" in op:
                body, ref = resolve(op["requestBody"])
                bp = ref.lstrip("#") if ref else f"{op_p}/requestBody"
                check_media(body.get("content"), bp, f"{where} request")
            for status, resp in (op.get("responses") or {}).items():
                resp, ref = resolve(resp)
                rp = ref.lstrip("#") if ref else f"{op_p}/responses/{status}"
                check_media(resp.get("content"), rp, f"{where} {status}")
                check_headers(resp.get("headers"), rp, f"{where} {status}")

    for name, schema in (doc.get("components", {}).get("schemas") or {}).items():
        if isinstance(schema, dict) and "example" in schema:
            check(f"/components/schemas/{esc(name)}", schema["example"], f"schema {name} example")

    if failures:
        print(f"FAIL examples: {len(failures)} of the examples in {spec_file.name} do not match their schemas:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print(f"ok   examples: {count} examples in {spec_file.name} match their schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
