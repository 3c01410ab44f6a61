#!/usr/bin/env bash
# One in-flight server under a rate one loadgen.py process cannot send by itself: N processes at
# RATE / N each (different seeds; the sum of independent Poisson streams is Poisson at RATE), after
# WARMUP seconds (default 5) of one process at RATE / N. Prints each generator's sent rate,
# completions, p50 / p99 and errors (the overall p99 lies between the generators').
#
#   bench/loadgen/split_load.sh -m MODEL_DIR -r RATE [-n 2] [-d 10] [-o OUT_DIR] [-- SERVE_ARGS...]
#
# e.g. on the GPU machine: bench/loadgen/split_load.sh -m /tmp/m -r 1792 -- --device cuda
#        --max-new-tokens 128 --policy guaranteed-no-evict --scheduler-delay-factor 2
# Environment: GLOSSA (default build/glossa), PORT (default 8321).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
GLOSSA=${GLOSSA:-$here/../../build/glossa}
PORT=${PORT:-8321}
model="" rate="" n=2 duration=10 out=loadgen-split
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model=$2; shift 2 ;;
        -r) rate=$2; shift 2 ;;
        -n) n=$2; shift 2 ;;
        -d) duration=$2; shift 2 ;;
        -o) out=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: $0 -m MODEL_DIR -r RATE [-n N] [-d SECONDS] [-o OUT] [-- SERVE_ARGS]" >&2; exit 2 ;;
    esac
done
[ -n "$model" ] && [ -n "$rate" ] || { echo "split_load.sh: -m and -r are required" >&2; exit 2; }
mkdir -p "$out"
each=$(python3 -c "print($rate / $n)")
"$GLOSSA" serve -m "$model" --port "$PORT" "$@" > "$out/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT
for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "server died:"; tail "$out/server.log"; exit 1; }
    sleep 0.5
done
url=http://127.0.0.1:$PORT
python3 "$here/loadgen.py" --url "$url" --rate "$each" --duration "${WARMUP:-5}" \
    --out "$out/warmup.json" > /dev/null
gens=()
for i in $(seq 1 "$n"); do
    python3 "$here/loadgen.py" --url "$url" --rate "$each" --duration "$duration" --seed "$i" \
        --out "$out/gen$i.json" > /dev/null &
    gens+=($!)
done
for g in "${gens[@]}"; do wait "$g"; done
python3 - "$out" "$n" "$rate" <<'PY'
import json, os, sys
out, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sent = done = 0
for i in range(1, n + 1):
    r = json.load(open(os.path.join(out, f"gen{i}.json")))
    r = r[0] if isinstance(r, list) else r
    l = r["latency_ms"] or {}
    sent += r["sent_rate"]
    done += r["throughput_rps"]
    print(f"generator {i}: sent {r['sent_rate']:.1f}/s, done {r['throughput_rps']:.1f}/s, "
          f"p50 {l.get('p50', 0):.0f} ms, p99 {l.get('p99', 0):.0f} ms, errors {sum(r['errors'].values())}")
print(f"offered {rate:g} req/s: sent {sent:.1f}/s, done {done:.1f}/s in all")
PY
