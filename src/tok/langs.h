/* Language codes of the translation-model families: mBART-50 (52, "en_XX"), NLLB-200 (202,
 * "eng_Latn") and M2M100 (100, "en"), each in the order of transformers' FAIRSEQ_LANGUAGE_CODES
 * (the order of their token ids), with English names; and a map from short codes (ISO 639-1, or
 * the 3-letter code a family uses) to each family's code. Marian has no table: its language
 * tokens (">>fra<<") are whatever its vocab.json holds.
 *
 * Lookups accept a family code ("zho_Hans", "zh_CN", "__zh__" for M2M100), the same with any case
 * and '-' for '_' ("zh-CN"), a short code ("zh"), or a short code with a region or script
 * ("zh-TW" / "zh_Hant" pick Traditional Chinese where the family has it, "pt-BR" picks pt).
 * Tables are constant data; every function is thread-safe.
 */
#ifndef GLOSSA_TOK_LANGS_H
#define GLOSSA_TOK_LANGS_H

#include <stddef.h>

#include "glossa.h"

typedef struct tok_lang {
    const char *code; /* the family's code, as its token is spelled (M2M100: without the __ __) */
    const char *name; /* English name */
} tok_lang;

typedef struct tok_lang_short {
    const char *code;    /* ISO 639-1 ("zh"), or a 3-letter code M2M100 uses ("ast") */
    const char *name;    /* English name */
    const char *mbart50; /* each family's code, "" when the family lacks the language */
    const char *nllb;
    const char *m2m100;
} tok_lang_short;

#define TOK_LANGS_MBART50_N 52
#define TOK_LANGS_NLLB_N 202
#define TOK_LANGS_M2M100_N 100
#define TOK_LANGS_SHORT_N 142

extern const tok_lang tok_langs_mbart50[TOK_LANGS_MBART50_N];
extern const tok_lang tok_langs_nllb[TOK_LANGS_NLLB_N];
extern const tok_lang tok_langs_m2m100[TOK_LANGS_M2M100_N];
extern const tok_lang_short tok_langs_short[TOK_LANGS_SHORT_N];

/* The table of a family; NULL (and *n = 0) for PLAIN and MARIAN. */
const tok_lang *tok_langs_table(glossa_tokenizer_family family, size_t *n);

/* Index into the family's table of lang (any accepted spelling, see above), or -1. */
int tok_langs_find(glossa_tokenizer_family family, const char *lang);

/* The short-code entry of a short code ("zh", case-insensitive), or NULL. */
const tok_lang_short *tok_langs_short_find(const char *code, size_t len);

#endif
