/* The int8 lm_head path's shared layout (cuda_lm_int8.cu: the shadow, pass 1 for 1-8 rows, pass
 * 2, the op; cuda_lm_int8_wide.cu and cuda_lm_int8_wg.cu: pass 1 for 9-64 rows). */
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
/* columns per pass-2 block (a multiple of 8 L8_THREADS): 8 pieces of 16 bytes a thread; at 8,192
 * (4 pieces) a 64-row call's 1,984 blocks took two waves: 16,384 -1 to -4 us a step at batch 16,
 * 32 and 64, 32,768 no better (H100, docs/PERF.md) */
#define L8_PICK_COLS 16384
#define L8_CANDS 1024 /* pass 2's candidate list, columns a block (more: rescored in place) */
#define L8_TILE 128 /* columns per tmax entry (pass 1 on wgmma: its tile) */
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
    unsigned *count; /* (L8_MAX_M) pass-2 blocks of each token done; 0 between launches */
    int32_t *ids;
    int32_t nb2;
    int8_t *xg;      /* (L8_MAX_M, k) int8 x in l8_xq_off's swizzled layout (l8_xquant) */
    int32_t wide;    /* pass 1 was l8_wide (int8 x: its bound; every bf16 call), else l8_scan
                        (fp16 x) */
    __half *tmax;    /* (m, ldt): each token's largest av over each 128 columns (L8_TILE), a NaN
                        as +inf; written by l8_ws only (NULL: pass 2 reads all of av) */
    int64_t ldt;
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

/* Where byte kb of token tok's int8 row goes: xstr > 0, rows xstr bytes apart (l8_wide's shared
 * memory); xstr < 0, wgmma's 128-byte swizzle (cuda_lm_int8_wg.cu: per 128 bytes of k a block of
 * 64 token rows of 128 bytes, the 16-byte piece c of row tok at c ^ (tok % 8)). kb % 8 == 0. */
static __device__ __forceinline__ int l8_xq_off(int tok, int kb, int k, int xstr)
{
    if (xstr > 0) return tok * xstr + kb;
    return (kb >> 7) * (L8_MAX_M * 128) + tok * 128 + ((((kb >> 4) & 7) ^ (tok & 7)) << 4) +
           (kb & 15);
}

/* Token rows [0, m8) of x into int8 rows of xq (zeros past m; layout: l8_xq_off), with their
 * scale and norms: warp w the tokens w, w + nwarps, ... (or tok0, tok0 + tstep, ...; fp64 for
 * the quantisation error's norm). */
template <typename T>
static __device__ void l8_stage_x(const l8_params &p, int m8, int8_t *xq, int xstr, float *sx,
                                  float *xn, float *xe, int tok0 = -1, int tstep = 0)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    if (tok0 < 0) { /* the block's warps in turn (else: a grid's) */
        tok0 = warp;
        tstep = nwarps;
    }
    for (int tok = tok0; tok < m8; tok += tstep) {
        const uint4 *xr = reinterpret_cast<const uint4 *>((const T *)p.x + (int64_t)tok * p.xs);
        float mx = 0.0f;
        bool bad = false;
        for (int v0 = lane; tok < p.m && v0 < p.k / 8; v0 += 128) { /* 4 loads in flight */
            uint4 u[4];
#pragma unroll
            for (int i = 0; i < 4; i++)
                u[i] = v0 + 32 * i < p.k / 8 ? __ldg(xr + v0 + 32 * i) : make_uint4(0, 0, 0, 0);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const T *h = reinterpret_cast<const T *>(&u[i]);
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    const float f = gl_cu_f32(h[e]);
                    bad |= !isfinite(f);
                    mx = fmaxf(mx, fabsf(f));
                }
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            bad |= __shfl_xor_sync(0xffffffffu, (int)bad, o) != 0;
        }
        const float s = mx > 0.0f && !bad ? mx / 127.0f : 1.0f;
        double ss = 0.0, se = 0.0;
        for (int v0 = lane; v0 < p.k / 8; v0 += 128) {
            uint4 u[4];
#pragma unroll
            for (int i = 0; i < 4; i++)
                u[i] = tok < p.m && !bad && v0 + 32 * i < p.k / 8 ? __ldg(xr + v0 + 32 * i)
                                                                 : make_uint4(0, 0, 0, 0);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int v = v0 + 32 * i;
                if (v >= p.k / 8) break;
                uint2 packed = make_uint2(0, 0);
                if (tok < p.m && !bad) {
                    const T *h = reinterpret_cast<const T *>(&u[i]);
                    int8_t *pb = reinterpret_cast<int8_t *>(&packed);
#pragma unroll
                    for (int e = 0; e < 8; e++) {
                        const float f = gl_cu_f32(h[e]);
                        const float qf = fminf(fmaxf(rintf(f / s), -127.0f), 127.0f);
                        const double err = (double)f - (double)qf * (double)s;
                        ss += (double)f * f;
                        se += err * err;
                        pb[e] = (int8_t)qf;
                    }
                }
                *reinterpret_cast<uint2 *>(xq + l8_xq_off(tok, v * 8, p.k, xstr)) = packed;
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            ss += __shfl_xor_sync(0xffffffffu, ss, o);
            se += __shfl_xor_sync(0xffffffffu, se, o);
        }
        if (lane == 0) {
            sx[tok] = bad ? NAN : s;
            xn[tok] = (float)(sqrt(ss) * (1.0 + 1e-4));
            xe[tok] = (float)(sqrt(se) * (1.0 + 1e-4));
        }
    }
}

/* Pass 1 for 9-64 rows, or any bf16 call (cuda_lm_int8_wide.cu; l8_wg_launch first): false
 * when the shared memory cannot be had. */
bool l8_wide_launch(cuda_state *s, const l8_params &p, bool bf16);

/* The same on wgmma (cuda_lm_int8_wg.cu), for 33-64 rows: false when it cannot run (fewer rows,
 * k, shared memory, no sm_90a code: s->l8_wg; rows: the shadow's). l8_wg_probe: whether this
 * GPU runs its sm_90a code (and GLOSSA_CUDA_LM_INT8_WG is not 0); once, outside any capture. */
bool l8_wg_launch(cuda_state *s, const l8_params &p, bool bf16, int64_t rows);
bool l8_wg_probe(cuda_state *s);

/* x quantised once into p.xg / p.tokc for either pass 1 above (cuda_lm_int8_wg.cu), launched
 * with PDL */
void l8_xquant_launch(cuda_state *s, const l8_params &p, bool bf16);

#endif
