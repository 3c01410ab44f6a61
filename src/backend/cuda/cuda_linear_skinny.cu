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
 * Layer norm on load (the ln_linear op): with ln_g set, the block first computes the mean and
 * rstd of x's m rows (two passes in fp32, as the layernorm op), then normalises each 16-byte x load
 * ((x - mean) rstd gamma + beta, rounded to the activation type as the layernorm op would store
 * it) before the MMA: a pre-LN block's norm costs no kernel of its own at decode sizes.
 * Preconditions (else cuda_linear.cu uses cuBLASLt): m <= skinny_max_m, k % 32 == 0,
 * x_stride % 8 == 0, x and W 16-byte aligned. */
#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_internal.h"

#define SK_WARPS 8 /* warps per block, splitting K */
#define SK_U 4     /* 32-wide K chunks per warp per load group */
#define SK_LN_MAX_K 1024 /* ln_linear: rows held in registers, 32 elements a lane */

typedef struct skinny_params {
    int32_t m, n, k, xs;
    const void *x, *w, *bias, *res;
    void *y;
    int act;
    int32_t cpw; /* chunks (of 32) per warp */
    const void *ln_g, *ln_b; /* LN: x's rows are layer-normalised (gamma, beta or NULL) on load */
    float eps;
} skinny_params;
/* c += A B on the tensor cores, mma.sync.m16n8k16 with fp32 accumulation, for T = half / bf16. */
template <typename T> struct sk_mma;
#define SK_MMA(T, PTX_T)                                                                           \
    template <> struct sk_mma<T> {                                                                 \
        static __device__ __forceinline__ void run(float c[4], uint32_t a0, uint32_t a1,           \
                                                   uint32_t a2, uint32_t a3, uint32_t b0,          \
                                                   uint32_t b1)                                    \
        {                                                                                          \
            asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." PTX_T "." PTX_T ".f32 "         \
                         "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"                 \
                         : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])                          \
                         : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));                  \
        }                                                                                          \
    };
SK_MMA(__half, "f16")
SK_MMA(__nv_bfloat16, "bf16")
#undef SK_MMA

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

/* Layer-norm statistics of x's rows [0, m) (m <= 32) into mean[], rstd[], in fp32 with the two
 * passes of the layernorm op (mean, then squared deviations from it). Warp w takes rows w,
 * w + SK_WARPS, ..., two at a time; each lane keeps its (at most 32, k <= SK_LN_MAX_K) elements of
 * a row in registers, so the rows are read once, in one round trip (a second pass over memory
 * would add a dependent load to every decode GEMM that carries a layer norm). */
template <typename T>
static __device__ void sk_ln_stats(const skinny_params &p, float *mean, float *rstd)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const T *x = (const T *)p.x;
    const uint4 zero = make_uint4(0, 0, 0, 0);
    for (int r0 = warp; r0 < p.m; r0 += 2 * SK_WARPS) {
        uint4 v[2][4];
#pragma unroll
        for (int q = 0; q < 2; q++) {
            const int r = r0 + q * SK_WARPS;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int c = lane * 8 + i * 256;
                v[q][i] = r < p.m && c < p.k ? __ldg((const uint4 *)(x + (int64_t)r * p.xs + c))
                                             : zero;
            }
        }
#pragma unroll
        for (int q = 0; q < 2; q++) {
            const int r = r0 + q * SK_WARPS;
            float sum = 0.0f;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const T *e = (const T *)&v[q][i];
#pragma unroll
                for (int j = 0; j < 8; j++) sum += gl_cu_f32(e[j]);
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            const float mu = sum / (float)p.k;
            float sq = 0.0f;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                if (lane * 8 + i * 256 >= p.k) continue;
                const T *e = (const T *)&v[q][i];
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    const float t = gl_cu_f32(e[j]) - mu;
                    sq += t * t;
                }
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
            if (lane == 0 && r < p.m) {
                mean[r] = mu;
                rstd[r] = rsqrtf(sq / (float)p.k + p.eps);
            }
        }
    }
}

/* b (8 elements of a row of x) normalised: (x - mu) rstd gamma + beta, rounded to T as the
 * layernorm op stores it. */
template <typename T>
static __device__ __forceinline__ uint4 sk_ln_apply(uint4 b, float mu, float rs, uint4 g, uint4 bt,
                                                    bool has_beta)
{
    T *e = (T *)&b;
    const T *ge = (const T *)&g, *be = (const T *)&bt;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        float v = (gl_cu_f32(e[i]) - mu) * rs * gl_cu_f32(ge[i]);
        if (has_beta) v += gl_cu_f32(be[i]);
        e[i] = gl_cu_from_f32<T>(v);
    }
    return b;
}

