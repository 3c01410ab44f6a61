/* A sentencepiece precompiled charsmap: the normalization rules of a NormalizerSpec
 * (precompiled_charsmap field), also carried by Hugging Face tokenizer.json as the
 * "Precompiled" normalizer (base64 of the same blob).
 *
 * Blob layout (little-endian):  uint32 trie_bytes | darts-clone double array (trie_bytes / 4
 * uint32 units) | pool of NUL-terminated replacement strings. A key of the trie is an input byte
 * sequence; its value is the offset of its replacement in the pool.
 *
 * The blob is hostile input: loading checks sizes and every leaf value; lookups bound-check every
 * unit index, so a corrupt trie can only produce "no match", never an out-of-bounds read.
 * A loaded charsmap is immutable and may be shared between threads; lookups never allocate.
 */
#ifndef GLOSSA_TOK_CHARSMAP_H
#define GLOSSA_TOK_CHARSMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

typedef struct tok_charsmap {
    uint32_t *units;      /* (n_units) darts-clone units, host order, owned */
    uint32_t n_units;
    char *pool;           /* (pool_len + 1) replacement strings, owned, NUL-terminated copy */
    uint32_t pool_len;
    uint8_t root_has[32]; /* bit b: some rule starts with byte b (fast path for plain bytes) */
} tok_charsmap;

/* One rule matching a prefix of the input: in_len input bytes become out[0..out_len). */
typedef struct tok_charsmap_rule {
    uint32_t in_len;
    uint32_t out_len;
    const char *out; /* points into the pool; may be empty (the input is deleted) */
} tok_charsmap_rule;

/* Parse and copy a blob (data may be freed afterwards). An empty blob is INVALID_ARGUMENT: callers
 * treat an empty precompiled_charsmap as "no rules" without loading it. Errors: BAD_MODEL with a
 * message saying what is wrong. */
glossa_status tok_charsmap_load(tok_charsmap *cm, const void *blob, size_t size);
void tok_charsmap_free(tok_charsmap *cm);

/* True when some rule may start with byte c (false means: no rule matches at this position). */
static inline bool tok_charsmap_may_start(const tok_charsmap *cm, unsigned char c)
{
    return (cm->root_has[c >> 3] >> (c & 7)) & 1;
}

/* The longest rule matching a prefix of s[0..len) (sentencepiece's Normalizer::NormalizePrefix).
 * Returns false when none matches. */
bool tok_charsmap_longest(const tok_charsmap *cm, const char *s, size_t len,
                          tok_charsmap_rule *rule);

/* All rules matching a prefix of s[0..len), shortest first (darts-clone commonPrefixSearch order;
 * the HF Precompiled normalizer uses the first one). Stores at most max, returns the count. */
size_t tok_charsmap_prefixes(const tok_charsmap *cm, const char *s, size_t len,
                             tok_charsmap_rule *out, size_t max);

#endif
