#!/usr/bin/env bash
# Pinned benchmark, every figure beside a bare relay's (issue 10).
#
# Builds release binaries, then for each scenario runs the bare relay
# (`loadgen relay`) and then the whole system back to back. Whatever is under
# test runs on CPU 0 (`taskset -c 0`): the relay, or the gateway,
# chat-persistence, feed, presence *and* their own PostgreSQL, Redis and NATS,
# which this script starts on their own ports in a temporary directory (it
# never touches 5432/6379/4222). The load generator runs on CPU 1. Prints a
# markdown table: relay, system, system/relay.
#
# Scenarios: (a)-(d) chat pairs, (e) idle connections, (f) fan-out of a post
# to FANOUT online followers, (g) GET /api/posts at POSTS_RATE/s over
# SEED_USERS users with SEED_POSTS posts each (cold timelines, then warm),
# (h) a reconnect storm of STORM clients resuming with `sync`. The feed's
# data is seeded with SQL (deploy/bench/seed-*.sql) before the runs.
#
#   bash deploy/bench-pinned.sh                 # 10 s per run, idle 2,000, fan-out/storm 10,000, 1,000,000 posts
#   IDLE=10000 bash deploy/bench-pinned.sh      # the full idle figure
#   SMOKE=1 bash deploy/bench-pinned.sh         # ~1.5 s per run, small counts
#   DURATION=30 bash deploy/bench-pinned.sh
#   SYSTEM_BIN=/path/to/older/target/release bash deploy/bench-pinned.sh   # another build under test
#
# Needs root (PostgreSQL's initdb runs as the `postgres` user through runuser),
# taskset, jq, PostgreSQL 15+, redis-server and nats-server, and 2 CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SMOKE:-0}" = 1 ]; then
  DURATION=${DURATION:-1.5} P_MANY=${P_MANY:-10} P_LARGE=${P_LARGE:-50} IDLE=${IDLE:-200}
  FANOUT=${FANOUT:-200} SEED_USERS=${SEED_USERS:-1000} SEED_POSTS=${SEED_POSTS:-20} STORM=${STORM:-200}
else
  DURATION=${DURATION:-10} P_MANY=${P_MANY:-50} P_LARGE=${P_LARGE:-500} IDLE=${IDLE:-2000}
  FANOUT=${FANOUT:-10000} SEED_USERS=${SEED_USERS:-10000} SEED_POSTS=${SEED_POSTS:-100} STORM=${STORM:-10000}
fi
SEED_FOLLOWS=${SEED_FOLLOWS:-20} POSTS_RATE=${POSTS_RATE:-500} FANOUT_POSTS=${FANOUT_POSTS:-3}
# Which scenarios run (letters), e.g. ONLY=fgh for the feed and storm ones.
ONLY=${ONLY:-abcdefgh}
PG_PORT=${PG_PORT:-25432} REDIS_PORT=${REDIS_PORT:-26379} NATS_PORT=${NATS_PORT:-24222}
GW_PORT=${GW_PORT:-23000} CP_PORT=${CP_PORT:-29101} FD_PORT=${FD_PORT:-29102} PR_PORT=${PR_PORT:-29103}
RELAY_PORT=${RELAY_PORT:-23900}
SUT_CPU=${SUT_CPU:-0} GEN_CPU=${GEN_CPU:-1}

