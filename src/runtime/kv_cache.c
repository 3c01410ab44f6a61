/* Paged K/V block pool and block tables (see kv_cache.h). */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "runtime/kv_cache.h"

#define KV_COPY_VIEWS 32 /* layers per kv_copy_blocks call */

void kv_pool_init(kv_pool *p, backend *be, int32_t n_layers, int32_t width, int32_t block_size)
{
    memset(p, 0, sizeof *p);
    p->be = be;
    p->n_layers = n_layers;
    p->width = width;
    p->block_size = block_size;
}

static void pool_release_storage(kv_pool *p)
{
    for (int32_t l = 0; p->k && l < p->n_layers; l++) {
        if (p->k[l]) p->be->ops->free(p->be, p->k[l]);
        if (p->v[l]) p->be->ops->free(p->be, p->v[l]);
    }
    free(p->k);
    free(p->v);
    free(p->refcount);
    free(p->free_list);
    p->k = p->v = NULL;
    p->refcount = p->free_list = NULL;
    p->n_blocks = p->n_free = 0;
}

glossa_status kv_pool_resize(kv_pool *p, int32_t n_blocks)
{
    if (p->n_free != p->n_blocks)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "kv pool resized while %d blocks are in use",
                            p->n_blocks - p->n_free);
    if (n_blocks < 0 || (int64_t)n_blocks * p->block_size > INT32_MAX)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "kv pool of %d blocks", n_blocks);
    pool_release_storage(p);
    static uint32_t next_epoch;
    p->epoch = __atomic_add_fetch(&next_epoch, 1, __ATOMIC_RELAXED);
    if (n_blocks == 0) return GLOSSA_STATUS_OK;
    size_t esz = gl_dtype_size(p->be->act_dtype);
    size_t bytes = (size_t)n_blocks * (size_t)p->block_size * (size_t)p->width * esz;
    p->k = calloc((size_t)p->n_layers, sizeof *p->k);
    p->v = calloc((size_t)p->n_layers, sizeof *p->v);
    p->refcount = calloc((size_t)n_blocks, sizeof *p->refcount);
    p->free_list = malloc((size_t)n_blocks * sizeof *p->free_list);
    if (!p->k || !p->v || !p->refcount || !p->free_list) {
        pool_release_storage(p);
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "kv pool tables");
    }
    for (int32_t l = 0; l < p->n_layers; l++) {
        glossa_status st = p->be->ops->alloc(p->be, bytes, &p->k[l]);
        if (st == GLOSSA_STATUS_OK) st = p->be->ops->alloc(p->be, bytes, &p->v[l]);
        if (st != GLOSSA_STATUS_OK) {
            pool_release_storage(p);
            return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "kv pool: %d blocks of %d tokens",
                                n_blocks, p->block_size);
        }
    }
    p->n_blocks = n_blocks;
    for (int32_t i = 0; i < n_blocks; i++) p->free_list[i] = n_blocks - 1 - i; /* pop 0 first */
    p->n_free = n_blocks;
    return GLOSSA_STATUS_OK;
}

uint64_t kv_pool_epochs(const kv_pool *self, const kv_pool *cross)
{
    return (uint64_t)self->epoch << 32 | cross->epoch;
}

void kv_pool_free(kv_pool *p)
{
    pool_release_storage(p);
    if (p->copy_idx) p->be->ops->free(p->be, p->copy_idx);
    p->copy_idx = NULL;
    p->copy_cap = 0;
}

size_t kv_pool_bytes_per_token(const kv_pool *p)
{
    return 2 * (size_t)p->n_layers * (size_t)p->width * gl_dtype_size(p->be->act_dtype);
}

int32_t kv_blocks_for(const kv_pool *p, int32_t len)
{
    return (len + p->block_size - 1) / p->block_size;
}

static glossa_status table_reserve(kv_seq *s, int32_t n)
{
    if (n <= s->cap_blocks) return GLOSSA_STATUS_OK;
    int32_t cap = s->cap_blocks ? s->cap_blocks : 4;
    while (cap < n) cap *= 2;
    int32_t *b = realloc(s->blocks, (size_t)cap * sizeof *b);
    if (!b) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "block table");
    s->blocks = b;
    s->cap_blocks = cap;
    return GLOSSA_STATUS_OK;
}

static glossa_status copies_push(kv_copies *c, int32_t src, int32_t dst)
{
    if (c->n == c->cap) {
        int32_t cap = c->cap ? c->cap * 2 : 16;
        /* src holds 2 cap: kv_copies_apply puts dst behind it for one upload */
        int32_t *s = realloc(c->src, 2 * (size_t)cap * sizeof *s);
        if (!s) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "copy list");
        c->src = s;
        int32_t *d = realloc(c->dst, (size_t)cap * sizeof *d);
        if (!d) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "copy list");
        c->dst = d;
        c->cap = cap;
    }
    c->src[c->n] = src;
    c->dst[c->n] = dst;
    c->n++;
    return GLOSSA_STATUS_OK;
}

