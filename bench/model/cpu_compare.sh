#!/usr/bin/env bash
# CPU side-by-side on the GPU machine's CPU: glossa vs HF transformers fp32, same threads, on a
# full-size random mbart-large-50 (glossa synth). Writes results under OUT:
#   greedy parity on 20 English inputs (en_XX -> de_DE, 32 new tokens): hf_ids.txt, glossa_ids.txt
#   throughput, batch B (default 16), 64 input tokens, exactly 64 generated: hf_bench.json,
#   glossa_bench.json
# Usage: bench/model/cpu_compare.sh GLOSSA_BIN OUT [THREADS] [BATCH]
set -euo pipefail
cd "$(dirname "$0")/../.."
g=$1 out=$2 threads=${3:-$(nproc)} batch=${4:-16}
mkdir -p "$out"
m=${MODEL_DIR:-/tmp/mbart-large-50}
[ -f "$m/model.safetensors" ] || "$g" synth --arch mbart-large-50 --out "$m"
python3 -c "
import json
d = json.load(open('tests/fixtures/hf/lines.json'))
en = [x['text'] for x in d if x['lang'] == 'en' and x['text'].strip()][:20]
open('$out/lines.txt', 'w').write('\n'.join(en) + '\n')"
echo "== greedy parity, $threads threads"
python3 bench/model/hf_run.py greedy "$m" --src en_XX --tgt de_DE --lines "$out/lines.txt" \
    --max-new 32 --threads "$threads" --out "$out/hf_ids.txt"
"$g" translate -m "$m" --src en_XX --tgt de_DE --beam 1 --max-new-tokens 32 --threads "$threads" \
    --batch-size 20 --print-ids < "$out/lines.txt" > "$out/glossa_ids.txt"
same=$(paste -d'|' "$out/hf_ids.txt" "$out/glossa_ids.txt" | awk -F'|' '$1 == $2' | wc -l)
echo "identical greedy outputs: $same of $(wc -l < "$out/lines.txt")"
echo "== throughput, batch $batch, in 64, out 64, $threads threads"
python3 bench/model/hf_run.py bench "$m" --batch "$batch" --in 64 --out 64 --threads "$threads" \
    --runs 3 | tee "$out/hf_bench.json"
"$g" bench -m "$m" --batch "$batch" --in 64 --out 64 --threads "$threads" --runs 3 --json \
    | tee "$out/glossa_bench.json"
