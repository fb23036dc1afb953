#!/usr/bin/env bash
# Installs the Debian packages that `make run`, `make test` and `make bench`
# need, when they are missing and we are root. Idempotent and quiet when all
# are present. Nothing is downloaded from anywhere but Debian's archive.
set -euo pipefail
# package:command-or-file that proves it is installed
need=(
  mariadb-server:/usr/sbin/mariadbd
  mariadb-client:/usr/bin/mariadb
  clang:/usr/bin/clang
  lld:/usr/bin/wasm-ld
  wasi-libc:/usr/lib/wasm32-wasi/libc.a
  libclang-rt-14-dev-wasm32:/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a
  python3-pandas:/usr/lib/python3/dist-packages/pandas
  python3-sklearn:/usr/lib/python3/dist-packages/sklearn
  python3-scipy:/usr/lib/python3/dist-packages/scipy
  caddy:/usr/bin/caddy
  docker-compose:/usr/bin/docker-compose
  iptables:/usr/sbin/iptables
  openssl:/usr/bin/openssl
  wrk:/usr/bin/wrk
  chromium:/usr/bin/chromium
  curl:/usr/bin/curl
  time:/usr/bin/time
  mmdebstrap:/usr/bin/mmdebstrap
  flock:/usr/bin/flock
)
missing=()
for item in "${need[@]}"; do
  pkg=${item%%:*} path=${item#*:}
  [ -e "$path" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing Debian packages: ${missing[*]}; install them with sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}
