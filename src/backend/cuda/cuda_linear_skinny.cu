/* linear for few rows (decode steps: m <= skinny_max_m tokens): a weight-streaming tensor-core GEMM.
 *
 * Why: at m = 1..16 a decoder linear reads its weight once and does little arithmetic, so its time
 * is the weight bytes over the memory bandwidth plus the latency of one dependent chain, if enough
 * loads are in flight. cuBLASLt's kernels for these shapes tile the output features only
 * (N = 1024 gives 16 blocks on 132 SMs) and reached 0.35-0.65 TB/s on the H100/H200
 * (bench/gpu_quick.sh, NCU=1). A first version of this kernel split K over blocks and summed the
 * splits in the last block of a column (threadfence, atomic counter); its chain of dependent
 * global-memory round trips cost about as much as cuBLASLt, so K is now split inside the block.
 *
 * Shape: y(m, n) = act(x(m, k) W(n, k)^T + bias) (+ residual), the linear op of backend.h.
 * Work: a block owns 16 output features (rows of W) and all m tokens; its SK_WARPS warps split K
 * into equal ranges of 32-wide chunks and their fp32 sums meet in shared memory, where the block
 * applies bias, activation and residual. grid = ceil(n / 16) blocks. The product is computed
 * transposed, y^T = W x^T, with mma.sync.m16n8k16 (fp16 or bf16 in, fp32 accumulate): A = the 16
 * rows of W, B = 8 tokens of x, one n8 tile per 8 tokens (NT tiles).
 * Loads: the dot product may visit K in any order as long as A and B agree, so each lane loads 16
 * contiguous bytes (8 elements at k0 + 8 t of a 32-wide chunk, t = lane % 4) of its W rows g and
 * g + 8 and of its token rows g (g = lane / 4), and the chunk feeds two mma k16 steps: step s takes
 * elements {4s, 4s + 1} as the fragment's columns {2t, 2t + 1} and {4s + 2, 4s + 3} as {2t + 8,
 * 2t + 9}. Weights are read with the streaming (evict-first) hint, SK_U chunks at a time with the
 * next group in flight while the current one is multiplied; x (small, shared by all blocks)
 * through the read-only cache.
 * Launch: programmatic dependent launch (cuda_internal.h). The first weight loads do not depend
 * on earlier kernels, so they are issued before cuda_pdl_wait(): a layer's GEMM streams its weight
 * while the kernel before it finishes.
 * Preconditions (else cuda_linear.cu uses cuBLASLt): m <= skinny_max_m, k % 32 == 0,
 * x_stride % 8 == 0, x and W 16-byte aligned. */
#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_internal.h"

#define SK_WARPS 8 /* warps per block, splitting K */
#define SK_U 4     /* 32-wide K chunks per warp per load group */

