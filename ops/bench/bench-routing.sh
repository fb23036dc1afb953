#!/usr/bin/env bash
# Session routing under wrk, on loopback only:
#  1. GET /api/v2/auth/session-proxy straight at the API (what Caddy's
#     forward_auth calls for every IDE request): requests/s and p99 at
#     several connection counts (BENCH_CONNECTIONS, "1 4 16"), each marked
#     against the goal: >= 20k req/s and p99 <= 2 ms on a 2-core machine.
#     wrk runs on the same 2 cores as the API, with at most as many threads
#     as connections and never more than 2 (BENCH_THREADS): past 2 threads
#     wrk would measure its own queueing for the cores.
#  2. Latency of a request to a running stand-in IDE through Caddy with
#     forward_auth (deploy/caddy/Caddyfile.local) against, as the reference,
#     Caddy proxying the same container without auth. Goal: <= 1.5x.
#     Besides latency it prints the CPU time Caddy (and the API) spend per
#     request, which depends much less on the neighbours than latency does.
#
# Needs the private MariaDB (make bench starts it), bin/medforge, caddy,
# wrk, curl and the Docker engine (one stand-in session container, removed
# at the end). Everything listens on 127.0.0.1 only; wrk runs a bounded
# number of connections for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${MEDFORGE_BIN:-$root/bin/medforge}
run=${MEDFORGE_RUN_DIR:-$root/.run}
duration=${BENCH_DURATION:-10s}
conns_list=${BENCH_CONNECTIONS:-1 4 16}
lat_conns=${BENCH_LATENCY_CONNECTIONS:-4}
max_threads=${BENCH_THREADS:-2}
[ "$max_threads" -le 2 ] || { echo "bench-routing: BENCH_THREADS at most 2 (wrk shares the 2 cores with what it measures)" >&2; exit 1; }
threads_for() { if [ "$1" -lt "$max_threads" ]; then echo "$1"; else echo "$max_threads"; fi; }
api_port=${BENCH_PORT:-18281}
caddy_port=$((api_port + 1))
plain_port=$((api_port + 2))
for c in wrk caddy curl; do command -v $c >/dev/null || { echo "bench-routing: $c is missing (ops/dev/deps.sh installs it)" >&2; exit 1; }; done
# BENCH_NICE (e.g. -10, root only) runs everything the bench starts at that
# niceness, to measure MedForge rather than whatever else shares the cores.
if [ -n "${BENCH_NICE:-}" ]; then
  renice -n "$BENCH_NICE" -p $$ >/dev/null || { echo "bench-routing: BENCH_NICE needs root" >&2; exit 1; }
fi
sock=$run/mariadb/mysqld.sock
work=$run/bench-routing
mkdir -p "$work"
export MEDFORGE_DSN="root@unix($sock)/medforge_bench_routing"
export MEDFORGE_LISTEN=127.0.0.1:$api_port MEDFORGE_RUN_DIR=$work MEDFORGE_DOMAIN=localhost
export MEDFORGE_SESSIONS=on MEDFORGE_GPUS=0 MEDFORGE_SESSION_INSTANCE=bench-routing MEDFORGE_WORKSPACES=dir:$work/workspaces
export MEDFORGE_LOGIN_MAX_ATTEMPTS_PER_IP=1000 MEDFORGE_SESSION_CPUS=1 MEDFORGE_SESSION_MEMORY=256m
export MEDFORGE_LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
caddy_api=127.0.0.1:$api_port

