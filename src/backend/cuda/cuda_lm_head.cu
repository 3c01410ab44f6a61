/* The lm_head of a decode step: logits = x W^T + bias for m <= LH_MAX_M rows and a large vocabulary,
 * with each row's argmax taken in the same pass (the linear_argmax op, and the linear op's route
 * for such shapes).
 *
 * Why: at decode the lm_head is the largest single read of a step (250,054 x 1,024 fp16 = 512 MB
 * for mBART-50: 172 us at the H100's 2.97 TB/s copy rate), and the argmax after it read the logits
 * again. cuBLASLt's kernel for m = 64 ran at 2.0 TB/s (255 us) and the separate argmax took 36 us
 * (docs/PERF.md); the skinny kernel (cuda_linear_skinny.cu) re-reads x from L2 for every 16
 * features, 15,600 times over at this width.
 *
 * Work: persistent blocks (one per SM, LH_WARPS warps); x (all m rows, padded to 8 NT) goes into
 * shared memory once. Each warp then streams tiles of 16 output features on its own (tile w,
 * w + all warps, ...; no block-wide barrier in the loop): lane (g, t) loads 16 contiguous bytes
 * (k0 + 8 t of a 32-wide chunk) of its rows g and g + 8 straight into registers with the streaming
 * hint, U chunks a group with the next group in flight (across tile borders), and multiplies them
 * by all tokens with mma.sync.m16n8k16 (fp16 / bf16 in, fp32 accumulate), B fragments from the
 * shared x in the same order of k (the skinny kernel's fragment scheme). x's rows keep their
 * 16-byte segment s at s ^ 4 on odd rows, so a quarter-warp's loads (rows g, g + 1) hit 8 distinct
 * bank groups. A first version staged the weights through shared memory with cp.async (16 KB
 * stages of 128 features x 64 k, up to 12 in flight, one barrier per stage) and read only 2.1 TB/s
 * on the H100 however deep the pipeline: the register stream of many warps is what reaches the
 * copy rate (the skinny kernel's lesson).
 * Epilogue per tile: bias, rounding to the activation type, the store of the logits, and each
 * token's best (value, index) of the rounded values (the argmax op's order, so the result is the
 * argmax of the stored logits), kept per warp in shared memory. At the end the warps' bests meet,
 * go to a per-block partial, and the last block to finish (atomic counter, reset by it) reduces the
 * partials into ids.
 * Launch: programmatic dependent launch; the first weight group is loaded before the wait.
 * Preconditions (else false, nothing launched): m <= LH_MAX_M, k % 128 == 0, x_stride % 8 == 0,
 * x and W 16-byte aligned, W in the activation type, shared memory for x within the limit. */
#include "backend/cuda/cuda_argmax.cuh"
#include "backend/cuda/cuda_internal.h"

#define LH_WARPS 16
#define LH_THREADS (LH_WARPS * 32)
#define LH_KALIGN 128 /* k granularity: groups of up to 4 chunks of 32 */

typedef struct lmh_params {
    int32_t m, n, k, xs;
    const void *x, *w, *bias;
    void *y;
    int32_t *ids;      /* NULL: logits only */
    float *pv;         /* (gridDim.x, LH_MAX_M) partial bests */
    int32_t *pi;
    unsigned *counter; /* blocks done; the last resets it */
    int32_t n_tiles;   /* tiles of 16 features */
} lmh_params;

