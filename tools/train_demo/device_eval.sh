#!/bin/bash
# On the GPU machine: HF transformers (GPU, fp32, TF32 off) and glossa (CPU) translate the
# evaluation sets (.evalsets, from `python3 tools/train_demo/data.py export DATA .evalsets`) with
# the demo model, greedy and beam 4, side by side; also sacreBLEU's scores of the eval fixtures.
#   tools/train_demo/device_eval.sh GLOSSA_BINARY   (results: $OUT/eval_out.tar.xz, logs)
set -uo pipefail
G=$1
OUT=${OUT:-/tmp/out}
M=${MODEL:-models/glossa-demo}
nvidia-smi --query-gpu=name --format=csv,noheader
lscpu | grep "Model name"
(python3 tests/eval/make_fixtures.py scores > "$OUT/fixtures.log" 2>&1 && cp tests/fixtures/eval/sacrebleu.json "$OUT/") || tail -5 "$OUT/fixtures.log"
export PYTHONUNBUFFERED=1
start=$(date +%s)
timeout 480 python3 tools/train_demo/eval_hf.py --model "$M" --sets .evalsets --out /tmp/ev/hf > "$OUT/hf_eval.log" 2>&1 &
hf=$!
timeout 480 bash tools/train_demo/eval_glossa.sh "$G" "$M" .evalsets /tmp/ev/glossa --threads 12 2> "$OUT/glossa_eval.err"
echo "glossa CPU: rc $? after $(( $(date +%s) - start )) s"
wait $hf
echo "HF: rc $? after $(( $(date +%s) - start )) s"
tail -3 "$OUT/hf_eval.log"
tar -C /tmp/ev -cJf "$OUT/eval_out.tar.xz" .
