/* tokenizer.json normalizers: Precompiled (sentencepiece charsmap, applied grapheme by grapheme
 * as tokenizers does), NFC / NFD / NFKC / NFKD, Lowercase, Strip, Prepend, Replace, Sequence.
 *
 * Text is carried as an hf_nstr: UTF-8 bytes plus, for every byte, the offset in the caller's
 * original text it aligns to (the tokenizers NormalizedString alignments, start side). The
 * alignments follow the library's transformation rules, because one decision depends on them:
 * Metaspace's prepend_scheme "first" prepends only to the piece that starts at original offset 0.
 * All memory comes from a caller's arena (reset per encode call), so normalizing never mallocs
 * once the arena is warm. */
#ifndef GLOSSA_TOK_HF_NORMALIZER_H
#define GLOSSA_TOK_HF_NORMALIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "glossa.h"
#include "tok/charsmap.h"
#include "tok/hf_regex.h"

typedef struct hf_nstr {
    char *s;       /* (len) UTF-8, not NUL-terminated */
    uint32_t *al;  /* (len) original offset of each byte */
    size_t len, cap;
    arena *a;
} hf_nstr;

glossa_status hf_nstr_init(hf_nstr *ns, arena *a, size_t cap);
/* Append clen bytes, all aligned to al. */
glossa_status hf_nstr_push(hf_nstr *ns, const char *c, size_t clen, uint32_t al);

typedef enum hf_norm_type {
    HFN_PRECOMPILED, HFN_NFC, HFN_NFD, HFN_NFKC, HFN_NFKD, HFN_LOWERCASE, HFN_STRIP, HFN_PREPEND,
    HFN_REPLACE,
} hf_norm_type;

typedef struct hf_norm_step {
    hf_norm_type type;
    tok_charsmap cm;     /* PRECOMPILED */
    bool left, right;    /* STRIP */
    char *str;           /* PREPEND text / REPLACE content (owned) */
    size_t str_len;
    hf_pattern pat;      /* REPLACE */
} hf_norm_step;

typedef struct hf_normalizer {
    hf_norm_step *steps; /* Sequences flattened */
    size_t n;
} hf_normalizer;

/* json: the "normalizer" value (a jansson json_t *, NULL or JSON null: none). */
glossa_status hf_normalizer_load(const void *json, hf_normalizer *nz);
void hf_normalizer_free(hf_normalizer *nz);

/* Normalize in[0..len) (valid UTF-8) whose byte i has original offset base + i, into out
 * (initialised here from arena a). */
glossa_status hf_normalize(const hf_normalizer *nz, const char *in, size_t len, uint32_t base,
                           arena *a, hf_nstr *out);

#endif
