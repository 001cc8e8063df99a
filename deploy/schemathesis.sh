#!/usr/bin/env bash
# Runs schemathesis (`--checks all`) against a running gateway's
# /api/openapi.json, as two users (a WFC auth file: both identities are used,
# and object-level authorization is probed by replaying one user's reads as
# the other), with the second user's id in `{user_id}` paths and the pair in
# the history query. Installs schemathesis into .run/venv (from PyPI) when
# missing. Exits non-zero on any failure.
#
#   GATEWAY_URL=http://127.0.0.1:3000 USER_A=<uuid> TOKEN_A=<jwt> USER_B=<uuid> TOKEN_B=<jwt> \
#     MAX_EXAMPLES=20 MAX_TIME=90 bash deploy/schemathesis.sh
# Used by e2e/tests/schemathesis.rs (the test command) and deploy/fuzz.sh (longer).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GATEWAY_URL:?}" "${USER_A:?}" "${TOKEN_A:?}" "${USER_B:?}" "${TOKEN_B:?}"
version="4.32.5"
venv=".run/venv"
st="$venv/bin/schemathesis"
if ! "$st" --version 2>/dev/null | grep -q "$version"; then
  mkdir -p .run
  rm -rf "$venv"
  # Debian's python3 needs python3-venv for this.
  python3 -m venv "$venv" 2>/dev/null || {
    apt-get install -y -q --no-install-recommends python3-venv >/dev/null
    python3 -m venv "$venv"
  }
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/auth.json" <<JSON
{"auth": [
  {"name": "alice", "fixedHeaders": [{"name": "Authorization", "value": "Bearer $TOKEN_A"}]},
  {"name": "bob", "fixedHeaders": [{"name": "Authorization", "value": "Bearer $TOKEN_B"}]}
]}
JSON
cat > "$work/schemathesis.toml" <<TOML
[parameters]
"path.user_id" = "$USER_B"
"query.user1" = "$USER_A"
"query.user2" = "$USER_B"
TOML
report="${REPORT_DIR:-target/schemathesis}"
mkdir -p "$report"
report=$(cd "$report" && pwd)
st="$(pwd)/$st"
args=(
  --config-file "$work/schemathesis.toml"
  run "$GATEWAY_URL/api/openapi.json"
  --auth-wfc "$work/auth.json"
  --checks all
  --max-examples "${MAX_EXAMPLES:-20}"
  --workers "${WORKERS:-2}"
  --generation-database none
  --report junit --report-dir "$report"
  --no-color
)
[ -n "${MAX_TIME:-}" ] && args+=(--max-time "$MAX_TIME")
[ -n "${SEED:-}" ] && args+=(--seed "$SEED")
# From the scratch directory, so schemathesis's own cache stays out of the repo.
cd "$work"
"$st" "${args[@]}"
