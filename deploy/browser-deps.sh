#!/usr/bin/env bash
# What the browser test (e2e/tests/browser.rs) needs, installed when missing:
# Debian's chromium and Node.js (apt), and playwright-core from the committed
# lockfile in e2e/browser (npm ci; it downloads no browser of its own).
# Idempotent and quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages)…"
  # One install at a time on this machine (apt's lock), however many callers.
  exec 9>/tmp/chat-browser-deps.lock
  flock 9
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# node_modules/.lock-installed is the lockfile the last `npm ci` installed.
if [ ! -f e2e/browser/node_modules/playwright-core/package.json ] \
  || ! cmp -s e2e/browser/package-lock.json e2e/browser/node_modules/.lock-installed; then
  echo "installing playwright-core (npm ci)…"
  (cd e2e/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error \
    && cp package-lock.json node_modules/.lock-installed)
fi
