/* The activations of the linear op in fp32, the same forms as the CPU twin (shared by the cuBLASLt
 * path's elementwise kernel and the skinny-GEMM kernel).
 *
 * lin_gelu: x Phi(x) with Phi's tail from the CPU twin's erfc polynomial (backend/erfcc.h),
 * branch-free, with the hardware's reciprocal and exp2 (MUFU) instead of CUDA's erfcf (~70
 * instructions an element: the encoder's GELU pass over a 4,096 x 4,096 fc1 output was
 * instruction-bound at 28% of the DRAM peak, docs/PERF.md). Error, measured with the same float
 * operations on the CPU (correctly rounded reciprocal and exp2; MUFU's add ~2 ulp) against
 * double erfc over [-12, 12] in steps of 1e-4: at most 1.9e-6 relative for |x| <= 6 (at -5.7,
 * where the value is ~-3e-8) and 3.8e-7 absolute. tests/gpu/test_cuda_linear checks the op
 * against the CPU twin at the act dtype's tolerance. */
#ifndef GLOSSA_BACKEND_CUDA_ACT_CUH
#define GLOSSA_BACKEND_CUDA_ACT_CUH

#include "backend/cuda/cuda_internal.h"
#include "backend/erfcc.h"

static __device__ __forceinline__ float lin_gelu(float x)
{
    const float a = fabsf(x);
    /* t = 1 / (1 + a / (2 sqrt 2)) */
    const float t = __fdividef(1.0f, fmaf(0.35355339059327376220f, a, 1.0f));
    float p = GL_ERFCC_TOP;
#define LIN_ERFCC_STEP(c) p = fmaf(p, t, (c));
    GL_ERFCC_STEPS(LIN_ERFCC_STEP)
#undef LIN_ERFCC_STEP
    /* Phi(-a) = erfc(a / sqrt 2) / 2 = t exp(-a^2 / 2 + p) / 2 */
    const float q = 0.5f * t * exp2f(fmaf(-0.5f * a, a, p) * 1.44269504088896341f);
    return x * (x < 0.0f ? q : 1.0f - q);
}

static __device__ __forceinline__ float lin_act(float v, int act)
{
    switch (act) {
    case GL_ACT_GELU: return lin_gelu(v);
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
