#!/usr/bin/env bash
# One device call's quick look at the decode step (GPU machine, repo root, bundle from
# tests/gpu/make_bundle.sh): the GPU checks of tests/gpu/device_session.sh (STEPS, default "1 3"),
# then glossa bench on the mbart-large-50 synth model over a matrix of shapes and settings
# (CONFIGS: lines of "label|environment"), then ncu per-kernel times of one step (NCU=1).
set -uo pipefail
out=${OUT:-/tmp/out}
mkdir -p "$out"
STEPS=${STEPS:-1 3} bash tests/gpu/device_session.sh "$out" 2>&1 | grep -v "^$"
export LD_LIBRARY_PATH=$PWD/.carry/lib
g=.carry/glossa; m=/tmp/mbart-large-50
[ -f $m/model.safetensors ] || $g synth --arch mbart-large-50 --out $m > /dev/null
shapes=${SHAPES:-"--batch 1|--batch 8|--batch 64|--batch 128|--batch 16 --beam 4"}
configs=${CONFIGS:-"default|"}
while IFS='|' read -r label envs; do
  IFS='|' read -ra sh <<< "$shapes"
  for a in "${sh[@]}"; do
    r=$(env $envs $g bench -m $m --device cuda $a --in 64 --out 64 --runs 3 --json 2>&1 | tail -1)
    echo "$label [$a] $(echo "$r" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f tok/s %.3f ms/step ttft %.2f ms" % (d["tok_per_s"], d["ms_per_step"], d["ttft_ms"]))' 2>/dev/null || echo "$r")"
  done
done <<< "$(echo "$configs" | tr ';' '\n')"
if [ "${NCU:-0}" = 1 ]; then
  for b in 1 64; do
    timeout 150 ncu --csv --clock-control none --cache-control none --metrics gpu__time_duration.sum \
       env GLOSSA_GRAPHS=0 $g bench -m $m --device cuda --batch $b --in 64 --out 3 --runs 1 > $out/ncu_b$b.csv 2> $out/ncu_b$b.err
    xz -9 $out/ncu_b$b.csv
  done
fi
cd $out && tar -cJf res.tar.xz *.txt 2>/dev/null && rm -f *.txt