glossa_status kv_seq_append(kv_pool *p, kv_seq *s, int32_t n, int32_t *slots, kv_copies *cow)
{
    if (n <= 0) return GLOSSA_STATUS_OK;
    int32_t bs = p->block_size;
    int32_t need = kv_blocks_for(p, s->len + n) - s->n_blocks;
    bool partial_shared = s->len % bs != 0 && p->refcount[s->blocks[s->n_blocks - 1]] > 1;
    if (need + (partial_shared ? 1 : 0) > p->n_free)
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY,
                            "kv cache full: %d free blocks of %d tokens, %d needed", p->n_free, bs,
                            need + (partial_shared ? 1 : 0));
    GLOSSA_TRY(table_reserve(s, s->n_blocks + (need > 0 ? need : 0)));
    if (partial_shared) {
        if (!cow) return glossa_error(GLOSSA_STATUS_INTERNAL, "copy-on-write without a copy list");
        int32_t old = s->blocks[s->n_blocks - 1];
        int32_t fresh = p->free_list[--p->n_free];
        glossa_status st = copies_push(cow, old, fresh);
        if (st != GLOSSA_STATUS_OK) {
            p->free_list[p->n_free++] = fresh;
            return st;
        }
        p->refcount[old]--;
        p->refcount[fresh] = 1;
        s->blocks[s->n_blocks - 1] = fresh;
    }
    for (int32_t i = 0; i < need; i++) {
        int32_t b = p->free_list[--p->n_free];
        p->refcount[b] = 1;
        s->blocks[s->n_blocks++] = b;
    }
    for (int32_t i = 0; i < n; i++) {
        int32_t t = s->len + i;
        slots[i] = s->blocks[t / bs] * bs + t % bs;
    }
    s->len += n;
    return GLOSSA_STATUS_OK;
}

glossa_status kv_seq_fork(kv_pool *p, kv_seq *dst, const kv_seq *src)
{
    kv_seq_release(p, dst);
    GLOSSA_TRY(table_reserve(dst, src->n_blocks));
    for (int32_t i = 0; i < src->n_blocks; i++) {
        dst->blocks[i] = src->blocks[i];
        p->refcount[src->blocks[i]]++;
    }
    dst->n_blocks = src->n_blocks;
    dst->len = src->len;
    return GLOSSA_STATUS_OK;
}

void kv_seq_pop(kv_pool *p, kv_seq *s)
{
    if (s->len <= 0) return;
    s->len--;
    if (s->n_blocks > kv_blocks_for(p, s->len)) {
        int32_t b = s->blocks[--s->n_blocks];
        if (--p->refcount[b] == 0) p->free_list[p->n_free++] = b;
    }
}

void kv_seq_release(kv_pool *p, kv_seq *s)
{
    for (int32_t i = 0; i < s->n_blocks; i++) {
        int32_t b = s->blocks[i];
        if (--p->refcount[b] == 0) p->free_list[p->n_free++] = b;
    }
    s->n_blocks = 0;
    s->len = 0;
}

void kv_seq_free(kv_pool *p, kv_seq *s)
{
    kv_seq_release(p, s);
    free(s->blocks);
    memset(s, 0, sizeof *s);
}

glossa_status kv_copies_apply(kv_pool *p, kv_copies *cow)
{
    if (cow->n == 0) return GLOSSA_STATUS_OK;
    backend *be = p->be;
    if (cow->n > p->copy_cap) {
        int32_t cap = cow->n > 2 * p->copy_cap ? cow->n : 2 * p->copy_cap;
        if (p->copy_idx) be->ops->free(be, p->copy_idx);
        p->copy_idx = NULL;
        p->copy_cap = 0;
        void *dev = NULL;
        GLOSSA_TRY(be->ops->alloc(be, 2 * (size_t)cap * sizeof(int32_t), &dev));
        p->copy_idx = dev;
        p->copy_cap = cap;
    }
    size_t bytes = (size_t)cow->n * sizeof(int32_t);
    int32_t *dsrc = p->copy_idx, *ddst = p->copy_idx + cow->n;
    /* one upload: each costs the host several microseconds of a beam step's turn (docs/PERF.md) */
    memcpy(cow->src + cow->n, cow->dst, bytes);
    glossa_status st = be->ops->upload(be, dsrc, cow->src, 2 * bytes);
    if (st == GLOSSA_STATUS_OK) {
        /* every layer in one op (CUDA: one launch instead of one a layer) */
        int32_t hd = p->width; /* the copy is per block row; heads do not matter */
        gl_kv_view views[KV_COPY_VIEWS];
        static int per_layer = -1; /* GLOSSA_KV_COPY_PER_LAYER=1: one op a layer (A/B timing) */
        if (per_layer < 0) {
            const char *e = getenv("GLOSSA_KV_COPY_PER_LAYER");
            per_layer = e && e[0] == '1';
        }
        const int32_t step = per_layer ? 1 : KV_COPY_VIEWS;
        for (int32_t l0 = 0; l0 < p->n_layers; l0 += step) {
            int32_t nv = p->n_layers - l0 < step ? p->n_layers - l0 : step;
            for (int32_t l = 0; l < nv; l++)
                views[l] =
                    (gl_kv_view){p->k[l0 + l], p->v[l0 + l], NULL, 0, p->block_size, 1, hd, false};
            be->ops->kv_copy_blocks(be, nv, views, cow->n, dsrc, ddst);
        }
    }
    cow->n = 0;
    return st;
}

void kv_copies_free(kv_copies *cow)
{
    free(cow->src);
    free(cow->dst);
    memset(cow, 0, sizeof *cow);
}
