#!/usr/bin/env bash
# Builds every scorer module from source into $1 (default bin/scorers):
# accuracy.wasm, top1.wasm, map-iou.wasm (Go, GOOS=wasip1 -buildmode=c-shared)
# and accuracy-c.wasm (C, clang --target=wasm32-wasi). The logic lives in
# package scorers (scorers.Build) so the tests build exactly the same way.
set -euo pipefail
out=${1:-bin/scorers}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
go run ./scorers/cmd/build-scorers "$out"
ls "$out"/*.wasm >/dev/null