for tool in taskset jq runuser redis-server nats-server psql; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }
done
PG_BIN=$(dirname "$(command -v postgres 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n1)")
[ -x "$PG_BIN/initdb" ] || { echo "error: PostgreSQL (initdb, postgres) is required" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "error: run as root (initdb runs as postgres via runuser)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "error: needs 2 CPUs (system on $SUT_CPU, generator on $GEN_CPU)" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $PG_PORT $REDIS_PORT $NATS_PORT $GW_PORT $CP_PORT $FD_PORT $PR_PORT $RELAY_PORT; do
  if port_open "$p"; then echo "error: port $p is in use (set *_PORT)" >&2; exit 1; fi
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release --bins -p gateway -p chat-persistence -p presence -p feed -p loadgen
BIN=$PWD/target/release
# SYSTEM_BIN: where the services under test come from (default: this tree's
# release build), e.g. an older commit's build to compare both against the
# same relay and generator.
SYSTEM_BIN=${SYSTEM_BIN:-$BIN}

TMP=$(mktemp -d /tmp/bench-pinned.XXXXXX)
chmod 755 "$TMP"
declare -A PIDS=()
stop() { # name
  local pid=${PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$1]"
}
cleanup() {
  local rc=$?
  for name in relay gateway presence feed chat-persistence nats redis; do stop "$name"; done
  # PostgreSQL: the postmaster, by the pid it wrote (runuser's child).
  if [ -f "$TMP/pg/postmaster.pid" ]; then
    pg=$(head -n1 "$TMP/pg/postmaster.pid")
    kill -INT "$pg" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pg" 2>/dev/null || break; sleep 0.1; done
  fi
  stop postgres
  if [ "$rc" -eq 0 ]; then rm -rf "$TMP"; else echo "logs kept in $TMP" >&2; fi
}
trap cleanup EXIT

wait_port() { # port name
  for _ in $(seq 1 300); do port_open "$1" && return 0; sleep 0.1; done
  echo "error: $2 did not come up on 127.0.0.1:$1 (logs in $TMP)" >&2; return 1
}
wait_ready() { # port name
  local code
  for _ in $(seq 1 300); do
    code=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /readyz HTTP/1.0\r\n\r\n' >&3 && head -n1 <&3) 2>/dev/null | cut -d' ' -f2 || true)
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  echo "error: $2 not ready on 127.0.0.1:$1 (logs in $TMP)" >&2; return 1
}
# Background jobs below are simple commands (no function, no subshell), so $!
# is the process itself (taskset execs it) and stop() reaches it.
PIN=(taskset -c "$SUT_CPU")

# --- the system's own PostgreSQL, Redis and NATS, on CPU 0 -------------------
mkdir -p "$TMP/pg" "$TMP/pgsock" "$TMP/nats"
chown postgres "$TMP/pg" "$TMP/pgsock"
runuser -u postgres -- "$PG_BIN/initdb" -D "$TMP/pg" -U postgres -A trust --no-sync >"$TMP/initdb.log" 2>&1
"${PIN[@]}" runuser -u postgres -- "$PG_BIN/postgres" -D "$TMP/pg" -p "$PG_PORT" -k "$TMP/pgsock" \
  -c listen_addresses=127.0.0.1 >"$TMP/postgres.log" 2>&1 &
PIDS[postgres]=$!
"${PIN[@]}" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$TMP" \
  >"$TMP/redis.log" 2>&1 &
PIDS[redis]=$!
"${PIN[@]}" nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$TMP/nats" >"$TMP/nats.log" 2>&1 &
PIDS[nats]=$!
wait_port "$PG_PORT" PostgreSQL; wait_port "$REDIS_PORT" Redis; wait_port "$NATS_PORT" NATS

export JWT_SECRET="bench-secret-0123456789-0123456789-0123"
export ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/bench"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" NATS_URL="nats://127.0.0.1:$NATS_PORT"
export NATS_SUBJECT_PREFIX=bench REDIS_KEY_PREFIX="bench:" RUST_LOG=warn SHUTDOWN_GRACE_SECS=5
export WS_RATE_PER_SEC=1000000 WS_RATE_BURST=1000000 WS_MAX_CONNECTIONS_PER_USER=8
export API_RATE_PER_SEC=1000000 API_RATE_BURST=1000000

start_service() { # name port
  HTTP_ADDR="127.0.0.1:$2" "${PIN[@]}" "$SYSTEM_BIN/$1" >>"$TMP/$1.log" 2>&1 &
  PIDS[$1]=$!
}
start_service chat-persistence "$CP_PORT"
start_service feed "$FD_PORT"
start_service presence "$PR_PORT"
start_service gateway "$GW_PORT"
wait_ready "$CP_PORT" chat-persistence; wait_ready "$FD_PORT" feed
wait_ready "$PR_PORT" presence; wait_ready "$GW_PORT" gateway

# The feed's data, with SQL (feed created its schema when it started).
PSQL=(psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench)
runs() { [[ $ONLY == *"$1"* ]]; }
if runs f; then
  "${PSQL[@]}" -v followers="$FANOUT" -f deploy/bench/seed-fanout.sql
fi
if runs g; then
  echo "seeding $SEED_USERS users x $SEED_POSTS posts, $SEED_FOLLOWS follows each" >&2
  seed_started=$(date +%s.%N)
  "${PSQL[@]}" -v users="$SEED_USERS" -v posts="$SEED_POSTS" -v follows="$SEED_FOLLOWS" \
    -f deploy/bench/seed-posts.sql
  SEED_SECS=$(awk -v a="$seed_started" -v b="$(date +%s.%N)" 'BEGIN{ printf "%.1f", b - a }')
  # Vacuum and analyze now: left to autovacuum, the freshly written million
  # rows are processed on CPU 0 during the chat scenarios and skew them.
  "${PSQL[@]}" -c "vacuum analyze"
  "${PSQL[@]}" -c checkpoint
fi

alive() { # name
  kill -0 "${PIDS[$1]}" 2>/dev/null || { echo "error: $1 exited (logs in $TMP)" >&2; return 1; }
}
start_relay() {
  "${PIN[@]}" "$BIN/loadgen" relay --listen "127.0.0.1:$RELAY_PORT" >"$TMP/relay.log" 2>&1 &
  PIDS[relay]=$!
  wait_port "$RELAY_PORT" relay
  alive relay
}

RELAY_URL="ws://127.0.0.1:$RELAY_PORT" SYSTEM_URL="ws://127.0.0.1:$GW_PORT"
FAILED=()
# CPU seconds (user + system) used so far by everything this script runs on
# CPU 0: the relay or the services, Redis, NATS, and PostgreSQL (the
# postmaster, its live backends, and the backends it has reaped). Other
# processes on the machine are not counted, so CPU per operation stays
# meaningful on a busy machine where rates and latencies do not.
sut_cpu() {
  local pids=("${PIDS[@]}") pm="" ticks=0 p
  if [ -f "$TMP/pg/postmaster.pid" ]; then
    pm=$(head -n1 "$TMP/pg/postmaster.pid")
    mapfile -t -O "${#pids[@]}" pids < <(pgrep -P "$pm"; echo "$pm")
  fi
  for p in "${pids[@]}"; do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name: utime is the 12th, stime 13th, cutime 14th, cstime 15th.
    ticks=$(( ticks + $(sed 's/.*) //' "/proc/$p/stat" | awk -v pm="$([ "$p" = "$pm" ] && echo 1)" \
      '{ print $12 + $13 + (pm ? $14 + $15 : 0) }') ))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN{ printf "%.3f", t / hz }'
}
gen() { # out-file label loadgen-args...: runs the generator on CPU 1, keeps its BENCH line
  local out=$1 label=$2; shift 2
  local rc=0 c0 c1
  c0=$(sut_cpu)
  taskset -c "$GEN_CPU" "$BIN/loadgen" "$@" >"$out.log" 2>&1 || rc=$?
  c1=$(sut_cpu)
  sed -n 's/^BENCH //p' "$out.log" | jq -c --argjson c "$(awk -v a="$c0" -v b="$c1" 'BEGIN{ print b - a }')" \
    '. + {sut_cpu_s: $c}' >"$out" || true
  if [ "$rc" -ne 0 ] || [ ! -s "$out" ]; then
    FAILED+=("$label")
    echo "  $label: loadgen failed (exit $rc):" >&2; tail -n 5 "$out.log" >&2
    [ -s "$out" ] || echo '{}' >"$out"
  fi
}

# Warm-up of the system (connections, the database's first pages), not measured.
gen "$TMP/warmup.json" warm-up chat --gateway "$SYSTEM_URL" --pairs 10 --window 4 --duration 1

# name|pairs|window
SCENARIOS=(
  "a|1|1"
  "b|$P_MANY|1"
  "c|$P_MANY|16"
  "d|$P_LARGE|4"
)
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name pairs window <<<"$s"
  runs "$name" || continue
  echo "scenario ($name): $pairs pairs, window $window, ${DURATION}s per run" >&2
  start_relay
  gen "$TMP/$name.relay.json" "($name) relay" chat --gateway "$RELAY_URL" --pairs "$pairs" --window "$window" --duration "$DURATION"
  stop relay
  gen "$TMP/$name.system.json" "($name) system" chat --gateway "$SYSTEM_URL" --pairs "$pairs" --window "$window" --duration "$DURATION"
done

if runs e; then
  echo "scenario (e): $IDLE idle connections" >&2
  start_relay
  gen "$TMP/e.relay.json" "(e) relay" idle --gateway "$RELAY_URL" --connections "$IDLE" --pid "${PIDS[relay]}"
  stop relay
  # A fresh gateway, so freed memory from the chat scenarios does not hide the cost.
  stop gateway
  start_service gateway "$GW_PORT"
  wait_ready "$GW_PORT" gateway
  alive gateway
  gen "$TMP/e.system.json" "(e) system" idle --gateway "$SYSTEM_URL" --connections "$IDLE" --pid "${PIDS[gateway]}"
fi

if runs f; then
  echo "scenario (f): fan-out of a post to $FANOUT online followers, $FANOUT_POSTS posts" >&2
  start_relay
  gen "$TMP/f.relay.json" "(f) relay" fanout --gateway "$RELAY_URL" --followers "$FANOUT" --posts "$FANOUT_POSTS" --via ws --settle_cpu "$SUT_CPU"
  stop relay
  gen "$TMP/f.system.json" "(f) system" fanout --gateway "$SYSTEM_URL" --followers "$FANOUT" --posts "$FANOUT_POSTS" --via http --settle_cpu "$SUT_CPU"
fi

if runs g; then
  # Cold: every request is some user's first read (its Redis timeline is
  # built from PostgreSQL); warm: the same users again, timelines in Redis.
  for phase in cold warm; do
    echo "scenario (g, $phase): GET /api/posts at $POSTS_RATE/s, $SEED_USERS users, ${DURATION}s" >&2
    start_relay
    gen "$TMP/g$phase.relay.json" "(g $phase) relay" posts --gateway "$RELAY_URL" --users "$SEED_USERS" --rate "$POSTS_RATE" --duration "$DURATION"
    stop relay
    gen "$TMP/g$phase.system.json" "(g $phase) system" posts --gateway "$SYSTEM_URL" --users "$SEED_USERS" --rate "$POSTS_RATE" --duration "$DURATION"
  done
fi

if runs h; then
  echo "scenario (h): reconnect storm of $STORM clients" >&2
  start_relay
  gen "$TMP/h.relay.json" "(h) relay" storm --gateway "$RELAY_URL" --clients "$STORM"
  stop relay
  gen "$TMP/h.system.json" "(h) system" storm --gateway "$SYSTEM_URL" --clients "$STORM"
fi

# --- the table -----------------------------------------------------------------
num() { jq -r "(.${2} // \"\")" "$1"; }
fmt() { # kind value
  [ -n "$2" ] || { echo "–"; return; }
  case $1 in
    rate) awk -v v="$2" 'BEGIN{ s = sprintf("%.0f", v); o = ""; while (length(s) > 3) { o = " " substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }; print s o }' ;;
    lat) awk -v v="$2" 'BEGIN{ if (v < 1000) printf "%.0f µs\n", v; else printf "%.2f ms\n", v/1000 }' ;;
    kib) awk -v v="$2" 'BEGIN{ printf "%.1f KiB\n", v }' ;;
    ms) awk -v v="$2" 'BEGIN{ if (v < 1) printf "%.0f µs\n", v * 1000; else printf "%.1f ms\n", v }' ;;
    s) awk -v v="$2" 'BEGIN{ printf "%.2f s\n", v }' ;;
    n) echo "$2" ;;
  esac
}
ratio() { # relay system
  if [ -z "$1" ] || [ -z "$2" ]; then echo "–"; return; fi
  awk -v r="$1" -v s="$2" 'BEGIN{ if (r == 0) print "–"; else { x = s / r; if (x >= 100) printf "%.0f×\n", x; else if (x >= 10) printf "%.1f×\n", x; else printf "%.3g×\n", x } }'
}
row() { # scenario-label file-stem jq-field kind figure-label
  local r s
  r=$(num "$TMP/$2.relay.json" "$3"); s=$(num "$TMP/$2.system.json" "$3")
  echo "| $1 | $5 | $(fmt "$4" "$r") | $(fmt "$4" "$s") | $(ratio "$r" "$s") |"
}
per() { # scenario-label file-stem jq-count-field figure-label [add-to-count] [scale-count]
  # CPU of what is under test per operation (sut_cpu_s / count).
  local r s
  r=$(jq -r --arg f "$3" --argjson a "${5:-0}" --argjson k "${6:-1}" \
    'if .sut_cpu_s and .[$f] then .sut_cpu_s * 1e6 / ((.[$f] + $a) * $k) else "" end' "$TMP/$2.relay.json")
  s=$(jq -r --arg f "$3" --argjson a "${5:-0}" --argjson k "${6:-1}" \
    'if .sut_cpu_s and .[$f] then .sut_cpu_s * 1e6 / ((.[$f] + $a) * $k) else "" end' "$TMP/$2.system.json")
  echo "| $1 | $4 | $(fmt lat "$r") | $(fmt lat "$s") | $(ratio "$r" "$s") |"
}
checks() { # file-stem
  local f
  for f in relay system; do
    jq -r '"\(.lost // "?") / \(.duplicated // "?") / \(.errors // "?")"' "$TMP/$1.$f.json"
  done | paste -sd'|' | awk -F'|' '{ printf "| | lost / duplicated / errors | %s | %s | |\n", $1, $2 }'
}

