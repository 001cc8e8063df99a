#!/usr/bin/env bash
# The run command: starts PostgreSQL, Redis and NATS when they are down,
# builds and starts the four services, waits until every /readyz answers,
# prints how to use it, and stops what it started on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/dev-services.sh

if [ -z "${JWT_SECRET:-}" ]; then
  export JWT_SECRET="dev-only-jwt-secret-change-me-0123456789"
  DEV_SECRETS=1
fi
if [ -z "${ENCRYPTION_KEY:-}" ]; then
  export ENCRYPTION_KEY="ZGV2LW9ubHkta2V5LWNoYW5nZS1tZS0wMTIzNDU2Nzg="
  DEV_SECRETS=1
fi
if [ "${DEV_SECRETS:-0}" = 1 ]; then
  cat >&2 <<'WARN'
################################################################################
#  WARNING: using the built-in DEVELOPMENT JWT_SECRET / ENCRYPTION_KEY.        #
#  They are public. Never use them for real data: set JWT_SECRET (≥ 32 bytes) #
#  and ENCRYPTION_KEY (base64 of 32 random bytes) in production.              #
################################################################################
WARN
fi
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/chat}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
export RUST_LOG="${RUST_LOG:-info}"
# DEV_MODE: the gateway hands out tokens for any user (the try-it page at /
# logs you in by name). On by default with the development secrets only; with
# secrets of your own it stays off unless you set DEV_MODE=true.
if [ "${DEV_SECRETS:-0}" = 1 ]; then export DEV_MODE="${DEV_MODE:-true}"; else export DEV_MODE="${DEV_MODE:-false}"; fi
GATEWAY_ADDR="${GATEWAY_ADDR:-0.0.0.0:3000}"
CHAT_PERSISTENCE_PORT="${CHAT_PERSISTENCE_PORT:-9101}"
FEED_PORT="${FEED_PORT:-9102}"
PRESENCE_PORT="${PRESENCE_PORT:-9103}"

# GET /readyz without curl: prints the HTTP status code (000 when closed).
readyz() {
  local code
  code=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && head -n1 <&3) 2>/dev/null | cut -d' ' -f2)
  echo "${code:-000}"
}

# SKIP_BUILD=1 uses the binaries already built (the test suite does).
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --workspace --bins ${CARGO_PROFILE:+--profile "$CARGO_PROFILE"}
BIN="target/${CARGO_PROFILE:-debug}"
mkdir -p .run
pids=()
# A closed terminal or pipe must not kill this script before it stops its children.
trap '' PIPE
stop() {
  echo "stopping services…" >&2 || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

HTTP_ADDR=127.0.0.1:$CHAT_PERSISTENCE_PORT "$BIN/chat-persistence" >.run/chat-persistence.log 2>&1 & pids+=($!)
HTTP_ADDR=127.0.0.1:$FEED_PORT "$BIN/feed" >.run/feed.log 2>&1 & pids+=($!)
HTTP_ADDR=127.0.0.1:$PRESENCE_PORT "$BIN/presence" >.run/presence.log 2>&1 & pids+=($!)
HTTP_ADDR="$GATEWAY_ADDR" "$BIN/gateway" >.run/gateway.log 2>&1 & pids+=($!)

gw_port="${GATEWAY_ADDR##*:}"
if [ "${DEV_SECRETS:-0}" = 1 ]; then SHOWN_SECRET="$JWT_SECRET"; else SHOWN_SECRET='<your JWT_SECRET>'; fi
for svc in "chat-persistence $CHAT_PERSISTENCE_PORT" "feed $FEED_PORT" "presence $PRESENCE_PORT" "gateway $gw_port"; do
  set -- $svc
  for i in $(seq 1 300); do
    if [ "$(readyz "$2")" = 200 ]; then echo "✓ $1 ready on :$2"; break; fi
    if [ "$i" = 300 ]; then echo "✗ $1 not ready; see .run/$1.log" >&2; exit 1; fi
    sleep 0.2
  done
done
cat <<EOF2

Chat & feed backend is up:  http://127.0.0.1:$gw_port   ← open it in a browser: the try-it page
                            (DEV_MODE=$DEV_MODE: the page gets tokens from the gateway; two windows = two users)
WebSocket:                  ws://127.0.0.1:$gw_port/ws/chat/<user_id>
Get a token for a user:     JWT_SECRET=<the secret above> $BIN/dev-token <user-uuid>
                            e.g. TOKEN=\$(JWT_SECRET='$SHOWN_SECRET' $BIN/dev-token \$(cat /proc/sys/kernel/random/uuid))
Logs: .run/*.log        Stop: Ctrl-C
EOF2
echo "service pids: ${pids[*]}"
echo "all services ready"
wait
