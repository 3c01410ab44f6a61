#include "eval/ngram_map.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "tok/vocab.h" /* tok_hash_bytes */

void ngram_map_clear(ngram_map *m)
{
    m->n = 0;
    if (++m->gen == 0) { /* wrapped: no stale slot may look live */
        if (m->slot_gen) memset(m->slot_gen, 0, m->cap * sizeof *m->slot_gen);
        m->gen = 1;
    }
}

void ngram_map_free(ngram_map *m)
{
    free(m->entries);
    free(m->slot_entry);
    free(m->slot_gen);
    memset(m, 0, sizeof *m);
}

/* Slot of key: the live slot holding it, or the empty slot where it would go. */
static size_t find_slot(const ngram_map *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slot_gen[i] == m->gen) {
        const ngram_entry *e = &m->entries[m->slot_entry[i]];
        if (e->len == len && memcmp(e->key, key, len) == 0) return i;
        i = (i + 1) & mask;
    }
    return i;
}

static glossa_status rehash(ngram_map *m, size_t cap)
{
    uint32_t *se = malloc(cap * sizeof *se), *sg = calloc(cap, sizeof *sg);
    if (!se || !sg) {
        free(se);
        free(sg);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "n-gram map of %zu slots", cap);
    }
    free(m->slot_entry);
    free(m->slot_gen);
    m->slot_entry = se;
    m->slot_gen = sg;
    m->cap = cap;
    m->gen = 1;
    for (size_t k = 0; k < m->n; k++) {
        const ngram_entry *e = &m->entries[k];
        size_t i = find_slot(m, e->key, e->len, tok_hash_bytes(e->key, e->len));
        m->slot_gen[i] = m->gen;
        m->slot_entry[i] = (uint32_t)k;
    }
    return GLOSSA_STATUS_OK;
}

/* The entry of key, created with count 0 when absent. */
static glossa_status lookup(ngram_map *m, const char *key, size_t len, uint32_t order,
                            ngram_entry **out)
{
    if (len > UINT32_MAX || m->n >= UINT32_MAX - 1)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "segment too long for n-gram counting");
    if (m->gen == 0) m->gen = 1;
    if ((m->n + 1) * 2 > m->cap) GLOSSA_TRY(rehash(m, m->cap ? m->cap * 2 : 256));
    uint64_t h = tok_hash_bytes(key, len);
    size_t i = find_slot(m, key, len, h);
    if (m->slot_gen[i] == m->gen) {
        *out = &m->entries[m->slot_entry[i]];
        return GLOSSA_STATUS_OK;
    }
    if (m->n == m->entries_cap) {
        size_t nc = m->entries_cap ? m->entries_cap * 2 : 128;
        ngram_entry *p = realloc(m->entries, nc * sizeof *p);
        if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "n-gram map of %zu entries", nc);
        m->entries = p;
        m->entries_cap = nc;
    }
    ngram_entry *e = &m->entries[m->n];
    e->key = key;
    e->len = (uint32_t)len;
    e->order = order;
    e->count = 0;
    m->slot_gen[i] = m->gen;
    m->slot_entry[i] = (uint32_t)m->n++;
    *out = e;
    return GLOSSA_STATUS_OK;
}

glossa_status ngram_map_add(ngram_map *m, const char *key, size_t len, uint32_t order, int64_t inc)
{
    ngram_entry *e;
    GLOSSA_TRY(lookup(m, key, len, order, &e));
    e->count += inc;
    return GLOSSA_STATUS_OK;
}

glossa_status ngram_map_max(ngram_map *m, const char *key, size_t len, uint32_t order,
                            int64_t value)
{
    ngram_entry *e;
    GLOSSA_TRY(lookup(m, key, len, order, &e));
    if (value > e->count) e->count = value;
    return GLOSSA_STATUS_OK;
}

int64_t ngram_map_get(const ngram_map *m, const char *key, size_t len)
{
    if (m->cap == 0 || m->gen == 0) return 0;
    size_t i = find_slot(m, key, len, tok_hash_bytes(key, len));
    return m->slot_gen[i] == m->gen ? m->entries[m->slot_entry[i]].count : 0;
}
