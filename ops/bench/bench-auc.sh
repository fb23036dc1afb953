#!/usr/bin/env bash
# The roc-auc scorer module (Go SDK, in the sandbox) against sklearn on
# 1M rows: whole-process `medforge score --competition
# breast-cancer-diagnosis` against ops/bench/auc_reference.py (pandas read
# and merge + sklearn.metrics.roc_auc_score under /usr/bin/python3), medians
# of alternating runs; the two scores must agree to 1e-12. Also the metric
# alone: the sandbox's scoring phase (MEDFORGE_TRACE) against
# roc_auc_score's own time. Prints ratios (reference time / ours).
#
# Env: MEDFORGE_BIN (default bin/medforge), MEDFORGE_SCORERS_DIR (default
# bin/scorers), ROWS (default 1000000), RUNS (default 5).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${MEDFORGE_BIN:-bin/medforge}
export MEDFORGE_SCORERS_DIR=${MEDFORGE_SCORERS_DIR:-$PWD/bin/scorers}
py=/usr/bin/python3
rows=${ROWS:-1000000}
runs=${RUNS:-5}
for need in "$bin" "$py" "$MEDFORGE_SCORERS_DIR/roc-auc.wasm"; do
  [ -e "$need" ] || { echo "bench-auc: missing $need (run make bench, which builds bin/ and the scorers)" >&2; exit 1; }
done
"$py" -c 'import sklearn, pandas, numpy' 2>/dev/null || { echo "bench-auc: $py lacks sklearn/pandas/numpy (apt-get install python3-sklearn python3-pandas)" >&2; exit 1; }
work=${BENCH_DIR:-.run/bench/auc-data}
mkdir -p "$work/cache"
cache=$(cd "$work/cache" && pwd)
[ -s "$work/holdout.csv" ] && [ "$(($(wc -l <"$work/holdout.csv") - 1))" = "$rows" ] || "$py" ops/bench/auc_data.py "$rows" "$work"
hold=$work/holdout.csv sub=$work/submission.csv

ours() { "$bin" score --competition breast-cancer-diagnosis --holdout "$hold" --submission "$sub" --cache-dir "$cache"; }
theirs() { "$py" ops/bench/auc_reference.py "$hold" "$sub"; }
now_us() { echo $(( $(date +%s%N) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "bench-auc: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $rows rows"
o=$(ours) # warm-up (page cache, compiled-module cache)
r=$(theirs)
"$py" -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); d=abs(a["primary_score"]-b["primary_score"]); assert d<=1e-12 and a["rows"]==b["rows"], (a,b); print("scores agree: medforge %.17g sklearn %.17g (|diff| %.1e)" % (a["primary_score"], b["primary_score"], d))' "$o" "$r"
mo=() mr=() po=() pr=()
for ((i = 0; i < runs; i++)); do
  t0=$(now_us); out=$(MEDFORGE_TRACE=1 ours 2>&1 >/dev/null); mo+=($(( $(now_us) - t0 )))
  # the sandbox's scoring phase: "scored" minus "sandbox ready"
  po+=($(awk '/trace sandbox ready/ {a=$(NF-1)} /trace scored/ {b=$(NF-1)} END {printf "%.3f", b-a}' <<<"$out"))
  t0=$(now_us); res=$(theirs); mr+=($(( $(now_us) - t0 )))
  pr+=($("$py" -c 'import json,sys; print("%.3f" % json.loads(sys.argv[1])["metric_ms"])' "$res"))
done
ours_ms=$(printf '%s\n' "${mo[@]}" | median | awk '{printf "%.1f", $1/1000}')
ref_ms=$(printf '%s\n' "${mr[@]}" | median | awk '{printf "%.1f", $1/1000}')
ours_m=$(printf '%s\n' "${po[@]}" | median)
ref_m=$(printf '%s\n' "${pr[@]}" | median)
printf '%-40s medforge %9.1f ms   sklearn %9.1f ms   ratio %5.2fx  (%d alternating runs, medians)\n' \
  "whole process (read, align, AUC)" "$ours_ms" "$ref_ms" "$(awk -v a="$ref_ms" -v b="$ours_ms" 'BEGIN {print a/b}')" "$runs"
printf '%-40s medforge %9.1f ms   sklearn %9.1f ms   ratio %5.2fx  (roc-auc.wasm in the sandbox vs roc_auc_score alone)\n' \
  "metric only" "$ours_m" "$ref_m" "$(awk -v a="$ref_m" -v b="$ours_m" 'BEGIN {print a/b}')"
