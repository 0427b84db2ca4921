#!/usr/bin/env bash
# make build: release Lambda artifacts with cargo-lambda, one zip per function:
#   target/lambda/{keys,usage,data}/bootstrap.zip   (ARCH=arm64 by default, or x86_64)
# The SAM template's CodeUri points at these zips; build and deploy with the same ARCH.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
ARCH=${ARCH:-arm64}
case "$ARCH" in
  arm64|aarch64)
    flag=--arm64
    if ! rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$'; then
      echo "[build] adding the Rust target aarch64-unknown-linux-gnu (rustup)"
      rustup target add aarch64-unknown-linux-gnu
    fi
    ;;
  x86_64|x86-64) flag=--x86-64 ;;
  *) echo "ARCH must be arm64 or x86_64 (got $ARCH)" >&2; exit 2 ;;
esac
echo "[build] cargo lambda build --release $flag for keys, usage, data (zig links; ~7 min cold)"
cargo lambda build --release "$flag" --output-format zip -p harmonic-keys -p harmonic-usage -p harmonic-data
for fn in keys usage data; do
  ls -l "target/lambda/$fn/bootstrap.zip" | awk -v fn="$fn" '{printf "[build] %-5s %s bytes  %s\n", fn, $5, $9}'
done
