#!/usr/bin/env bash
# One pass of every GPU check on the GPU machine (binaries built here and carried in .carry/):
# the CUDA op tests against the CPU twin (test_cuda_beam_topk: beam search's device selection), the
# tiny model on CUDA vs CPU (greedy and beam 4), full-size mbart-large-50 greedy on CUDA vs HF
# transformers fp16, and throughput figures beside HF's (greedy; beam 4 x 16 requests).
# Usage (on the GPU machine, from the repo root): tests/gpu/gpu_check.sh OUT
set -uo pipefail
out=${1:-/tmp/gpu-check}
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/.carry/lib:${LD_LIBRARY_PATH:-}
g=.carry/glossa
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
step() { echo "== $*"; }
step "test_cuda_ops"; timeout 150 .carry/test_cuda_ops > "$out/test_cuda_ops.txt" 2>&1; echo "rc=$?"; tail -25 "$out/test_cuda_ops.txt"
step "test_cuda_linear"; timeout 150 .carry/test_cuda_linear > "$out/test_cuda_linear.txt" 2>&1; echo "rc=$?"; tail -25 "$out/test_cuda_linear.txt"
step "test_cuda_attention"; timeout 120 .carry/test_cuda_attention > "$out/test_cuda_attention.txt" 2>&1; echo "rc=$?"; tail -25 "$out/test_cuda_attention.txt"
step "test_cuda_beam_topk"; timeout 300 .carry/test_cuda_beam_topk > "$out/test_cuda_beam_topk.txt" 2>&1; echo "rc=$?"; tail -25 "$out/test_cuda_beam_topk.txt"
step "tiny: CUDA vs CPU greedy ids"
$g synth --arch tiny --out /tmp/tiny > /dev/null
head -n 20 docs/sample.txt > "$out/sample.txt"
$g translate -m /tmp/tiny --src en --tgt de --max-new-tokens 16 --print-ids < "$out/sample.txt" > "$out/tiny_cpu.txt"
timeout 60 $g translate -m /tmp/tiny --device cuda --src en --tgt de --max-new-tokens 16 --print-ids < "$out/sample.txt" > "$out/tiny_gpu.txt"; echo "rc=$?"
echo "identical: $(paste -d'|' "$out/tiny_cpu.txt" "$out/tiny_gpu.txt" | awk -F'|' '$1 == $2' | wc -l) of $(wc -l < "$out/sample.txt")"
step "tiny: CUDA vs CPU beam-4 ids (the device beam_topk path)"
$g translate -m /tmp/tiny --src en --tgt de --max-new-tokens 16 --beam 4 --print-ids < "$out/sample.txt" > "$out/tiny_cpu_b4.txt"
timeout 60 $g translate -m /tmp/tiny --device cuda --src en --tgt de --max-new-tokens 16 --beam 4 --print-ids < "$out/sample.txt" > "$out/tiny_gpu_b4.txt"; echo "rc=$?"
echo "identical: $(paste -d'|' "$out/tiny_cpu_b4.txt" "$out/tiny_gpu_b4.txt" | awk -F'|' '$1 == $2' | wc -l) of $(wc -l < "$out/sample.txt")"
step "mbart-large-50 (init-std 0.1): glossa CUDA fp16 vs HF fp16 greedy"
m=/tmp/mb50s
$g synth --arch mbart-large-50 --init-std 0.1 --seed 7 --out $m > /dev/null
python3 -c "
import json
d = json.load(open('tests/fixtures/hf/lines.json'))
en = [x['text'] for x in d if x['lang'] == 'en' and x['text'].strip()][:20]
open('$out/lines.txt', 'w').write('\n'.join(en) + '\n')"
timeout 120 python3 bench/model/hf_run.py greedy $m --src en_XX --tgt de_DE --lines "$out/lines.txt" \
    --max-new 32 --device cuda --dtype fp16 --out "$out/hf16_ids.txt" > /dev/null 2>&1; echo "hf rc=$?"
timeout 60 $g translate -m $m --device cuda --src en_XX --tgt de_DE --beam 1 --max-new-tokens 32 \
    --batch-size 20 --print-ids < "$out/lines.txt" > "$out/gl16_ids.txt"; echo "glossa rc=$?"
echo "identical: $(paste -d'|' "$out/hf16_ids.txt" "$out/gl16_ids.txt" | awk -F'|' '$1 == $2' | wc -l) of 20"
step "throughput (64 in, 64 out, greedy)"
for b in 1 64; do
    timeout 60 python3 bench/model/hf_run.py bench $m --device cuda --dtype fp16 --batch $b --cache static --runs 3 2>/dev/null | grep '^{'
    timeout 60 $g bench -m $m --device cuda --batch $b --in 64 --out 64 --runs 3 --json
done
step "throughput (64 in, 64 out, beam 4, 16 requests; issue 4: was 152 tok/s)"
timeout 120 python3 bench/model/hf_run.py bench $m --device cuda --dtype fp16 --batch 16 --beam 4 --runs 3 2>/dev/null | grep '^{'
timeout 60 $g bench -m $m --device cuda --batch 16 --in 64 --out 64 --beam 4 --runs 3 --json
