#!/usr/bin/env bash
# The demo model (models/glossa-demo) translates as HF transformers does: the first lines of a few
# evaluation sets, greedy and beam 4, against HF's outputs (tests/fixtures/demo, made by
# tools/train_demo/make_test_fixture.py from eval_hf.py's run on the GPU machine); and it is the
# default model when -m is not given.
source "$(dirname "$0")/../lib/common.sh"
model=$GLOSSA_FIXTURES/../../models/glossa-demo
fix=$GLOSSA_FIXTURES/demo

# under the sanitizers (memory safety, ~8x slower) the first lines of each set only: the release
# run has compared every fixture line
# (every 4th set, its first lines)
if [ "${GLOSSA_SANITIZED:-OFF}" = "ON" ]; then n_greedy=4 n_beam=2 every=4; else n_greedy=1000 n_beam=1000 every=1; fi

check() { # name, mode, then translate args
    local name=$1 mode=$2; shift 2
    if "$GLOSSA" translate -m "$model" --max-new-tokens 160 "$@" > "$TEST_TMP/out" 2> "$TEST_TMP/err" &&
        diff -u <(head -n "$(wc -l < "$TEST_TMP/out")" "$fix/$name.$mode") "$TEST_TMP/out" > "$TEST_TMP/diff" &&
        [ -s "$TEST_TMP/out" ]; then
        PASSES=$((PASSES + 1))
    else
        FAILS=$((FAILS + 1))
        echo "FAIL $name $mode: $(head -c 300 "$TEST_TMP/err")"
        head -n 12 "$TEST_TMP/diff"
    fi
}

k=0
while IFS=$'\t' read -r name src tgt; do
    k=$((k + 1))
    [ $(((k - 1) % every)) -eq 0 ] || continue
    head -n "$n_greedy" "$fix/$name.src" > "$TEST_TMP/src"
    check "$name" greedy --src "$src" --tgt "$tgt" --beam 1 < "$TEST_TMP/src"
    n=$(wc -l < "$fix/$name.beam4")
    [ "$n" -le "$n_beam" ] || n=$n_beam
    head -n "$n" "$fix/$name.src" > "$TEST_TMP/beam_src"
    check "$name" beam4 --src "$src" --tgt "$tgt" --beam 4 < "$TEST_TMP/beam_src"
done < "$fix/sets.tsv"

# decode passes padded to bucket sizes (GLOSSA_DECODE_BUCKETS=1: sentences finishing one by one
# run as 24, 24, ..., 16, 16, ..., 8, 8, 4, 4, 2, 1 sequences, the extra rows copies of the last):
# the same outputs
head -n "$n_greedy" "$fix/m30k.en-de.src" > "$TEST_TMP/src"
GLOSSA_DECODE_BUCKETS=1 check m30k.en-de greedy --src en --tgt de --beam 1 < "$TEST_TMP/src"
n=$(wc -l < "$fix/m30k.en-de.beam4")
[ "$n" -le "$n_beam" ] || n=$n_beam
head -n "$n" "$fix/m30k.en-de.src" > "$TEST_TMP/beam_src"
GLOSSA_DECODE_BUCKETS=1 check m30k.en-de beam4 --src en --tgt de --beam 4 < "$TEST_TMP/beam_src"

# the default model: no -m, no GLOSSA_MODEL
head -n 3 "$fix/m30k.en-de.src" | env -u GLOSSA_MODEL "$GLOSSA" translate --src en --tgt de --beam 1 \
    --max-new-tokens 160 > "$TEST_TMP/default" 2> "$TEST_TMP/err" || true
if diff -q <(head -n 3 "$fix/m30k.en-de.greedy") "$TEST_TMP/default" > /dev/null; then
    PASSES=$((PASSES + 1))
else
    FAILS=$((FAILS + 1))
    echo "FAIL default model: $(head -c 300 "$TEST_TMP/err")"
fi

# --dtype (the CUDA activations): a bad value is a usage error; on the CPU (fp32) bf16 changes
# nothing
rc=0
echo a | "$GLOSSA" translate -m "$model" --src en --tgt de --dtype fp8 > /dev/null 2> "$TEST_TMP/err" || rc=$?
if [ "$rc" -eq 2 ] && grep -q -- "--dtype takes fp16 or bf16" "$TEST_TMP/err"; then
    PASSES=$((PASSES + 1))
else
    FAILS=$((FAILS + 1))
    echo "FAIL --dtype fp8: rc $rc, $(head -c 300 "$TEST_TMP/err")"
fi
head -n 3 "$fix/m30k.en-de.src" > "$TEST_TMP/src"
check m30k.en-de greedy --src en --tgt de --beam 1 --dtype bf16 < "$TEST_TMP/src"

echo "$PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
