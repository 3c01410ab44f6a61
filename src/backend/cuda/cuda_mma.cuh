/* Tensor-core and streaming-load helpers shared by the weight-streaming GEMMs
 * (cuda_linear_skinny.cu, cuda_lm_argmax.cu). */
#ifndef GLOSSA_BACKEND_CUDA_MMA_CUH
#define GLOSSA_BACKEND_CUDA_MMA_CUH

#include "backend/cuda/cuda_internal.h"

/* c += A B on the tensor cores, mma.sync.m16n8k16 with fp32 accumulation, for T = half / bf16. */
template <typename T> struct sk_mma;
#define SK_MMA(T, PTX_T)                                                                           \
    template <> struct sk_mma<T> {                                                                 \
        static __device__ __forceinline__ void run(float c[4], uint32_t a0, uint32_t a1,           \
                                                   uint32_t a2, uint32_t a3, uint32_t b0,          \
                                                   uint32_t b1)                                    \
        {                                                                                          \
            asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." PTX_T "." PTX_T ".f32 "          \
                         "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"                 \
                         : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])                          \
                         : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));                  \
        }                                                                                          \
    };
SK_MMA(__half, "f16")
SK_MMA(__nv_bfloat16, "bf16")
#undef SK_MMA

/* 16 bytes of a weight read once: the streaming (evict-first) hint. */
static __device__ __forceinline__ uint4 sk_load_stream(const void *p)
{
    uint4 v;
    asm volatile("ld.global.cs.v4.u32 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

#endif