template <typename T, int NT, bool LN>
__global__ void __launch_bounds__(SK_WARPS * 32) skinny_kernel(skinny_params p)
{
    __shared__ float red[SK_WARPS][NT * 4][32];
    __shared__ float ln_mean[LN ? NT * 8 : 1], ln_rstd[LN ? NT * 8 : 1];
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
    float mu[NT], rs[NT];
    if (LN) {
        sk_ln_stats<T>(p, ln_mean, ln_rstd);
        __syncthreads();
#pragma unroll
        for (int i = 0; i < NT; i++) {
            const int tok = i * 8 + g;
            mu[i] = tok < p.m ? ln_mean[tok] : 0.0f;
            rs[i] = tok < p.m ? ln_rstd[tok] : 0.0f;
        }
    }
#pragma unroll 1
    for (int c = c_beg; c < c_end; c += SK_U) {
        if (c + SK_U < c_end) sk_load_group<T>(n0, n1, w0, w1, v0, v1, c + SK_U, c_end);
#pragma unroll
        for (int u = 0; u < SK_U; u++) {
            if (c + u >= c_end) break;
            const int64_t off = (int64_t)(c + u) * 32 + 8 * t;
            uint4 lg = zero, lb = zero;
            if (LN) {
                lg = __ldg((const uint4 *)((const T *)p.ln_g + off));
                if (p.ln_b) lb = __ldg((const uint4 *)((const T *)p.ln_b + off));
            }
#pragma unroll
            for (int i = 0; i < NT; i++) {
                const int tok = i * 8 + g;
                uint4 b = tok < p.m ? __ldg((const uint4 *)(x + (int64_t)tok * p.xs + off)) : zero;
                if (LN && tok < p.m) b = sk_ln_apply<T>(b, mu[i], rs[i], lg, lb, p.ln_b != nullptr);
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

template <typename T, int NT, bool LN> static void sk_launch(cuda_state *s, const skinny_params &p)
{
    cuda_launch_pdl(s, skinny_kernel<T, NT, LN>, dim3((unsigned)((p.n + 15) / 16)),
                    dim3(SK_WARPS * 32), 0, "linear (skinny kernel)", p);
}

template <typename T, bool LN> static void sk_dispatch(cuda_state *s, const skinny_params &p)
{
    if (p.m <= 8) sk_launch<T, 1, LN>(s, p);
    else if (p.m <= 16) sk_launch<T, 2, LN>(s, p);
    else sk_launch<T, 4, LN>(s, p); /* m <= SK_MAX_M = 32 */
}

template <typename T> static void sk_dispatch(cuda_state *s, const skinny_params &p)
{
    if (p.ln_g) sk_dispatch<T, true>(s, p);
    else sk_dispatch<T, false>(s, p);
}

static bool sk_run(cuda_state *s, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                   const void *bias, gl_act act, const void *residual, void *y, const void *ln_g,
                   const void *ln_b, float eps)
{
    int32_t n = w->rows, k = w->cols;
    if (s->skinny_off || m < 1 || m > s->skinny_max_m || k % 32 != 0 || x_stride % 8 != 0 ||
        !cuda_aligned16(x) || !cuda_aligned16(w->data))
        return false;
    skinny_params p;
    memset(&p, 0, sizeof p);
    p.ln_g = ln_g;
    p.ln_b = ln_b;
    p.eps = eps;
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

bool cuda_linear_skinny(cuda_state *s, int32_t m, const void *x, int32_t x_stride,
                        const gl_weight *w, const void *bias, gl_act act, const void *residual,
                        void *y)
{
    return sk_run(s, m, x, x_stride, w, bias, act, residual, y, NULL, NULL, 0.0f);
}

bool cuda_op_ln_linear(backend *b, int32_t m, const void *x, const gl_weight *gamma,
                       const gl_weight *beta, float eps, const gl_weight *w, const gl_weight *bias,
                       gl_act act, const void *residual, void *y)
{
    cuda_state *s = cuda_state_of(b);
    const void *bt = beta ? beta->data : NULL;
    if (s->ln_fuse_off || m <= 0 || gamma->cols != w->cols || w->cols > SK_LN_MAX_K ||
        !cuda_aligned16(gamma->data) || (bt && !cuda_aligned16(bt)))
        return false;
    cuda_bind(s);
    return sk_run(s, m, x, w->cols, w, bias ? bias->data : NULL, act, residual, y, gamma->data, bt,
                  eps);
}
