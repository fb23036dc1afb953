#!/usr/bin/env bash
# Private MariaDB for `make run` and `make test`: its own datadir and socket
# under the repository's ignored run folder, never the system instance.
#
#   ops/dev/mariadb.sh start   # idempotent; installs mariadb-server when root and missing
#   ops/dev/mariadb.sh stop
#   ops/dev/mariadb.sh dsn     # print the root DSN (unix socket)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
run=${MEDFORGE_RUN_DIR:-$here/.run}
dir=$run/mariadb
sock=$dir/mysqld.sock
pidf=$dir/mysqld.pid

ensure_pkg() {
  if ! command -v mariadbd >/dev/null 2>&1 && ! [ -x /usr/sbin/mariadbd ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "mariadb.sh: installing mariadb-server (Debian)" >&2
      (apt-get install -y -qq mariadb-server mariadb-client >/dev/null 2>&1) ||
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client >/dev/null)
    else
      echo "mariadb.sh: mariadb-server is missing; install it with: sudo apt-get install mariadb-server" >&2
      exit 1
    fi
  fi
}

# close_fds closes every descriptor above stderr in this (sub)shell.
close_fds() {
  local fd
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

alive() { [ -S "$sock" ] && mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; }

start() {
  ensure_pkg
  if alive; then return 0; fi
  mkdir -p "$dir"
  if [ ! -d "$dir/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1
  fi
  # --user=root is needed when running as root (CI); harmless otherwise.
  # setsid: the server outlives the shell (or tool job) that started it.
  # close_fds: the long-lived server must not keep descriptors it inherited
  # (a `flock LOCK make test` wrapper's lock would otherwise stay held for
  # as long as the server runs).
  close_fds
  setsid mariadbd --no-defaults --datadir="$dir/data" --socket="$sock" --pid-file="$pidf" \
    --skip-networking --user="$(id -un)" --log-error="$dir/error.log" \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 --max-connections=500 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_bin >/dev/null 2>&1 &
  for _ in $(seq 1 100); do
    if alive; then return 0; fi
    sleep 0.2
  done
  echo "mariadb.sh: MariaDB did not start; see $dir/error.log" >&2
  tail -20 "$dir/error.log" >&2 || true
  exit 1
}

stop() {
  if alive; then mariadb-admin --socket="$sock" -uroot shutdown || true; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  dsn) echo "root@unix($sock)/" ;;
  *) echo "usage: $0 start|stop|dsn" >&2; exit 2 ;;
esac
