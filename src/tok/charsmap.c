#include "tok/charsmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* darts-clone unit fields (darts.h DoubleArrayUnit). */
static inline uint32_t unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static inline uint32_t unit_label(uint32_t u) { return u & (0x80000000u | 0xFFu); }
static inline uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

static uint32_t read_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Walk from the root with the bytes of s, calling back for each rule (in increasing length).
 * Every unit index is bounds-checked. */
#define CHARSMAP_WALK(cm, s, len, ON_MATCH)                                                        \
    do {                                                                                           \
        const uint32_t *u_ = (cm)->units;                                                          \
        uint32_t n_ = (cm)->n_units;                                                               \
        uint32_t pos_ = unit_offset(u_[0]);                                                        \
        for (size_t i_ = 0; i_ < (len); i_++) {                                                    \
            unsigned char c_ = (unsigned char)(s)[i_];                                             \
            pos_ ^= c_;                                                                            \
            if (pos_ >= n_) break;                                                                 \
            uint32_t unit_ = u_[pos_];                                                             \
            if (unit_label(unit_) != c_) break;                                                    \
            pos_ ^= unit_offset(unit_);                                                            \
            if (unit_has_leaf(unit_)) {                                                            \
                if (pos_ >= n_) break;                                                             \
                uint32_t value_ = unit_value(u_[pos_]);                                            \
                uint32_t in_len_ = (uint32_t)(i_ + 1);                                             \
                ON_MATCH(in_len_, value_);                                                         \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void fill_rule(const tok_charsmap *cm, uint32_t in_len, uint32_t value,
                      tok_charsmap_rule *rule)
{
    /* value < pool_len was checked at load; the pool copy is NUL-terminated past its end. */
    rule->in_len = in_len;
    rule->out = cm->pool + value;
    rule->out_len = (uint32_t)strlen(cm->pool + value);
}

glossa_status tok_charsmap_load(tok_charsmap *cm, const void *blob, size_t size)
{
    memset(cm, 0, sizeof *cm);
    const uint8_t *b = blob;
    if (!b || size == 0) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "empty charsmap");
    if (size <= 4) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "charsmap blob is broken (%zu bytes)", size);
    uint32_t trie_bytes = read_le32(b);
    if (trie_bytes >= size)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL,
                            "charsmap trie size %u exceeds the blob size %zu", trie_bytes, size);
    if (size - 4 < trie_bytes)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "charsmap trie of %u bytes is truncated",
                            trie_bytes);
    uint32_t n_units = trie_bytes / 4;
    if (n_units == 0) return glossa_error(GLOSSA_STATUS_BAD_MODEL, "charsmap trie is empty");
    size_t pool_len = size - 4 - trie_bytes;
    if (pool_len > UINT32_MAX - 1)
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "charsmap string pool too large");

    cm->units = malloc((size_t)n_units * sizeof *cm->units);
    cm->pool = malloc(pool_len + 1);
    if (!cm->units || !cm->pool) {
        tok_charsmap_free(cm);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "charsmap of %zu bytes", size);
    }
    for (uint32_t i = 0; i < n_units; i++) cm->units[i] = read_le32(b + 4 + (size_t)i * 4);
    if (pool_len) memcpy(cm->pool, b + 4 + trie_bytes, pool_len);
    cm->pool[pool_len] = '\0';
    cm->n_units = n_units;
    cm->pool_len = (uint32_t)pool_len;

    /* The root must be a real node (darts-clone's own open() check). */
    uint32_t root = cm->units[0];
    if (unit_label(root) != 0 || unit_has_leaf(root) || unit_offset(root) == 0) {
        tok_charsmap_free(cm);
        return glossa_error(GLOSSA_STATUS_BAD_MODEL, "charsmap trie has an invalid root unit");
    }
    /* Every leaf value must point into the pool. Leaf units are those whose label has the MSB. */
    for (uint32_t i = 0; i < n_units; i++) {
        uint32_t u = cm->units[i];
        if ((u & 0x80000000u) && unit_value(u) >= pool_len && pool_len > 0) {
            tok_charsmap_free(cm);
            return glossa_error(GLOSSA_STATUS_BAD_MODEL,
                                "charsmap rule %u points past the string pool (%u >= %zu)", i,
                                unit_value(u), pool_len);
        }
        if ((u & 0x80000000u) && pool_len == 0) cm->units[i] = 0x80000000u; /* value 0 -> "" */
    }
    /* Which first bytes can start a rule. */
    uint32_t base = unit_offset(root);
    for (unsigned c = 0; c < 256; c++) {
        uint32_t pos = base ^ c;
        if (pos < n_units && unit_label(cm->units[pos]) == c) cm->root_has[c >> 3] |= (uint8_t)(1u << (c & 7));
    }
    return GLOSSA_STATUS_OK;
}

void tok_charsmap_free(tok_charsmap *cm)
{
    free(cm->units);
    free(cm->pool);
    memset(cm, 0, sizeof *cm);
}

bool tok_charsmap_longest(const tok_charsmap *cm, const char *s, size_t len,
                          tok_charsmap_rule *rule)
{
    uint32_t best_len = 0, best_value = 0;
#define KEEP_LONGEST(in_len, value)                                                                \
    do {                                                                                           \
        best_len = (in_len);                                                                       \
        best_value = (value);                                                                      \
    } while (0)
    if (len == 0 || !cm->units || !tok_charsmap_may_start(cm, (unsigned char)s[0])) return false;
    CHARSMAP_WALK(cm, s, len, KEEP_LONGEST);
#undef KEEP_LONGEST
    if (best_len == 0) return false;
    fill_rule(cm, best_len, best_value, rule);
    return true;
}

size_t tok_charsmap_prefixes(const tok_charsmap *cm, const char *s, size_t len,
                             tok_charsmap_rule *out, size_t max)
{
    size_t count = 0;
#define STORE(in_len, value)                                                                       \
    do {                                                                                           \
        if (count < max) fill_rule(cm, (in_len), (value), &out[count]);                           \
        count++;                                                                                   \
    } while (0)
    if (len == 0 || !cm->units) return 0;
    CHARSMAP_WALK(cm, s, len, STORE);
#undef STORE
    return count;
}
