#!/usr/bin/env bash
# Hostile model files and input for the sentencepiece path: a clear error (exit 1 with a message),
# never a crash (a signal, or a sanitizer report, which exits with a different code).
source "$(dirname "$0")/../lib/common.sh"
model=$GLOSSA_FIXTURES/spm/uni_8k_nmtnfkc.model

expect_error() { # name, then the command's args; stdin from /dev/null
    local name=$1; shift
    set +e
    "$GLOSSA" "$@" < /dev/null > "$TEST_TMP/out" 2> "$TEST_TMP/err"
    local rc=$?
    set -e
    if [ "$rc" -eq 1 ] && grep -q '^glossa' "$TEST_TMP/err"; then
        PASSES=$((PASSES + 1))
    else
        FAILS=$((FAILS + 1))
        echo "FAIL $name: exit $rc, stderr: $(head -c 300 "$TEST_TMP/err")"
    fi
}

expect_no_crash() { # name, model file: loading may fail cleanly; if it loads, encoding must work
    local name=$1 m=$2
    set +e
    head -n 50 "$(corpus)" | "$GLOSSA" tokenize --spm "$m" > /dev/null 2> "$TEST_TMP/err"
    local rc=$?
    set -e
    if [ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && grep -q '^glossa' "$TEST_TMP/err"; }; then
        PASSES=$((PASSES + 1))
    else
        FAILS=$((FAILS + 1))
        echo "FAIL $name: exit $rc, stderr: $(head -c 300 "$TEST_TMP/err")"
    fi
}

expect_error "missing file" tokenize --spm "$TEST_TMP/nope.model"
expect_error "directory as model" tokenize --spm "$TEST_TMP"
: > "$TEST_TMP/empty.model"
expect_error "empty model" tokenize --spm "$TEST_TMP/empty.model"
size=$(stat -c %s "$model")
# A cut that lands on a message boundary leaves a valid (smaller) model that the reference loads
# too (100 bytes does: three specials and five pieces); there ids must equal spm_encode's.
for cut in 1 7 99 100 1000 $((size / 2)) $((size - 3)); do
    head -c "$cut" "$model" > "$TEST_TMP/trunc.model"
    if printf 'hello, s.\n' | spm_encode --model "$TEST_TMP/trunc.model" --output_format=id \
           > "$TEST_TMP/trunc.ref" 2> /dev/null; then
        printf 'hello, s.\n' | "$GLOSSA" tokenize --spm "$TEST_TMP/trunc.model" > "$TEST_TMP/got" 2>&1 || true
        if cmp -s "$TEST_TMP/trunc.ref" "$TEST_TMP/got"; then PASSES=$((PASSES + 1)); else
            FAILS=$((FAILS + 1)); echo "FAIL truncated at $cut: reference loads it, ids differ"; fi
    else
        expect_error "truncated at $cut" tokenize --spm "$TEST_TMP/trunc.model"
    fi
done
# absurd lengths: a pieces field claiming 2^63 bytes; a varint that never ends; a wire type 7
printf '\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f' > "$TEST_TMP/len.model"
expect_error "absurd field length" tokenize --spm "$TEST_TMP/len.model"
printf '\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff' > "$TEST_TMP/varint.model"
expect_error "endless varint" tokenize --spm "$TEST_TMP/varint.model"
printf '\x0f\x00' > "$TEST_TMP/wt.model"
expect_error "bad wire type" tokenize --spm "$TEST_TMP/wt.model"
head -c 4096 /dev/urandom > "$TEST_TMP/random.model"
expect_no_crash "random bytes" "$TEST_TMP/random.model"
# byte flips across the file: each must load cleanly or fail cleanly
for seed in $(seq 1 40); do
    python3 - "$model" "$TEST_TMP/flip.model" "$seed" <<'PY'
import random, sys
data = bytearray(open(sys.argv[1], 'rb').read())
rng = random.Random(int(sys.argv[3]))
for _ in range(rng.randint(1, 20)):
    data[rng.randrange(len(data))] = rng.randrange(256)
open(sys.argv[2], 'wb').write(data)
PY
    expect_no_crash "byte flips seed $seed" "$TEST_TMP/flip.model"
done
# decode: ids out of range and junk are an error, not a crash
echo "5 999999999" > "$TEST_TMP/ids"
set +e
"$GLOSSA" tokenize --spm "$model" --decode < "$TEST_TMP/ids" > /dev/null 2> "$TEST_TMP/err"; rc=$?
set -e
if [ "$rc" -eq 1 ]; then PASSES=$((PASSES + 1)); else FAILS=$((FAILS + 1)); echo "FAIL decode out of range: exit $rc"; fi
echo "-1 abc" > "$TEST_TMP/ids"
set +e
"$GLOSSA" tokenize --spm "$model" --decode < "$TEST_TMP/ids" > /dev/null 2> "$TEST_TMP/err"; rc=$?
set -e
if [ "$rc" -eq 1 ]; then PASSES=$((PASSES + 1)); else FAILS=$((FAILS + 1)); echo "FAIL decode junk: exit $rc"; fi
finish
