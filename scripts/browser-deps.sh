#!/usr/bin/env bash
# Installs what the real-browser test of the dashboard needs, only what is missing:
#   chromium + chromium-driver   Debian packages (/usr/bin/chromium, /usr/bin/chromedriver),
#                                through apt-get (as root, or with sudo when it is available)
#   selenium                     Python package in .venv (pinned in tools/requirements.txt,
#                                installed by scripts/bootstrap.sh)
# Called by scripts/bootstrap.sh --browser (make test's end-to-end stage).
set -euo pipefail

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the browser test needs Chromium and its driver at /usr/bin/chromium and /usr/bin/chromedriver;" >&2
  echo "this machine has no apt-get: install them with the system's package manager" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "installing chromium needs root (or sudo)" >&2; exit 1; }
  as_root=(sudo)
fi
say "installing the Debian packages chromium and chromium-driver for the browser test (apt-get, ~2 min)"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
say "chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}') installed"
