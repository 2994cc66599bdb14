#!/usr/bin/env bash
# Configures and builds into build/ (or $1 with extra CMake args after it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/build}
shift || true
cmake -S "$here" -B "$dir" -DMC_PYTHON="$here/.venv/bin/python3" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
