#include "tok/trie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define TRIE_FREE UINT32_MAX
#define TRIE_MAX_UNITS (UINT32_MAX / 2)

typedef struct trie_key {
    const char *s;
    uint32_t len;
    int32_t value;
    uint32_t order; /* position in the caller's list: the first duplicate wins */
} trie_key;

typedef struct trie_builder {
    tok_trie_unit *u;
    uint64_t *used;      /* bit per slot: occupied (as a node) */
    uint32_t cap;
    uint32_t first_free;    /* no free slot below this */
    uint32_t first_free_hi; /* no free slot in [256, first_free_hi): any label fits there */
    uint32_t multi_start;   /* where searches for nodes with several children start */
    uint32_t max_base;
} trie_builder;

typedef struct trie_task {
    uint32_t lo, hi;  /* keys sharing the node's prefix */
    uint32_t depth;   /* prefix length */
    uint32_t node;
} trie_task;

static int key_cmp(const void *a, const void *b)
{
    const trie_key *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->s, y->s, n) : 0;
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

static int slot_used(const trie_builder *b, uint32_t i)
{
    return (b->used[i >> 6] >> (i & 63)) & 1;
}

static glossa_status builder_grow(trie_builder *b, uint64_t need)
{
    if (need <= b->cap) return GLOSSA_STATUS_OK;
    if (need > TRIE_MAX_UNITS) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "trie too large");
    uint64_t cap = b->cap ? b->cap : 1024;
    while (cap < need) cap *= 2;
    if (cap > TRIE_MAX_UNITS) cap = TRIE_MAX_UNITS;
    tok_trie_unit *u = realloc(b->u, (size_t)cap * sizeof *u);
    if (!u) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "trie of %llu units", (unsigned long long)cap);
    b->u = u;
    size_t words = (size_t)(cap + 63) / 64, old_words = ((size_t)b->cap + 63) / 64;
    uint64_t *used = realloc(b->used, words * sizeof *used);
    if (!used) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "trie bitmap");
    b->used = used;
    memset(used + old_words, 0, (words - old_words) * sizeof *used);
    for (uint64_t i = b->cap; i < cap; i++) {
        u[i].base = 0;
        u[i].check = TRIE_FREE;
        u[i].value = -1;
    }
    b->cap = (uint32_t)cap;
    return GLOSSA_STATUS_OK;
}

/* Next free slot at or after i (may be == cap: past the end, free once grown). */
static uint32_t next_free(const trie_builder *b, uint32_t i)
{
    while (i < b->cap) {
        uint64_t w = ~b->used[i >> 6] >> (i & 63);
        if (w) return i + (uint32_t)__builtin_ctzll(w) < b->cap ? i + (uint32_t)__builtin_ctzll(w) : b->cap;
        i = (i | 63) + 1;
    }
    return i;
}

/* A base >= 1 such that base + labels[k] are all free. Nodes with one child take the first free
 * slot that fits (a hole below 256 only fits small labels: then the first free slot from 256);
 * nodes with several start at multi_start, which moves past crowded regions (where many
 * candidates failed) so that building stays near-linear; single-child nodes fill the holes.
 * All start pointers only move forward. */
static glossa_status find_base(trie_builder *b, const uint8_t *labels, int n, uint32_t *out)
{
    uint32_t start = b->first_free;
    if (n > 1 && b->multi_start > start) start = b->multi_start;
    if (start < labels[0] + 1u) start = b->first_free_hi;
    uint32_t f = next_free(b, start);
    if (n > 1) b->multi_start = f; /* nothing free in [start, f): later searches skip that run */
    uint32_t failures = 0;
    for (;;) {
        if (f >= labels[0] + 1u) {
            uint32_t base = f - labels[0];
            GLOSSA_TRY(builder_grow(b, (uint64_t)base + 256 + 1));
            int ok = 1;
            for (int k = 1; k < n && ok; k++) ok = !slot_used(b, base + labels[k]);
            if (ok) {
                if (n > 1 && failures > 16) b->multi_start = f;
                *out = base;
                return GLOSSA_STATUS_OK;
            }
            failures++;
        }
        GLOSSA_TRY(builder_grow(b, (uint64_t)f + 2));
        f = next_free(b, f + 1);
    }
}

