#!/usr/bin/env bash
# Scoring sandbox benchmarks (engine/sandbox/bench_test.go), reported as
# ratios of medians over COUNT runs (default 5):
#   - metric time inside WASM vs the same Go code natively, 1M rows
#     (accuracy: decode, metric, per-unit output); goal <= 3x; also as the
#     median ratio of alternating native/WASM pairs, which a loaded machine
#     disturbs least
#   - what wazero's WithCloseOnContextDone(true) would add to that
#   - per-scoring cost of the worker-process sandbox vs running in-process
#   - what one short-lived process (`medforge score`) pays for the sandbox
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-5}
raw=$(go test ./engine/sandbox -run '^$' -bench 'Metric1M|Scoring|ColdPool' -benchtime 10x -count "$count" -timeout 30m)
echo "$raw" | grep '^Benchmark'
echo
echo "$raw" | awk '
/^Benchmark/ {
  name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
  v[name] = v[name] " " $3
  for (i = 4; i < NF; i++) if ($(i + 1) == "wasm/native") r[name] = r[name] " " $i
}
function median(s,   a, n, i, j, t) {
  n = split(s, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
  for (k in v) m[k] = median(v[k])
  ms = 1e6
  printf "medians of %d runs (ms)\n", '"$count"'
  printf "metric, 1M rows: native Go %.2f | WASM Go %.2f (%.2fx native) | WASM C %.2f (%.2fx native Go)\n",
    m["Metric1M/native-go"]/ms, m["Metric1M/wasm-go"]/ms, m["Metric1M/wasm-go"]/m["Metric1M/native-go"],
    m["Metric1M/wasm-c"]/ms, m["Metric1M/wasm-c"]/m["Metric1M/native-go"]
  printf "alternating native/WASM pairs, median ratio: Go guest %.2fx, C guest %.2fx (goal <= 3x)\n",
    median(r["Metric1M/pairs-go"]), median(r["Metric1M/pairs-c"])
  printf "WithCloseOnContextDone(true) would cost: Go guest %.2f ms (%.1fx), C guest %.2f ms (%.1fx)\n",
    m["Metric1M/wasm-go-closeondone"]/ms, m["Metric1M/wasm-go-closeondone"]/m["Metric1M/wasm-go"],
    m["Metric1M/wasm-c-closeondone"]/ms, m["Metric1M/wasm-c-closeondone"]/m["Metric1M/wasm-c"]
  split("accuracy-c/418 accuracy/418 accuracy-c/1048576 accuracy/1048576", cases, " ")
  for (i = 1; i <= 4; i++) {
    c = cases[i]; a = m["Scoring/in-process/" c]; b = m["Scoring/pool/" c]
    printf "whole scoring %-20s in-process %.2f ms | worker pool %.2f ms (%+.2f ms)\n", c, a/ms, b/ms, (b-a)/ms
  }
  printf "cold pool (start, load cached module, score 418 rows, close): C %.1f ms, Go %.1f ms\n",
    m["ColdPool/accuracy-c"]/ms, m["ColdPool/accuracy"]/ms
}'
