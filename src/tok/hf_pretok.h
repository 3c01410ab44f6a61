/* tokenizer.json pre-tokenizers: Metaspace (replacement, prepend_scheme always / first / never,
 * split, legacy add_prefix_space), WhitespaceSplit, Split (String / Regex pattern, the five
 * delimiter behaviors, invert) and Sequence.
 *
 * The pre-tokenizers of a Sequence run one after the other on every piece; since each piece is
 * processed on its own, hf_pretokenize walks them depth first and hands each final piece to a
 * callback (the model), in order, without materialising the piece lists. */
#ifndef GLOSSA_TOK_HF_PRETOK_H
#define GLOSSA_TOK_HF_PRETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "glossa.h"
#include "tok/hf_normalizer.h"
#include "tok/hf_regex.h"

typedef enum hf_pretok_type { HFP_METASPACE, HFP_WHITESPACE_SPLIT, HFP_SPLIT } hf_pretok_type;
typedef enum hf_prepend { HF_PREPEND_ALWAYS, HF_PREPEND_FIRST, HF_PREPEND_NEVER } hf_prepend;
typedef enum hf_split_behavior {
    HF_SPLIT_REMOVED, HF_SPLIT_ISOLATED, HF_SPLIT_MERGED_WITH_PREVIOUS, HF_SPLIT_MERGED_WITH_NEXT,
    HF_SPLIT_CONTIGUOUS,
} hf_split_behavior;

typedef struct hf_pretok_step {
    hf_pretok_type type;
    char rep[5];           /* METASPACE replacement character (UTF-8) */
    size_t rep_len;
    hf_prepend prepend;    /* METASPACE */
    bool split;            /* METASPACE */
    hf_pattern pat;        /* SPLIT */
    hf_split_behavior behavior;
    bool invert;
} hf_pretok_step;

typedef struct hf_pretok {
    hf_pretok_step *steps; /* Sequences flattened */
    size_t n;
} hf_pretok;

/* Parse a prepend_scheme string ("always", "first", "never"). */
glossa_status hf_prepend_parse(const char *s, const char *what, hf_prepend *out);

/* json: the "pre_tokenizer" value (jansson json_t *; NULL or JSON null: none). */
glossa_status hf_pretok_load(const void *json, hf_pretok *p);
void hf_pretok_free(hf_pretok *p);

/* Receives each final piece: bytes and, per byte, its original offset. */
typedef glossa_status (*hf_piece_fn)(void *ctx, const char *s, size_t len);

/* Pre-tokenize s[0..len) (al: original offset of each byte); empty pieces are dropped, as the
 * library does. Scratch from arena a. */
glossa_status hf_pretokenize(const hf_pretok *p, const char *s, const uint32_t *al, size_t len,
                             arena *a, hf_piece_fn fn, void *ctx);

#endif
