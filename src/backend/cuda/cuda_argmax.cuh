/* The argmax order shared by the argmax kernels (cuda_misc.cu) and the lm_head's fused argmax
 * (cuda_lm_argmax.cu). */
#ifndef GLOSSA_BACKEND_CUDA_ARGMAX_CUH
#define GLOSSA_BACKEND_CUDA_ARGMAX_CUH

#include <stdint.h>

/* (av, ai) beats (bv, bi): a real candidate (index >= 0) over none; NaN over numbers; the larger
 * value; the lower index. A total order, so a winner does not depend on how the reduction is
 * split: torch.argmax's answer, as the CPU twin's. */
static __device__ __forceinline__ bool arg_better(float av, int32_t ai, float bv, int32_t bi)
{
    if (ai < 0) return false;
    if (bi < 0) return true;
    bool an = av != av, bn = bv != bv;
    if (an != bn) return an;
    if (!an && av != bv) return av > bv;
    return ai < bi;
}

/* Every lane gets the best (v, i) of the lanes whose ids differ from its own in bits from, 2 from,
 * ... 16 (from = 1: the whole warp; 4: the 8 lanes of an mma fragment's column). */
static __device__ __forceinline__ void arg_warp_best(float *v, int32_t *i, int from)
{
#pragma unroll
    for (int o = from; o < 32; o <<= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, *v, o);
        const int32_t oi = __shfl_xor_sync(0xffffffffu, *i, o);
        if (arg_better(ov, oi, *v, *i)) {
            *v = ov;
            *i = oi;
        }
    }
}

/* A float as an unsigned integer of the same order (-0 = +0, NaN above +inf): a key for integer
 * atomics and radix selection (the beam top-k's, the int8 lm_head's maxima); arg_unkey inverts it
 * (NaN for NaN's key, +0 for zero's). */
static __device__ __forceinline__ uint32_t arg_key(float v)
{
    if (v != v) return 0xFFFFFFFFu;
    if (v == 0.0f) return 0x80000000u;
    const uint32_t u = __float_as_uint(v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static __device__ __forceinline__ float arg_unkey(uint32_t k)
{
    if (k == 0xFFFFFFFFu) return __uint_as_float(0x7fffffffu);
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}

/* The best index of n per-block partials (value pv[b * bs], index pi[b * bs], b < n) that other
 * blocks wrote (read past the L1); every lane of the calling warp gets it. */
static __device__ __forceinline__ int32_t arg_partials_best(const float *pv, const int32_t *pi,
                                                            int n, int bs)
{
    float v = 0.0f;
    int32_t i = -1;
    for (int b = threadIdx.x & 31; b < n; b += 32) {
        const float ov = __ldcg(pv + (int64_t)b * bs);
        const int32_t oi = __ldcg(pi + (int64_t)b * bs);
        if (arg_better(ov, oi, v, i)) {
            v = ov;
            i = oi;
        }
    }
    arg_warp_best(&v, &i, 1);
    return i;
}

#endif
