#!/usr/bin/env bash
# Overload: more concurrent requests than --max-queue + --max-batch-size admit get 429 with
# Retry-After and the error JSON at once, never a reset or a 5xx; served requests stay right
# (tests/server/overload.py; Python standard library only).
source "$(dirname "$0")/../lib/common.sh"
need python3
here=$(cd "$(dirname "$0")" && pwd)
# wide enough that a request of 24 tokens takes tens of milliseconds on one thread
"$GLOSSA" synth --arch tiny --d-model 512 --layers 4 --out "$TEST_TMP/slow" > /dev/null
timeout 300 python3 "$here/overload.py" --glossa "$GLOSSA" --model "$TEST_TMP/slow" --work "$TEST_TMP"
