#!/usr/bin/env bash
# `make bench`: runs every ops/bench/bench-*.sh in turn. Each prints its own
# figures as ratios against the reference it names. Results also land in
# .run/bench/ for the issue notes.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .run/bench
status=0
for b in ops/bench/bench-*.sh; do
  [ -e "$b" ] || continue
  echo "== $b"
  bash "$b" 2>&1 | tee ".run/bench/$(basename "$b" .sh).txt" || status=1
done
exit $status