echo
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB; system under test on CPU $SUT_CPU, load generator on CPU $GEN_CPU"
echo "versions: $(rustc --version), $("$PG_BIN/postgres" --version), redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), $(nats-server --version), kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "command: ${SMOKE:+SMOKE=$SMOKE }DURATION=$DURATION IDLE=$IDLE FANOUT=$FANOUT STORM=$STORM SEED_USERS=$SEED_USERS SEED_POSTS=$SEED_POSTS ONLY=$ONLY bash deploy/bench-pinned.sh (100-byte messages, ${DURATION}s per run)"
[ -z "${SEED_SECS:-}" ] || echo "seeded $((SEED_USERS * SEED_POSTS)) posts, $SEED_USERS users, $SEED_FOLLOWS follows each in ${SEED_SECS}s (SQL, insert … select generate_series)"
echo
echo "| scenario | figure | bare relay | system | system / relay |"
echo "|---|---|---|---|---|"
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name pairs window <<<"$s"
  runs "$name" || continue
  label="($name) $pairs pair$([ "$pairs" = 1 ] || echo s), window $window"
  row "$label" "$name" deliveries_per_s rate "deliveries/s"
  row "" "$name" ack_p50_us lat "send→ack p50"
  row "" "$name" ack_p99_us lat "send→ack p99"
  row "" "$name" ack_p999_us lat "send→ack p999"
  row "" "$name" deliver_p50_us lat "send→deliver p50"
  row "" "$name" deliver_p99_us lat "send→deliver p99"
  row "" "$name" deliver_p999_us lat "send→deliver p999"
  per "" "$name" delivered "CPU 0 per delivery"
  checks "$name"
