#!/usr/bin/env bash
# The GPU test: builds (into build/ or $1) and runs tests/gpu/check_gpu.c,
# which compares the CUDA backend with the CPU backend for every op case of
# the conformance table and for whole AlexNet and VGG16 (max relative error
# <= 1e-5, strict float32).  Not part of scripts/test.sh (the default suite needs no GPU).
# Exits non-zero when the build has no CUDA backend or no GPU is present:
# it never passes without having compared anything.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/build}
shift || true
bash "$here/scripts/build.sh" "$dir" "$@"
if [ ! -x "$dir/check_gpu" ]; then
  echo "test-gpu: FAILED: $dir/check_gpu was not built: the CUDA toolkit or cuDNN was not found" \
       "when configuring. CMake says:" >&2
  cmake -S "$here" -B "$dir" 2>&1 | grep -i "CUDA backend" >&2 || true
  echo "test-gpu: pass -DMC_CUDA=ON (and -DCUDAToolkit_ROOT=... / -DCUDNN_ROOT=...) to make it an error" >&2
  exit 2
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
cmake --build "$dir" --target gpu-test
