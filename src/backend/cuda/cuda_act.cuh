/* The activations of the linear op in fp32, the same forms as the CPU twin (shared by the cuBLASLt
 * path's elementwise kernel and the skinny-GEMM kernel). */
#ifndef GLOSSA_BACKEND_CUDA_ACT_CUH
#define GLOSSA_BACKEND_CUDA_ACT_CUH

#include "backend/cuda/cuda_internal.h"

static __device__ __forceinline__ float lin_act(float v, int act)
{
    switch (act) {
    case GL_ACT_GELU: return 0.5f * v * erfcf(-v * 0.70710678118654752440f);
    case GL_ACT_GELU_TANH: {
        float u = 0.79788456080286535588f * (v + 0.044715f * (v * v * v));
        return v / (1.0f + expf(-2.0f * u));
    }
    case GL_ACT_RELU: return v < 0.0f ? 0.0f : v; /* NaN stays NaN */
    case GL_ACT_SILU: return v / (1.0f + expf(-v));
    default: return v;
    }
}

#endif
