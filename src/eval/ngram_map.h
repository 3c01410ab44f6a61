/* Counting n-grams for BLEU and chrF: a hash map from a byte range (a word n-gram is a stretch of
 * the space-joined tokens, a character n-gram a stretch of the UTF-8 text, so equal n-grams are
 * equal byte ranges) to a count and an order. Keys point into the caller's text, which must
 * outlive the entries. Clearing is O(1), so one map serves every segment of a corpus. */
#ifndef GLOSSA_EVAL_NGRAM_MAP_H
#define GLOSSA_EVAL_NGRAM_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

typedef struct ngram_entry {
    const char *key;
    uint32_t len;   /* bytes */
    uint32_t order; /* n */
    int64_t count;
} ngram_entry;

typedef struct ngram_map {
    ngram_entry *entries; /* (n) in insertion order: iterate these */
    size_t n, entries_cap;
    uint32_t *slot_entry; /* (cap) entry index of a live slot */
    uint32_t *slot_gen;   /* (cap) a slot is live when it carries gen */
    size_t cap;           /* power of two, 0 before first use */
    uint32_t gen;
} ngram_map;

/* Forget every entry, keeping the memory. */
void ngram_map_clear(ngram_map *m);
void ngram_map_free(ngram_map *m);

/* count of key += inc (a new key starts at 0 with this order). */
glossa_status ngram_map_add(ngram_map *m, const char *key, size_t len, uint32_t order, int64_t inc);
/* count of key = max(count, value) (a new key starts at 0 with this order). */
glossa_status ngram_map_max(ngram_map *m, const char *key, size_t len, uint32_t order,
                            int64_t value);
/* Count of key, 0 when absent. */
int64_t ngram_map_get(const ngram_map *m, const char *key, size_t len);

#endif
