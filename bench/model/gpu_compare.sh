#!/usr/bin/env bash
# GPU side-by-side on the GPU machine: glossa (CUDA backend, fp16) vs HF transformers fp16 (sdpa;
# its static cache and its default dynamic cache) on a full-size random mbart-large-50 (glossa
# synth), the shapes of the CUDA-backend issue: 64 input tokens, exactly 64 generated, greedy at
# batch 1 and 64 (and 128), beam 4 with 16 requests. One JSON line per measurement under OUT.
# Usage: bench/model/gpu_compare.sh GLOSSA_BIN OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
g=$1 out=$2
mkdir -p "$out"
m=${MODEL_DIR:-/tmp/mbart-large-50}
[ -f "$m/model.safetensors" ] || "$g" synth --arch mbart-large-50 --out "$m"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
hf() { python3 bench/model/hf_run.py bench "$m" --device cuda --dtype fp16 --runs 3 "$@" 2>/dev/null \
    | grep '^{' | tee -a "$out/hf.jsonl" || echo "{\"peer\": \"hf-transformers\", \"failed\": \"$*\"}" | tee -a "$out/hf.jsonl"; }
gl() { "$g" bench -m "$m" --device cuda --runs 3 --json "$@" | tee -a "$out/glossa.jsonl"; }
for b in 1 64; do
    hf --batch "$b" --cache static
    hf --batch "$b"
    gl --batch "$b" --in 64 --out 64
done
hf --batch 128
gl --batch 128 --in 64 --out 64
hf --batch 16 --beam 4
hf --batch 16 --beam 4 --cache static
gl --batch 16 --in 64 --out 64 --beam 4