done
if runs e; then
  row "(e) $IDLE idle connections" e per_conn_kib kib "RSS per connection"
  row "" e connects_per_s rate "connects/s"
fi
if runs f; then
  row "(f) fan-out to $FANOUT followers" f all_ms ms "post → last follower (median of $FANOUT_POSTS)"
  row "" f all_max_ms ms "post → last follower (worst)"
  row "" f p50_us lat "post → follower p50"
  row "" f p99_us lat "post → follower p99"
  row "" f post_ms ms "POST answered (median)"
  checks f
fi
if runs g; then
  for phase in cold warm; do
    row "(g) GET /api/posts, $POSTS_RATE/s, $phase" "g$phase" p50_us lat "p50 (from the scheduled time)"
    row "" "g$phase" p99_us lat "p99"
    row "" "g$phase" p999_us lat "p999"
    row "" "g$phase" achieved_per_s rate "achieved requests/s"
    row "" "g$phase" posts_per_page n "posts per page"
    per "" "g$phase" requests_total "CPU 0 per request"
  done
fi
if runs h; then
  row "(h) reconnect storm, $STORM clients" h connects_per_s rate "reconnects/s"
  row "" h resume_secs s "until all resumed"
  row "" h resume_p99_us lat "client resumed p99"
  checks h
fi

if [ "${#FAILED[@]}" -gt 0 ]; then
  echo
  echo "FAILED runs: ${FAILED[*]}" >&2
  exit 1
fi
