#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every test with
# ctest, then rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and
# runs the C suites, the fuzz corpora and the sanitized farm tests (nodes and
# initial built with ASan/UBSan: tests/farm/sanitized_test.py) again, with
# LeakSanitizer on: a leak fails the run; then with ThreadSanitizer the suites
# and farm scenarios whose threads are ours (tests labelled tsan).  At the end
# it lists every test that was skipped and why, and fails if one was skipped
# that this machine can run (scripts/skipped.py checks the reason against the
# machine: no GPU, not root, no cgroup v1, no arm64 cross tools).
# Exits non-zero if anything fails.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/install-deps.sh
echo "== build (release)"
bash scripts/build.sh build
echo "== tests (release)"
(cd build && ctest --output-on-failure --timeout 1200) 2>&1 | tee build/ctest-console.log
echo "== build (ASan/UBSan)"
bash scripts/build.sh build-asan -DMC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== tests (ASan/UBSan)"
# Leaks are errors.  (LeakSanitizer needs ptrace; in a sandbox that forbids
# it, ASAN_OPTIONS=detect_leaks=0 bash scripts/test.sh runs the rest.)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd build-asan && ctest --output-on-failure --timeout 1800 -L sanitize) 2>&1 | tee build-asan/ctest-console.log
echo "== build (ThreadSanitizer)"
bash scripts/build.sh build-tsan -DMC_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMC_AARCH64=OFF
echo "== tests (ThreadSanitizer)"
(cd build-tsan && ctest --output-on-failure --timeout 1800 -L tsan) 2>&1 | tee build-tsan/ctest-console.log
python3 scripts/skipped.py build build-asan build-tsan
