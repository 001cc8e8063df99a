#!/usr/bin/env bash
# Benchmark: builds release binaries, starts gateway + chat-persistence +
# presence on loopback (own database, subject and key prefixes), and drives
# them with the load generator over real WebSockets. Prints the figures
# recorded in docs/benchmarks.md.
#   PAIRS=50 MESSAGES=200 WINDOW=16 IDLE=2000 bash deploy/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/dev-services.sh >/dev/null
cargo build --release --bins -p gateway -p chat-persistence -p presence -p loadgen
BIN=target/release
run_id="bench$(date +%s)"
export JWT_SECRET="bench-secret-0123456789-0123456789-0123"
export ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$run_id"
export NATS_SUBJECT_PREFIX="$run_id" REDIS_KEY_PREFIX="$run_id:" RUST_LOG=warn
export WS_RATE_PER_SEC=100000 WS_RATE_BURST=100000 WS_MAX_CONNECTIONS_PER_USER=8
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "drop database if exists \"$run_id\" with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
HTTP_ADDR=127.0.0.1:19101 "$BIN/chat-persistence" & pids+=($!)
HTTP_ADDR=127.0.0.1:19103 "$BIN/presence" & pids+=($!)
HTTP_ADDR=127.0.0.1:13000 "$BIN/gateway" & gw=$!; pids+=($gw)
for port in 19101 19103 13000; do
  for _ in $(seq 1 200); do
    code=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3) 2>/dev/null | cut -d' ' -f2 || true)
    [ "$code" = 200 ] && break
    sleep 0.1
  done
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; everything (PostgreSQL, Redis, NATS, services, load generator) on this one machine"
"$BIN/loadgen" chat --gateway ws://127.0.0.1:13000 --pairs "${PAIRS:-50}" --messages "${MESSAGES:-200}" --window "${WINDOW:-16}"
"$BIN/loadgen" idle --gateway ws://127.0.0.1:13000 --connections "${IDLE:-2000}" --pid "$gw"
