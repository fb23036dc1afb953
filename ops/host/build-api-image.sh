#!/usr/bin/env bash
# Builds the MedForge API image (deploy/compose/api.Dockerfile): a static
# bin/image/medforge (cgo for NVML's dlopen, glibc linked in) and the
# Dockerfile are staged in bin/image, the Compose build context, and built
# FROM scratch. Nothing is pulled.
#
#   ops/host/build-api-image.sh [tag]     (tag: medforge/api:local)
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-medforge/api:local}
ctx=${MEDFORGE_API_BUILD_CONTEXT:-bin/image}
mkdir -p "$ctx"
CGO_ENABLED=1 go build -trimpath -tags osusergo,netgo \
  -ldflags '-s -w -linkmode external -extldflags=-static' -o "$ctx/medforge" ./cmd/medforge 2> >(grep -v -e 'deprecated' -e 'cgo-gcc-prolog' -e 'note: declared here' -e '^ *[0-9]* |' -e '^ *|' -e 'In file included' >&2)
cp deploy/compose/api.Dockerfile "$ctx/Dockerfile"
docker build -q -t "$tag" "$ctx" >/dev/null
echo "built $tag from $ctx/medforge"
