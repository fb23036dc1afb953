#!/usr/bin/env bash
# The Kubernetes runtime's scale-out figure, a SIMULATION: 1,000 sessions on
# 250 KWOK nodes of 4 GPUs each (plus 50 users over capacity), against a real
# kube-apiserver v1.37.2, kube-scheduler and etcd built by ops/kube/build.sh.
# KWOK runs no container: this measures MedForge's allocation and driver, the
# API server and the scheduler, not image pulls or GPUs.
# Reference: the issue names no figure; printed are the time until all run
# (and the 50 are refused, as they must be), the API server's CPU and peak
# memory, and MariaDB statements per session.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${MEDFORGE_TEST_DSN:=$(ops/dev/mariadb.sh dsn)}"
bin=$(nice -n 10 ops/kube/build.sh)
export MEDFORGE_TEST_DSN MEDFORGE_KUBE_BENCH=1 MEDFORGE_KUBE_BIN="$bin"
out=$(go test ./sessions/kubert/ -run '^TestSimulation1000$' -count=1 -v -timeout 20m 2>&1) || { echo "$out" | tail -40; exit 1; }
echo "$out" | grep '^BENCH' | sed 's/^BENCH //'
