/* The int8 lm_head path's shared layout (cuda_lm_int8.cu: the shadow, pass 1 for 1-8 rows, pass
 * 2, the op; cuda_lm_int8_wide.cu: pass 1 for 9-64 rows). */
#ifndef GLOSSA_BACKEND_CUDA_LM_INT8_CUH
#define GLOSSA_BACKEND_CUDA_LM_INT8_CUH

#include <math.h>

#include "backend/cuda/cuda_argmax.cuh"
#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cuda_mma.cuh"

#define L8_WARPS 8
#define L8_THREADS (L8_WARPS * 32)
#define L8_ROWS 32  /* rows per pass-1 block: two 16-row mma tiles */
#define L8_CH 64    /* int8 elements per chunk: 16 bytes a lane, 4 lanes a row */
#define L8_SMALL_M 8 /* l8_scan: one n8 tile of tokens */
#define L8_MAX_M 64  /* l8_wide (cuda_lm_int8_wide.cu): up to 8 n8 tiles */
#define L8_MIN_N 32768 /* smaller vocabularies: the shadow is not worth its memory */
#define L8_PICK_COLS 8192 /* columns per pass-2 block (a multiple of 8 L8_THREADS) */
#define L8_NEG_INF_ENC 0x007fffffu /* arg_key(-inf) */

typedef struct l8_params {
    int32_t m, n_valid, k, xs, cpw;
    const __half *x, *w, *bias;
    const int8_t *q;
    const float *scale, *bound, *en, *qn; /* per row (cuda_lm_int8.cu: l8_quantize) */
    __half *hi;      /* (m, ldh): the upper bounds, rounded up */
    int64_t ldh;
    unsigned *lmax;  /* (L8_MAX_M): each token's largest lower bound, arg_key */
    float *pv;       /* (L8_MAX_M, nb2) pass 2's per-block bests */
    int32_t *pi;
    unsigned *count; /* pass-2 blocks done; 0 between launches */
    int32_t *ids;
    int32_t nb2;
} l8_params;

/* Two int8 of a word (bytes picked by sel: 0x5140 the low pair, 0x7362 the high pair) as an
 * exact half2: 0x64XX is the half 1024 + XX, and XX = v + 128 is v ^ 0x80. */
static __device__ __forceinline__ uint32_t l8_h2(uint32_t word, uint32_t sel)
{
    uint32_t v = __byte_perm(word ^ 0x80808080u, 0x64646464u, sel);
    __half2 h = *reinterpret_cast<__half2 *>(&v);
    h = __hsub2(h, __floats2half2_rn(1152.0f, 1152.0f));
    return *reinterpret_cast<uint32_t *>(&h);
}

/* A column's bounds from its int8 product sum (s_i q_i . x): av = sc sum + b, bx = c ||x|| + the
 * fp32 rounding of adding the bias (a large bias on a small product); a row with a non-finite
 * weight (c = inf) or x not finite: hi = inf, lo = -inf (NaN when av is: L becomes NaN and every
 * column a candidate). */
static __device__ __forceinline__ void l8_bounds(float sc, float sum, float b, float bd, float xn,
                                                 float *hi, float *lo)
{
    const float av = sc * sum + b, bx = bd * xn + fabsf(b) * 0x1p-22f;
    *hi = av + bx;
    *lo = av - bx;
    if (bx != bx || bx == INFINITY) {
        *hi = INFINITY;
        *lo = av != av ? av : -INFINITY;
    }
}

/* Pass 1 for 9-64 rows (cuda_lm_int8_wide.cu): false when the shared memory cannot be had. */
bool l8_wide_launch(cuda_state *s, const l8_params &p);

#endif
