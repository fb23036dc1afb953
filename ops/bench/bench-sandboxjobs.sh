#!/usr/bin/env bash
# Certification reports as sandbox jobs (docs/authoring.md, "Where uploaded
# modules run"): one breast-cancer-size report computed in the requesting
# process (the reference: the API before sandbox jobs) against the same
# report queued for a separate worker service while the request waits
# (competitions/sandboxjobs_test.go, BenchmarkCertificationReport). Medians
# of COUNT runs (default 3) of RUNS reports each (default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-3} runs=${RUNS:-5}
raw=$(go test ./competitions -run '^$' -bench 'CertificationReport' -benchtime "${runs}x" -count "$count" -timeout 30m)
echo "$raw" | grep '^Benchmark'
echo "$raw" | awk '
/^BenchmarkCertificationReport/ { name = $1; sub(/-[0-9]+$/, "", name); sub(/.*\//, "", name); v[name] = v[name] " " $3 }
function median(s,   a, n, i, j, t) {
  n = split(s, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
  a = median(v["in-process"]); b = median(v["sandbox-job"])
  printf "certification report, 170 rows: in the API process %.0f ms | as a sandbox job in a worker service %.0f ms: job/in-process = %.2fx (+%.0f ms)\n", a/1e6, b/1e6, b/a, (b-a)/1e6
}'
