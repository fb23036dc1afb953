#!/usr/bin/env bash
# Production stack benchmarks (make bench), on a stack of its own
# (.run/benchstack, project medforge-bench) under the shared Docker lock,
# since it publishes host ports 80/443:
#   - image build, cold (a fresh base key and no Docker build cache) and
#     cached (the same again); reference: the cold build (ratio cached/cold)
#   - stack-up to a healthy https://medforge.localhost/healthz, images cached
#   - backup and restore of a stack holding 100k submissions, each with its
#     own stored file; reference: the floor of the same work without the
#     manifest and checks (plain mariadb-dump + tar, plain load + untar)
# BENCH_STACK_SUBMISSIONS (100000) and BENCH_STACK_COLD (1; 0 skips the
# cold build, which takes minutes) tune it.
set -euo pipefail
cd "$(dirname "$0")/../.."
lock=${MEDFORGE_DOCKER_LOCK:-/work/.docker.lock}
[ -d "$(dirname "$lock")" ] || lock=.run/docker.lock
if [ -z "${BENCH_STACK_LOCKED:-}" ]; then
  mkdir -p .run
  exec env BENCH_STACK_LOCKED=1 flock "$lock" "$0" "$@"
fi
n=${BENCH_STACK_SUBMISSIONS:-100000}
export MEDFORGE_STACK_DIR=$PWD/.run/benchstack MEDFORGE_STACK_PROJECT=medforge-bench MEDFORGE_STACK_NET=172.27 \
  MEDFORGE_STACK_BRIDGE_PREFIX=mfb MEDFORGE_STACK_FW_PREFIX=MFBENCH
st=ops/stack/stack.sh
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
trap '$st down --volumes >/dev/null 2>&1 || true; rm -rf .run/benchstack-backup .run/benchstack-plain' EXIT

if [ "${BENCH_STACK_COLD:-1}" = 1 ]; then
  epoch=bench-$(date +%s)
  t0=$(now); MEDFORGE_BASE_EPOCH=$epoch MEDFORGE_BUILD_NO_CACHE=1 ops/images/build.sh >/dev/null 2>.run/bench-images.log; t1=$(now)
  MEDFORGE_BASE_EPOCH=$epoch ops/images/build.sh >/dev/null 2>>.run/bench-images.log; t2=$(now)
  cold=$(secs "$t0" "$t1") cached=$(secs "$t1" "$t2")
  docker rmi "$(MEDFORGE_BASE_EPOCH=$epoch ops/images/base.sh)" >/dev/null 2>&1 || true
  ops/images/build.sh >/dev/null 2>>.run/bench-images.log   # back to the default base
  echo "image build: cold ${cold}s (base from Debian's archive + 3 images + binary + scorers), cached ${cached}s: cached/cold = $(ratio "$cached" "$cold")"
fi

$st down --volumes >/dev/null 2>&1 || true
t0=$(now); $st up >/dev/null 2>.run/bench-stack-up.log; t1=$(now)
ops/images/build.sh >/dev/null 2>&1; t2=$(now)
up=$(secs "$t0" "$t1") build=$(secs "$t1" "$t2")
echo "stack-up to healthy: ${up}s, of which the cached image build ${build}s; without it $(secs "$build" "$up")s"

# 100k submissions, each with a distinct stored file, straight into the
# database and the store (as a busy stack would hold them).
data=$MEDFORGE_STACK_DIR/data
python3 - "$n" "$data/stores/submissions" >"$MEDFORGE_STACK_DIR/fill.sql" <<'PY'
import hashlib, os, sys
n, root = int(sys.argv[1]), sys.argv[2]
print("SET @c = (SELECT id FROM competitions WHERE slug = 'titanic-survival');")
print("INSERT INTO users (email, password_hash, display_name) SELECT CONCAT('bench', seq, '@example.org'), 'x', CONCAT('bench ', seq) FROM seq_0_to_999;")
print("SET @u = (SELECT MIN(id) FROM users WHERE email LIKE 'bench%');")
body = "PassengerId,Survived\n" + "".join(f"{892+i},{i%2}\n" for i in range(418))
rows = []
for i in range(n):
    data = (body + f"# {i}\n").encode()
    d = hashlib.sha256(data).hexdigest()
    p = os.path.join(root, "sha256", d[:2])
    os.makedirs(p, exist_ok=True)
    with open(os.path.join(p, d), "wb") as f:
        f.write(data)
    s = (i * 7919 % 1000) / 1000
    rows.append(f"(@c,@u+{i%1000},'s.csv','{d}','sha256/{d[:2]}/{d}',{len(data)},418,'scored','',0,{s},{s-0.02},{s+0.02},NOW(6),NOW(6))")
    if len(rows) == 1000:
        print("INSERT INTO submissions (competition_id,user_id,filename,artifact_sha256,artifact_path,size_bytes,row_count,status,internal_error,pending,primary_score,ci_low,ci_high,created_at,scored_at) VALUES " + ",".join(rows) + ";")
        rows = []
if rows:
    print("INSERT INTO submissions (competition_id,user_id,filename,artifact_sha256,artifact_path,size_bytes,row_count,status,internal_error,pending,primary_score,ci_low,ci_high,created_at,scored_at) VALUES " + ",".join(rows) + ";")
PY
chown -R 65532:65532 "$data/stores"
$st compose exec -T medforge-db mariadb medforge <"$MEDFORGE_STACK_DIR/fill.sql"
count() { $st compose exec -T medforge-db mariadb -N medforge -e "SELECT COUNT(*) FROM submissions"; }
before=$(count)
size=$(du -sh "$data/stores" | cut -f1)

bk=$PWD/.run/benchstack-backup
t0=$(now); $st backup "$bk" 2>/dev/null; t1=$(now)
backup=$(secs "$t0" "$t1")
plain=$PWD/.run/benchstack-plain
mkdir -p "$plain"
t0=$(now)
$st compose exec -T medforge-db mariadb-dump --single-transaction --quick --databases medforge >"$plain/db.sql"
(cd "$data" && tar -cf "$plain/files.tar" holdouts stores training public-eval)
t1=$(now)
floor=$(secs "$t0" "$t1")
echo "backup of $before submissions ($size of stored files): ${backup}s; plain dump + tar ${floor}s: backup/plain = $(ratio "$backup" "$floor")"

$st down --volumes >/dev/null 2>&1
$st up >/dev/null 2>>.run/bench-stack-up.log
t0=$(now); $st restore "$bk" 2>/dev/null; t1=$(now)
restore=$(secs "$t0" "$t1")
after=$(count)
[ "$after" = "$before" ] || { echo "restore lost submissions: $after of $before" >&2; exit 1; }
t0=$(now)
$st compose exec -T medforge-db mariadb <"$plain/db.sql"
tar -xf "$plain/files.tar" -C "$(mktemp -d)"
t1=$(now)
pfloor=$(secs "$t0" "$t1")
echo "restore of $after submissions (verify, load, untar, check every file, restart, healthy): ${restore}s; plain load + untar ${pfloor}s: restore/plain = $(ratio "$restore" "$pfloor")"
