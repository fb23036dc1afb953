#!/usr/bin/env bash
# Competitions end to end over real HTTP against `medforge serve` with its
# embedded worker: accepted submission -> official score visible (p50/p99,
# 50 concurrent competitors, titanic-size files), sustained scored
# submissions per second, and leaderboard reads with 10k users and 100k
# submissions. Goals (issue 4): p50 <= 200 ms, p99 <= 1 s, >= 100 scored/s,
# leaderboard p99 <= 20 ms. The large board is a public_private competition
# (issue 13): both boards are read (the private one revealed), each entry
# with per-unit contributions so that the paired comparisons run, and each
# read run is followed by the same clients reading GET /competitions/{slug}
# as the reference for the ratio.
#
# Needs the private MariaDB (make bench starts it), bin/medforge and the
# built scorers (make scorers).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
run=${MEDFORGE_RUN_DIR:-$root/.run}
export MEDFORGE_SCORERS_DIR=${MEDFORGE_SCORERS_DIR:-$root/bin/scorers}
sock=$run/mariadb/mysqld.sock
go run ./ops/bench/compbench -bin "${MEDFORGE_BIN:-$root/bin/medforge}" \
  -dsn "root@unix($sock)/medforge_bench_competitions" -work "$run/bench/competitions" "$@"
