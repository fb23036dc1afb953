#!/usr/bin/env bash
# Builds every scorer module from source into $1 (default bin/scorers).
set -euo pipefail
out=${1:-bin/scorers}
mkdir -p "$out"
