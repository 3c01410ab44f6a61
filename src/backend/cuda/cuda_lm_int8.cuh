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
    const void *x, *w, *bias; /* the act dtype (fp16, or bf16 through l8_wide only) */
    const int8_t *q;
    const float *scale, *bound, *en, *qn; /* per row (cuda_lm_int8.cu: l8_quantize) */
    const float *mx; /* over the finite rows: max bound, max en, max qn; max |bias| (l8_maxes) */
    __half *av;      /* (m, ldh): each column's int8 logit, rounded to a half */
    int64_t ldh;
    unsigned *lmax;  /* (L8_MAX_M): each token's largest int8 logit of a finite row, arg_key */
    float *tokc;     /* (3, L8_MAX_M): each token's s_x, ||x||_2 (1 + 1e-4), ||x - s_x q_x||_2 */
    float *pv;       /* (L8_MAX_M, nb2) pass 2's per-block bests */
    int32_t *pi;
    unsigned *count; /* pass-2 blocks done; 0 between launches */
    int32_t *ids;
    int32_t nb2;
    int32_t wide;    /* pass 1 was l8_wide (int8 x: its bound; every bf16 call), else l8_scan
                        (fp16 x) */
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

/* A column's int8 logit as pass 1 stores it: a half, not below -65504 (a logit under the half
 * range must still bound its column from above; NaN kept), +inf for a row with a non-finite
 * weight (always rescored). */
static __device__ __forceinline__ __half l8_av(float av, bool ok)
{
    return __float2half_rn(!ok ? INFINITY : av < -65504.0f ? -65504.0f : av);
}

/* Pass 1 for 9-64 rows, or any bf16 call (cuda_lm_int8_wide.cu): false when the shared memory
 * cannot be had. */
bool l8_wide_launch(cuda_state *s, const l8_params &p, bool bf16);

#endif
