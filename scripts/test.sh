#!/usr/bin/env bash
# The test suite: installs what is missing, builds twice (release, and ASan + UBSan), runs every
# ctest test in both, then runs each libFuzzer target for a bounded time. GPU tests (label gpu)
# skip themselves when no GPU is present.
# Usage: scripts/test.sh [--quick]   (--quick: release build only, no fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)
export GLOSSA_REF_CACHE=$PWD/build/ref-cache
rm -rf "$GLOSSA_REF_CACHE"
mkdir -p "$GLOSSA_REF_CACHE"

echo "== release build: ctest"
(cd build && ctest --output-on-failure -j"$jobs")
[ "${1:-}" = "--quick" ] && exit 0

echo "== ASan + UBSan build: ctest"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGLOSSA_SANITIZE=ON -DGLOSSA_CUDA=OFF > /dev/null
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j"$jobs")

echo "== fuzzing (libFuzzer, bounded)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DGLOSSA_FUZZ=ON -DGLOSSA_CUDA=OFF -DBUILD_TESTING=OFF > /dev/null
cmake --build build-fuzz -j"$jobs"
fuzz_seconds=${GLOSSA_FUZZ_SECONDS:-30}
for f in build-fuzz/fuzz_*; do
    name=$(basename "$f")
    corpus_dir=build-fuzz/corpus-$name
    mkdir -p "$corpus_dir"
    [ -d "fuzz/seeds/$name" ] && cp -n fuzz/seeds/"$name"/* "$corpus_dir"/ 2>/dev/null || true
    echo "-- $name for ${fuzz_seconds}s"
    set +e
    "$f" -max_total_time="$fuzz_seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        "$corpus_dir" > "build-fuzz/$name.log" 2>&1
    rc=$?
    set -e
    grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' "build-fuzz/$name.log" || true
    if [ "$rc" -ne 0 ]; then tail -n 60 "build-fuzz/$name.log"; echo "fuzz target $name failed"; exit 1; fi
done
echo "all suites passed"
