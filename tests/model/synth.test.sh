#!/usr/bin/env bash
# glossa synth: scaled-down directories of every architecture; determinism (same seed -> identical
# files, other seed -> other weights); the tokenizer of each loads and encodes with language
# tokens; vocabulary sizes agree with config.json; bad arguments are a clean error.
source "$(dirname "$0")/../lib/common.sh"

pass() { PASSES=$((PASSES + 1)); }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $*"; }

synth() { # dir, then options
    local dir=$1; shift
    if ! "$GLOSSA" synth --out "$dir" "$@" 2> "$TEST_TMP/synth.err"; then
        fail "synth $*: $(head -c 300 "$TEST_TMP/synth.err")"
        return 1
    fi
}

json_get() { # file, key
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# header of model.safetensors: names sorted, offsets contiguous, padding to 8, file size right
check_safetensors() { # name, dir
    if python3 - "$2/model.safetensors" "$2/config.json" <<'PY'
import json, os, struct, sys
path, cfg = sys.argv[1], json.load(open(sys.argv[2]))
data = open(path, 'rb').read(8)
n = struct.unpack('<Q', data)[0]
assert n % 8 == 0, 'header not padded to 8'
with open(path, 'rb') as f:
    f.seek(8)
    h = json.loads(f.read(n))
assert h.pop('__metadata__') == {'format': 'pt'}
names = list(h)
assert names == sorted(names), 'not sorted'
off = 0
size = {'F32': 4, 'F16': 2}[cfg['dtype'] == 'float16' and 'F16' or 'F32']
for k in names:
    b, e = h[k]['data_offsets']
    numel = 1
    for s in h[k]['shape']:
        numel *= s
    assert b == off and e - b == numel * size, k
    off = e
assert os.path.getsize(path) == 8 + n + off, 'file size'
v, d = cfg['vocab_size'], cfg['d_model']
assert h['model.shared.weight']['shape'] == [v, d]
assert 'lm_head.weight' not in h and 'model.encoder.embed_tokens.weight' not in h
L = cfg['encoder_layers']
assert sum(1 for k in h if k.startswith('model.decoder.layers.') and k.endswith('fc1.weight')) == L
PY
    then pass; else fail "$1: safetensors layout"; fi
}

encode_check() { # name, dir, src lang, expected first token (a piece) or "" for Marian
    local name=$1 dir=$2 lang=$3 first=$4
    if ! echo "Hello world, this is a test." | "$GLOSSA" tokenize -m "$dir" --src "$lang" > "$TEST_TMP/ids" 2> "$TEST_TMP/err"; then
        fail "$name: tokenize: $(head -c 300 "$TEST_TMP/err")"
        return
    fi
    echo "Hello world, this is a test." | "$GLOSSA" tokenize -m "$dir" --src "$lang" --pieces > "$TEST_TMP/pieces" 2>&1 || true
    local n
    n=$(wc -w < "$TEST_TMP/ids")
    if [ "$n" -lt 4 ]; then fail "$name: only $n ids"; return; fi
    local vocab max
    vocab=$(json_get "$dir/config.json" vocab_size)
    max=$(tr ' ' '\n' < "$TEST_TMP/ids" | sort -n | tail -1)
    if [ "$max" -ge "$vocab" ]; then fail "$name: id $max >= vocab_size $vocab"; return; fi
    if [ -n "$first" ]; then
        local id0
        id0=$(cut -d' ' -f1 < "$TEST_TMP/ids")
        # the first id is the language token: its decode keeps the code
        if ! echo "$id0" | "$GLOSSA" tokenize -m "$dir" --decode | grep -q "$first"; then
            fail "$name: first id $id0 is not $first"
            return
        fi
    fi
    # the last id is </s>
    local last eos
    last=$(awk '{print $NF}' < "$TEST_TMP/ids")
    eos=$(json_get "$dir/config.json" eos_token_id)
    if [ "$last" != "$eos" ]; then fail "$name: last id $last is not eos $eos"; return; fi
    pass
}

out=$TEST_TMP/m

# ---- tiny: the default size, deterministic, a few hundred KB ----
synth "$out/tiny" --arch tiny --seed 1
synth "$out/tiny_again" --arch tiny --seed 1
synth "$out/tiny_seed2" --arch tiny --seed 2
for f in config.json generation_config.json tokenizer_config.json sentencepiece.bpe.model model.safetensors README.txt; do
    if cmp -s "$out/tiny/$f" "$out/tiny_again/$f"; then pass; else fail "tiny: $f differs with the same seed"; fi
done
if cmp -s "$out/tiny/model.safetensors" "$out/tiny_seed2/model.safetensors"; then fail "tiny: seed 2 gives the same weights"; else pass; fi
size=$(du -sb "$out/tiny" | cut -f1)
if [ "$size" -gt 100000 ] && [ "$size" -lt 1000000 ]; then pass; else fail "tiny: $size bytes, not a few hundred KB"; fi
check_safetensors tiny "$out/tiny"
encode_check tiny "$out/tiny" en en_XX
encode_check "tiny zh" "$out/tiny" zh zh_CN
# the tokenizer's size matches the model's vocabulary
tok_n=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["added_tokens_decoder"]; print(max(map(int,d))+1)' "$out/tiny/tokenizer_config.json")
if [ "$tok_n" = "$(json_get "$out/tiny/config.json" vocab_size)" ]; then pass; else fail "tiny: tokenizer size $tok_n"; fi

# ---- fp16 ----
synth "$out/tiny16" --arch tiny --fp16
check_safetensors "tiny fp16" "$out/tiny16"
if grep -q '"dtype": "float16"' "$out/tiny16/config.json"; then pass; else fail "fp16: dtype not float16"; fi

# ---- every architecture, scaled down ----
synth "$out/mbart" --arch mbart-large-50 --layers 1 --d-model 64 --vocab 1054
check_safetensors mbart "$out/mbart"
encode_check mbart "$out/mbart" en en_XX
encode_check "mbart ja" "$out/mbart" ja ja_XX

synth "$out/nllb" --arch nllb-200-distilled-600m --layers 1 --d-model 64 --vocab 1206
check_safetensors nllb "$out/nllb"
encode_check nllb "$out/nllb" en eng_Latn
encode_check "nllb zh" "$out/nllb" zh zho_Hans

synth "$out/m2m" --arch m2m100-418m --layers 1 --d-model 64 --vocab 1109
check_safetensors m2m100 "$out/m2m"
encode_check m2m100 "$out/m2m" en __en__
encode_check "m2m100 de" "$out/m2m" de __de__
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$out/m2m/vocab.json")
if [ "$((n + 108))" = "$(json_get "$out/m2m/config.json" vocab_size)" ]; then pass; else fail "m2m100: vocab.json $n + 108 != vocab_size"; fi

synth "$out/marian" --arch opus-mt-en-de --layers 1 --d-model 64 --vocab 1000
check_safetensors marian "$out/marian"
encode_check marian "$out/marian" en ""
python3 - "$out/marian" <<'PY' && pass || fail "marian: vocab.json / special ids"
import json, sys
d = sys.argv[1]
v, c = json.load(open(d + '/vocab.json')), json.load(open(d + '/config.json'))
assert len(v) == c['vocab_size'] == c['decoder_vocab_size']
assert v['</s>'] == 0 == c['eos_token_id'] and v['<unk>'] == 1
assert v['<pad>'] == c['vocab_size'] - 1 == c['pad_token_id'] == c['decoder_start_token_id']
g = json.load(open(d + '/generation_config.json'))
assert g['bad_words_ids'] == [[c['pad_token_id']]]
PY
if cmp -s "$out/marian/source.spm" "$out/marian/target.spm"; then pass; else fail "marian: source.spm != target.spm"; fi

synth "$out/bart" --arch bart-base --layers 1 --d-model 64 --vocab 500
check_safetensors bart "$out/bart"
if grep -q "NOT WRITTEN" "$out/bart/README.txt" && [ ! -e "$out/bart/tokenizer_config.json" ]; then pass; else fail "bart: README / tokenizer files"; fi

# a vocabulary larger than the embedded 8k model: filler pieces, still loads
synth "$out/mbart_big" --arch mbart-large-50 --layers 1 --d-model 64 --vocab 12054
encode_check "mbart fillers" "$out/mbart_big" fr fr_XX
n=$(spm_export_vocab --model "$out/mbart_big/sentencepiece.bpe.model" 2> /dev/null | wc -l || echo 0)
if [ "$n" = 12000 ] || ! command -v spm_export_vocab > /dev/null; then pass; else fail "fillers: $n pieces"; fi

# heads derived from --d-model
if [ "$(json_get "$out/mbart/config.json" encoder_attention_heads)" = 1 ] \
   && [ "$(json_get "$out/mbart/config.json" encoder_ffn_dim)" = 256 ]; then pass; else fail "d-model 64: heads / ffn"; fi

# ---- --eos-bias / --eos-ramp: varied output lengths (calibrated in bench/loadgen/README.md) ----
synth "$out/tiny0" --arch tiny
synth "$out/tiny_eos" --arch tiny --eos-bias 2.6 --eos-ramp 0.3
python3 - "$out/tiny0/model.safetensors" "$out/tiny_eos/model.safetensors" <<'PY' && pass || fail "eos-bias: final_logits_bias[2] / positions"
import json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
(h0, d0), (h1, d1) = load(sys.argv[1]), load(sys.argv[2])
def row(h, d, name, i, n=1):
    b = h[name]['data_offsets'][0] + 4 * i
    return struct.unpack('<%df' % n, d[b:b + 4 * n])
e0, e1 = row(h0, d0, 'final_logits_bias', 2)[0], row(h1, d1, 'final_logits_bias', 2)[0]
assert abs(e1 - e0 - 2.6) < 1e-5, (e0, e1)
assert row(h0, d0, 'final_logits_bias', 3) == row(h1, d1, 'final_logits_bias', 3)
changed = [k for k in h0 if k != '__metadata__' and d0[slice(*h0[k]['data_offsets'])] != d1[slice(*h1[k]['data_offsets'])]]
assert sorted(changed) == ['final_logits_bias', 'model.decoder.embed_positions.weight'], changed
PY
if grep -q "eos-bias" "$out/tiny_eos/README.txt"; then pass; else fail "eos-bias: README"; fi
# greedy outputs end before max_new_tokens for some inputs, at more than one length
cat > "$TEST_TMP/eos_in" <<'TXT'
A man is giving a presentation in front of a crowd.
Two young people are sitting on a bench.
Save file
The weather is nice today, so we will walk to the old harbour and eat fish.
Are you sure you want to delete this message?
Three girls are horseback riding on the beach at sunset.
Open the settings
A dog runs through the snow.
Please enter your password again.
The children are playing football in the park while their parents watch.
Log in
A woman in a red dress is singing on a small stage.
TXT
for tgt in de fr zh; do
    "$GLOSSA" translate -m "$out/tiny_eos" --src en --tgt "$tgt" --beam 1 --max-new-tokens 64 --print-ids \
        < "$TEST_TMP/eos_in" 2> "$TEST_TMP/err" | awk '{print NF}' >> "$TEST_TMP/eos_lens" || fail "eos-bias: translate $(head -c 300 "$TEST_TMP/err")"
done
short=$(awk '$1 < 64' "$TEST_TMP/eos_lens" | wc -l)
distinct=$(sort -u "$TEST_TMP/eos_lens" | wc -l)
if [ "$short" -ge 3 ] && [ "$distinct" -ge 3 ]; then pass; else
    fail "eos-bias: lengths $(tr '\n' ' ' < "$TEST_TMP/eos_lens") ($short under 64, $distinct distinct)"; fi
# without the option every output runs to max_new_tokens (what the option is for)
"$GLOSSA" translate -m "$out/tiny0" --src en --tgt de --beam 1 --max-new-tokens 64 --print-ids < "$TEST_TMP/eos_in" \
    2> /dev/null | awk '{print NF}' > "$TEST_TMP/lens0"
echo "eos-bias: lengths $(tr '\n' ' ' < "$TEST_TMP/eos_lens"); without: $(sort -u "$TEST_TMP/lens0" | tr '\n' ' ')"

# ---- errors: exit 1 with a message naming the problem ----
expect_error() { # name, grep pattern, then args
    local name=$1 pat=$2; shift 2
    set +e
    "$GLOSSA" synth "$@" > /dev/null 2> "$TEST_TMP/err"
    local rc=$?
    set -e
    if [ "$rc" -eq 1 ] && grep -q "$pat" "$TEST_TMP/err"; then pass; else
        fail "$name: exit $rc, stderr: $(head -c 300 "$TEST_TMP/err")"; fi
}
expect_error "unknown arch" "unknown architecture 'gpt-9'" --arch gpt-9 --out "$out/x"
expect_error "eos-bias on m2m100" "final_logits_bias" --arch m2m100-418m --eos-bias 3 --layers 1 --d-model 64 --vocab 1109 --out "$out/x"
expect_error "eos-ramp on marian" "learned decoder positions" --arch opus-mt-en-de --eos-ramp 0.3 --layers 1 --d-model 64 --vocab 1000 --out "$out/x"
expect_error "vocab too small" "vocab" --arch mbart-large-50 --vocab 10 --layers 1 --d-model 64 --out "$out/x"
: > "$TEST_TMP/afile"
expect_error "file in the way" "directory" --arch tiny --out "$TEST_TMP/afile/sub"
set +e
"$GLOSSA" synth --arch tiny > /dev/null 2>&1; rc=$?
set -e
if [ "$rc" -eq 2 ]; then pass; else fail "missing --out: exit $rc"; fi
set +e
"$GLOSSA" synth --arch tiny --eos-bias inf --out "$out/x" > /dev/null 2>&1; rc=$?
set -e
if [ "$rc" -eq 2 ]; then pass; else fail "--eos-bias inf: exit $rc"; fi
finish
