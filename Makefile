# HARMONIC API — the commands a contributor needs. Everything installs project-locally
# (tools/node_modules, .venv); nothing needs to be installed by hand beyond Rust, Node and Python.
#
#   make run        the whole API locally: dynalite on 127.0.0.1:$(DYNAMODB_PORT) + cargo lambda watch on $(PORT)
#                   (OFFLINE=1: the upstream sources answered by local stand-ins, no internet needed)
#   make test       every check: fmt, clippy, unit + integration tests on a real DynamoDB-compatible
#                   server, infra validation, and the end-to-end suite through cargo lambda watch
#   make bench      the benchmarks (not part of make test)
#   make build      release Lambda artifacts with cargo-lambda (target/lambda/<fn>/bootstrap.zip)
#   make deploy     sam deploy (guided the first time)
#   make validate   cfn-lint + OpenAPI validation + route cross-check
#   make openapi    regenerate infra/openapi.json (served at /api/v1/openapi.json) from openapi.yaml

SHELL := /bin/bash
PORT ?= 9000
DYNAMODB_PORT ?= 8000
ARCH ?= arm64
OFFLINE ?= 0

.PHONY: run test bench build deploy validate bootstrap fmt clean openapi

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	@PORT=$(PORT) DYNAMODB_PORT=$(DYNAMODB_PORT) OFFLINE=$(OFFLINE) scripts/run.sh

test: bootstrap
	@scripts/test.sh

bench: bootstrap
	@scripts/bench.sh

validate: bootstrap
	@scripts/validate.sh

build: bootstrap
	@ARCH=$(ARCH) scripts/build.sh

deploy: build
	@scripts/deploy.sh

openapi: bootstrap
	@.venv/bin/python infra/openapi_json.py

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf .local