pids=()
cleanup() {
  if [ -n "${cookie:-}" ] && [ -n "${sid:-}" ]; then
    curl -fs -o /dev/null -X POST -b "medforge_session=$cookie" "http://127.0.0.1:$api_port/api/v2/external/sessions/$sid/stop" || true
    for _ in $(seq 1 100); do
      st=$(curl -fs -b "medforge_session=$cookie" "http://127.0.0.1:$api_port/api/v2/external/sessions/current" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p' || true)
      [ -z "$st" ] && break
      sleep 0.2
    done
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

"$bin" migrate up >/dev/null
email=bench-routing@example.org pw=bench-password-123456
echo "$pw" | "$bin" user create --email "$email" --password-stdin >/dev/null 2>&1 ||
  echo "$pw" | "$bin" user set --email "$email" --password-stdin >/dev/null

"$bin" serve >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
cookie=$(curl -fs -D - -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$pw\"}" "http://127.0.0.1:$api_port/api/v2/auth/login" |
  sed -n 's/^[Ss]et-[Cc]ookie: medforge_session=\([^;]*\).*/\1/p')
[ -n "$cookie" ] || { echo "bench-routing: login failed (see $work/serve.log)" >&2; exit 1; }
# A session left by an interrupted run is stopped first.
old=$(curl -fs -b "medforge_session=$cookie" "http://127.0.0.1:$api_port/api/v2/external/sessions/current" | sed -n 's/.*"id":\([0-9]*\).*/\1/p' || true)
if [ -n "$old" ]; then
  curl -fs -o /dev/null -X POST -b "medforge_session=$cookie" "http://127.0.0.1:$api_port/api/v2/external/sessions/$old/stop" || true
  for _ in $(seq 1 150); do curl -fs -b "medforge_session=$cookie" "http://127.0.0.1:$api_port/api/v2/external/sessions/current" >/dev/null 2>&1 || break; sleep 0.2; done
fi
created=$(curl -fs -b "medforge_session=$cookie" -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$api_port/api/v2/external/sessions") ||
  { echo "bench-routing: session create failed (see $work/serve.log)" >&2; exit 1; }
sid=$(echo "$created" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
slug=$(echo "$created" | sed -n 's/.*"slug":"\([a-z0-9]*\)".*/\1/p')
for _ in $(seq 1 600); do
  st=$(curl -fs -b "medforge_session=$cookie" "http://127.0.0.1:$api_port/api/v2/external/sessions/current" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
  [ "$st" = running ] && break
  sleep 0.1
done
[ "$st" = running ] || { echo "bench-routing: session $sid is $st, not running" >&2; exit 1; }
host=s-$slug.external.medforge.localhost
if [ -n "${BENCH_NICE:-}" ]; then
  cpid=$(docker inspect --format '{{.State.Pid}}' "mf-session-$slug")
  for task in /proc/"$cpid"/task/*; do renice -n "$BENCH_NICE" -p "${task##*/}" >/dev/null 2>&1 || true; done
fi
upstream=$(curl -fs -D - -o /dev/null -H "Host: $host" -b "medforge_session=$cookie" "http://127.0.0.1:$api_port/api/v2/auth/session-proxy" |
  sed -n 's/^[Xx]-[Uu]pstream: \([^\r]*\).*/\1/p' | tr -d '\r')
[ -n "$upstream" ] || { echo "bench-routing: session-proxy gave no upstream" >&2; exit 1; }

# p99 in ms and req/s from wrk --latency output.
figures() {
  local out=$1
  if echo "$out" | grep -q "Non-2xx"; then echo "bench-routing: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  echo "$out" | awk '
    function ms(v) { if (v ~ /us$/) { sub(/us/,"",v); return v/1000 } if (v ~ /ms$/) { sub(/ms/,"",v); return v+0 } if (v ~ /s$/) { sub(/s/,"",v); return v*1000 } return v }
    /Requests\/sec/ {rps=$2} $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)} $1=="Latency" && avg=="" {avg=ms($2)}
    END {print rps, avg, p50, p99}'
}

# CPU the API spends per answer (user+system ticks of the serve process over
# the run): unlike req/s and p99, it does not depend on what else the
# machine is running.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
serve_pid=${pids[0]}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# One line per connection count: req/s, p99, CPU per answer, verdict.
endpoint_lines=()
for conns in $conns_list; do
  t0=$(cpu_ticks "$serve_pid")
  out=$(wrk -t"$(threads_for "$conns")" -c"$conns" -d"$duration" --latency -H "Host: $host" -H "Cookie: medforge_session=$cookie" \
    "http://127.0.0.1:$api_port/api/v2/auth/session-proxy")
  read -r rps _ p50 p99 < <(figures "$out")
  t1=$(cpu_ticks "$serve_pid")
  nreq=$(echo "$out" | awk '/requests in/ {print $1}')
  cpu_us=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$nreq" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')
  verdict=$(awk -v r="$rps" -v q="$p99" 'BEGIN {
    if (r >= 20000 && q <= 2) { print "meets both goals"; exit }
    m = ""; if (r < 20000) m = "req/s"; if (q > 2) m = (m == "" ? "p99" : m " and p99")
    print "misses " m }')
  endpoint_lines+=("$(printf '  %3d conns, %d wrk threads: %7.0f req/s   p50 %5.2f ms   p99 %6.2f ms   API CPU %5.1f us/answer   %s' \
    "$conns" "$(threads_for "$conns")" "$rps" "$p50" "$p99" "$cpu_us" "$verdict")")
done

MEDFORGE_CADDY_PORT=$caddy_port MEDFORGE_CADDY_BIND=127.0.0.1 MEDFORGE_API_UPSTREAM=$caddy_api MEDFORGE_WEB_UPSTREAM=$caddy_api \
  HOME=$work XDG_DATA_HOME=$work/caddy XDG_CONFIG_HOME=$work/caddy \
  caddy run --adapter caddyfile --config deploy/caddy/Caddyfile.local >"$work/caddy.log" 2>&1 &
pids+=($!)
cat >"$work/Caddyfile.plain" <<CADDY
{
	admin off
	auto_https off
}
http://:$plain_port {
	bind 127.0.0.1
	log {
		output stdout
		format json
	}
	reverse_proxy $upstream
}
CADDY
HOME=$work XDG_DATA_HOME=$work/caddy XDG_CONFIG_HOME=$work/caddy \
  caddy run --adapter caddyfile --config "$work/Caddyfile.plain" >"$work/caddy-plain.log" 2>&1 &
pids+=($!)
for p in $caddy_port $plain_port; do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host:$caddy_port" -b "medforge_session=$cookie" "http://127.0.0.1:$caddy_port/")
[ "$code" = 200 ] || { echo "bench-routing: through Caddy with auth: HTTP $code (see $work/caddy.log)" >&2; exit 1; }

# Alternate the two a few times so background load hits both alike; each
# round is a pair, and the ratios reported are the medians of the pairs'.
# CPU per request (user+system ticks of the Caddy and API processes over
# the round) is the cost of the hop whatever else runs on the machine.
caddy_pid=${pids[1]} plain_pid=${pids[2]}
rounds=${BENCH_ROUNDS:-5}
lat_duration=${BENCH_LATENCY_DURATION:-5s}
rows=()
for _ in $(seq 1 "$rounds"); do
  t0=$(( $(cpu_ticks "$caddy_pid") + $(cpu_ticks "$serve_pid") ))
  out=$(wrk -t"$(threads_for "$lat_conns")" -c"$lat_conns" -d"$lat_duration" --latency -H "Host: $host:$caddy_port" -H "Cookie: medforge_session=$cookie" "http://127.0.0.1:$caddy_port/")
  t1=$(( $(cpu_ticks "$caddy_pid") + $(cpu_ticks "$serve_pid") ))
  read -r ra a _ qa < <(figures "$out"); na=$(echo "$out" | awk '/requests in/ {print $1}')
  t2=$(cpu_ticks "$plain_pid")
  out=$(wrk -t"$(threads_for "$lat_conns")" -c"$lat_conns" -d"$lat_duration" --latency "http://127.0.0.1:$plain_port/")
  t3=$(cpu_ticks "$plain_pid")
  read -r rb b _ qb < <(figures "$out"); nb=$(echo "$out" | awk '/requests in/ {print $1}')
  rows+=("$a $qa $ra $((t1 - t0)) $na $b $qb $rb $((t3 - t2)) $nb")
done

printf 'Session routing (wrk on loopback on the same %s cores as the API and Caddy, load average %s before / %s after, niceness %s)\n' "$(nproc)" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "${BENCH_NICE:-0}"
printf '  session-proxy endpoint, %s per run; goals >= 20000 req/s and p99 <= 2 ms:\n' "$duration"
printf '%s\n' "${endpoint_lines[@]}"
printf '%s\n' "${rows[@]}" | awk -v c="$lat_conns" -v n="$rounds" -v hz="$(getconf CLK_TCK)" '
  function median(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2) }
  { k++; ma[k] = $1; pa[k] = $2; xa[k] = $3; ca[k] = $4 / hz * 1e6 / $5; mb[k] = $6; pb[k] = $7; xb[k] = $8; cb[k] = $9 / hz * 1e6 / $10
    rm[k] = $1 / $6; rp[k] = $2 / $7 }
  END {
    printf "  IDE through Caddy + forward_auth (%d conns, median of %d rounds): mean %6.3f ms   p99 %6.3f ms   %6.0f req/s   Caddy+API CPU %5.1f us/request\n", c, n, median(ma, k), median(pa, k), median(xa, k), median(ca, k)
    printf "  reference, Caddy without auth   (%d conns, median of %d rounds): mean %6.3f ms   p99 %6.3f ms   %6.0f req/s   Caddy CPU     %5.1f us/request\n", c, n, median(mb, k), median(pb, k), median(xb, k), median(cb, k)
    r = median(rm, k); q = median(rp, k)
    printf "  ratio auth/no-auth, median of the rounds: mean %.2fx   p99 %.2fx   goal <= 1.5x: %s\n", r, q, (r <= 1.5 && q <= 1.5 ? "met" : (r <= 1.5 ? "met for the mean, not p99" : "not met"))
  }'
