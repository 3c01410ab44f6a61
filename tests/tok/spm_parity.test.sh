#!/usr/bin/env bash
# Reference parity with sentencepiece (Debian's spm_encode / spm_decode, 0.1.97): for every fixture
# model, ids and pieces identical on every line of ../shared/data and of the edge-case lines, and
# decode of the reference ids identical to spm_decode.
source "$(dirname "$0")/../lib/common.sh"
need spm_encode
need spm_decode
corpus=$(parity_corpus)
edge=$(edge_text)
# GLOSSA_SPM_MODEL (a fixture name): only that model (ctest runs one test per model, in parallel)
models=("$GLOSSA_FIXTURES"/spm/*.model)
[ -n "${GLOSSA_SPM_MODEL:-}" ] && models=("$GLOSSA_FIXTURES/spm/$GLOSSA_SPM_MODEL.model")
for model in "${models[@]}"; do
    name=$(basename "$model" .model)
    for input in "$corpus" "$edge"; do
        tag=$name.$(basename "$input" .txt)
        ref=$REF_CACHE/$tag
        [ -s "$ref.ids" ] || spm_encode --model "$model" --output_format=id < "$input" > "$ref.ids"
        [ -s "$ref.pieces" ] || spm_encode --model "$model" --output_format=piece < "$input" > "$ref.pieces"
        [ -s "$ref.dec" ] || spm_decode --model "$model" --input_format=id < "$ref.ids" > "$ref.dec"
        "$GLOSSA" tokenize --spm "$model" < "$input" > "$TEST_TMP/out.ids"
        check_same "$tag ids" "$ref.ids" "$TEST_TMP/out.ids"
        "$GLOSSA" tokenize --spm "$model" --pieces < "$input" > "$TEST_TMP/out.pieces"
        check_same "$tag pieces" "$ref.pieces" "$TEST_TMP/out.pieces"
        "$GLOSSA" tokenize --spm "$model" --decode < "$ref.ids" > "$TEST_TMP/out.dec"
        check_same "$tag decode" "$ref.dec" "$TEST_TMP/out.dec"
    done
    echo "$name: $(wc -l < "$corpus") corpus lines + $(wc -l < "$edge") edge lines compared"
done
finish
