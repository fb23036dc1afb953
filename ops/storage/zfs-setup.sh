#!/usr/bin/env bash
# Creates the seed's ZFS layout, as root, idempotently:
#
#   <pool>/medforge                       (compression=lz4, atime=off)
#   <pool>/medforge/workspaces            per-user and per-session datasets
#                                         go under it: workspaces/<user_id>/<session_id>
#   <pool>/medforge/system/db             MariaDB's data (recordsize=16K, logbias=throughput)
#   <pool>/medforge/system/state          the API's run dir (submissions, scorers)
#   <pool>/medforge/data/training         competition data, three disjoint roots;
#   <pool>/medforge/data/public-eval      sessions see the first two read-only,
#   <pool>/medforge/data/holdouts         holdouts only the API and worker (0700)
#
# Mountpoints are /<pool>/medforge/... (the compose file's defaults).
#
#   ops/storage/zfs-setup.sh [--pool tank] [--create-pool <device>...] [--dry-run]
set -euo pipefail
pool=tank dry=0 devices=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pool) pool=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --create-pool) shift; while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do devices+=("$1"); shift; done ;;
    *) echo "usage: $0 [--pool tank] [--create-pool <device>...] [--dry-run]" >&2; exit 2 ;;
  esac
done
run() { if [ "$dry" = 1 ]; then echo "+ $*"; else "$@"; fi; }
if [ "$dry" = 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "zfs-setup: run as root (or with --dry-run)" >&2; exit 1; }
  command -v zfs >/dev/null || { echo "zfs-setup: zfs is missing (ops/host/bootstrap.sh installs zfsutils-linux)" >&2; exit 1; }
fi
exists() { [ "$dry" = 0 ] && zfs list -H -o name "$1" >/dev/null 2>&1; }

if ! { [ "$dry" = 0 ] && zpool list -H -o name "$pool" >/dev/null 2>&1; }; then
  if [ ${#devices[@]} -gt 0 ]; then
    run zpool create -o ashift=12 -O compression=lz4 -O atime=off -O xattr=sa -O acltype=posixacl "$pool" "${devices[@]}"
  elif [ "$dry" = 0 ]; then
    echo "zfs-setup: pool $pool does not exist; pass --create-pool <device>... to create it" >&2
    exit 1
  fi
fi

dataset() { # name, zfs create options...
  local name=$1; shift
  if exists "$name"; then echo "zfs-setup: $name exists"; else run zfs create -p "$@" "$name"; fi
}
dataset "$pool/medforge" -o compression=lz4 -o atime=off -o mountpoint="/$pool/medforge"
dataset "$pool/medforge/workspaces"
dataset "$pool/medforge/system/db" -o recordsize=16K -o logbias=throughput -o primarycache=metadata
dataset "$pool/medforge/system/state"
dataset "$pool/medforge/data/training"
dataset "$pool/medforge/data/public-eval"
dataset "$pool/medforge/data/holdouts"
# Session workspaces are owned by the IDE user; holdouts by root alone.
run chown 1000:1000 "/$pool/medforge/workspaces"
run chmod 0755 "/$pool/medforge/workspaces"
run chmod 0700 "/$pool/medforge/data/holdouts"
echo "zfs-setup: layout ready under $pool/medforge"
