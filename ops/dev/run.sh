#!/usr/bin/env bash
# `make run`: a local MedForge on http://127.0.0.1:8000 until Ctrl-C.
#
# Starts the private MariaDB under .run/ unless it is already running,
# migrates, seeds (creating the local admin), prints how to sign in and
# serves. Ctrl-C (or SIGTERM) stops the server and, if this script started
# it, the private MariaDB. `make run` builds bin/medforge first.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export MEDFORGE_RUN_DIR=${MEDFORGE_RUN_DIR:-$root/.run}
bin=${MEDFORGE_BIN:-$root/bin/medforge}
listen=${MEDFORGE_LISTEN:-127.0.0.1:8000}
export MEDFORGE_LISTEN=$listen
port=${listen##*:}

[ -x "$bin" ] || { echo "run.sh: $bin is missing; use make run (it builds it)" >&2; exit 1; }

sock=$MEDFORGE_RUN_DIR/mariadb/mysqld.sock
started_db=0
if ! { [ -S "$sock" ] && mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; }; then
  ops/dev/mariadb.sh start
  started_db=1
fi

serve_pid=
caddy_pid=
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$caddy_pid" ] && kill -0 "$caddy_pid" 2>/dev/null; then
    kill -TERM "$caddy_pid" 2>/dev/null || true
    wait "$caddy_pid" 2>/dev/null || true
  fi
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  if [ "$started_db" = 1 ]; then
    echo "run.sh: stopping the private MariaDB" >&2
    ops/dev/mariadb.sh stop || true
  fi
}
trap cleanup EXIT
trap 'exit 0' INT
trap 'exit 0' TERM

"$bin" migrate up
"$bin" seed
domain=${MEDFORGE_DOMAIN:-localhost}
admin_email="admin@medforge.$domain"
admin_pw=$(cat "$MEDFORGE_RUN_DIR/admin-password")

# Sessions: without MEDFORGE_PACK_IMAGE, build and use the stand-in IDE
# (nothing can be pulled here); without NVIDIA, declare two GPUs.
if [ -z "${MEDFORGE_PACK_IMAGE:-}" ] && docker info >/dev/null 2>&1; then
  MEDFORGE_PACK_IMAGE=$("$bin" standin-image) && export MEDFORGE_PACK_IMAGE
  echo "run.sh: no MEDFORGE_PACK_IMAGE: sessions use the stand-in IDE $MEDFORGE_PACK_IMAGE (HTTP + websocket echo, not code-server)" >&2
fi
if [ -z "${MEDFORGE_GPUS:-}" ] && ! [ -e /dev/nvidiactl ]; then
  export MEDFORGE_GPUS=0,1
  echo "run.sh: no NVIDIA GPU: sessions use the declared list MEDFORGE_GPUS=$MEDFORGE_GPUS (no device attached)" >&2
fi

mkdir -p "$MEDFORGE_RUN_DIR"
"$bin" serve >>"$MEDFORGE_RUN_DIR/serve.log" 2>&1 &
serve_pid=$!

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    echo "run.sh: medforge serve exited; last log lines:" >&2
    tail -20 "$MEDFORGE_RUN_DIR/serve.log" >&2
    exit 1
  fi
  sleep 0.1
done

# Caddy in front, as in production but on plain HTTP (deploy/caddy/
# Caddyfile.local): the site, the API and session hosts on one port.
caddy_port=${MEDFORGE_CADDY_PORT:-8080}
if command -v caddy >/dev/null; then
  MEDFORGE_CADDY_PORT=$caddy_port MEDFORGE_CADDY_BIND=${MEDFORGE_CADDY_BIND:-127.0.0.1} MEDFORGE_DOMAIN=$domain \
    MEDFORGE_API_UPSTREAM=127.0.0.1:$port MEDFORGE_WEB_UPSTREAM=127.0.0.1:$port \
    HOME=$MEDFORGE_RUN_DIR XDG_DATA_HOME=$MEDFORGE_RUN_DIR/caddy XDG_CONFIG_HOME=$MEDFORGE_RUN_DIR/caddy \
    caddy run --adapter caddyfile --config deploy/caddy/Caddyfile.local >>"$MEDFORGE_RUN_DIR/caddy.log" 2>&1 &
  caddy_pid=$!
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$caddy_port/" && break
    if ! kill -0 "$caddy_pid" 2>/dev/null; then
      echo "run.sh: caddy exited (is port $caddy_port taken? set MEDFORGE_CADDY_PORT); last log lines:" >&2
      tail -5 "$MEDFORGE_RUN_DIR/caddy.log" >&2
      caddy_pid=
      break
    fi
    sleep 0.1
  done
else
  echo "run.sh: caddy is missing (ops/dev/deps.sh installs it): no session routing, only http://$listen" >&2
fi

cat <<MSG

MedForge is running on http://$listen  (logs: $MEDFORGE_RUN_DIR/serve.log)

  Health:    curl http://127.0.0.1:$port/healthz
  API docs:  http://127.0.0.1:$port/api/v2/openapi.json

  Local admin: $admin_email
  Password:    $admin_pw   (kept in $MEDFORGE_RUN_DIR/admin-password)

  Sign in from a shell (*.localhost resolves to this machine):
    curl -c .run/cookies -H 'Content-Type: application/json' \\
      -d '{"email":"$admin_email","password":"$admin_pw"}' \\
      http://api.medforge.$domain:$port/api/v2/auth/login
    curl -b .run/cookies http://api.medforge.$domain:$port/api/v2/me

  More accounts: $bin user create --email you@example.org [--admin] [--internal]

  Through Caddy (logs: $MEDFORGE_RUN_DIR/caddy.log; cookie domain .medforge.$domain):
    sign in at   http://medforge.$domain:$caddy_port
    API          http://api.medforge.$domain:$caddy_port/api/v2/me
    a session    http://s-<slug>.external.medforge.$domain:$caddy_port  (slug from
                 POST /api/v2/external/sessions, once it is running)

Press Ctrl-C to stop (this also stops the private MariaDB if run.sh started it).
MSG

wait "$serve_pid" || true
serve_pid=
