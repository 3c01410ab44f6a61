/* The decoder of a tokenizer.json: Metaspace, ByteFallback, Fuse, Strip, Replace and Sequence,
 * applied to the list of token strings as the tokenizers library's decode_chain does, then joined
 * (no decoder: joined with spaces).
 *
 * One divergence: the library's Strip decoder panics when a token is shorter than start + stop
 * characters of `content`; here that token simply becomes empty. */
#ifndef GLOSSA_TOK_HF_DECODER_H
#define GLOSSA_TOK_HF_DECODER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"
#include "glossa.h"
#include "tok/hf_pretok.h"
#include "tok/hf_regex.h"

typedef enum hf_dec_type { HFD_METASPACE, HFD_BYTE_FALLBACK, HFD_FUSE, HFD_STRIP, HFD_REPLACE } hf_dec_type;

typedef struct hf_dec_step {
    hf_dec_type type;
    char ch[5];           /* METASPACE replacement / STRIP content (UTF-8) */
    size_t ch_len;
    hf_prepend prepend;   /* METASPACE */
    size_t start, stop;   /* STRIP */
    hf_pattern pat;       /* REPLACE */
    char *content;        /* REPLACE (owned) */
    size_t content_len;
} hf_dec_step;

typedef struct hf_decoder {
    hf_dec_step *steps;   /* Sequences flattened */
    size_t n;
    bool present;         /* false: no decoder, tokens joined with ' ' */
} hf_decoder;

/* json: the "decoder" value (jansson json_t *; NULL or JSON null: none). */
glossa_status hf_decoder_load(const void *json, hf_decoder *d);
void hf_decoder_free(hf_decoder *d);

/* One token of the list being decoded. */
typedef struct hf_dtok {
    const char *s;
    size_t len;
} hf_dtok;

/* Decode n tokens into out (appended). Scratch from arena a. */
glossa_status hf_decode_tokens(const hf_decoder *d, const hf_dtok *toks, size_t n, arena *a,
                               strbuf *out);

#endif