typedef struct skinny_params {
    int32_t m, n, k, xs;
    const void *x, *w, *bias, *res;
    void *y;
    int act;
    int32_t cpw; /* chunks (of 32) per warp */
} skinny_params;
template <typename T> struct sk_mma;
template <> struct sk_mma<__half> {
    static __device__ __forceinline__ void run(float c[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                               uint32_t a3, uint32_t b0, uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
};
template <> struct sk_mma<__nv_bfloat16> {
    static __device__ __forceinline__ void run(float c[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                               uint32_t a3, uint32_t b0, uint32_t b1)
    {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
};

static __device__ __forceinline__ uint4 sk_load_stream(const void *p)
{
    uint4 v;
    asm volatile("ld.global.cs.v4.u32 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

/* bias, activation, residual and the store of one output element (token tok, feature f). */
template <typename T>
static __device__ __forceinline__ void sk_store(const skinny_params &p, int tok, int f, float v)
{
    if (p.bias) v += gl_cu_f32(((const T *)p.bias)[f]);
    v = lin_act(v, p.act);
    int64_t i = (int64_t)tok * p.n + f;
    if (p.res) v += gl_cu_f32(((const T *)p.res)[i]);
    ((T *)p.y)[i] = gl_cu_from_f32<T>(v);
}

/* One group of SK_U chunks of the warp's two weight rows, from chunk c (zeros past c_end). */
template <typename T>
static __device__ __forceinline__ void sk_load_group(uint4 a0[SK_U], uint4 a1[SK_U], const T *w0,
                                                     const T *w1, bool v0, bool v1, int c,
                                                     int c_end)
{
    const uint4 zero = make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int u = 0; u < SK_U; u++) {
        const bool in = c + u < c_end;
        const int64_t off = (int64_t)(c + u) * 32;
        a0[u] = in && v0 ? sk_load_stream(w0 + off) : zero;
        a1[u] = in && v1 ? sk_load_stream(w1 + off) : zero;
    }
}

template <typename T, int NT>
__global__ void __launch_bounds__(SK_WARPS * 32) skinny_kernel(skinny_params p)
{
    __shared__ float red[SK_WARPS][NT * 4][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int f0 = blockIdx.x * 16;
    const int c_beg = warp * p.cpw, c_end = min(p.k >> 5, c_beg + p.cpw);
    const T *w = (const T *)p.w, *x = (const T *)p.x;
    const bool v0 = f0 + g < p.n, v1 = f0 + g + 8 < p.n;
    const T *w0 = w + (int64_t)(v0 ? f0 + g : 0) * p.k + 8 * t;
    const T *w1 = w + (int64_t)(v1 ? f0 + g + 8 : 0) * p.k + 8 * t;
    const uint4 zero = make_uint4(0, 0, 0, 0);

    float acc[NT][4];
#pragma unroll
    for (int i = 0; i < NT; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;

    uint4 a0[SK_U], a1[SK_U], n0[SK_U], n1[SK_U];
    sk_load_group<T>(a0, a1, w0, w1, v0, v1, c_beg, c_end); /* weights only: before the wait */
    cuda_pdl_trigger();
    cuda_pdl_wait();
#pragma unroll 1
    for (int c = c_beg; c < c_end; c += SK_U) {
        if (c + SK_U < c_end) sk_load_group<T>(n0, n1, w0, w1, v0, v1, c + SK_U, c_end);
#pragma unroll
        for (int u = 0; u < SK_U; u++) {
            if (c + u >= c_end) break;
            const int64_t off = (int64_t)(c + u) * 32 + 8 * t;
#pragma unroll
            for (int i = 0; i < NT; i++) {
                const int tok = i * 8 + g;
                uint4 b = tok < p.m ? __ldg((const uint4 *)(x + (int64_t)tok * p.xs + off)) : zero;
                sk_mma<T>::run(acc[i], a0[u].x, a1[u].x, a0[u].y, a1[u].y, b.x, b.y);
                sk_mma<T>::run(acc[i], a0[u].z, a1[u].z, a0[u].w, a1[u].w, b.z, b.w);
            }
        }
#pragma unroll
        for (int u = 0; u < SK_U; u++) {
            a0[u] = n0[u];
            a1[u] = n1[u];
        }
    }

    /* acc[i][e] of lane (g, t): feature f0 + g + 8 (e / 2), token i * 8 + 2 t + e % 2 */
#pragma unroll
    for (int i = 0; i < NT; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) red[warp][i * 4 + e][lane] = acc[i][e];
    __syncthreads();
    for (int idx = threadIdx.x; idx < NT * 4 * 32; idx += blockDim.x) {
        const int ie = idx >> 5, ln = idx & 31;
        float v = 0.0f;
#pragma unroll
        for (int wp = 0; wp < SK_WARPS; wp++) v += red[wp][ie][ln];
        const int e = ie & 3, i = ie >> 2;
        const int tok = i * 8 + 2 * (ln & 3) + (e & 1), f = f0 + (ln >> 2) + (e >> 1) * 8;
        if (tok < p.m && f < p.n) sk_store<T>(p, tok, f, v);
    }
}

template <typename T, int NT> static void sk_launch(cuda_state *s, const skinny_params &p)
{
    cuda_launch_pdl(s, skinny_kernel<T, NT>, dim3((unsigned)((p.n + 15) / 16)),
                    dim3(SK_WARPS * 32), 0, "linear (skinny kernel)", p);
}

template <typename T> static void sk_dispatch(cuda_state *s, const skinny_params &p)
{
    if (p.m <= 8) sk_launch<T, 1>(s, p);
    else if (p.m <= 16) sk_launch<T, 2>(s, p);
    else sk_launch<T, 4>(s, p); /* m <= SK_MAX_M = 32 */
}

bool cuda_linear_skinny(cuda_state *s, int32_t m, const void *x, int32_t x_stride,
                        const gl_weight *w, const void *bias, gl_act act, const void *residual,
                        void *y)
{
    int32_t n = w->rows, k = w->cols;
    if (s->skinny_off || m < 1 || m > s->skinny_max_m || k % 32 != 0 || x_stride % 8 != 0 ||
        !cuda_aligned16(x) || !cuda_aligned16(w->data))
        return false;
    skinny_params p;
    memset(&p, 0, sizeof p);
    p.m = m;
    p.n = n;
    p.k = k;
    p.xs = x_stride;
    p.x = x;
    p.w = w->data;
    p.bias = bias;
    p.res = residual;
    p.y = y;
    p.act = (int)act;
    p.cpw = (k / 32 + SK_WARPS - 1) / SK_WARPS;
    if (s->act_dtype == GL_DTYPE_F16) sk_dispatch<__half>(s, p);
    else sk_dispatch<__nv_bfloat16>(s, p);
    return true;
}
