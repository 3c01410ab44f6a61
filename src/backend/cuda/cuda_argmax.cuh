/* The argmax order shared by the argmax op (cuda_misc.cu) and the lm_head's fused argmax
 * (cuda_lm_head.cu): torch.argmax's first maximum, NaN counting as the maximum. */
#ifndef GLOSSA_BACKEND_CUDA_ARGMAX_CUH
#define GLOSSA_BACKEND_CUDA_ARGMAX_CUH

#include <stdint.h>

/* a beats b: a real candidate over none (index < 0); NaN over numbers; the larger value; the
 * lower index. */
static __device__ __forceinline__ bool arg_better(float av, int32_t ai, float bv, int32_t bi)
{
    if (ai < 0) return false;
    if (bi < 0) return true;
    bool an = av != av, bn = bv != bv;
    if (an != bn) return an;
    if (!an && av != bv) return av > bv;
    return ai < bi;
}

#endif
