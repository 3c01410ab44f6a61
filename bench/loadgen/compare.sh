#!/usr/bin/env bash
# In-flight batching (both capacity policies) vs the static-batching baseline at several arrival
# rates: starts `glossa serve` in each mode, sweeps loadgen.py over the rates, writes one JSON file
# per mode to OUT_DIR and a summary table (p50 / p99 latency, TTFT, throughput) to stdout, then
# the CPU each server used over its sweep beside the whole machine's (other work on a shared
# machine shows as the difference, less the load generator's).
#
#   bench/loadgen/compare.sh -m MODEL_DIR [-o OUT_DIR] [-r 1,2,4,8,16] [-d 60] [-- SERVE_ARGS...]
#
# e.g. on the GPU machine: bench/loadgen/compare.sh -m /tmp/mbart50 -r 2,4,8,16,32 -- --device cuda
# Environment: GLOSSA (default build/glossa), PORT (default 8321), LOADGEN_ARGS (extra loadgen flags),
# WARMUP (seconds of load at the first rate before the measured sweep, not recorded; default 0:
# a fresh server records CUDA graphs and builds GEMM plans for each new batch size it meets),
# MODES (default "inflight-no-evict inflight-max-util static").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
GLOSSA=${GLOSSA:-$here/../../build/glossa}
PORT=${PORT:-8321}
model="" out=loadgen-out rates=1,2,4,8 duration=60
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model=$2; shift 2 ;;
        -o) out=$2; shift 2 ;;
        -r) rates=$2; shift 2 ;;
        -d) duration=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: $0 -m MODEL_DIR [-o OUT] [-r RATES] [-d SECONDS] [-- SERVE_ARGS]" >&2; exit 2 ;;
    esac
done
[ -n "$model" ] || { echo "compare.sh: -m MODEL_DIR is required" >&2; exit 2; }
mkdir -p "$out"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
trap cleanup EXIT

run_mode() { # name, serve flags...
    local name=$1; shift
    "$GLOSSA" serve -m "$model" --port "$PORT" "$@" > "$out/$name.server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { echo "server ($name) died:"; tail "$out/$name.server.log"; exit 1; }
        sleep 0.5
    done
    echo "== $name: rates $rates" >&2
    local b0 s0 t0
    if [ "${WARMUP:-0}" != 0 ]; then
        # shellcheck disable=SC2086
        python3 "$here/loadgen.py" --url "http://127.0.0.1:$PORT" --rate "${rates%%,*}" \
            --duration "$WARMUP" --out "$out/$name.warmup.json" ${LOADGEN_ARGS:-} > /dev/null
    fi
    b0=$(busy) s0=$(proc_cpu "$pid") t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    python3 "$here/loadgen.py" --url "http://127.0.0.1:$PORT" --rate "$rates" --duration "$duration" \
        --out "$out/$name.json" ${LOADGEN_ARGS:-} > /dev/null
    # CPU over the sweep (core-seconds): the server's, and the whole machine's (on a shared
    # machine, what others ran beside it shows as machine - server - loadgen)
    echo "$(proc_cpu "$pid") $s0 $(busy) $b0 $(date +%s.%N) $t0" > "$out/$name.cpu"
    kill -TERM "$pid"; wait "$pid" || true; pid=""
}

hz=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
proc_cpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }

modes=${MODES:-inflight-no-evict inflight-max-util static}
for mode in $modes; do
    case $mode in
        inflight-no-evict) run_mode inflight-no-evict --policy guaranteed-no-evict "$@" ;;
        inflight-max-util) run_mode inflight-max-util --policy max-utilization "$@" ;;
        static) run_mode static --static-batching "$@" ;;
        *) echo "compare.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
done

python3 - "$out" "$hz" <<'PY'
import json, sys, os
out, hz = sys.argv[1], float(sys.argv[2])
ms = lambda d, k: f"{d[k]:.0f}" if k in d else "-"  # noqa: E731 (no TTFT: no text was streamed)
print(f"{'mode':<20}{'rate':>7}{'done/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'ttft p50':>10}{'ttft p99':>10}{'err':>6}")
for name in ("inflight-no-evict", "inflight-max-util", "static"):
    if not os.path.exists(os.path.join(out, name + ".json")):
        continue  # not in MODES
    res = json.load(open(os.path.join(out, name + ".json")))
    for r in res if isinstance(res, list) else [res]:
        l, t = r["latency_ms"] or {}, r["ttft_ms"] or {}
        print(f"{name:<20}{r['offered_rate']:>7g}{r['throughput_rps']:>9.2f}{l.get('p50', 0):>10.0f}"
              f"{l.get('p99', 0):>10.0f}{ms(t, 'p50'):>10}{ms(t, 'p99'):>10}"
              f"{sum(r['errors'].values()):>6}")
for name in ("inflight-no-evict", "inflight-max-util", "static"):
    try:
        s1, s0, b1, b0, t1, t0 = (float(x) for x in open(os.path.join(out, name + ".cpu")).read().split())
    except (OSError, ValueError):
        continue
    print(f"{name:<20}cpu over {t1 - t0:.0f} s: server {(s1 - s0) / hz:.1f} core-s, "
          f"whole machine {(b1 - b0) / hz:.1f} core-s")
PY
