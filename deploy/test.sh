#!/usr/bin/env bash
# The test command: starts PostgreSQL, Redis and NATS when they are down
# (installing them when missing), builds the workspace once and runs the whole
# suite with cargo-nextest (cargo test when nextest is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/dev-services.sh
# Chromium and playwright-core for the browser test (installed when missing).
bash deploy/browser-deps.sh
# The end-to-end tests run the service binaries as processes: build them
# first (test builds alone only build a package's binaries for that
# package's own integration tests).
cargo build --workspace --bins
# Service logs of the end-to-end tests (one file per process) from earlier runs.
rm -rf target/debug/e2e-logs
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