static glossa_status build_nodes(trie_builder *b, const trie_key *keys, uint32_t n_keys)
{
    trie_task *stack = NULL;
    size_t sp = 0, scap = 0;
    glossa_status st = GLOSSA_STATUS_OK;
#define PUSH(t)                                                                                    \
    do {                                                                                           \
        if (sp == scap) {                                                                          \
            size_t nc_ = scap ? scap * 2 : 256;                                                    \
            trie_task *ns_ = realloc(stack, nc_ * sizeof *ns_);                                    \
            if (!ns_) {                                                                            \
                st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "trie build stack");                \
                goto done;                                                                         \
            }                                                                                      \
            stack = ns_;                                                                           \
            scap = nc_;                                                                            \
        }                                                                                          \
        stack[sp++] = (t);                                                                         \
    } while (0)
    trie_task root = {0, n_keys, 0, 0};
    PUSH(root);
    while (sp) {
        trie_task t = stack[--sp];
        uint32_t lo = t.lo;
        if (lo < t.hi && keys[lo].len == t.depth) {
            b->u[t.node].value = keys[lo].value;
            lo++;
        }
        uint8_t labels[256];
        uint32_t starts[257];
        int n = 0;
        for (uint32_t i = lo; i < t.hi; i++) {
            uint8_t c = (uint8_t)keys[i].s[t.depth];
            if (n == 0 || labels[n - 1] != c) {
                labels[n] = c;
                starts[n] = i;
                n++;
            }
        }
        starts[n] = t.hi;
        if (n == 0) continue; /* base 0: no slot has this node as check */
        uint32_t base;
        st = find_base(b, labels, n, &base);
        if (st != GLOSSA_STATUS_OK) goto done;
        b->u[t.node].base = base;
        if (base > b->max_base) b->max_base = base;
        for (int k = 0; k < n; k++) {
            uint32_t slot = base + labels[k];
            b->u[slot].check = t.node;
            b->used[slot >> 6] |= 1ull << (slot & 63);
        }
        b->first_free = next_free(b, b->first_free);
        b->first_free_hi = next_free(b, b->first_free_hi);
        for (int k = n - 1; k >= 0; k--) {
            trie_task c = {starts[k], starts[k + 1], t.depth + 1, base + labels[k]};
            PUSH(c);
        }
    }
done:
#undef PUSH
    free(stack);
    return st;
}

glossa_status tok_trie_build(tok_trie *t, size_t n, const char *const *keys, const uint32_t *lens,
                             const int32_t *values)
{
    memset(t, 0, sizeof *t);
    if (n > TRIE_MAX_UNITS / 2) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "too many trie keys");
    trie_key *k = malloc((n ? n : 1) * sizeof *k);
    if (!k) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "trie keys");
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 0) continue;
        if (values[i] < 0) {
            free(k);
            return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "negative trie value");
        }
        k[m].s = keys[i];
        k[m].len = lens[i];
        k[m].value = values[i];
        k[m].order = (uint32_t)i;
        m++;
    }
    qsort(k, m, sizeof *k, key_cmp);
    /* Drop duplicates (keep the first in caller order, which sorts first). */
    uint32_t w = 0;
    for (uint32_t i = 0; i < m; i++) {
        if (w && k[w - 1].len == k[i].len && memcmp(k[w - 1].s, k[i].s, k[i].len) == 0) continue;
        k[w++] = k[i];
    }
    m = w;

    trie_builder b = {0};
    glossa_status st = builder_grow(&b, 1024);
    if (st == GLOSSA_STATUS_OK) {
        b.used[0] |= 1; /* the root */
        b.first_free = 1;
        b.first_free_hi = 256;
        st = build_nodes(&b, k, m);
    }
    if (st == GLOSSA_STATUS_OK) st = builder_grow(&b, (uint64_t)b.max_base + 256 + 1);
    free(k);
    free(b.used);
    if (st != GLOSSA_STATUS_OK) {
        free(b.u);
        return st;
    }
    /* Trim: every slot in use is at most max_base + 255; keep 256 free slots of padding so that
     * a step from any node reads inside the array. */
    uint32_t n_units = b.max_base + 256 + 1;
    if (n_units < b.cap) {
        tok_trie_unit *u = realloc(b.u, (size_t)n_units * sizeof *u);
        if (u) {
            b.u = u;
            b.cap = n_units;
        }
    }
    t->units = b.u;
    t->n_units = b.cap;
    t->n_keys = m;
    uint32_t maxlen = 0;
    for (size_t i = 0; i < n; i++)
        if (lens[i] > maxlen) maxlen = lens[i];
    t->max_key_len = maxlen;
    return GLOSSA_STATUS_OK;
}

