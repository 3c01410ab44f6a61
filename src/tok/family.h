/* The vocabulary families of translation models: names, detection from a model directory's
 * tokenizer_config.json (tokenizer_class) or config.json (model_type), default languages, and
 * the special tokens each family puts around a sequence (as transformers 5.17 does):
 *
 *   mBART-50      source [src_lang] X </s>            target [tgt_lang] X </s>
 *   NLLB          source [src_lang] X </s>            target [tgt_lang] X </s>
 *   NLLB legacy   source X </s> [src_lang]            target X </s> [tgt_lang]
 *   M2M100        source [__src__] X </s>             target [__tgt__] X </s>
 *   Marian        source X </s>                       target X </s>
 *
 * The decoder starts from </s> (mBART-50, NLLB, M2M100) or <pad> (Marian), and generation forces
 * the target-language token as the first generated token (mBART-50, NLLB, M2M100).
 */
#ifndef GLOSSA_TOK_FAMILY_H
#define GLOSSA_TOK_FAMILY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

/* "plain", "mbart50", "nllb", "m2m100", "marian". */
const char *tok_family_name(glossa_tokenizer_family family);

/* Family of a tokenizer_class ("NllbTokenizerFast", "MBart50Tokenizer", ...); false if none. */
bool tok_family_from_class(const char *tokenizer_class, glossa_tokenizer_family *out);

/* The source language a family uses when none is given ("en_XX", "eng_Latn", "en"; NULL). */
const char *tok_family_default_src(glossa_tokenizer_family family);

/* The language token of a family code as spelled in the vocabulary ("__en__" for M2M100, the
 * code itself otherwise) into buf; false if it does not fit. */
bool tok_family_lang_token(glossa_tokenizer_family family, const char *code, char *buf, size_t cap);

/* Ids around a sequence. lang: the language token id (-1: none). */
typedef struct tok_template {
    int32_t prefix[2], suffix[2];
    size_t n_prefix, n_suffix;
} tok_template;

tok_template tok_family_template(glossa_tokenizer_family family, bool legacy, int32_t lang,
                                 int32_t eos);

#endif
