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
 * K/V on store (the linear_kv op): the self-attention's QKV projection also writes its K and V
 * columns to the paged cache at each token's slot, as the kv_write op would (the same rounded
 * values), so a decode step needs no kv_write kernel.
 * Preconditions (else cuda_linear.cu uses cuBLASLt): m <= skinny_max_m, k % 32 == 0,
 * x_stride % 8 == 0, x and W 16-byte aligned. */
#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cuda_mma.cuh"

#define SK_WARPS 8 /* warps per block, splitting K */
#define SK_U 4     /* 32-wide K chunks per warp per load group */

typedef struct skinny_params {
    int32_t m, n, k, xs;
    const void *x, *w, *bias, *res;
    void *y;
    int act;
    int32_t cpw; /* chunks (of 32) per warp */
    /* linear_kv: columns [kv_col, kv_col + kv_row) also to kc, the next kv_row to vc, at row
     * slots[tok] (skipped where negative); kc NULL: none */
    void *kc, *vc;
    const int32_t *slots;
    int32_t kv_col, kv_row;
    const char *pf;   /* the next linear's weight, fetched into L2 before the wait (NULL: none) */
    int64_t pf_bytes; /* a multiple of 16 */
} skinny_params;

/* One group of SK_U chunks of the warp's two weight rows, from chunk c (zeros past c_end). */
template <typename T, int U>
static __device__ __forceinline__ void sk_load_group(uint4 a0[U], uint4 a1[U], const T *w0,
                                                     const T *w1, bool v0, bool v1, int c,
                                                     int c_end)
{
    const uint4 zero = make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int u = 0; u < U; u++) {
        const bool in = c + u < c_end;
        const int64_t off = (int64_t)(c + u) * 32;
        a0[u] = in && v0 ? sk_load_stream(w0 + off) : zero;
        a1[u] = in && v1 ? sk_load_stream(w1 + off) : zero;
    }
}

/* The epilogue's outputs of a thread: entry idx = threadIdx.x + j * blockDim.x of the block's
 * NT * 4 * 32 reduced values (j < SK_EPT(NT, W)); SK_EPT is how many a thread holds. */
#define SK_EPT(NT, W) ((NT * 128 + W * 32 - 1) / (W * 32))
template <int NT>
static __device__ __forceinline__ void sk_entry(int idx, int f0, int *tok, int *f, int *ie, int *ln)
{
    *ie = idx >> 5;
    *ln = idx & 31;
    const int e = *ie & 3, i = *ie >> 2;
    *tok = i * 8 + 2 * (*ln & 3) + (e & 1);
    *f = f0 + (*ln >> 2) + (e >> 1) * 8;
}

/* The epilogue: a thread's outputs, the warps' partial sums added, bias, activation (ACT false:
 * none, which keeps the per-element activation switch out of the common case's code), residual;
 * to y and, for linear_kv, to the cache. */
template <typename T, int NT, int W, bool ACT>
static __device__ __forceinline__ void sk_store(const skinny_params &p,
                                                const float (*red)[NT * 4][32], int f0,
                                                const float *ep_bias, const float *ep_res,
                                                const int64_t *ep_kv)
{
    constexpr int EPT = SK_EPT(NT, W);
#pragma unroll
    for (int j = 0; j < EPT; j++) {
        int tok, f, ie, ln;
        sk_entry<NT>(threadIdx.x + j * W * 32, f0, &tok, &f, &ie, &ln);
        if (ie >= NT * 4) break;
        float v = 0.0f;
#pragma unroll
        for (int wp = 0; wp < W; wp++) v += red[wp][ie][ln];
        if (tok < p.m && f < p.n) {
            v += ep_bias[j];
            if (ACT) v = lin_act(v, p.act);
            const T o = gl_cu_from_f32<T>(v + ep_res[j]);
            ((T *)p.y)[(int64_t)tok * p.n + f] = o;
            if (ep_kv[j] >= 0) ((T *)(f - p.kv_col < p.kv_row ? p.kc : p.vc))[ep_kv[j]] = o;
        }
    }
}

