#!/usr/bin/env bash
# Black-box tests of `glossa serve` on loopback: every endpoint and error case, streaming, client
# disconnects, queue full, timeouts, SIGTERM draining, and a bounded load test whose outputs must
# equal offline `glossa translate` (tests/server/client.py; Python standard library only).
# GLOSSA_SERVER_LOAD_REQUESTS overrides the load test's 2000 requests.
source "$(dirname "$0")/../lib/common.sh"
need python3
here=$(cd "$(dirname "$0")" && pwd)
"$GLOSSA" synth --arch tiny --out "$TEST_TMP/tiny" > /dev/null
# wide enough that a 250-token generation takes seconds: time to disconnect, fill the queue, drain
"$GLOSSA" synth --arch tiny --d-model 512 --layers 4 --out "$TEST_TMP/slow" > /dev/null
timeout 900 python3 "$here/client.py" --glossa "$GLOSSA" --tiny "$TEST_TMP/tiny" \
    --slow "$TEST_TMP/slow" --work "$TEST_TMP" --lines "$GLOSSA_FIXTURES/hf/lines.json"
