#!/usr/bin/env python3
"""Generates infra/openapi.json (served at GET /api/v1/openapi.json) from infra/openapi.yaml.

Usage: openapi_json.py           write infra/openapi.json
       openapi_json.py --check   exit 1 if infra/openapi.json is not the YAML converted
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def render() -> str:
    document = yaml.safe_load((HERE / "openapi.yaml").read_text())
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    target = HERE / "openapi.json"
    text = render()
    if "--check" in sys.argv[1:]:
        if not target.exists() or target.read_text() != text:
            print("FAIL openapi.json: infra/openapi.json is not infra/openapi.yaml converted; "
                  "run `python3 infra/openapi_json.py` (or `make openapi`) and commit it")
            return 1
        print("ok   openapi.json: infra/openapi.json is infra/openapi.yaml converted")
        return 0
    target.write_text(text)
    print(f"wrote {target.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
