#!/bin/bash
# glossa's translations of the evaluation sets (tools/train_demo/data.py export), greedy and beam 4,
# as eval_hf.py writes HF's: OUT/<mode>/<set>.txt.
#   tools/train_demo/eval_glossa.sh GLOSSA MODEL_DIR SETS_DIR OUT [--device cuda] [--threads N]
set -euo pipefail
GLOSSA=$1 MODEL=$2 SETS=$3 OUT=$4
shift 4
MAX_NEW=${MAX_NEW:-160}
while IFS=$'\t' read -r name src tgt; do
  for beam in 1 4; do
    mode=$([ $beam = 1 ] && echo greedy || echo beam$beam)
    mkdir -p "$OUT/$mode"
    "$GLOSSA" translate -m "$MODEL" --src "$src" --tgt "$tgt" --beam $beam --max-new-tokens "$MAX_NEW" \
      --batch-size 64 "$@" < "$SETS/$name.src" > "$OUT/$mode/$name.txt"
  done
done < "$SETS/sets.tsv"
