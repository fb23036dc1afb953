#!/usr/bin/env bash
# Whole-process `medforge score` against the pandas+sklearn reference
# (../shared/bench/reference_score.py run with /usr/bin/python3) on a
# 1M-row and a 418-row titanic-format file: medians of alternating runs,
# and peak RSS of the 1M-row run (/usr/bin/time -v). Prints ratios.
# Goals (issue 3): >= 10x faster at 1M rows, >= 5x at 418 rows, peak RSS
# no more than the reference's.
#
# Env: MEDFORGE_BIN (default bin/medforge), MEDFORGE_SCORERS_DIR (default
# bin/scorers), MEDFORGE_REFERENCE_SCORE (default
# ../shared/bench/reference_score.py), RUNS_BIG (default 5), RUNS_SMALL (default 15).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${MEDFORGE_BIN:-bin/medforge}
export MEDFORGE_SCORERS_DIR=${MEDFORGE_SCORERS_DIR:-$PWD/bin/scorers}
ref=${MEDFORGE_REFERENCE_SCORE:-../shared/bench/reference_score.py}
py=/usr/bin/python3
runs_big=${RUNS_BIG:-5}
runs_small=${RUNS_SMALL:-15}
# The outside peer is not part of the repository: without it this benchmark
# has nothing to compare against, so it skips and says why (make bench goes on).
if [ ! -f "$ref" ]; then
  echo "bench-score: SKIPPED: the outside reference $ref is not beside this checkout (set MEDFORGE_REFERENCE_SCORE to its path)"
  exit 0
fi
for need in "$bin" "$py" /usr/bin/time "$MEDFORGE_SCORERS_DIR/accuracy.wasm"; do
  [ -e "$need" ] || { echo "bench-score: missing $need (run make bench, which builds bin/ and the scorers)" >&2; exit 1; }
done
work=${BENCH_DIR:-.run/bench/score-data}
mkdir -p "$work"
cache="$work/cache"
comp=titanic-survival

"$bin" synth --competition $comp --n 1000000 --seed 11 --noise 0.2 --out "$work/big"
"$bin" synth --competition $comp --n 418 --seed 12 --noise 0.2 --out "$work/small"
"$bin" holdout import --competition $comp "$work/big/holdout.csv" "$work/big/holdout.arrow" >/dev/null

ours() { "$bin" score --competition $comp --holdout "$1" --submission "$2" --cache-dir "$cache"; }
theirs() { "$py" "$ref" --competition $comp --holdout "$1" --submission "$2"; }

now_ms() { echo $(( $(date +%s%N) / 1000 )); } # microseconds
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# bench NAME RUNS HOLDOUT REF_HOLDOUT SUBMISSION: alternating runs of ours
# (on HOLDOUT) and the reference (on REF_HOLDOUT, always the CSV); sets
# ours_ms, ref_ms (medians) and ratio, and checks that the scores agree.
bench() {
  local name=$1 runs=$2 hold=$3 rhold=$4 sub=$5 i t0 o r
  local -a mo=() mr=()
  o=$(ours "$hold" "$sub") # warm-up: page cache and the compiled-module cache
  r=$(theirs "$rhold" "$sub")
  python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); assert abs(a["primary_score"]-b["primary_score"])<=1e-9 and a["rows"]==b["rows"], (a,b)' "$o" "$r"
  for ((i = 0; i < runs; i++)); do
    t0=$(now_ms); ours "$hold" "$sub" >/dev/null; mo+=($(( $(now_ms) - t0 )))
    t0=$(now_ms); theirs "$rhold" "$sub" >/dev/null; mr+=($(( $(now_ms) - t0 )))
  done
  ours_ms=$(printf '%s\n' "${mo[@]}" | median | awk '{printf "%.1f", $1/1000}')
  ref_ms=$(printf '%s\n' "${mr[@]}" | median | awk '{printf "%.1f", $1/1000}')
  ratio=$(awk -v a="$ref_ms" -v b="$ours_ms" 'BEGIN {printf "%.1f", a/b}')
  printf '%-34s medforge %9.1f ms   reference %9.1f ms   ratio %6.1fx  (%d alternating runs, medians)\n' "$name" "$ours_ms" "$ref_ms" "$ratio" "$runs"
}

peak_kb() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}'; }

echo "bench-score: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
bench "1M rows, CSV holdout" "$runs_big" "$work/big/holdout.csv" "$work/big/holdout.csv" "$work/big/submission.csv"
big_ratio=$ratio
bench "1M rows, Arrow holdout (ours)" "$runs_big" "$work/big/holdout.arrow" "$work/big/holdout.csv" "$work/big/submission.csv"
bench "418 rows, CSV holdout" "$runs_small" "$work/small/holdout.csv" "$work/small/holdout.csv" "$work/small/submission.csv"
small_ratio=$ratio

ours_kb=$(peak_kb "$bin" score --competition $comp --holdout "$work/big/holdout.csv" --submission "$work/big/submission.csv" --cache-dir "$cache")
ref_kb=$(peak_kb "$py" "$ref" --competition $comp --holdout "$work/big/holdout.csv" --submission "$work/big/submission.csv")
printf '%-34s medforge %9.1f MiB  reference %9.1f MiB  ratio %6.2fx of the reference\n' "peak RSS, 1M rows, CSV holdout" \
  "$(awk -v k="$ours_kb" 'BEGIN {print k/1024}')" "$(awk -v k="$ref_kb" 'BEGIN {print k/1024}')" "$(awk -v a="$ours_kb" -v b="$ref_kb" 'BEGIN {print a/b}')"

echo "in-process phases of one 1M-row run (MEDFORGE_TRACE=1):"
MEDFORGE_TRACE=1 "$bin" score --competition $comp --holdout "$work/big/holdout.csv" --submission "$work/big/submission.csv" --cache-dir "$cache" 2>&1 >/dev/null | sed 's/^/  /'

goal() { awk -v v="$1" -v g="$2" 'BEGIN {exit !(v >= g)}' && echo "met" || echo "MISSED"; }
echo "goals: 1M rows >= 10x: $(goal "$big_ratio" 10); 418 rows >= 5x: $(goal "$small_ratio" 5); peak RSS <= reference: $([ "$ours_kb" -le "$ref_kb" ] && echo met || echo MISSED)"
