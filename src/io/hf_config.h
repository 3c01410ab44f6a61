/* Hugging Face config.json and generation_config.json of encoder-decoder translation models
 * (model_type bart, mbart, m2m_100 (also NLLB-200), marian), as transformers reads them.
 *
 * The architecture switches are derived from model_type exactly as transformers' modeling files
 * hard-code them (config keys such as normalize_before, add_final_layer_norm or
 * static_position_embeddings that old fairseq-converted configs carry are ignored, as transformers
 * ignores them):
 *
 *   model_type  pre_ln  layernorm_embedding  final_layer_norm  positions
 *   bart        no      yes                  no                learned, offset 2
 *   mbart       yes     yes                  yes               learned, offset 2
 *   m2m_100     yes     no                   yes               sinusoidal (fairseq), from pad+1
 *   marian      no      no                   no                sinusoidal (marian), from 0
 *
 * Generation settings: generation_config.json when present (transformers 5 keeps them there),
 * else the same keys read from config.json (transformers 4.x checkpoints), else transformers'
 * GenerationConfig defaults.
 */
#ifndef GLOSSA_IO_HF_CONFIG_H
#define GLOSSA_IO_HF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "glossa.h"

typedef enum model_arch {
    MODEL_ARCH_BART = 0,
    MODEL_ARCH_MBART = 1,
    MODEL_ARCH_M2M100 = 2, /* also NLLB-200 */
    MODEL_ARCH_MARIAN = 3,
} model_arch;

typedef enum model_pos_kind {
    MODEL_POS_LEARNED = 0,          /* embed_positions.weight, row = position + pos_offset */
    MODEL_POS_SINUSOIDAL_FAIRSEQ,   /* M2M100: [sin | cos], half-dim frequencies / (half - 1),
                                       row = position + pos_offset (pad_token_id + 1) */
    MODEL_POS_SINUSOIDAL_MARIAN,    /* Marian: [sin(even j) | cos(odd j)], row = position */
} model_pos_kind;

#define MODEL_MAX_EOS 8
#define MODEL_MAX_BAD_WORDS 16

typedef struct model_config {
    model_arch arch;
    char model_type[32];
    int32_t d_model;
    int32_t encoder_layers, decoder_layers;
    int32_t encoder_heads, decoder_heads;   /* *_attention_heads; d_model % heads == 0 */
    int32_t encoder_ffn, decoder_ffn;       /* *_ffn_dim */
    int32_t vocab_size;                     /* encoder (and shared) embedding rows */
    int32_t decoder_vocab_size;             /* Marian's decoder_vocab_size; = vocab_size else */
    int32_t max_position_embeddings;
    gl_act activation;                      /* activation_function */
    bool scale_embedding;                   /* embeddings * sqrt(d_model) */
    bool tie_word_embeddings;               /* lm_head = decoder embed_tokens (default true) */
    bool share_encoder_decoder_embeddings;  /* Marian (default true) */
    float layer_norm_eps;                   /* 1e-5 (nn.LayerNorm default) */

    /* derived from model_type (see the table above) */
    bool pre_ln;
    bool layernorm_embedding;
    bool final_layer_norm;
    model_pos_kind pos_kind;
    int32_t pos_offset;

    int32_t pad_token_id, bos_token_id, eos_token_id;
    int32_t decoder_start_token_id;         /* -1 when absent */
    char dtype[16];                         /* "dtype" (5.x) or "torch_dtype" (4.x); "" if none */
} model_config;

typedef struct generation_config {
    int32_t max_length;            /* total decoder length incl. the start token (default 20) */
    int32_t max_new_tokens;        /* -1: unset */
    int32_t min_length;            /* default 0 */
    int32_t min_new_tokens;        /* -1: unset */
    int32_t num_beams;             /* default 1 */
    int32_t num_return_sequences;  /* default 1 */
    float length_penalty;          /* default 1.0 */
    int32_t early_stopping;        /* 0 false (default), 1 true, 2 "never" */
    bool do_sample;                /* default false */
    float temperature;             /* default 1.0 */
    int32_t top_k;                 /* default 50 */
    float top_p;                   /* default 1.0 */
    float repetition_penalty;      /* default 1.0 */
    int32_t no_repeat_ngram_size;  /* default 0 */
    int32_t decoder_start_token_id;
    int32_t bos_token_id;
    int32_t pad_token_id;
    int32_t forced_bos_token_id;   /* -1: none */
    int32_t forced_eos_token_id;   /* -1: none */
    int32_t eos_token_ids[MODEL_MAX_EOS]; /* eos_token_id: an int or a list */
    int32_t n_eos;
    int32_t bad_words_ids[MODEL_MAX_BAD_WORDS]; /* single-token entries of bad_words_ids */
    int32_t n_bad_words;
} generation_config;

/* Parse config.json text. BAD_MODEL naming the key on a wrong type or an inconsistent value
 * (d_model not divisible by heads, sizes <= 0 or absurd), UNSUPPORTED naming model_type when it
 * is not one of the four. */
glossa_status hf_config_parse(const char *json, size_t len, model_config *out);

/* Generation settings: gen_json (generation_config.json text, may be NULL) over config_json
 * (config.json text, for 4.x keys), over transformers' defaults. */
glossa_status hf_generation_config_parse(const char *gen_json, size_t gen_len,
                                         const char *config_json, size_t config_len,
                                         generation_config *out);

/* Both from a model directory (config.json required, generation_config.json optional). */
glossa_status hf_config_load_dir(const char *dir, model_config *cfg, generation_config *gen);

#endif
