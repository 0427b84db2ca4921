#!/usr/bin/env bash
# Installs the project-local tools that make run / make test need, if they are missing:
#   tools/node_modules  dynalite (DynamoDB-compatible server), from tools/package-lock.json
#   .venv               cargo-lambda (and the infra validators), from tools/requirements.txt
# Nothing is installed outside the checkout. Safe to run again: it only does what is missing.
# With --browser (make test's end-to-end stage) also the OS packages of the real-browser test:
# chromium and chromium-driver from apt when missing (scripts/browser-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "missing $1: $2" >&2; exit 1; }
}
need cargo "install Rust with rustup (https://rustup.rs)"
need node "install Node.js 20 or newer"
need npm "install npm (comes with Node.js)"
need python3 "install Python 3.11 or newer"

if [ ! -x tools/node_modules/.bin/dynalite ] || [ tools/package-lock.json -nt tools/node_modules/.installed ]; then
  say "installing dynalite into tools/node_modules (npm ci)"
  npm ci --prefix tools --no-audit --no-fund --loglevel=error
  touch tools/node_modules/.installed
fi

if [ ! -x .venv/bin/python ]; then
  say "creating the Python virtual environment .venv"
  python3 -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ tools/requirements.txt -nt .venv/.installed ]; then
  say "installing cargo-lambda and the validators into .venv (pip, pinned in tools/requirements.txt)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt
  touch .venv/.installed
fi

if [ "${1:-}" = "--browser" ]; then
  scripts/browser-deps.sh
fi
