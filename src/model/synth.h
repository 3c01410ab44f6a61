/* glossa synth internals: the architecture table (synth_arch.c), the config / generation_config
 * writers (synth_arch.c), the tokenizer files (synth_tok.c), the sentencepiece model built from
 * the embedded fixture (synth_pb.c) and the weights (synth.c).
 */
#ifndef GLOSSA_MODEL_SYNTH_H
#define GLOSSA_MODEL_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"
#include "io/safetensors.h"

typedef enum synth_model {
    SYNTH_MODEL_BART = 0,   /* model_type bart */
    SYNTH_MODEL_MBART,      /* mbart */
    SYNTH_MODEL_M2M100,     /* m2m_100 (M2M100 and NLLB-200) */
    SYNTH_MODEL_MARIAN,     /* marian */
} synth_model;

typedef enum synth_tok {
    SYNTH_TOK_NONE = 0,     /* BART: byte-level BPE, not written */
    SYNTH_TOK_MBART50,      /* sentencepiece.bpe.model + tokenizer_config.json */
    SYNTH_TOK_NLLB,         /* the same, NllbTokenizer */
    SYNTH_TOK_M2M100,       /* sentencepiece.bpe.model + vocab.json + tokenizer_config.json */
    SYNTH_TOK_MARIAN,       /* source.spm + target.spm + vocab.json + tokenizer_config.json */
} synth_tok;

/* One architecture as its hub checkpoint has it. */
typedef struct synth_arch {
    const char *name;       /* "mbart-large-50" */
    const char *hub_id;     /* the checkpoint it copies ("facebook/mbart-large-50-many-to-many-mmt") */
    synth_model model;
    synth_tok tok;
    int32_t d_model, layers, heads, ffn, vocab, max_positions;
    int32_t spm_pieces;     /* sentencepiece pieces at the default vocab (-1: derived) */
    const char *activation;
    bool scale_embedding;
    float dropout, attention_dropout, activation_dropout;
    int32_t num_beams, max_length;  /* generation_config (0: not written) */
    bool early_stopping;
} synth_arch;

/* An architecture with the user's overrides applied. */
typedef struct synth_config {
    const synth_arch *arch;
    int32_t d_model, layers, heads, ffn, vocab, max_positions;
    int32_t spm_pieces;     /* pieces of the sentencepiece model (0 without a tokenizer) */
    int32_t bos, pad, eos, unk, decoder_start;
    float init_std;
    float eos_bias;         /* added to final_logits_bias[eos] */
    float eos_ramp;         /* decoder position p's embedding + eos_ramp * p * E[eos] / |E[eos]| */
    bool fp16;
    uint64_t seed;
} synth_config;

/* The architecture named name, or NULL. */
const synth_arch *synth_arch_find(const char *name);
/* "a, b, c" list of the names, for messages. */
const char *synth_arch_names(void);

/* Resolve params (overrides, derived sizes, special ids). BAD_INPUT on unusable overrides. */
glossa_status synth_config_resolve(const glossa_synth_params *p, synth_config *c);

/* config.json, generation_config.json and README.txt into dir. */
glossa_status synth_write_configs(const char *dir, const synth_config *c);

/* The tokenizer files of the configuration's family into dir (nothing for SYNTH_TOK_NONE). */
glossa_status synth_write_tokenizer(const char *dir, const synth_config *c);

/* model.safetensors into dir, streamed tensor by tensor. */
glossa_status synth_write_weights(const char *dir, const synth_config *c);

/* A sentencepiece ModelProto of exactly n_pieces pieces from the embedded unigram model: its
 * first n_pieces pieces (n_pieces < its size), or all of them followed by filler pieces
 * ("\xe2\x96\x81xq<i>", NORMAL, scores below the lowest real score). trainer_spec (vocab_size
 * rewritten), normalizer_spec and denormalizer_spec are kept; self_test_data is dropped.
 * *out is malloc'd. */
glossa_status synth_spm_build(int32_t n_pieces, unsigned char **out, size_t *out_len);

/* Pieces of the embedded model; the i-th piece (NUL-terminated into buf, as the model has it
 * or the filler of that index) for writing vocab.json. */
typedef struct synth_spm_pieces synth_spm_pieces;
glossa_status synth_spm_pieces_open(int32_t n_pieces, synth_spm_pieces **out);
/* The i-th piece and its type (1 normal, 2 unknown, 3 control, ... as sentencepiece's enum). */
const char *synth_spm_piece(synth_spm_pieces *p, int32_t i, int *type);
void synth_spm_pieces_free(synth_spm_pieces *p);

/* The embedded tests/fixtures/spm/uni_8k_nmtnfkc.model (generated at build time). */
extern const unsigned char synth_spm_base[];
extern const size_t synth_spm_base_len;

/* Write a JSON value (a json_t *, passed as void * so this header needs no jansson) to
 * dir/name with indent 2; sort_keys as transformers' to_json_string. Steals the reference. */
glossa_status synth_json_write(const char *dir, const char *name, void *json, bool sort_keys);
/* Write text to dir/name. */
glossa_status synth_text_write(const char *dir, const char *name, const char *text, size_t len);

#endif