template <typename T, int NT, int W, int U>
__global__ void __launch_bounds__(W * 32, 16 / W) skinny_kernel(skinny_params p)
{
    constexpr int EPT = SK_EPT(NT, W);
    constexpr bool PIPE = U == SK_U;
    __shared__ float red[W][NT * 4][32];
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

    /* Before the wait, everything that does not depend on the kernels before this one: the first
     * group of weights and the biases of the thread's epilogue outputs. After it, first the
     * residuals, so that they travel with the x loads instead of adding a round trip after the
     * reduction. */
    uint4 a0[U], a1[U], n0[U], n1[U];
    sk_load_group<T, U>(a0, a1, w0, w1, v0, v1, c_beg, c_end);
    float ep_bias[EPT], ep_res[EPT];
    int64_t ep_kv[EPT]; /* linear_kv: the element of kc / vc the output also goes to, or -1 */
#pragma unroll
    for (int j = 0; j < EPT; j++) {
        int tok, f, ie, ln;
        sk_entry<NT>(threadIdx.x + j * W * 32, f0, &tok, &f, &ie, &ln);
        const bool out = ie < NT * 4 && tok < p.m && f < p.n;
        ep_bias[j] = p.bias && ie < NT * 4 && f < p.n ? gl_cu_f32(((const T *)p.bias)[f]) : 0.0f;
        ep_kv[j] = -1;
        const int c = f - p.kv_col;
        if (p.kc && out && c >= 0 && c < 2 * p.kv_row) {
            const int64_t slot = p.slots[tok]; /* uploaded before the pass */
            if (slot >= 0) ep_kv[j] = slot * p.kv_row + (c < p.kv_row ? c : c - p.kv_row);
        }
    }
    if (p.pf && threadIdx.x == 0) { /* this block's share of the next linear's weight */
        const int64_t chunk = ((p.pf_bytes + gridDim.x - 1) / gridDim.x + 15) & ~(int64_t)15;
        const int64_t beg = (int64_t)blockIdx.x * chunk;
        const int64_t len = min(chunk, p.pf_bytes - beg);
        if (len > 0)
            asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p.pf + beg),
                         "r"((unsigned)len)
                         : "memory");
    }
    cuda_pdl_trigger();
    cuda_pdl_wait();
#pragma unroll
    for (int j = 0; j < EPT; j++) {
        int tok, f, ie, ln;
        sk_entry<NT>(threadIdx.x + j * W * 32, f0, &tok, &f, &ie, &ln);
        ep_res[j] = p.res && ie < NT * 4 && tok < p.m && f < p.n
                        ? gl_cu_f32(((const T *)p.res)[(int64_t)tok * p.n + f])
                        : 0.0f;
    }
#pragma unroll 1
    for (int c = c_beg; c < c_end; c += U) {
        /* PIPE: the next group's weights in flight while this one is multiplied; without it
         * (U = 2 SK_U) the launch guarantees one group per warp */
        if (PIPE && c + U < c_end) sk_load_group<T, U>(n0, n1, w0, w1, v0, v1, c + U, c_end);
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (c + u >= c_end) break;
            const int64_t off = (int64_t)(c + u) * 32 + 8 * t;
#pragma unroll
            for (int i = 0; i < NT; i++) {
                const int tok = i * 8 + g;
                const uint4 b =
                    tok < p.m ? __ldg((const uint4 *)(x + (int64_t)tok * p.xs + off)) : zero;
                sk_mma<T>::run(acc[i], a0[u].x, a1[u].x, a0[u].y, a1[u].y, b.x, b.y);
                sk_mma<T>::run(acc[i], a0[u].z, a1[u].z, a0[u].w, a1[u].w, b.z, b.w);
            }
        }
        if (PIPE) {
#pragma unroll
            for (int u = 0; u < U; u++) {
                a0[u] = n0[u];
                a1[u] = n1[u];
            }
        }
    }

    /* acc[i][e] of lane (g, t): feature f0 + g + 8 (e / 2), token i * 8 + 2 t + e % 2 */
#pragma unroll
    for (int i = 0; i < NT; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) red[warp][i * 4 + e][lane] = acc[i][e];
    __syncthreads();
    if (p.act == GL_ACT_NONE) sk_store<T, NT, W, false>(p, red, f0, ep_bias, ep_res, ep_kv);
    else sk_store<T, NT, W, true>(p, red, f0, ep_bias, ep_res, ep_kv);
}

template <typename T, int NT, int W, int U> static void sk_launch_w(cuda_state *s, skinny_params p)
{
    p.cpw = (p.k / 32 + W - 1) / W;
    cuda_launch_pdl(s, skinny_kernel<T, NT, W, U>, dim3((unsigned)((p.n + 15) / 16)), dim3(W * 32),
                    0, "linear (skinny kernel)", p);
}

/* SK_WARPS warps of SK_U-chunk groups; at m <= 8 and SK_U * SK_WARPS < k / 32 <= 4 * that
 * (the FFN's second linear, k = 4096 at d_model 1024) twice the warps and groups, so that a warp's
 * whole share of W is one group, loaded before the wait instead of after it. */
template <typename T> static void sk_dispatch(cuda_state *s, const skinny_params &p)
{
    const int chunks = p.k / 32;
    if (p.m <= 8 && chunks > SK_U * SK_WARPS && chunks <= 4 * SK_U * SK_WARPS)
        sk_launch_w<T, 1, 2 * SK_WARPS, 2 * SK_U>(s, p);
    else if (p.m <= 8)
        sk_launch_w<T, 1, SK_WARPS, SK_U>(s, p);
    else if (p.m <= 16)
        sk_launch_w<T, 2, SK_WARPS, SK_U>(s, p);
    else
        sk_launch_w<T, 4, SK_WARPS, SK_U>(s, p); /* m <= SK_MAX_M = 32 */
}

