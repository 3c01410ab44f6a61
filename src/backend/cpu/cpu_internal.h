/* The CPU backend's private state and op entry points, shared by the cpu_*.c files. */
#ifndef GLOSSA_BACKEND_CPU_INTERNAL_H
#define GLOSSA_BACKEND_CPU_INTERNAL_H

#include "backend/backend.h"
#include "core/threadpool.h"

#define CPU_ALIGN 64

/* Attention scratch of one thread, sized at create for every head_dim (see cpu_attention.c). */
typedef struct cpu_attn_scratch {
    float *kt;           /* (head_dim, tile) transposed key tile */
    float *s;            /* (q_block, tile) scores */
    float *m;            /* (q_block) running max */
    float *l;            /* (q_block) running sum */
    const float **kptr;  /* (tile) key rows of the tile */
    const float **vptr;  /* (tile) value rows of the tile */
} cpu_attn_scratch;

typedef struct cpu_state {
    threadpool *pool;
    int n_threads;
    float *lin_scratch; /* n_threads x CPU_LIN_TILE floats: GEMM tiles when y aliases residual */
    cpu_attn_scratch *attn; /* n_threads */
    bool gemm_small;        /* cpu_gemm_small runs here (AVX2 + FMA) */
    void *beam_scratch;     /* cpu_beam.c: per-row candidate lists, grown on demand */
    size_t beam_scratch_bytes;
    unsigned char async_buf[GL_ASYNC_DOWNLOAD_MAX]; /* download_begin's copy until its end */
} cpu_state;

/* linear tiles: at most CPU_LIN_MB rows (when m > CPU_LIN_MB) by CPU_LIN_NB columns */
#define CPU_LIN_MB 512
#define CPU_LIN_NB 256
#define CPU_LIN_TILE ((size_t)CPU_LIN_MB * CPU_LIN_NB)

static inline cpu_state *cpu_of(backend *b)
{
    return (cpu_state *)b->impl;
}

/* aligned host memory; NULL on failure or overflow */
void *cpu_aligned_alloc(size_t bytes);

/* cpu_attention.c */
glossa_status cpu_attn_scratch_init(cpu_attn_scratch *s);
void cpu_attn_scratch_free(cpu_attn_scratch *s);
void cpu_attention(backend *b, int32_t n_seqs, int32_t n_heads, int32_t head_dim, const void *q,
                   int32_t q_stride, const void *k, const void *v, int32_t kv_stride,
                   const int32_t *q_off, const int32_t *k_off, bool causal, float scale,
                   void *out);
void cpu_attention_paged(backend *b, int32_t n_seqs, const void *q, int32_t q_stride,
                         const int32_t *q_off, const gl_kv_view *kv, const int32_t *kv_lens,
                         bool causal, float scale, void *out);
void cpu_kv_write(backend *b, int32_t n, const void *k, const void *v, int32_t kv_stride,
                  const int32_t *slot_mapping, const gl_kv_view *kv);
void cpu_kv_copy_blocks(backend *b, int32_t n_views, const gl_kv_view *views, int32_t n,
                        const int32_t *src, const int32_t *dst);

/* cpu_linear.c */
/* Tell OpenBLAS how many threads to use (process-wide; re-set only when it changes). */
void cpu_blas_set_threads(int n);
void cpu_linear(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                const gl_weight *bias, gl_act act, const void *residual, void *y);

/* cpu_gemm_small.c: y(m, n) = x(m, k) W(n, k)^T straight from W, for m <= CPU_GEMM_SMALL_MAX_M
 * where the CPU has AVX2 and FMA. */
#define CPU_GEMM_SMALL_MAX_M 32
bool cpu_gemm_small_supported(void);
void cpu_gemm_small(int64_t m, int64_t n, int64_t k, const float *x, int64_t xs, const float *w,
                    float *y, int64_t ldy);

/* cpu_norm.c */
void cpu_layernorm(backend *b, int32_t m, void *x, const void *r, const gl_weight *gamma,
                   const gl_weight *beta, float eps, void *y);
void cpu_add(backend *b, int64_t n, const void *x, const void *r, void *y);

/* cpu_misc.c */
void cpu_embed(backend *b, int32_t m, const int32_t *ids, const int32_t *positions,
               const gl_weight *tok, const gl_weight *pos, float scale, void *y);
void cpu_gather_rows(backend *b, int32_t m, int32_t d, const void *x, const int32_t *rows,
                     void *y);
glossa_status cpu_argmax(backend *b, int32_t m, int32_t n, int32_t ld, const void *x, int32_t *out);
/* the linear_argmax op (backend.h): the linear op, then argmax over its first n_valid columns
 * (ids in host memory, as every index array here; y always written); no faster than the two here,
 * but the engine's device-logits path (GLOSSA_DEVICE_LOGITS=1) runs through it as on the GPU */
bool cpu_linear_argmax(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                       const gl_weight *bias, int32_t n_valid, void *y, bool keep_y, int32_t *ids);

/* cpu_beam.c */
glossa_status cpu_beam_topk(backend *b, int32_t m, int32_t n, int32_t ld, const void *x,
                            int32_t n_groups, const gl_beam_group *groups);

#endif
