#!/usr/bin/env bash
# GET /api/v2/me with cookie auth under wrk on loopback. Reports requests/s
# and p99 with the in-memory cookie -> user cache (the real configuration)
# and, as the reference, with the cache disabled (every request reads the
# session and user from MariaDB), and the ratio between them.
#
# Needs the private MariaDB (make bench starts it) and bin/medforge.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${MEDFORGE_BIN:-$root/bin/medforge}
run=${MEDFORGE_RUN_DIR:-$root/.run}
duration=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-16}
threads=${BENCH_THREADS:-2}
port=${BENCH_PORT:-18181}
sock=$run/mariadb/mysqld.sock
export MEDFORGE_DSN="root@unix($sock)/medforge_bench"
export MEDFORGE_LISTEN=127.0.0.1:$port MEDFORGE_RUN_DIR=$run
command -v wrk >/dev/null || { echo "bench-api-me: wrk is missing (apt-get install wrk)" >&2; exit 1; }

"$bin" migrate up >/dev/null
email=bench@example.org pw=bench-password-123456
echo "$pw" | "$bin" user create --email "$email" --password-stdin >/dev/null 2>&1 ||
  echo "$pw" | "$bin" user set --email "$email" --password-stdin >/dev/null

pid=
stop() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap stop EXIT

# one <label> <cache ttl>: start serve, log in, run wrk, print "rps p99_ms".
one() {
  MEDFORGE_AUTH_CACHE_TTL=$2 MEDFORGE_LOGIN_MAX_ATTEMPTS_PER_IP=1000 "$bin" serve >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  cookie=$(curl -fs -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$pw\"}" "http://127.0.0.1:$port/api/v2/auth/login" |
    sed -n 's/^[Ss]et-[Cc]ookie: medforge_session=\([^;]*\).*/\1/p')
  [ -n "$cookie" ] || { echo "bench-api-me: login failed" >&2; exit 1; }
  curl -fs -b "medforge_session=$cookie" "http://127.0.0.1:$port/api/v2/me" >/dev/null
  out=$(wrk -t"$threads" -c"$conns" -d"$duration" --latency -H "Cookie: medforge_session=$cookie" "http://127.0.0.1:$port/api/v2/me")
  stop
  if echo "$out" | grep -q "Non-2xx"; then echo "bench-api-me: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}')
  echo "$rps $p99"
}

read -r rps p99 < <(one cached 30s)
read -r ref_rps ref_p99 < <(one uncached 1ns)
printf 'GET /api/v2/me (cookie, %s conns, %s, wrk on loopback, %s cores)\n' "$conns" "$duration" "$(nproc)"
printf '  cached lookup:            %10.0f req/s   p99 %7.2f ms\n' "$rps" "$p99"
printf '  reference (no cache, DB): %10.0f req/s   p99 %7.2f ms\n' "$ref_rps" "$ref_p99"
awk -v a="$rps" -v b="$ref_rps" -v c="$p99" -v d="$ref_p99" \
  'BEGIN { printf "  ratio vs reference:       %10.2fx req/s   p99 cached/reference %.2f\n", a/b, (d>0 ? c/d : 0) }'
echo "  (load average now: $(cut -d' ' -f1-3 /proc/loadavg); p99 on a shared 2-core machine is dominated by scheduling)"
