#!/usr/bin/env bash
# Builds every image of the Compose stack here, without a registry:
#   medforge/base:<key>      Debian from Debian's archive (ops/images/base.sh)
#   medforge/mariadb:<tag>   Debian's mariadb-server, with a healthcheck
#   medforge/caddy:<tag>     Debian's Caddy 2.6.2
#   medforge/medforge:<tag>  the static binary and the scorer modules
#   the stand-in IDE pack    (medforge standin-image; its image id pins it)
# Each Dockerfile takes the base as BASE, so a host with a registry can
# build on an official Debian image instead (MEDFORGE_BASE_IMAGE=...).
# Docker's build cache makes a second run fast; the base is cached by key.
#
#   ops/images/build.sh            (tag: MEDFORGE_IMAGE_TAG, default local)
#
# Prints KEY=VALUE lines (MEDFORGE_BASE_IMAGE, MEDFORGE_IMAGE,
# MEDFORGE_DB_IMAGE, MEDFORGE_CADDY_IMAGE, MEDFORGE_PACK_IMAGE) on stdout;
# progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CGO_CFLAGS=${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}
tag=${MEDFORGE_IMAGE_TAG:-local}
base=${MEDFORGE_BASE_IMAGE:-$(ops/images/base.sh)}
say() { echo "build.sh: $*" >&2; }

build() { # name dir [context]
  local ref=$1 dir=$2 ctx=${3:-$2}
  say "building $ref"
  docker build -q ${MEDFORGE_BUILD_NO_CACHE:+--no-cache} --build-arg BASE="$base" -f "$dir/Dockerfile" -t "$ref" "$ctx" >/dev/null
}
build "medforge/mariadb:$tag" deploy/images/mariadb
build "medforge/caddy:$tag" deploy/images/caddy

# The MedForge image's context: the static binary (cgo for NVML's dlopen,
# glibc linked in) and the scorer modules built from source.
ctx=bin/image
mkdir -p "$ctx"
say "building the static medforge binary"
CGO_ENABLED=1 go build -trimpath -tags osusergo,netgo \
  -ldflags '-s -w -linkmode external -extldflags=-static' -o "$ctx/medforge.new" ./cmd/medforge 2>"$ctx/build.log" \
  || { cat "$ctx/build.log" >&2; exit 1; }
# Only a changed binary changes the layer (go build rewrites the file).
if ! cmp -s "$ctx/medforge.new" "$ctx/medforge"; then mv "$ctx/medforge.new" "$ctx/medforge"; else rm "$ctx/medforge.new"; fi
say "building the scorer modules"
scorers/build.sh "$ctx/scorers.new" >&2
if ! diff -rq "$ctx/scorers.new" "$ctx/scorers" >/dev/null 2>&1; then rm -rf "$ctx/scorers"; mv "$ctx/scorers.new" "$ctx/scorers"; else rm -rf "$ctx/scorers.new"; fi
build "medforge/medforge:$tag" deploy/images/medforge "$ctx"

say "building the stand-in IDE pack"
pack=$("$ctx/medforge" standin-image)
pack_id=$(docker image inspect -f '{{.Id}}' "$pack")

echo "MEDFORGE_BASE_IMAGE=$base"
echo "MEDFORGE_DB_IMAGE=medforge/mariadb:$tag"
echo "MEDFORGE_CADDY_IMAGE=medforge/caddy:$tag"
echo "MEDFORGE_IMAGE=medforge/medforge:$tag"
# Without a registry an image has no repository digest; its id (the
# digest of its configuration, which names every layer's digest) is the
# immutable reference that pins it.
echo "MEDFORGE_PACK_IMAGE=$pack_id"
