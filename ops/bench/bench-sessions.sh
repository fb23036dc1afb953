#!/usr/bin/env bash
# Session runtime figures on the real Docker engine with the stand-in IDE:
#   - create -> running p50/p90 (allocation, workspace, container start, IDE
#     answering on :8080);
#   - stop -> stopped p50/p90, including the stop snapshot (directory
#     provider: a read-only copy of a 4 MiB workspace);
#   - allocation throughput under contention (32 workers, 8 GPUs), with the
#     GPU-exclusivity invariant checked on every grant;
#   - the waitlist's hand-off: stop request -> the queued user's session
#     running, against a plain create -> running in the same run;
#   - restore of a 1 GiB workspace: ZFS clone (on the FAKE zfs command, with
#     clones as overlay mounts) against the directory provider's copy.
# Reference: the issue names no figure; the contract asks for running within
# MEDFORGE_SESSION_START_TIMEOUT (2m) and zero exclusivity violations, so
# the ratios printed are against those.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${MEDFORGE_TEST_DSN:=$(ops/dev/mariadb.sh dsn)}"
export MEDFORGE_TEST_DSN MEDFORGE_SESSIONS_BENCH=1
out=$(go test ./sessions/ -run '^TestBench(Sessions|Handoff)$' -count=1 -v 2>&1) || { echo "$out" | tail -40; exit 1; }
rout=$(go test ./sessions/workspace/ -run '^TestBenchRestore$' -count=1 -v 2>&1) || { echo "$rout" | tail -40; exit 1; }
echo "$rout" | grep '^BENCH' | sed 's/^BENCH //'
echo "$out" | grep '^BENCH' | sed 's/^BENCH //'
p50=$(echo "$out" | grep 'create->running' | sed -E 's/.*p50 ([^ ]+) .*/\1/')
python3 - "$p50" <<'PY'
import re, sys
m = re.fullmatch(r"(?:(\d+)m)?([\d.]+)(ms|s)", sys.argv[1])
if m:
    secs = int(m.group(1) or 0) * 60 + float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    print(f"create->running p50 is {secs / 120:.4f} of the 2m start timeout; exclusivity violations must be 0")
PY
