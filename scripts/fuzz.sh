#!/usr/bin/env bash
# The fuzzing campaign: runs each libFuzzer target (tests/fuzz/fuzz_*.c) for
# SECONDS under ASan/UBSan, one after the other (a fuzzer takes a core), then
# merges what it found into the target's corpus, minimized
# (tests/fuzz/corpus/<target>/: only inputs that add coverage), and keeps any
# crash, leak or timeout reproducer in tests/fuzz/crashes/<target>/.  Both
# folders are replayed by every test run (ctest replay_<target>).  The
# figures of each run (executions, coverage, corpus sizes, findings) go to
# tests/fuzz/campaign/<target>.json and are printed as a table at the end
# (docs/security.md keeps the table of record).
#
#   bash scripts/fuzz.sh 600                    # every target, 10 minutes each
#   bash scripts/fuzz.sh 60 fuzz_http fuzz_ctl  # some targets
#
# Needs clang with libFuzzer (Debian: clang, libclang-rt-dev); builds into
# build-fuzz/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
secs=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
# the longest input each target is given (libFuzzer -max_len)
declare -A maxlen=([fuzz_model]=8192 [fuzz_farm]=8192 [fuzz_avro]=4096 [fuzz_ctl]=4096 [fuzz_http]=8192
                   [fuzz_profile]=32768 [fuzz_weights]=8192 [fuzz_image]=4096)

echo "== build (clang, libFuzzer, ASan/UBSan) into build-fuzz"
cmake -S . -B build-fuzz -DMC_FUZZ=ON -DMC_SANITIZE=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
    -DMC_CUDA=OFF -DMC_PYTHON="$here/.venv/bin/python3" >/dev/null
cmake --build build-fuzz -j2 --target "${targets[@]}" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p tests/fuzz/campaign
for t in "${targets[@]}"; do
    corpus=tests/fuzz/corpus/$t
    crashes=tests/fuzz/crashes/$t
    mkdir -p "$corpus" "$crashes"
    work=$(mktemp -d /tmp/mchair-fuzz-$t.XXXXXX)
    before=$(ls "$corpus" | wc -l)
    crashes_before=$(ls "$crashes" | wc -l)
    echo "== $t: ${secs} s from $before corpus inputs"
    # -fork would go on after a crash; one process stops at the first finding,
    # which is then kept and fixed before the next run.
    set +e
    t0=$(date +%s)
    build-fuzz/$t -max_total_time="$secs" -max_len="${maxlen[$t]:-4096}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "$corpus" >"$work.log" 2>&1
    rc=$?
    ran=$(( $(date +%s) - t0 ))
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$work.log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    # minimize: the inputs of the old corpus and the new ones that add coverage
    merged=$(mktemp -d /tmp/mchair-fuzz-merged-$t.XXXXXX)
    build-fuzz/$t -merge=1 -max_len="${maxlen[$t]:-4096}" -timeout=10 "$merged" "$corpus" "$work" \
        >"$work.merge.log" 2>&1 || { tail -20 "$work.merge.log"; exit 1; }
    rm -f "$corpus"/*
    cp "$merged"/* "$corpus"/
    after=$(ls "$corpus" | wc -l)
    kb=$(du -sk "$corpus" | cut -f1)
    found=$(( $(ls "$crashes" | wc -l) - crashes_before ))
    cat >tests/fuzz/campaign/$t.json <<EOF
{"target": "$t", "seconds": $secs, "ran_s": $ran, "executions": ${execs:-0}, "cov": ${cov:-0}, "ft": ${ft:-0},
 "corpus_before": $before, "corpus_after": $after, "corpus_kb": $kb, "new_findings": $found, "exit": $rc,
 "date": "$(date -u +%Y-%m-%dT%H:%MZ)", "cpu": "$(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1)"}
EOF
    echo "   ran ${ran} s: executions ${execs:-?}, cov ${cov:-?}, ft ${ft:-?}, corpus $before -> $after inputs ($kb kB), new findings $found (exit $rc)"
    if [ $rc -ne 0 ]; then
        echo "   finding kept in $crashes; the fuzzer said:"
        grep -E 'ERROR|SUMMARY|Test unit written' "$work.log" | head -10
    fi
    rm -rf "$work" "$merged" "$work.merge.log"
    mv "$work.log" "/tmp/mchair-fuzz-$t.last.log"
done
echo
echo "| target | seconds run | executions | exec/s | cov | ft | corpus (inputs, kB) | new findings |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for t in "${targets[@]}"; do
    python3 - "$t" <<'EOF'
import json, sys
j = json.load(open("tests/fuzz/campaign/%s.json" % sys.argv[1]))
ran = j.get("ran_s", j["seconds"])
print("| %s | %d | %d | %d | %d | %d | %d, %d | %d |" % (j["target"], ran, j["executions"],
      j["executions"] // max(1, ran), j["cov"], j["ft"], j["corpus_after"], j["corpus_kb"], j["new_findings"]))
EOF
done
