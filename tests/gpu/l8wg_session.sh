# attempt/l8-wgmma on the GPU: this branch's build (alt/) vs main's, from a bundle made on main by
# TESTS=test_cuda_linear ALT_TESTS=test_cuda_linear tests/gpu/make_bundle.sh build-cuda BRANCH_BUILD.
# Usage (GPU machine, repo root): bash tests/gpu/l8wg_session.sh OUT
rm -rf .carry/glossa .carry/lib .carry/test_cuda_* .carry/alt; tar -C .carry -xJf .carry/bundle.tar.xz; export LD_LIBRARY_PATH=$PWD/.carry/lib
OUT=${1:-/tmp/out}; mkdir -p $OUT
nvidia-smi --query-gpu=name --format=csv,noheader
for mode in 8 7; do
  echo "== check mode $mode vs l8_wide (alt build)"
  GLOSSA_L8WG_MODE=$mode GLOSSA_L8WG_CHECK=1 timeout 100 .carry/alt/test_cuda_linear > $OUT/chk$mode.txt 2>&1; echo "rc=$?"
  grep "l8wg check: m=" $OUT/chk$mode.txt | sed 's/ n=.*mismatches/ mismatches/' | sort | uniq -c | head -20; grep "l8wg check: tok" $OUT/chk$mode.txt | head -4; tail -1 $OUT/chk$mode.txt; grep -m5 FAIL $OUT/chk$mode.txt
done
echo "== alt, l8_wide with x quantised once (GLOSSA_L8_XQ=1): the tests"
GLOSSA_CUDA_LM_INT8_WG=0 GLOSSA_L8_XQ=1 timeout 100 .carry/alt/test_cuda_linear > $OUT/xq.txt 2>&1; echo "rc=$?"; tail -1 $OUT/xq.txt; grep -m5 FAIL $OUT/xq.txt
hung=""
for e in GLOSSA_L8WG_MODE=8 GLOSSA_L8WG_MODE=7 GLOSSA_CUDA_LM_INT8_WG=0 "GLOSSA_CUDA_LM_INT8_WG=0 GLOSSA_L8_XQ=1" GLOSSA_L8WG_MODE=8 GLOSSA_L8WG_MODE=7; do
  case " $hung " in *" $e "*) echo "== skip $e (hung before)"; continue;; esac
  echo "== timings alt $e"; env $e GLOSSA_TEST_TIME_LINEAR=1 timeout 25 .carry/alt/test_cuda_linear > $OUT/t.txt 2>&1; rc=$?
  grep -E "^time lm_head|FAIL|rror" $OUT/t.txt | grep -v 'm=8'; [ $rc = 124 ] && { echo "TIMED OUT (hang?)"; hung="$hung $e"; }
done
echo "== timings main"; GLOSSA_TEST_TIME_LINEAR=1 timeout 40 .carry/test_cuda_linear 2>&1 | grep -E "^time lm_head" | grep -v 'm=8'
m=/tmp/mbart-large-50; .carry/glossa synth --arch mbart-large-50 --out $m > /dev/null
alt_env=DEFAULTS=1 # the branch's default (mode 8), or its l8_wide + XQ if mode 8 hung
case "$hung" in *MODE=8*) alt_env="GLOSSA_CUDA_LM_INT8_WG=0 GLOSSA_L8_XQ=1";; esac
for r in 1 2; do for bin in .carry/glossa .carry/alt/glossa; do for a in "--batch 64" "--batch 32" "--batch 16" "--batch 1 --dtype bf16"; do
  e=DEFAULTS=1; [ $bin = .carry/alt/glossa ] && e=$alt_env
  res=$(env $e timeout 30 $bin bench -m $m --device cuda $a --in 64 --out 64 --runs 3 2>&1 | grep -o '[0-9.]* generated tok/s, [0-9.]* ms/step'); echo "round $r | $bin $e | $a | $res"
done; done; done
