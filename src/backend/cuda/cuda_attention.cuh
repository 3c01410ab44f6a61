/* Shared pieces of the CUDA attention kernels (cuda_attention.cu: the row kernels for paged decode
 * and any head_dim; cuda_attention_flash.cu: the tensor-core kernel for packed sequences). */
#ifndef GLOSSA_BACKEND_CUDA_ATTENTION_CUH
#define GLOSSA_BACKEND_CUDA_ATTENTION_CUH

#include <string.h>

#include "backend/cuda/cuda_internal.h"

/* Two activations as one 32-bit value, per act dtype. */
template <typename T> struct attn_pair;
template <> struct attn_pair<__half> {
    typedef __half2 type;
};
template <> struct attn_pair<__nv_bfloat16> {
    typedef __nv_bfloat162 type;
};

static __device__ __forceinline__ float2 attn_f2(__half2 v)
{
    return __half22float2(v);
}
static __device__ __forceinline__ float2 attn_f2(__nv_bfloat162 v)
{
    return __bfloat1622float2(v);
}

/* 8 activations held raw in 16 bytes to 8 floats. */
template <typename T> __device__ __forceinline__ void attn_unpack8(uint4 u, float f[8])
{
    typedef typename attn_pair<T>::type T2;
    T2 h[4];
    memcpy(h, &u, sizeof h); /* not a pointer pun: register moves after optimisation */
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 x = attn_f2(h[i]);
        f[2 * i] = x.x;
        f[2 * i + 1] = x.y;
    }
}

/* 8 activations at a 16-byte aligned address to 8 floats, one 16-byte load. */
template <typename T> __device__ __forceinline__ void attn_load8(const T *p, float f[8])
{
    attn_unpack8<T>(*reinterpret_cast<const uint4 *>(p), f);
}

/* Online-softmax states (running max m, sum l, output acc over 8 dims) of the lanes FIRST, 2 FIRST,
 * ... apart (groups of lanes holding the same dims of different keys) merged by shuffles: every
 * lane ends with the merge over its dims' lanes. exp2 domain; a state with m = -inf is empty. */
template <int FIRST>
__device__ __forceinline__ void attn_merge_lanes(float *m, float *l, float acc[8])
{
#pragma unroll
    for (int off = FIRST; off < 32; off <<= 1) {
        const float mo = __shfl_xor_sync(0xffffffffu, *m, off);
        const float lo = __shfl_xor_sync(0xffffffffu, *l, off);
        const float mn = fmaxf(*m, mo);
        const float c1 = mn == -INFINITY ? 0.0f : exp2f(*m - mn);
        const float c2 = mn == -INFINITY ? 0.0f : exp2f(mo - mn);
        *l = *l * c1 + lo * c2;
#pragma unroll
        for (int e = 0; e < 8; e++) {
            const float ao = __shfl_xor_sync(0xffffffffu, acc[e], off);
            acc[e] = acc[e] * c1 + ao * c2;
        }
        *m = mn;
    }
}

/* Arguments of the packed-sequence (contiguous K/V) attention op, as backend.h states them. */
typedef struct attn_packed_args {
    int32_t n_seqs, n_heads, head_dim;
    const void *q, *k, *v;
    int32_t q_stride, kv_stride;
    const int32_t *q_off, *k_off; /* device, n_seqs + 1 */
    bool causal;
    float scale;
    void *out;                    /* (total_q, n_heads * head_dim) dense */
} attn_packed_args;

/* cuda_attention_flash.cu: run the tensor-core kernel when it supports the call (head_dim 32, 64,
 * 80, 96 or 128; 16-byte aligned rows); false (nothing launched) otherwise. */
bool cuda_attn_flash(cuda_state *s, gl_dtype t, const attn_packed_args *a);

#endif
