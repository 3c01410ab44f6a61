/* The internal structure behind the public glossa_tokenizer: a family (language codes and the
 * special-token template around a sequence) on top of one of three backends:
 *
 *   TOK_BACKEND_SPM   a bare sentencepiece model (family PLAIN): ids are the .model's own.
 *   TOK_BACKEND_HF    a tokenizers pipeline (hf_tokenizer): a tokenizer.json, or, for mBART-50
 *                     and NLLB model directories without one, the pipeline transformers 5 builds
 *                     from sentencepiece.bpe.model (spm_convert.h). The family template is added
 *                     per request, never taken from the file's post_processor.
 *   TOK_BACKEND_PYSPM transformers' Python tokenizers of M2M100 and Marian (pyspm.h):
 *                     sentencepiece pieces mapped through vocab.json.
 *
 * A loaded tokenizer is immutable (thread-safe for concurrent encode/decode).
 */
#ifndef GLOSSA_TOK_TOKENIZER_H
#define GLOSSA_TOK_TOKENIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "glossa.h"
#include "tok/hf_tokenizer.h"
#include "tok/pyspm.h"
#include "tok/spm.h"

typedef enum tok_backend {
    TOK_BACKEND_SPM = 0,
    TOK_BACKEND_HF = 1,
    TOK_BACKEND_PYSPM = 2,
} tok_backend;

#define TOK_LANG_CODE_MAX 64

struct glossa_tokenizer {
    glossa_tokenizer_family family;
    tok_backend backend;
    spm_processor *spm;   /* TOK_BACKEND_SPM */
    hf_tokenizer *hf;     /* TOK_BACKEND_HF */
    bool hf_is_bpe;       /* the pipeline's model is BPE (transformers skips cleanup for BPE) */
    pyspm *py;            /* TOK_BACKEND_PYSPM */

    /* Language codes: lang_ids[i] is the token id of the family table's i-th code (langs.h),
     * then of the codes the model adds to the table (special tokens shaped like its codes, such
     * as "am_ET" in an mBART-50 tokenizer.json; their lang_codes[i] set); for Marian, the >>xx<<
     * tokens of the vocabulary. */
    int32_t *lang_ids;    /* (n_langs) */
    char **lang_codes;    /* (n_langs) owned; NULL when no entry is set, NULL entries for the table */
    size_t n_langs;

    glossa_special_ids special;
    int32_t vocab_size;

    /* tokenizer_config.json */
    char src_lang[TOK_LANG_CODE_MAX]; /* default source language ("" = the family's default) */
    char tgt_lang[TOK_LANG_CODE_MAX]; /* default target language ("" = the source language) */
    bool legacy_behaviour;            /* NLLB: X </s> [lang] instead of [lang] X </s> */
    bool clean_up_spaces;             /* clean_up_tokenization_spaces */
};

/* A tokenizer with no backend yet (family PLAIN, special ids -1). NULL on out-of-memory. */
glossa_tokenizer *tok_tokenizer_new(void);

/* Fill lang_ids from the backend's vocabulary (after the backend is loaded): BAD_MODEL when a
 * family's language token is missing. Also sets special ids and vocab_size. */
glossa_status tok_tokenizer_finish(glossa_tokenizer *t);

/* Load a model directory (tokenizer_config.json / config.json decide the family). */
glossa_status tok_load_dir(const char *dir, glossa_tokenizer **out);

/* Load a tokenizer.json into t's HF backend. */
glossa_status tok_load_hf_json(glossa_tokenizer *t, const char *path);

/* Token <-> id through the backend (no <unk> fallback): -1 / NULL when none. */
int32_t tok_token_to_id(const glossa_tokenizer *t, const char *s, size_t len);
const char *tok_id_to_token(const glossa_tokenizer *t, int32_t id);

/* Token id of a language (see langs.h for the spellings; Marian: >>xx<< tokens). BAD_INPUT naming
 * the code when the family does not know it. */
glossa_status tok_lang_id(const glossa_tokenizer *t, const char *lang, int32_t *id);

#endif