void tok_trie_free(tok_trie *t)
{
    free(t->units);
    memset(t, 0, sizeof *t);
}

int32_t tok_trie_find(const tok_trie *t, const char *s, size_t len)
{
    if (!t->units || len == 0) return -1;
    uint32_t node = TOK_TRIE_ROOT;
    int32_t v = -1;
    for (size_t i = 0; i < len; i++) {
        v = tok_trie_step(t, &node, (unsigned char)s[i]);
        if (v == TOK_TRIE_NO_PATH) return -1;
    }
    return v;
}

size_t tok_trie_longest(const tok_trie *t, const char *s, size_t len, int32_t *value)
{
    size_t best = 0;
    if (!t->units) return 0;
    uint32_t node = TOK_TRIE_ROOT;
    for (size_t i = 0; i < len; i++) {
        int32_t v = tok_trie_step(t, &node, (unsigned char)s[i]);
        if (v == TOK_TRIE_NO_PATH) break;
        if (v >= 0) {
            best = i + 1;
            *value = v;
        }
    }
    return best;
}

size_t tok_trie_prefixes(const tok_trie *t, const char *s, size_t len, tok_trie_match *out,
                         size_t max)
{
    size_t count = 0;
    if (!t->units) return 0;
    uint32_t node = TOK_TRIE_ROOT;
    for (size_t i = 0; i < len; i++) {
        int32_t v = tok_trie_step(t, &node, (unsigned char)s[i]);
        if (v == TOK_TRIE_NO_PATH) break;
        if (v >= 0) {
            if (count < max) {
                out[count].len = (uint32_t)(i + 1);
                out[count].value = v;
            }
            count++;
        }
    }
    return count;
}

int tok_byte_ids_find(const tok_vocab *v, int only_byte_type, int32_t byte_id[256])
{
    int all = 1;
    for (int c = 0; c < 256; c++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", c);
        int32_t id = tok_vocab_find(v, name, 6);
        if (id >= 0 && only_byte_type && v->type[id] != TOK_PIECE_BYTE) id = -1;
        byte_id[c] = id;
        if (id < 0) all = 0;
    }
    return all;
}

glossa_status tok_segs_to_ids(const tok_seg *segs, size_t n, const char *s, int32_t unk_id,
                              bool fuse_unk, const int32_t *byte_id, idvec *out)
{
    GLOSSA_TRY(idvec_reserve(out, n));
    int prev_unk = 0;
    for (size_t i = 0; i < n; i++) {
        const tok_seg *g = &segs[i];
        int is_unk = g->id == unk_id;
        if (is_unk && byte_id) {
            int all = 1;
            for (uint32_t k = 0; k < g->len && all; k++)
                all = byte_id[(unsigned char)s[g->begin + k]] >= 0;
            if (all) {
                GLOSSA_TRY(idvec_reserve(out, g->len));
                for (uint32_t k = 0; k < g->len; k++)
                    out->data[out->len++] = byte_id[(unsigned char)s[g->begin + k]];
                prev_unk = 0; /* nothing to fuse with: no unk id was emitted */
                continue;
            }
        }
        if (!(is_unk && prev_unk && fuse_unk)) {
            if (out->len == out->cap) GLOSSA_TRY(idvec_reserve(out, 1));
            out->data[out->len++] = g->id;
        }
        prev_unk = is_unk;
    }
    return GLOSSA_STATUS_OK;
}
