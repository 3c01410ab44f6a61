#!/usr/bin/env bash
# Single-thread tokenizer throughput, glossa vs spm_encode (Debian sentencepiece) in the same run:
# the whole of ../shared/data (tests/fixtures/spm/make_corpus.sh), the same .model files, ids to
# /dev/null, RUNS runs each, median wall time. Both are whole processes (model load and I/O
# included); glossa's in-process figure (--bench, encoding only) is printed beside it.
# Usage: bench/tokenizer/run.sh [BUILD_DIR] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runs=${2:-5}
glossa=$build/glossa
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tests/fixtures/spm/make_corpus.sh > "$tmp/corpus.txt"
bytes=$(stat -c %s "$tmp/corpus.txt")
lines=$(wc -l < "$tmp/corpus.txt")

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_cmd() { # runs the command RUNS times, prints the median seconds
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" < "$tmp/corpus.txt" > /dev/null
        t1=$(date +%s.%N)
        echo "$t1 - $t0" | bc -l
    done | median
}

echo "corpus: $bytes bytes, $lines lines; $runs runs each, median; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-30s %10s %10s %10s %8s %12s\n' model spm_s glossa_s spm_MB/s glossa_MB/s speedup
models=(uni_8k_nmtnfkc uni_32k_nmtnfkc_bytefb uni_1k_identity_uds bpe_4k_nmtnfkc
        bpe_16k_nmtnfkc_bytefb_uds bpe_1k_identity)
for name in "${models[@]}"; do
    m=tests/fixtures/spm/$name.model
        s=$(time_cmd taskset -c 0 spm_encode --model "$m" --output_format=id)
        g=$(time_cmd taskset -c 0 "$glossa" tokenize --spm "$m")
        inproc=$("$glossa" tokenize --spm "$m" --bench --repeat "$runs" < "$tmp/corpus.txt" | sed 's/.*MB\/s \([0-9.]*\).*/\1/')
        printf '%-30s %10.3f %10.3f %10.2f %8.2f (%s in-process) %8.2fx\n' "$name" "$s" "$g" \
            "$(echo "$bytes / $s / 1000000" | bc -l)" "$(echo "$bytes / $g / 1000000" | bc -l)" "$inproc" \
            "$(echo "$s / $g" | bc -l)"
done
