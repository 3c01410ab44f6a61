/* Added tokens of a tokenizer.json, as tokenizers' AddedVocabulary handles them:
 *   - ids are assigned as the library does when it loads the file (add_tokens in file order: a
 *     content already in the model or added keeps that id, a new one gets the next free id);
 *   - text is split on them before the model runs: first the non-normalized tokens on the raw
 *     text, then, in each remaining piece once normalized, the normalized ones (matched against
 *     their own normalized form);
 *   - matching is leftmost-longest, non-overlapping; single_word tokens must not touch word
 *     characters (regex \w) on either side (a rejected match still consumes its text, as the
 *     Aho-Corasick iterator does); lstrip / rstrip take the whitespace around the token with it.
 * A built table is immutable and thread-safe. */
#ifndef GLOSSA_TOK_HF_ADDED_H
#define GLOSSA_TOK_HF_ADDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"
#include "tok/hf_model.h"
#include "tok/hf_normalizer.h"
#include "tok/trie.h"

typedef struct hf_added_token {
    char *content;     /* owned, NUL-terminated */
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, normalized, single_word;
} hf_added_token;

typedef struct hf_added {
    hf_added_token *all;   /* (n_all) the file's entries, owning their contents */
    size_t n_all;
    hf_added_token *tok;   /* (n) the matching order: special tokens (once per content), then
                            * the others; contents borrowed from all */
    size_t n;
    int32_t *by_id_key;    /* open-addressing map id -> the token entry id_to_token returns */
    int32_t *by_id_val;    /* index into all */
    size_t by_id_cap;
    char **cmap_key;       /* open-addressing map content -> id */
    size_t *cmap_len;
    int32_t *cmap_id;
    bool *cmap_special;    /* content is a special token */
    size_t cmap_cap;
    int32_t max_id;        /* largest added id, -1 when none */
    tok_trie raw, norm;    /* content -> entry index; norm holds normalized contents */
    bool has_raw, has_norm;
} hf_added;

/* json: the "added_tokens" array (jansson json_t *, NULL: none). The normalizer is applied to the
 * contents of normalized tokens. */
glossa_status hf_added_load(const void *json, const hf_model *m, const hf_normalizer *nz,
                            hf_added *ad);
void hf_added_free(hf_added *ad);

/* Id of an added content, or -1. */
int32_t hf_added_find(const hf_added *ad, const char *s, size_t len);
/* The added token of an id, or NULL. */
const hf_added_token *hf_added_by_id(const hf_added *ad, int32_t id);
/* True when s is the content of a special added token. */
bool hf_added_is_special_content(const hf_added *ad, const char *s, size_t len);

/* Receives the pieces of a split in order: id >= 0 for an added token covering s[b..e) (its
 * lstrip / rstrip whitespace included), -1 for text s[b..e). */
typedef glossa_status (*hf_added_fn)(void *ctx, int32_t id, size_t b, size_t e);

/* Split s[0..n) on the raw (normalized = false) or normalized token set. */
glossa_status hf_added_split(const hf_added *ad, bool normalized, const char *s, size_t n,
                             hf_added_fn fn, void *ctx);

#endif
