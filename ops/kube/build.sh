#!/usr/bin/env bash
# Builds, from the Go module proxy, the Kubernetes control plane that the
# Kubernetes session runtime is tested against, and caches each binary by
# version so a second run costs nothing:
#
#   kube-apiserver, kube-scheduler  k8s.io/kubernetes  (ops/kube/tools/kubernetes)
#   etcd                            go.etcd.io/etcd    (ops/kube/tools/etcd)
#   kwok + its stage files          sigs.k8s.io/kwok   (ops/kube/tools/kwok)
#
# Each tool module pins its versions in a committed go.mod/go.sum; the main
# module never sees them (go build ./... skips nested modules).
#
# Usage: ops/kube/build.sh            build what is missing, print the bin dir
#        ops/kube/build.sh --dir      only print the bin dir (no build)
#
# The cache is $MEDFORGE_KUBE_CACHE, else $XDG_CACHE_HOME/medforge/kube, else
# ~/.cache/medforge/kube; it lives outside the work tree so `git clean` and a
# fresh clone on the same machine reuse it. Cold, on 2 cores, the apiserver
# takes about 7 minutes and 2.8 GB of RAM; warm, about 20 s or nothing.
set -euo pipefail

KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0

here=$(cd "$(dirname "$0")" && pwd)
cache=${MEDFORGE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/medforge/kube}
bin="$cache/bin-kube-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"

if [ "${1:-}" = "--dir" ]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$bin"
GO=${GO:-go}
export GOFLAGS=-mod=readonly
# The machine has two cores shared with everything else: build one package at
# a time less greedily than the default when asked to.
[ -n "${MEDFORGE_KUBE_BUILD_P:-}" ] && export GOFLAGS="$GOFLAGS -p=$MEDFORGE_KUBE_BUILD_P"

log() { echo "ops/kube/build.sh: $*" >&2; }

# build OUT MODULE_DIR PACKAGE LDFLAGS: builds PACKAGE inside the tool module
# into $bin/OUT atomically (a killed build leaves no half binary behind).
build() {
	local out=$1 dir=$2 pkg=$3 ldflags=$4
	if [ -x "$bin/$out" ]; then
		return 0
	fi
	log "building $out ($pkg)"
	local start=$SECONDS
	(cd "$here/tools/$dir" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$bin/.$out.tmp" "$pkg")
	mv "$bin/.$out.tmp" "$bin/$out"
	log "built $out in $((SECONDS - start))s"
}

# Clients parse the server's version: stamp both copies of it, or client-go
# sees v0.0.0-master and discovery-based tools refuse the server.
kv=$KUBE_VERSION
minor=${kv#v1.}
minor=${minor%%.*}
kube_ld=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ld="$kube_ld -X $p.gitVersion=$kv -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
build kube-apiserver kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$kube_ld"
build kube-scheduler kubernetes k8s.io/kubernetes/cmd/kube-scheduler "$kube_ld"
build etcd etcd go.etcd.io/etcd/server/v3 ""
build kwok kwok sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"

# KWOK's stage files (how fake pods and nodes move through their lifecycle)
# ship in its module; copy them next to the binary.
if [ ! -d "$bin/kwok-stages" ]; then
	moddir=$(cd "$here/tools/kwok" && "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
	rm -rf "$bin/.kwok-stages.tmp"
	mkdir -p "$bin/.kwok-stages.tmp"
	cp -r "$moddir/kustomize/stage/." "$bin/.kwok-stages.tmp/"
	chmod -R u+w "$bin/.kwok-stages.tmp"
	mv "$bin/.kwok-stages.tmp" "$bin/kwok-stages"
fi
echo "$bin"
