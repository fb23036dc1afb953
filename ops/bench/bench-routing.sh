#!/usr/bin/env bash
# Session routing under wrk, on loopback only:
#  1. GET /api/v2/auth/session-proxy straight at the API (what Caddy's
#     forward_auth calls for every IDE request): requests/s and p99.
#     Goal: >= 20k req/s and p99 <= 2 ms on a 2-core machine.
#  2. Latency of a request to a running stand-in IDE through Caddy with
#     forward_auth (deploy/caddy/Caddyfile.local) against, as the reference,
#     Caddy proxying the same container without auth. Goal: <= 1.5x.
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
conns=${BENCH_CONNECTIONS:-16}
lat_conns=${BENCH_LATENCY_CONNECTIONS:-4}
threads=${BENCH_THREADS:-2}
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
t0=$(cpu_ticks "$serve_pid")
out=$(wrk -t"$threads" -c"$conns" -d"$duration" --latency -H "Host: $host" -H "Cookie: medforge_session=$cookie" \
  "http://127.0.0.1:$api_port/api/v2/auth/session-proxy")
read -r rps _ _ p99 < <(figures "$out")
t1=$(cpu_ticks "$serve_pid")
nreq=$(echo "$out" | awk '/requests in/ {print $1}')
cpu_us=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$nreq" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')

MEDFORGE_CADDY_PORT=$caddy_port MEDFORGE_CADDY_BIND=127.0.0.1 MEDFORGE_API_UPSTREAM=127.0.0.1:$api_port MEDFORGE_WEB_UPSTREAM=127.0.0.1:$api_port \
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

# Alternate the two a few times so background load hits both alike.
rounds=${BENCH_ROUNDS:-3}
lat_duration=${BENCH_LATENCY_DURATION:-5s}
sa=0 sb=0 qa=0 qb=0 ra=0 rb=0
for _ in $(seq 1 "$rounds"); do
  out=$(wrk -t"$threads" -c"$lat_conns" -d"$lat_duration" --latency -H "Host: $host:$caddy_port" -H "Cookie: medforge_session=$cookie" "http://127.0.0.1:$caddy_port/")
  read -r r a _ q < <(figures "$out"); sa=$(awk -v x="$sa" -v y="$a" 'BEGIN{print x+y}'); qa=$(awk -v x="$qa" -v y="$q" 'BEGIN{print x+y}'); ra=$(awk -v x="$ra" -v y="$r" 'BEGIN{print x+y}')
  out=$(wrk -t"$threads" -c"$lat_conns" -d"$lat_duration" --latency "http://127.0.0.1:$plain_port/")
  read -r r a _ q < <(figures "$out"); sb=$(awk -v x="$sb" -v y="$a" 'BEGIN{print x+y}'); qb=$(awk -v x="$qb" -v y="$q" 'BEGIN{print x+y}'); rb=$(awk -v x="$rb" -v y="$r" 'BEGIN{print x+y}')
done

printf 'Session routing (wrk on loopback, %s cores, load average %s before / %s after, niceness %s)\n' "$(nproc)" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "${BENCH_NICE:-0}"
printf '  session-proxy endpoint (%s conns, %s): %10.0f req/s   p99 %6.2f ms   goals >= 20000 req/s, p99 <= 2 ms\n' "$conns" "$duration" "$rps" "$p99"
printf '  API CPU per answer: %s us (so %s cores given to the API alone would answer %.0f req/s)\n' "$cpu_us" "$(nproc)" "$(awk -v u="$cpu_us" -v c="$(nproc)" 'BEGIN { print (u > 0 ? c * 1e6 / u : 0) }')"
awk -v n="$rounds" -v sa="$sa" -v sb="$sb" -v qa="$qa" -v qb="$qb" -v ra="$ra" -v rb="$rb" -v c="$lat_conns" 'BEGIN {
  printf "  IDE through Caddy + forward_auth (%d conns): mean %6.3f ms   p99 %6.3f ms   %8.0f req/s\n", c, sa/n, qa/n, ra/n
  printf "  reference, Caddy without auth   (%d conns): mean %6.3f ms   p99 %6.3f ms   %8.0f req/s\n", c, sb/n, qb/n, rb/n
  printf "  ratio auth/no-auth: mean %.2fx   p99 %.2fx   goal <= 1.5x\n", (sb>0 ? sa/sb : 0), (qb>0 ? qa/qb : 0)
}'
