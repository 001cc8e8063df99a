#!/usr/bin/env bash
# The fault harness (docs/reliability.md): builds the service binaries and
# the harness, then runs it. Each run starts its own PostgreSQL, Redis and
# NATS on free loopback ports (never the machine's 5432/6379/4222), two
# gateways and two replicas of every backend, drives a chat workload over
# real WebSockets while SIGKILLing one component at a time, and prints a
# report (lost, duplicated, reordered, unexpected, hangs). Exit status 0 =
# every run passed.
#   bash deploy/faults.sh              full: 100,000 acknowledged messages, 5 kills of each component, seeds 1, 2, 3
#   bash deploy/faults.sh --short      quick: 3,000 messages, 1 kill of each component, seed 1 (about a minute)
#   bash deploy/faults.sh --seed 7 --messages 20000 --kills 2 [--pairs P --window W --gap SECS --rate MSG/S]
#                                      one run with these flags
# Needs root (PostgreSQL runs as the `postgres` user) and Debian's
# postgresql, redis-server and nats-server (bash deploy/dev-services.sh installs them).
# Service logs: target/debug/faults-logs/<seed…>/ (FAULTS_LOG sets their RUST_LOG).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (the harness starts PostgreSQL as the postgres user)" >&2
  exit 2
fi
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "error: missing ${missing[*]}: bash deploy/dev-services.sh installs them" >&2
  exit 2
fi
cargo build --workspace --bins
bin=target/debug/faults
mkdir -p target/debug/faults-logs
if [ $# -gt 0 ]; then
  exec "$bin" "$@"
fi
status=0
for seed in 1 2 3; do
  report="target/debug/faults-logs/full-seed$seed.txt"
  "$bin" --messages 100000 --kills 5 --seed "$seed" | tee "$report" || status=1
  echo "report saved to $report"
done
exit $status
