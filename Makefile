# HARMONIC API — the commands a contributor and an operator need. Everything installs
# project-locally (tools/node_modules, .venv); nothing needs to be installed by hand beyond Rust,
# Node and Python. `make help` lists the targets.

SHELL := /bin/bash
PORT ?= 9000
DYNAMODB_PORT ?= 8000
ARCH ?= arm64
ENV ?=
OFFLINE ?= 0

.PHONY: help run test check bench build deploy logs delete validate bootstrap fmt clean openapi

help: ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

bootstrap: ## install the project-local tools (dynalite, .venv) if missing
	@scripts/bootstrap.sh

run: bootstrap ## the whole API locally: dynalite + cargo lambda watch on 127.0.0.1:PORT (9000); OFFLINE=1: local upstream stand-ins
	@PORT=$(PORT) DYNAMODB_PORT=$(DYNAMODB_PORT) OFFLINE=$(OFFLINE) scripts/run.sh

test: bootstrap ## every check: fmt, clippy, unit, integration, infra validation, end to end
	@scripts/test.sh

check: ## fast: cargo fmt --check, clippy -D warnings, unit tests and the tools' checks (no server, no e2e)
	@echo "[check] cargo fmt --check"; cargo fmt --all -- --check
	@echo "[check] cargo clippy -D warnings"; cargo clippy --quiet --workspace --all-targets -- -D warnings
	@echo "[check] unit tests (cargo test --lib, and xtask's: the configuration table)"; cargo test --quiet --workspace --lib && cargo test --quiet -p xtask

bench: bootstrap ## the benchmarks (not part of make test): release builds, then target/release/xtask bench
	@scripts/bench.sh

validate: bootstrap ## cfn-lint (+ serverless rules), checkov, OpenAPI, route and ref cross-checks
	@scripts/validate.sh

build: bootstrap ## release Lambda zips with cargo-lambda (target/lambda/<fn>/bootstrap.zip; ARCH=arm64|x86_64)
	@ARCH=$(ARCH) scripts/build.sh

deploy: ## build, then sam deploy ENV=staging|prod (needs AWS credentials, ADMIN_TOKEN, USER_AGENT; ALARM_EMAIL optional)
	@ARCH=$(ARCH) ENV=$(ENV) scripts/deploy.sh --check-only
	@$(MAKE) --no-print-directory build ARCH=$(ARCH)
	@ARCH=$(ARCH) ENV=$(ENV) scripts/deploy.sh

logs: ## follow the deployed functions' logs: ENV=staging|prod [FN=keys|usage|data]
	@ENV=$(ENV) scripts/ops.sh logs

delete: ## delete the ENV=staging|prod stack (the DynamoDB table is retained)
	@ENV=$(ENV) scripts/ops.sh delete

openapi: bootstrap ## regenerate infra/openapi.json (served at /api/v1/openapi.json) from infra/openapi.yaml
	@.venv/bin/python infra/openapi_json.py

fmt: ## cargo fmt
	cargo fmt --all

clean: ## cargo clean and the local state (.local)
	cargo clean
	rm -rf .local
