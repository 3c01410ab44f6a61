/* linear: y = act(x W^T + bias) (+ residual). y is cut into a fixed grid of tiles shared over the
 * pool; each tile is one single-threaded OpenBLAS sgemm followed at once, while the tile is still
 * in cache, by the fused epilogue (bias, activation, residual). When y aliases the residual, the
 * tile's GEMM goes to per-thread scratch first, so the residual is read before it is overwritten
 * and the rounding order stays act(xW + b) + r. */
#include "backend/cpu/cpu_vec.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_math.h"

static atomic_int blas_threads_set;

void cpu_blas_set_threads(int n)
{
    if (atomic_exchange(&blas_threads_set, n) != n) openblas_set_num_threads(n);
}

static inline float act_none(float v)
{
    return v;
}

static inline float act_relu(float v)
{
    return v < 0.0f ? 0.0f : v; /* NaN stays NaN, as torch.relu */
}

#define EPI_LOOPS(F)                                                                               \
    do {                                                                                           \
        if (bias && res)                                                                           \
            for (int64_t c = 0; c < n; c++) dst[c] = F(src[c] + bias[c]) + res[c];                 \
        else if (bias)                                                                             \
            for (int64_t c = 0; c < n; c++) dst[c] = F(src[c] + bias[c]);                          \
        else if (res)                                                                              \
            for (int64_t c = 0; c < n; c++) dst[c] = F(src[c]) + res[c];                           \
        else                                                                                       \
            for (int64_t c = 0; c < n; c++) dst[c] = F(src[c]);                                    \
    } while (0)

/* dst[c] = act(src[c] + bias[c]) + res[c] for c < n; bias, res may be NULL; dst may be src or
 * res (each element is read before it is written). One loop per case keeps the plain ones
 * vectorisable. */
CPU_VEC_CLONES static void epilogue_row(float *dst, const float *src, const float *bias, const float *res,
                         gl_act act, int64_t n)
{
    switch (act) {
    case GL_ACT_NONE: EPI_LOOPS(act_none); break;
    case GL_ACT_RELU: EPI_LOOPS(act_relu); break;
    case GL_ACT_GELU: EPI_LOOPS(cpu_gelu); break;
    case GL_ACT_GELU_TANH: EPI_LOOPS(cpu_gelu_tanh); break;
    case GL_ACT_SILU: EPI_LOOPS(cpu_silu); break;
    }
}

/* The tile grid depends only on the shapes (never on the thread count), and every tile is one
 * single-threaded sgemm, so results are bit-identical for any number of threads. */
typedef struct lin_job {
    cpu_state *st;
    int64_t m, n, k;
    const float *x;
    int64_t x_stride;
    const float *w;
    const float *bias;
    gl_act act;
    const float *res;
    float *y;
    bool alias; /* res == y: GEMM into per-thread scratch first */
    bool small; /* cpu_gemm_small instead of OpenBLAS */
    int64_t mb, nb, n_col_tiles;
} lin_job;

static void lin_tiles(void *ctx, int64_t begin, int64_t end, int tid)
{
    const lin_job *j = ctx;
    float *scratch = j->st->lin_scratch + (size_t)tid * CPU_LIN_TILE;
    for (int64_t t = begin; t < end; t++) {
        int64_t r0 = t / j->n_col_tiles * j->mb, c0 = t % j->n_col_tiles * j->nb;
        int64_t rows = j->m - r0 < j->mb ? j->m - r0 : j->mb;
        int64_t cols = j->n - c0 < j->nb ? j->n - c0 : j->nb;
        float *yt = j->y + r0 * j->n + c0;
        float *acc = j->alias ? scratch : yt;
        int64_t ld = j->alias ? cols : j->n;
        if (j->small)
            cpu_gemm_small(rows, cols, j->k, j->x + r0 * j->x_stride, j->x_stride, j->w + c0 * j->k,
                           acc, ld);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)j->k,
                        1.0f, j->x + r0 * j->x_stride, (int)j->x_stride, j->w + c0 * j->k,
                        (int)j->k, 0.0f, acc, (int)ld);
        if (!j->bias && j->act == GL_ACT_NONE && !j->res) continue;
        for (int64_t r = 0; r < rows; r++)
            epilogue_row(yt + r * j->n, acc + r * ld, j->bias ? j->bias + c0 : NULL,
                         j->res ? j->res + (r0 + r) * j->n + c0 : NULL, j->act, cols);
    }
}

/* Tiles. Small m (the direct kernel, decode steps): 64 columns for n <= 2048, 128 for n <= 4096,
 * else 256, so a d_model projection still has work for 16+ threads. Larger m (OpenBLAS): 256
 * columns, rows whole up to CPU_LIN_MB, else equal blocks of at most 384 (a multiple of 16).
 * Measured with 2 threads against one 2-thread OpenBLAS call (m = 640, k, n in {1024, 4096}):
 * 256-column tiles within ~5-10% of it, 128-column ones 10-20% behind (x re-packed per tile). */
static void lin_grid(int64_t m, int64_t n, bool small, int64_t *mb, int64_t *nb)
{
    if (small) *nb = n <= 2048 ? 64 : n <= 4096 ? 128 : CPU_LIN_NB;
    else *nb = CPU_LIN_NB;
    if (m <= CPU_LIN_MB) {
        *mb = m;
    } else {
        int64_t blocks = (m + 383) / 384;
        *mb = ((m + blocks - 1) / blocks + 15) / 16 * 16;
    }
}

void cpu_linear(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                const gl_weight *bias, gl_act act, const void *residual, void *y)
{
    if (m <= 0) return;
    cpu_state *st = cpu_of(b);
    cpu_blas_set_threads(1);
    lin_job j = {.st = st,
                 .m = m,
                 .n = w->rows,
                 .k = w->cols,
                 .x = x,
                 .x_stride = x_stride,
                 .w = w->data,
                 .bias = bias ? (const float *)bias->data : NULL,
                 .act = act,
                 .res = residual,
                 .y = y,
                 .alias = residual && residual == y};
    j.small = st->gemm_small && m <= CPU_GEMM_SMALL_MAX_M;
    lin_grid(m, j.n, j.small, &j.mb, &j.nb);
    j.n_col_tiles = (j.n + j.nb - 1) / j.nb;
    int64_t n_tiles = (m + j.mb - 1) / j.mb * j.n_col_tiles;
    threadpool_parallel_for(st->pool, n_tiles, 1, lin_tiles, &j);
}
