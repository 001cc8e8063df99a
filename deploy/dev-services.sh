#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and NATS (JetStream on) answer on their
# standard loopback ports: installs them from Debian's packages when missing
# and starts the ones that are down. Idempotent; used by run.sh and test.sh.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
STATE_DIR="${DEV_STATE_DIR:-/tmp/chat-dev-services}"
mkdir -p "$STATE_DIR"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 100); do port_open "$port" && return 0; sleep 0.2; done
  echo "error: $name did not come up on 127.0.0.1:$port" >&2
  return 1
}

apt_updated=0
ensure_pkg() {
  local bin=$1 pkg=$2
  if ! command -v "$bin" >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/"$bin" >/dev/null 2>&1; then
    echo "installing $pkg (Debian package)…"
    if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  fi
}

# PostgreSQL
if ! port_open 5432; then
  ensure_pkg pg_ctlcluster postgresql
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$ver" ]; then
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    $SUDO pg_createcluster "$ver" main >/dev/null
  fi
  conf="/etc/postgresql/$ver/main"
  # Local development: trust on loopback, as on the development machines.
  if ! grep -q "chat-dev trust" "$conf/pg_hba.conf" 2>/dev/null; then
    $SUDO sh -c "printf '%s\n' '# chat-dev trust' 'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust' 'local all all trust' | cat - '$conf/pg_hba.conf' > '$conf/pg_hba.conf.new' && mv '$conf/pg_hba.conf.new' '$conf/pg_hba.conf'"
  fi
  echo "starting PostgreSQL $ver…"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  # The package may have started it already: make it read the trust lines.
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 || true
  wait_port 5432 PostgreSQL
fi

# Redis
if ! port_open 6379; then
  ensure_pkg redis-server redis-server
  echo "starting Redis…"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --dir "$STATE_DIR" --logfile "$STATE_DIR/redis.log"
  wait_port 6379 Redis
fi

# NATS with JetStream
if ! port_open 4222; then
  ensure_pkg nats-server nats-server
  echo "starting NATS (JetStream)…"
  mkdir -p "$STATE_DIR/nats"
  nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$STATE_DIR/nats" -l "$STATE_DIR/nats.log" >/dev/null 2>&1 &
  wait_port 4222 NATS
fi
echo "PostgreSQL :5432, Redis :6379 and NATS :4222 are up"