static __device__ __forceinline__ uint32_t lh_smem_addr(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}
static __device__ __forceinline__ uint4 lh_lds(uint32_t a)
{
    uint4 v;
    asm volatile("ld.shared.v4.u32 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "r"(a));
    return v;
}
static __device__ __forceinline__ uint4 lh_ldg_stream(const void *p)
{
    uint4 v;
    asm volatile("ld.global.cs.v4.u32 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

template <typename T> struct lh_mma;
#define LH_MMA(T, PTX_T)                                                                           \
    template <> struct lh_mma<T> {                                                                 \
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
LH_MMA(__half, "f16")
LH_MMA(__nv_bfloat16, "bf16")
#undef LH_MMA

/* U chunks (32 k each) of the lane's rows from chunk c of the tile whose row g starts at w0 (row
 * g + 8 at w0 + 8 k); rows past n (v0, v1 false) load zeros. */
template <typename T, int U>
static __device__ __forceinline__ void lh_load(uint4 (&a)[U][2], const T *w0, int64_t k8, bool v0,
                                               bool v1, int c)
{
    const uint4 z = make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int u = 0; u < U; u++) {
        a[u][0] = v0 ? lh_ldg_stream(w0 + (c + u) * 32) : z;
        a[u][1] = v1 ? lh_ldg_stream(w0 + k8 + (c + u) * 32) : z;
    }
}

template <typename T, int NT, int U>
__global__ void __launch_bounds__(LH_THREADS, 1) lmh_kernel(lmh_params p)
{
    extern __shared__ __align__(128) unsigned char lh_smem[];
    __shared__ float red_v[LH_WARPS][NT * 8];
    __shared__ int32_t red_i[LH_WARPS][NT * 8];
    __shared__ int last;
    const int tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const uint32_t gb = (uint32_t)(g & 1);
    const uint32_t xsm = lh_smem_addr(lh_smem), xrow = (uint32_t)p.k * 2u;
    const int kc = p.k >> 5, stride = (int)gridDim.x * LH_WARPS;
    const int64_t k8 = (int64_t)8 * p.k;
    int tile = (int)blockIdx.x * LH_WARPS + warp, c = 0;
    /* the lane's row g of tile: w + (16 tile + g) k + 8 t */
    const T *wbase = (const T *)p.w + (int64_t)g * p.k + 8 * t;
    const T *w0 = wbase + (int64_t)tile * 16 * p.k;
    bool v0 = tile * 16 + g < p.n, v1 = tile * 16 + g + 8 < p.n;
    const bool any = tile < p.n_tiles;

    uint4 a[U][2], nx[U][2];
    if (any) lh_load<T, U>(a, w0, k8, v0, v1, 0); /* weights: before the wait */
    cuda_pdl_trigger();
    cuda_pdl_wait();
    for (int idx = tid; idx < NT * 8 * (kc * 4); idx += LH_THREADS) {
        const int segs = kc * 4, r = idx / segs, sg = idx - r * segs;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (r < p.m) v = __ldg((const uint4 *)((const T *)p.x + (int64_t)r * p.xs + sg * 8));
        const uint32_t dst = xsm + (uint32_t)r * xrow + (uint32_t)((sg ^ ((r & 1) << 2)) << 4);
        asm volatile("st.shared.v4.u32 [%0], {%1,%2,%3,%4};\n" ::"r"(dst), "r"(v.x), "r"(v.y),
                     "r"(v.z), "r"(v.w));
    }
    if (warp < LH_WARPS)
        for (int i = lane; i < NT * 8; i += 32) {
            red_v[warp][i] = 0.0f;
            red_i[warp][i] = -1;
        }
    __syncthreads();

    float acc[NT][4];
#pragma unroll
    for (int i = 0; i < NT; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
    /* lane (g, t)'s 16 bytes of chunk c: segment 4 c + t, stored at 4 (c ^ gb) + t */
    const uint32_t x_base = xsm + (uint32_t)g * xrow + 16u * (uint32_t)t;
    while (tile < p.n_tiles) {
        /* the next group: later in this tile, or the start of the warp's next tile */
        int ntile = tile, nc = c + U;
        const T *nw0 = w0;
        bool nv0 = v0, nv1 = v1;
        if (nc == kc) {
            ntile = tile + stride;
            nc = 0;
            nw0 = w0 + (int64_t)stride * 16 * p.k;
            nv0 = ntile * 16 + g < p.n;
            nv1 = ntile * 16 + g + 8 < p.n;
        }
        if (ntile < p.n_tiles) lh_load<T, U>(nx, nw0, k8, nv0, nv1, nc);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const uint32_t xo = x_base + 64u * ((uint32_t)(c + u) ^ gb);
#pragma unroll
            for (int i = 0; i < NT; i++) {
                const uint4 b = lh_lds(xo + (uint32_t)(i * 8) * xrow);
                lh_mma<T>::run(acc[i], a[u][0].x, a[u][1].x, a[u][0].y, a[u][1].y, b.x, b.y);
                lh_mma<T>::run(acc[i], a[u][0].z, a[u][1].z, a[u][0].w, a[u][1].w, b.z, b.w);
            }
        }
        if (nc == 0) {
            /* acc[i][e]: feature 16 tile + g + 8 (e / 2), token i * 8 + 2 t + e % 2 */
            float bv[NT][2];
            int32_t bi[NT][2];
#pragma unroll
            for (int i = 0; i < NT; i++) bi[i][0] = bi[i][1] = -1, bv[i][0] = bv[i][1] = 0.0f;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int f = tile * 16 + g + 8 * (e >> 1);
                const float bias = p.bias && f < p.n ? gl_cu_f32(((const T *)p.bias)[f]) : 0.0f;
#pragma unroll
                for (int i = 0; i < NT; i++) {
                    const int tok = i * 8 + 2 * t + (e & 1);
                    const T r = gl_cu_from_f32<T>(acc[i][e] + bias);
                    acc[i][e] = 0.0f;
                    if (f >= p.n || tok >= p.m) continue;
                    ((T *)p.y)[(int64_t)tok * p.n + f] = r;
                    const float rv = gl_cu_f32(r);
                    if (arg_better(rv, f, bv[i][e & 1], bi[i][e & 1])) {
                        bv[i][e & 1] = rv;
                        bi[i][e & 1] = f;
                    }
                }
            }
            if (p.ids) {
#pragma unroll
                for (int i = 0; i < NT; i++)
#pragma unroll
                    for (int e = 0; e < 2; e++) {
#pragma unroll
                        for (int o = 4; o < 32; o <<= 1) {
                            const float ov = __shfl_xor_sync(0xffffffffu, bv[i][e], o);
                            const int32_t oi = __shfl_xor_sync(0xffffffffu, bi[i][e], o);
                            if (arg_better(ov, oi, bv[i][e], bi[i][e])) {
                                bv[i][e] = ov;
                                bi[i][e] = oi;
                            }
                        }
                        const int tok = i * 8 + 2 * t + e;
                        if (g == 0 && arg_better(bv[i][e], bi[i][e], red_v[warp][tok], red_i[warp][tok])) {
                            red_v[warp][tok] = bv[i][e];
                            red_i[warp][tok] = bi[i][e];
                        }
                    }
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) a[u][0] = nx[u][0], a[u][1] = nx[u][1];
        tile = ntile;
        c = nc;
        w0 = nw0;
        v0 = nv0;
        v1 = nv1;
    }
    if (!p.ids) return;

    /* the warps' bests, then the blocks' (the last block to finish) */
    __syncthreads();
    if (tid < p.m) {
        float v = red_v[0][tid];
        int32_t ix = red_i[0][tid];
        for (int w = 1; w < LH_WARPS; w++)
            if (arg_better(red_v[w][tid], red_i[w][tid], v, ix)) {
                v = red_v[w][tid];
                ix = red_i[w][tid];
            }
        p.pv[(int64_t)blockIdx.x * LH_MAX_M + tid] = v;
        p.pi[(int64_t)blockIdx.x * LH_MAX_M + tid] = ix;
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) last = atomicAdd(p.counter, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    if (tid < p.m) {
        float v = 0.0f;
        int32_t ix = -1;
        for (int bl = 0; bl < (int)gridDim.x; bl++) {
            const float ov = __ldcg(p.pv + (int64_t)bl * LH_MAX_M + tid);
            const int32_t oi = __ldcg(p.pi + (int64_t)bl * LH_MAX_M + tid);
            if (arg_better(ov, oi, v, ix)) {
                v = ov;
                ix = oi;
            }
        }
        p.ids[tid] = ix;
    }
    if (tid == 0) *p.counter = 0u;
}

template <typename T, int NT, int U>
static void lh_launch(cuda_state *s, const lmh_params &p, size_t smem)
{
    static size_t attr_set; /* per instantiation: the largest dynamic shared memory allowed yet */
    if (smem > attr_set) {
        if (!cuda_note(s, cudaFuncSetAttribute(lmh_kernel<T, NT, U>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                       "lm_head kernel (shared memory)"))
            return;
        attr_set = smem;
    }
    int blocks = (p.n_tiles + LH_WARPS - 1) / LH_WARPS;
    int grid = blocks < s->sm_count ? blocks : s->sm_count;
    cuda_launch_pdl(s, lmh_kernel<T, NT, U>, dim3((unsigned)grid), dim3(LH_THREADS), smem,
                    "lm_head kernel", p);
}

/* U: chunks per load group, within 128 registers a thread (two groups of U x 2 x 16 bytes) */
template <typename T> static void lh_dispatch(cuda_state *s, const lmh_params &p, int nt, size_t smem)
{
    if (nt == 1) lh_launch<T, 1, 4>(s, p, smem);
    else if (nt == 2) lh_launch<T, 2, 4>(s, p, smem);
    else if (nt == 4) lh_launch<T, 4, 4>(s, p, smem);
    else lh_launch<T, 8, 2>(s, p, smem);
}

glossa_status cuda_lm_head_init(cuda_state *s)
{
    int optin = 0;
    GLOSSA_TRY(cuda_check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                                 s->device),
                          "shared memory limit"));
    /* the kernel's static shared memory (the argmax reduction) comes out of the same limit */
    size_t stat = (size_t)LH_WARPS * LH_MAX_M * 8 + 1024;
    s->lmh_smem_max = (size_t)optin > stat ? (size_t)optin - stat : 0;
    const char *env = getenv("GLOSSA_CUDA_LM_HEAD");
    s->lmh_off = env && env[0] == '0';
    size_t bytes = (size_t)s->sm_count * LH_MAX_M * 8 + 16, cap = 0;
    GLOSSA_TRY(cuda_grow(&s->lmh_scratch, &cap, bytes, "lm_head partials"));
    return cuda_check(cudaMemset(s->lmh_scratch, 0, bytes), "lm_head partials");
}

void cuda_lm_head_release(cuda_state *s)
{
    cudaFree(s->lmh_scratch);
    s->lmh_scratch = NULL;
}

bool cuda_lm_head(cuda_state *s, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                  const void *bias, void *y, int32_t *ids)
{
    const int32_t n = w->rows, k = w->cols;
    if (s->lmh_off || !s->lmh_scratch || m < 1 || m > LH_MAX_M || n < 1 || k % LH_KALIGN != 0 ||
        x_stride % 8 != 0 || w->dtype != s->act_dtype || !cuda_aligned16(x) ||
        !cuda_aligned16(w->data))
        return false;
    const int nt = m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8;
    const size_t smem = (size_t)nt * 8 * (size_t)k * 2; /* x */
    if (smem > s->lmh_smem_max) return false;
    lmh_params p;
    memset(&p, 0, sizeof p);
    p.m = m;
    p.n = n;
    p.k = k;
    p.xs = x_stride;
    p.x = x;
    p.w = w->data;
    p.bias = bias;
    p.y = y;
    p.ids = ids;
    p.pv = (float *)s->lmh_scratch;
    p.pi = (int32_t *)((char *)s->lmh_scratch + (size_t)s->sm_count * LH_MAX_M * 4);
    p.counter = (unsigned *)((char *)s->lmh_scratch + (size_t)s->sm_count * LH_MAX_M * 8);
    p.n_tiles = (n + 15) / 16;
    if (s->act_dtype == GL_DTYPE_F16) lh_dispatch<__half>(s, p, nt, smem);
    else lh_dispatch<__nv_bfloat16>(s, p, nt, smem);
    return true;
}

bool cuda_op_linear_argmax(backend *b, int32_t m, const void *x, const gl_weight *w,
                           const gl_weight *bias, void *y, int32_t *ids)
{
    cuda_state *s = cuda_state_of(b);
    cuda_bind(s);
    return ids && cuda_lm_head(s, m, x, w->cols, w, bias ? bias->data : NULL, y, ids);
}
