#!/usr/bin/env bash
# Installs everything mchair needs on a fresh Debian 12 machine:
#  - Debian packages: compiler, CMake, OpenBLAS, cJSON, libcurl, libmicrohttpd,
#    Apache Avro C, Check, Python with avro/numpy/torch/onnx/matplotlib, iproute2;
#  - a virtualenv .venv (with Debian's Python packages visible) holding the
#    PyPI-only packages: onnxruntime (reference and peer) and ck (CK kernel).
# Safe to run twice.  Run as root (or with sudo available).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

DEB_PACKAGES=(build-essential cmake pkg-config git
  libopenblas-dev libopenblas-openmp-dev libcjson-dev libcurl4-openssl-dev libmicrohttpd-dev libavro-dev check
  libssl-dev libjpeg-dev libpng-dev
  python3 python3-venv python3-pip python3-numpy python3-avro python3-torch python3-onnx
  python3-matplotlib iproute2 procps)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# aarch64 (the farm's Raspberry Pi devices): Debian's cross compiler, the
# arm64 builds of OpenBLAS and Check (multiarch) and qemu's user-mode
# emulator, for the engine's suites cross-built and run under qemu
# (cmake/aarch64.cmake: the aarch64_* ctest tests).
ARM64_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  libopenblas-dev:arm64 libopenblas-openmp-dev:arm64 check:arm64)
arm_missing=()
for p in "${ARM64_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || arm_missing+=("$p")
done
if [ ${#arm_missing[@]} -gt 0 ]; then
  echo "install-deps: installing the aarch64 cross build's packages: ${arm_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${arm_missing[@]}"
fi

# Debian's interpreter, so that python3-avro/-torch/-onnx are visible in the venv.
PY=/usr/bin/python3
if [ ! -x "$here/.venv/bin/python3" ]; then
  echo "install-deps: creating $here/.venv"
  "$PY" -m venv --system-site-packages "$here/.venv"
fi
if ! "$here/.venv/bin/python3" -c "import onnxruntime, ck" 2>/dev/null; then
  echo "install-deps: installing onnxruntime and ck from PyPI into .venv"
  "$here/.venv/bin/pip" install -q --disable-pip-version-check onnxruntime "ck>=2.6,<3"
fi
echo "install-deps: done"
