#!/bin/bash
# On the GPU machine (run from the repository root, the data carried in .data/): a smoke run of
# the whole pipeline (tiny corpus and model, a few steps, HF reload and generate), then the real
# training. Results under $OUT: train.log, the model's safetensors in 15 MB parts (the device
# tool returns files of at most 16 MiB; join with cat) and the rest of the directory as a tarball.
set -euo pipefail
DATA=${DATA:-$PWD/.data}
OUT=${OUT:-/tmp/out}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
python3 -c "import torch, transformers, sentencepiece, sacrebleu; print('torch', torch.__version__, 'transformers', transformers.__version__, 'sacrebleu', sacrebleu.__version__)"
[ -n "${NO_SMOKE:-}" ] || python3 tools/train_demo/train.py --data "$DATA" --out /tmp/smoke --smoke --steps 30 2>&1 | tail -20
[ -n "${NO_SMOKE:-}" ] || python3 tools/train_demo/eval_hf.py --model /tmp/smoke --data "$DATA" --out /tmp/smoke_eval --limit 3 --max-new 6 --beams 1,4 2>&1 | tail -5
[ -n "${NO_SMOKE:-}" ] || ls -la /tmp/smoke
python3 tools/train_demo/train.py --data "$DATA" --out /tmp/demo "$@" 2>&1 | tee "$OUT/train.log" | grep -v "^\[.*step [0-9]*[1-9]00 " || true
ls -la /tmp/demo
split -b 15M /tmp/demo/model.safetensors "$OUT/model.safetensors.part-"
tar -C /tmp --exclude=model.safetensors -cJf "$OUT/demo_rest.tar.xz" demo
echo done
