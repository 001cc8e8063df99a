#!/usr/bin/env bash
# Property-based REST fuzzing with schemathesis (PyPI) against the running
# system's /api/openapi.json: no 5xx, status codes, content types and
# response bodies as documented. Starts the system on spare ports with
# deploy/run.sh, fuzzes as one user, stops everything.
#   EXAMPLES=30 bash deploy/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import schemathesis' 2>/dev/null || pip install -q schemathesis
cargo build --workspace --bins
run_id="fuzz$(date +%s)"
export SKIP_BUILD=1 GATEWAY_ADDR=127.0.0.1:13999 CHAT_PERSISTENCE_PORT=19201 FEED_PORT=19202 PRESENCE_PORT=19203
export NATS_SUBJECT_PREFIX="$run_id" REDIS_KEY_PREFIX="$run_id:" DATABASE_URL="postgres://postgres@127.0.0.1:5432/$run_id"
export JWT_SECRET="fuzz-secret-0123456789-0123456789-01234" ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)"
export API_RATE_PER_SEC=100000 API_RATE_BURST=100000
bash deploy/run.sh > ".run/$run_id.out" 2>&1 &
runner=$!
trap 'kill -TERM $runner 2>/dev/null; wait $runner 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do grep -q "all services ready" ".run/$run_id.out" 2>/dev/null && break; sleep 0.2; done
token=$(target/debug/dev-token "$(cat /proc/sys/kernel/random/uuid)")
schemathesis run "http://127.0.0.1:13999/api/openapi.json" -H "Authorization: Bearer $token" \
  --max-examples "${EXAMPLES:-30}" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
