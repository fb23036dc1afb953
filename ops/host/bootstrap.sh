#!/usr/bin/env bash
# Prepares a Debian 12 GPU host for MedForge, as root, idempotently:
#   1. Debian packages: Docker engine and docker-compose, iptables, Caddy
#      (Debian's 2.6.2, for host-run validation; the stack runs Caddy in a
#      container), ZFS (contrib), MariaDB client, curl, openssl, wrk;
#   2. the NVIDIA container toolkit (NVIDIA's apt repository) when an NVIDIA
#      GPU is present, with Docker's runtime configured for it;
#   3. kernel settings the firewall relies on (br_netfilter,
#      net.bridge.bridge-nf-call-iptables=1), persisted.
# Then: ops/storage/zfs-setup.sh, docker-compose up, ops/network/firewall-setup.sh
# apply, ops/host/validate-deploy.sh (docs/operations in docs/routing.md).
#
#   ops/host/bootstrap.sh [--dry-run]     (--dry-run prints what it would run)
set -euo pipefail
dry=0
[ "${1:-}" = --dry-run ] && dry=1
run() {
  if [ "$dry" = 1 ]; then echo "+ $*"; else "$@"; fi
}
if [ "$dry" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "bootstrap: run as root (or with --dry-run)" >&2
  exit 1
fi
. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" != debian ]; then
  echo "bootstrap: written for Debian (found ${PRETTY_NAME:-unknown}); continuing" >&2
fi
export DEBIAN_FRONTEND=noninteractive

# ZFS lives in contrib.
if ! grep -rqs 'contrib' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  run sed -i 's/^\(deb .* main\)$/\1 contrib/' /etc/apt/sources.list
fi
pkgs=(ca-certificates curl openssl gnupg iptables docker.io docker-compose caddy mariadb-client wrk
  "linux-headers-$(uname -r)" zfs-dkms zfsutils-linux)
run apt-get update -qq
run apt-get install -y -qq "${pkgs[@]}"
run systemctl enable --now docker

if lspci 2>/dev/null | grep -qi nvidia || [ -e /dev/nvidiactl ]; then
  if ! command -v nvidia-ctk >/dev/null; then
    key=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
    if [ "$dry" = 1 ]; then
      echo "+ curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | gpg --dearmor -o $key"
      echo "+ curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list > /etc/apt/sources.list.d/nvidia-container-toolkit.list"
    else
      curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | gpg --batch --yes --dearmor -o "$key"
      curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list |
        sed "s#deb https://#deb [signed-by=$key] https://#g" >/etc/apt/sources.list.d/nvidia-container-toolkit.list
    fi
    run apt-get update -qq
    run apt-get install -y -qq nvidia-container-toolkit
  fi
  run nvidia-ctk runtime configure --runtime=docker
  run systemctl restart docker
else
  echo "bootstrap: no NVIDIA GPU found; skipping the NVIDIA container toolkit (declare GPUs with MEDFORGE_GPUS)" >&2
fi

run modprobe br_netfilter
if [ "$dry" = 1 ]; then
  echo "+ echo br_netfilter > /etc/modules-load.d/medforge.conf"
  echo "+ echo net.bridge.bridge-nf-call-iptables=1 > /etc/sysctl.d/90-medforge.conf"
else
  echo br_netfilter >/etc/modules-load.d/medforge.conf
  echo net.bridge.bridge-nf-call-iptables=1 >/etc/sysctl.d/90-medforge.conf
fi
run sysctl -q -w net.bridge.bridge-nf-call-iptables=1
echo "bootstrap: done. Next: ops/storage/zfs-setup.sh <pool devices>, then deploy/compose (see docs/routing.md)"
