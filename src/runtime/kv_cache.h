/* The paged K/V store: a pool of fixed-size blocks shared by all layers (block b holds rows
 * [b * block_size, (b + 1) * block_size) of every layer's K and V buffer), a free list, reference
 * counts, and per-sequence block tables (vLLM's block manager, in miniature).
 *
 * Sequences share blocks by forking (beam search: a new beam forks its parent); a shared block is
 * copied before it is written (copy-on-write), so full blocks are never copied.
 */
#ifndef GLOSSA_RUNTIME_KV_CACHE_H
#define GLOSSA_RUNTIME_KV_CACHE_H

#include <stdint.h>

#include "backend/backend.h"

typedef struct kv_pool {
    backend *be;
    int32_t n_layers;
    int32_t width;       /* n_heads * head_dim values per token per layer */
    int32_t block_size;  /* tokens per block */
    int32_t n_blocks;
    void **k, **v;       /* (n_layers) device buffers of n_blocks * block_size * width */
    int32_t *refcount;   /* (n_blocks) */
    int32_t *free_list;  /* (n_blocks) stack of free block ids */
    int32_t n_free;
    int32_t *copy_idx;   /* device: copy-on-write block indices (src then dst), grown rarely */
    int32_t copy_cap;    /* pairs it holds */
    uint32_t epoch;      /* process-unique, new at every resize: the buffers moved */
} kv_pool;

/* Block copies a step must perform before writing (copy-on-write), src[i] -> dst[i] (src holds
 * room for dst behind it: kv_copies_apply uploads both in one). */
typedef struct kv_copies {
    int32_t *src, *dst;
    int32_t n, cap;
} kv_copies;

typedef struct kv_seq {
    int32_t *blocks;     /* block table */
    int32_t n_blocks, cap_blocks;
    int32_t len;         /* tokens stored */
} kv_seq;

/* An empty pool (no blocks); kv_pool_resize() gives it storage. */
void kv_pool_init(kv_pool *p, backend *be, int32_t n_layers, int32_t width, int32_t block_size);
/* (Re)allocate storage for n_blocks blocks. Only when no block is in use (contents are lost). */
glossa_status kv_pool_resize(kv_pool *p, int32_t n_blocks);
/* One value for a self- and a cross-attention pool that changes whenever either's buffers move
 * (a recorded decoder pass holds their addresses: bart_kv.epoch). */
uint64_t kv_pool_epochs(const kv_pool *self, const kv_pool *cross);
void kv_pool_free(kv_pool *p);
/* Bytes of K and V per token (all layers). */
size_t kv_pool_bytes_per_token(const kv_pool *p);

/* Make room for n more tokens of s: slots[i] receives the flat slot (block * block_size + row)
 * of token s->len + i; s->len grows by n. A shared partially-filled last block is replaced by a
 * private copy, recorded in cow (NULL: no copies allowed -> INTERNAL). OUT_OF_MEMORY when the
 * pool has no free block (s unchanged then). */
glossa_status kv_seq_append(kv_pool *p, kv_seq *s, int32_t n, int32_t *slots, kv_copies *cow);
/* Undo the last token of s (appended without a copy-on-write): s->len shrinks by one, a block
 * left empty goes back to the pool. */
void kv_seq_pop(kv_pool *p, kv_seq *s);
/* dst (empty) shares every block of src. */
glossa_status kv_seq_fork(kv_pool *p, kv_seq *dst, const kv_seq *src);
/* Drop s's blocks (length 0 after); keeps its table memory. */
void kv_seq_release(kv_pool *p, kv_seq *s);
/* Release and free the table. */
void kv_seq_free(kv_pool *p, kv_seq *s);
/* Blocks needed for len tokens. */
int32_t kv_blocks_for(const kv_pool *p, int32_t len);

/* Run the recorded copies on every layer, then clear cow. */
glossa_status kv_copies_apply(kv_pool *p, kv_copies *cow);
void kv_copies_free(kv_copies *cow);

#endif
