/* A vocab.json (token -> id object) as transformers' Python tokenizers use it: an encoder
 * (every key, with its id) and a decoder (id -> key; with duplicate ids the last key wins, as
 * Python's {v: k for k, v in encoder.items()}). Ids may have holes. */
#ifndef GLOSSA_TOK_VOCAB_JSON_H
#define GLOSSA_TOK_VOCAB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "tok/vocab.h"

typedef struct tok_vocab_json {
    tok_vocab keys;   /* (keys.n) the keys, indexed */
    int32_t *key_id;  /* (keys.n) id of each key */
    int32_t *dec;     /* (n_ids) key index of each id, -1 for a hole */
    int32_t n_ids;    /* largest id + 1 */
} tok_vocab_json;

#define TOK_VOCAB_JSON_MAX_BYTES ((size_t)1 << 30)
#define TOK_VOCAB_JSON_MAX_ID (1 << 26)

/* Errors: IO_ERROR, BAD_MODEL (not an object of non-negative integers, ids over the limit). */
glossa_status tok_vocab_json_load(const char *path, tok_vocab_json *v);
void tok_vocab_json_free(tok_vocab_json *v);

/* Id of a key, or -1. */
int32_t tok_vocab_json_find(const tok_vocab_json *v, const char *s, size_t len);
/* Key of an id, or NULL (out of range or a hole); *len gets its length. */
const char *tok_vocab_json_key(const tok_vocab_json *v, int32_t id, size_t *len);

#endif
