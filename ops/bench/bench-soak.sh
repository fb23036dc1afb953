#!/usr/bin/env bash
# Soak (issue 11): 60 s of mixed traffic from 500 concurrent connections
# against `medforge serve` with its embedded worker -- browse, leaderboard,
# valid and invalid submissions, the session-proxy check -- reporting the
# server's RSS over time, p50/p99 per route and the answers by status. Any
# 5xx fails the run. The reference each route's figures are read against is
# GET /competitions (the cheapest database-backed read) in the same run.
#
# Needs the private MariaDB (make bench starts it), bin/medforge and the
# built scorers (make scorers). SOAK_CONNS / SOAK_DURATION override the
# defaults for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
run=${MEDFORGE_RUN_DIR:-$root/.run}
export MEDFORGE_SCORERS_DIR=${MEDFORGE_SCORERS_DIR:-$root/bin/scorers}
sock=$run/mariadb/mysqld.sock
# 500 client connections and the server's own: more descriptors than the
# usual soft limit of 1024.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
go run ./ops/bench/soak -bin "${MEDFORGE_BIN:-$root/bin/medforge}" \
  -dsn "root@unix($sock)/medforge_bench_soak" -work "$run/bench/soak" \
  -conns "${SOAK_CONNS:-500}" -duration "${SOAK_DURATION:-60s}" "$@"
