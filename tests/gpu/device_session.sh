#!/usr/bin/env bash
# The GPU checks and figures of one device call (binaries built here, carried in .carry/bundle.tar.xz:
# glossa, the tests/gpu binaries and the shared libraries the GPU machine lacks):
#   1. the CUDA op tests (ops, linear, attention, beam_topk, the decoder stack) against the CPU twin;
#   2. compute-sanitizer memcheck over the op tests (bounded time);
#   3. the demo model and the tiny model on CUDA vs the CPU (greedy and beam 4); with EVAL_SRC
#      (default .carry/ev/src.txt) present, the demo model over those lines with CUDA graphs
#      checked replay by replay (GLOSSA_GRAPHS_CHECK=1) against unrecorded passes and the CPU;
#   4. test_cuda_parity: full-size mbart-large-50 synth, CUDA fp16 vs HF fp16 (first-step logits,
#      greedy ids of 64 random inputs);
#   5. bench/hf_compare.py: the side-by-side throughput matrix;
#   6. the server: in-flight (both policies) vs static batching, bench/loadgen/compare.sh on the
#      mbart-large-50 synth model with varied output lengths (--eos-bias/--eos-ramp), RATES
#      (default 64,256,512 req/s), DUR seconds each (default 10), after WARMUP seconds (default 5)
#      of unrecorded load at the first rate; SERVE_ARGS: more `glossa serve` flags (e.g.
#      "--scheduler-delay-factor 2"), MODES: compare.sh's;
#   7. A/B of code-path switches in one call: `glossa bench -m mbart-large-50 --device cuda --in 64
#      --out 64 --runs 3` for each configuration of BENCH (';'-separated bench arguments, default
#      "--batch 1;--batch 32;--batch 64;--batch 16 --beam 4"), with the defaults and with each
#      setting of AB (space-separated VAR=value, e.g. "GLOSSA_IDS_ONLY=0 GLOSSA_CUDA_LM_ARGMAX=0"),
#      ROUNDS rounds (default 2) interleaved, ms/step per line;
#   8. the linear ops' timings (GLOSSA_TEST_TIME_LINEAR=1 test_cuda_linear: decoder shapes and the
#      lm_head with and without its argmax, each call in a replayed graph);
#   9. ncu of the greedy lm_head's int8 kernels (l8_*: cuda_lm_int8*.cu) in one step of
#      `glossa bench --batch NCU_BATCH` (default 64), graphs off: duration, speed of light, warp
#      states, occupancy (the full report in OUT/ncu_l8.txt).
#  10. A/B of two builds (make_bundle.sh BUILD_DIR ALT_BUILD_DIR: the second under .carry/alt):
#      the alt build's test_cuda_linear (ALT_TESTS: more of its tests/gpu binaries), then
#      `glossa bench` for each configuration of BENCH with the bundle's glossa and the alt one,
#      ROUNDS rounds interleaved, ms/step per line; and GLOSSA_TEST_TIME_LINEAR=1 of both
#      (unpack with `rm -rf .carry/alt` first on a warm machine: a stale alt/ would stay).
# Usage (GPU machine, repo root): tests/gpu/device_session.sh [OUT]   (steps: STEPS="1 2 3 4 5")
set -uo pipefail
out=${1:-${OUT:-/tmp/out}}
mkdir -p "$out" .carry
[ -x .carry/glossa ] || tar -C .carry -xJf .carry/bundle.tar.xz
export LD_LIBRARY_PATH=$PWD/.carry/lib:${LD_LIBRARY_PATH:-}
g=$PWD/.carry/glossa
steps=${STEPS:-1 2 3 4 5}
t0=$(date +%s)
step() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }
has() { [[ " $steps " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if has 1; then
    for t in test_cuda_ops test_cuda_linear test_cuda_attention test_cuda_beam_topk test_cuda_stack; do
        step "$t"; timeout 200 .carry/$t > "$out/$t.txt" 2>&1; echo "rc=$?"; tail -6 "$out/$t.txt"
    done
fi
if has 2; then
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
    # API errors are not counted: test_cuda_ops asks for absurd allocations on purpose
    for t in test_cuda_ops test_cuda_linear test_cuda_attention test_cuda_beam_topk test_cuda_stack; do
        step "memcheck $t"
        if [ -n "$cs" ]; then
            GLOSSA_TEST_NO_TIMING=1 timeout 150 "$cs" --tool memcheck --leak-check no --report-api-errors no --error-exitcode 3 .carry/$t > "$out/memcheck_$t.txt" 2>&1
            echo "rc=$? (124: timed out, partial)"; grep -E "ERROR SUMMARY|Invalid|checks" "$out/memcheck_$t.txt" | tail -3
        else echo "no compute-sanitizer"; fi
    done
fi
if has 3; then
    step "demo model: CUDA fp16 vs CPU, greedy and beam 4"
    head -n 40 tests/fixtures/demo/m30k.en-de.src > "$out/demo_src.txt"
    for b in 1 4; do
        $g translate --src en --tgt de --beam $b --max-new-tokens 160 --print-ids < "$out/demo_src.txt" > "$out/demo_cpu_b$b.txt"
        timeout 60 $g translate --device cuda --src en --tgt de --beam $b --max-new-tokens 160 --print-ids < "$out/demo_src.txt" > "$out/demo_gpu_b$b.txt"; echo "rc=$?"
        echo "beam $b identical: $(paste -d'|' "$out/demo_cpu_b$b.txt" "$out/demo_gpu_b$b.txt" | awk -F'|' '$1 == $2' | wc -l) of $(wc -l < "$out/demo_src.txt")"
    done
    ev=${EVAL_SRC:-.carry/ev/src.txt}  # e.g. 300 lines of ../shared/data Multi30k en (carried)
    if [ -f "$ev" ]; then
        step "demo model, $(wc -l < "$ev") lines (batches shrink as sentences finish): graphs vs unrecorded vs CPU"
        $g translate --src en --tgt de --max-new-tokens 160 --print-ids < "$ev" > "$out/ev_cpu.txt"
        GLOSSA_GRAPHS=0 $g translate --device cuda --src en --tgt de --max-new-tokens 160 --print-ids < "$ev" > "$out/ev_nographs.txt"
        GLOSSA_GRAPHS_CHECK=1 $g translate --device cuda --src en --tgt de --max-new-tokens 160 --print-ids < "$ev" > "$out/ev_graphs.txt" 2> "$out/ev_graphs.err"
        same() { paste -d'|' "$1" "$2" | awk -F'|' '$1 == $2' | wc -l; }
        echo "graphs = unrecorded: $(same "$out/ev_graphs.txt" "$out/ev_nographs.txt"), graphs = CPU: $(same "$out/ev_graphs.txt" "$out/ev_cpu.txt"), unrecorded = CPU: $(same "$out/ev_nographs.txt" "$out/ev_cpu.txt") of $(wc -l < "$ev"); replays differing from unrecorded passes: $(grep -c 'rows differ' "$out/ev_graphs.err")"
    fi
    $g synth --arch tiny --out /tmp/tiny > /dev/null
    head -n 20 docs/sample.txt > "$out/sample.txt"
    for b in 1 4; do
        $g translate -m /tmp/tiny --src en --tgt de --beam $b --max-new-tokens 16 --print-ids < "$out/sample.txt" > "$out/tiny_cpu_b$b.txt"
        timeout 60 $g translate -m /tmp/tiny --device cuda --src en --tgt de --beam $b --max-new-tokens 16 --print-ids < "$out/sample.txt" > "$out/tiny_gpu_b$b.txt"; echo "rc=$?"
        echo "tiny beam $b identical: $(paste -d'|' "$out/tiny_cpu_b$b.txt" "$out/tiny_gpu_b$b.txt" | awk -F'|' '$1 == $2' | wc -l) of 20"
    done
fi
m=/tmp/mbart-large-50
if has 4 || has 5; then
    step "synth mbart-large-50"; [ -f $m/model.safetensors ] || $g synth --arch mbart-large-50 --out $m > /dev/null
fi
if has 4; then
    step "parity: HF fp16 reference (64 random inputs)"
    timeout 200 python3 bench/model/hf_run.py parity $m --out /tmp/parity --n 64 --max-new 32 > "$out/parity_hf.txt" 2>&1; echo "rc=$?"; tail -2 "$out/parity_hf.txt"
    step "test_cuda_parity (fp16)"
    GLOSSA_PARITY_MODEL=$m GLOSSA_PARITY_REF=/tmp/parity timeout 120 .carry/test_cuda_parity > "$out/parity.txt" 2>&1; echo "rc=$?"; tail -5 "$out/parity.txt"
fi
if has 5; then
    step "bench/hf_compare.py"
    timeout 330 python3 bench/hf_compare.py --glossa $g --model $m --out "$out" 2> "$out/hf_compare.err" | tee "$out/hf_compare.txt" | grep -v '^{'
    echo "rc=$?"
fi
if has 6; then
    me=/tmp/mbart-large-50-eos
    step "server sweep (varied lengths)"
    [ -f $me/model.safetensors ] || $g synth --arch mbart-large-50 --eos-bias 6.8 --eos-ramp 0.06 --out $me > /dev/null
    # shellcheck disable=SC2086
    GLOSSA=$g WARMUP=${WARMUP:-5} timeout 560 bench/loadgen/compare.sh -m $me -o "$out/sweep" -r "${RATES:-64,256,512}" -d "${DUR:-10}" -- --device cuda --max-new-tokens 128 ${SERVE_ARGS:-} > "$out/sweep.txt" 2>&1
    echo "rc=$?"; cat "$out/sweep.txt" | tail -30
fi
if has 7; then
    [ -f $m/model.safetensors ] || $g synth --arch mbart-large-50 --out $m > /dev/null
    step "A/B: defaults vs ${AB:-(nothing)}"
    IFS=';' read -r -a benches <<< "${BENCH:---batch 1;--batch 32;--batch 64;--batch 16 --beam 4}"
    for r in $(seq "${ROUNDS:-2}"); do
        for cfg in DEFAULTS=1 ${AB:-}; do
            for a in "${benches[@]}"; do
                # shellcheck disable=SC2086
                res=$(env "$cfg" timeout 120 $g bench -m $m --device cuda $a --in 64 --out 64 --runs 3 2>&1 | grep -o '[0-9.]* generated tok/s, [0-9.]* ms/step')
                echo "round $r | $cfg | $a | $res"
            done
        done
    done
fi
if has 8; then
    step "linear op timings"
    GLOSSA_TEST_TIME_LINEAR=1 timeout 200 .carry/test_cuda_linear 2>&1 | grep -E "^time|FAIL"
fi
if has 9; then
    [ -f $m/model.safetensors ] || $g synth --arch mbart-large-50 --out $m > /dev/null
    step "ncu: the int8 lm_head kernels at ${NCU_BATCH:-64} rows"
    ncu_bin=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
    timeout 200 "$ncu_bin" --kernel-name regex:l8_ --launch-skip 4 --launch-count 3 \
        --section SpeedOfLight --section WarpStateStats --section Occupancy --section SchedulerStats \
        env GLOSSA_GRAPHS=0 $g bench -m $m --device cuda --batch "${NCU_BATCH:-64}" --in 64 --out 4 --runs 1 \
        > "$out/ncu_l8.txt" 2>&1
    echo "rc=$?"
    grep -E "^  l8_|Duration|Memory Throughput|Compute \(SM\) Throughput|Issue Slots Busy|Eligible Warps|Warp Cycles Per Issued|Achieved Occupancy|Stall" "$out/ncu_l8.txt" | head -60
fi
if has 10; then
    [ -x .carry/alt/glossa ] || { echo "no .carry/alt (make_bundle.sh BUILD_DIR ALT_BUILD_DIR)"; }
    for t in ${ALT_TESTS:-test_cuda_linear}; do
        step "alt build: $t"; timeout 200 .carry/alt/$t > "$out/alt_$t.txt" 2>&1; echo "rc=$?"; tail -2 "$out/alt_$t.txt"
        grep -m6 FAIL "$out/alt_$t.txt"
    done
    [ -f $m/model.safetensors ] || $g synth --arch mbart-large-50 --out $m > /dev/null
    step "A/B: this build vs alt"
    IFS=';' read -r -a benches <<< "${BENCH:---batch 1;--batch 32;--batch 64;--batch 16 --beam 4}"
    for r in $(seq "${ROUNDS:-2}"); do
        for bin in $g .carry/alt/glossa; do
            for a in "${benches[@]}"; do
                # shellcheck disable=SC2086
                res=$(timeout 120 $bin bench -m $m --device cuda $a --in 64 --out 64 --runs 3 2>&1 | grep -o '[0-9.]* generated tok/s, [0-9.]* ms/step')
                echo "round $r | $bin | $a | $res"
            done
        done
    done
    for bin in .carry/test_cuda_linear .carry/alt/test_cuda_linear; do
        step "linear op timings, $bin"; GLOSSA_TEST_TIME_LINEAR=1 timeout 200 $bin 2>&1 | grep -E "^time lm_head|FAIL"
    done
fi
step "done"