void cuda_pf_forget(cuda_state *s, const void *p)
{
    if (s->pf_last == p) s->pf_last = NULL;
    for (int32_t i = 0; i < s->pf_n;) {
        if (s->pf[i].next == p) {
            s->pf[i].next = NULL;
            s->pf[i].next_bytes = 0;
        }
        if (s->pf[i].w == p)
            s->pf[i] = s->pf[--s->pf_n];
        else
            i++;
    }
}

/* The learned L2 prefetch (cuda_state.pf): note that w followed the previous skinny launch's
 * weight, and give this launch the weight that followed w the last time. A decode pass repeats one
 * sequence of linears, so from the second pass on (the first one recorded into a graph) each
 * launch fetches the next linear's weight into L2 while the kernels in between (layer norm,
 * attention) run; that linear's loads then hit L2. Bulk prefetch needs 16-byte aligned sizes. */
/* The map's entry for weight w: found, or (add) a new one while there is room; NULL otherwise. */
static cuda_pf_entry *pf_entry(cuda_state *s, const void *w, bool add)
{
    for (int32_t i = 0; i < s->pf_n; i++)
        if (s->pf[i].w == w) return &s->pf[i];
    if (!add || s->pf_n >= CUDA_PF_MAX) return NULL;
    cuda_pf_entry *e = &s->pf[s->pf_n++];
    e->w = w;
    e->next = NULL;
    e->next_bytes = 0;
    return e;
}

static void sk_prefetch_plan(cuda_state *s, const gl_weight *w, skinny_params *p)
{
    if (s->pf_off) return;
    if (s->pf_last && s->pf_last != w->data) {
        cuda_pf_entry *prev = pf_entry(s, s->pf_last, true);
        if (prev) {
            prev->next = w->data;
            prev->next_bytes = (int64_t)w->rows * w->cols * (int64_t)gl_dtype_size(w->dtype) &
                               ~(int64_t)15;
        }
    }
    s->pf_last = w->data;
    /* measured (docs/PERF.md): batch 16 -4% step time, batch 8 even, batch 1 +2% (the fetch
     * competes with the weight stream the step is already bound by): only from 9 rows on */
    const cuda_pf_entry *e = p->m > 8 ? pf_entry(s, w->data, false) : NULL;
    if (e && e->next && e->next_bytes >= 16) {
        p->pf = (const char *)e->next;
        p->pf_bytes = e->next_bytes;
    }
}

static bool sk_run(cuda_state *s, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                   const void *bias, gl_act act, const void *residual, void *y,
                   const skinny_params *kv)
{
    int32_t n = w->rows, k = w->cols;
    if (s->skinny_off || m < 1 || m > s->skinny_max_m || k % 32 != 0 || x_stride % 8 != 0 ||
        !cuda_aligned16(x) || !cuda_aligned16(w->data))
        return false;
    skinny_params p;
    memset(&p, 0, sizeof p);
    if (kv) p = *kv;
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
    sk_prefetch_plan(s, w, &p); /* after p.m is set */
    if (s->act_dtype == GL_DTYPE_F16) sk_dispatch<__half>(s, p);
    else sk_dispatch<__nv_bfloat16>(s, p);
    return true;
}

bool cuda_linear_skinny(cuda_state *s, int32_t m, const void *x, int32_t x_stride,
                        const gl_weight *w, const void *bias, gl_act act, const void *residual,
                        void *y)
{
    return sk_run(s, m, x, x_stride, w, bias, act, residual, y, NULL);
}

bool cuda_op_linear_kv(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                       const gl_weight *bias, int32_t kv_col, const int32_t *slot_mapping,
                       const gl_kv_view *kv, void *y)
{
    cuda_state *s = cuda_state_of(b);
    const int32_t row = kv->n_heads * kv->head_dim;
    if (s->kv_fuse_off || m <= 0 || kv_col < 0 || row <= 0 || (int64_t)kv_col + 2 * row > w->rows)
        return false;
    cuda_bind(s);
    skinny_params p;
    memset(&p, 0, sizeof p);
    p.kc = kv->k;
    p.vc = kv->v;
    p.slots = slot_mapping;
    p.kv_col = kv_col;
    p.kv_row = row;
    if (!sk_run(s, m, x, x_stride, w, bias ? bias->data : NULL, GL_ACT_NONE, NULL, y, &p))
        return false;
    cuda_note(s, cudaGetLastError(), "linear_kv");
    return true;
}
