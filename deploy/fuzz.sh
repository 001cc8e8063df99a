#!/usr/bin/env bash
# The long schemathesis run (`--checks all`, two users, stateful links)
# against the whole system started with deploy/run.sh on spare ports; the
# test command runs a shorter one (e2e/tests/schemathesis.rs). Exits
# non-zero on any failure.
#   EXAMPLES=200 MAX_TIME=900 SEED=7 bash deploy/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
mkdir -p .run
run_id="fuzz$(date +%s)"
export SKIP_BUILD=1 GATEWAY_ADDR=127.0.0.1:13999 CHAT_PERSISTENCE_PORT=19201 FEED_PORT=19202 PRESENCE_PORT=19203
export NATS_SUBJECT_PREFIX="$run_id" REDIS_KEY_PREFIX="$run_id:" DATABASE_URL="postgres://postgres@127.0.0.1:5432/$run_id"
export JWT_SECRET="fuzz-secret-0123456789-0123456789-01234" ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)"
export API_RATE_PER_SEC=100000 API_RATE_BURST=100000
bash deploy/run.sh > ".run/$run_id.out" 2>&1 &
runner=$!
trap 'kill -TERM $runner 2>/dev/null; wait $runner 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do grep -q "all services ready" ".run/$run_id.out" 2>/dev/null && break; sleep 0.2; done
USER_A=$(cat /proc/sys/kernel/random/uuid)
USER_B=$(cat /proc/sys/kernel/random/uuid)
TOKEN_A=$(target/debug/dev-token "$USER_A")
TOKEN_B=$(target/debug/dev-token "$USER_B")
export USER_A USER_B TOKEN_A TOKEN_B GATEWAY_URL=http://$GATEWAY_ADDR
# Something for each user to read.
for t in "$TOKEN_A" "$TOKEN_B"; do
  curl -sf -o /dev/null -H "Authorization: Bearer $t" -H 'content-type: application/json' \
    -d '{"content":"hello"}' "$GATEWAY_URL/api/posts"
done
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN_A" "$GATEWAY_URL/api/users/$USER_B/follow"
MAX_EXAMPLES="${EXAMPLES:-200}" MAX_TIME="${MAX_TIME:-}" REPORT_DIR=".run/$run_id-report" \
  bash deploy/schemathesis.sh
