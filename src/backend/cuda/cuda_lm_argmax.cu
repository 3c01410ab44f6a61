/* linear_argmax (backend.h): a greedy pass's lm_head GEMM with the row-wise argmax in its
 * epilogue, recorded with the pass, so that the argmax is no separate launch after the graph and
 * the logits are not read back a second time.
 *
 * Why: the argmax after a recorded pass was two launches and a wait outside it, the logits read
 * back a second time; and at 17-32 rows the lm_head of mbart-large-50 (250,054 x 1,024, 512 MB
 * of fp16) ran on the skinny kernel at ~2 TB/s (262 us, H100), its 4 token tiles re-reading x
 * from L2 for every 16 weight rows.
 *
 * Shape: y(m, n) = x(m, k) W(n, k)^T + bias, la_min_m <= m <= la_max_m (<= LA_MAX_M), as the
 * linear op; ids[i] = the first
 * column of row i's maximum among its first n_valid (the argmax op's order: cuda_argmax.cuh).
 * Work: persistent, one block per SM (two at m <= 16; LA_WARPS warps each). A block stages x
 * (m rows, padded to a multiple of 8, zero rows past m) in shared memory once, its rows LA_XPAD
 * elements apart so that the fragment loads of 8 token rows fall in different banks. W is cut
 * into tiles of 16 rows (32 KB at k = 1024); warp w of block b takes tiles w + b * LA_WARPS, then
 * every gridDim.x * LA_WARPS-th after it, streaming each tile's rows into registers (16-byte
 * loads, evict-first, LA_U 32-wide chunks a group, the next group in flight while the current one
 * is multiplied: the skinny kernel's scheme, cuda_linear_skinny.cu) and multiplying with
 * mma.sync.m16n8k16 against x fragments read from shared memory (one 16-byte load per 8 tokens
 * per chunk). The product is transposed, y^T = W x^T: A = the tile's 16 rows, B = 8 tokens.
 * Unlike the skinny kernel's one or two groups a warp, a warp here runs ~120 groups in a row, so
 * two register sets alternate (see the loop).
 *
 * Epilogue of a tile (per warp): + bias in fp32, rounded to the act dtype (as the linear op's
 * output), written to y (unless keep_y is false) through a per-warp staging tile (whole 16-byte
 * pieces of each token's row), and each value taken into its lane's running best of that token
 * (registers; a lane meets its columns in increasing order, so a compare suffices). At the end: the
 * 8 lanes of a token meet by shuffles, the warps in shared memory, the block's best per token goes
 * to per-block partials, and the last block to finish (a counter, reset by it) reduces them to ids.
 * (The first form reduced each tile's 16 columns by shuffles into a running best in shared memory:
 * half the kernel's 76M instructions at 64 rows, 285 us instead of 227.)
 *
 * Other calls (m outside [la_min_m, la_max_m], k % 128, n % 8, alignment, too little shared
 * memory) run the linear op, then the argmax kernels (cuda_argmax_launch) into ids: recorded with
 * the pass all the same. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_argmax.cuh"
#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cuda_mma.cuh"

#define LA_WARPS    8
#define LA_THREADS  (LA_WARPS * 32)
#define LA_U        4 /* 32-wide K chunks per load group */
#define LA_MAX_M    64
#define LA_MAX_BPS  2  /* blocks per SM at most (la_dispatch) */
#define LA_XPAD     32 /* elements after each staged x row (rows 64 bytes apart in the banks) */
#define LA_SMEM_MAX (227 * 1024)
/* rows the fused kernel takes by default (GLOSSA_CUDA_LM_ARGMAX_MIN / _MAX), measured on the H100
 * for mbart-large-50's lm_head (docs/PERF.md), us alone / against the linear op + the argmax
 * kernels: 16 rows 183 / 198, 32 rows 192 / 273 (the skinny kernel), 48 rows 210 / 212, 64 rows
 * 227 / 220 (cuBLASLt), and in a decode step 1% faster at 48 and 64 rows (no argmax launches);
 * at 1-8 rows 174 / 169-172 (the skinny kernel streams at 3.1 TB/s) */
#define LA_DEFAULT_MIN_M 9
#define LA_DEFAULT_MAX_M 64

typedef struct la_params {
    int32_t m, n, k, xs, n_valid, tiles;
    const void *x, *w, *bias;
    void *y;
    float *pv;       /* (gridDim.x, LA_MAX_M) the blocks' best values */
    int32_t *pi;     /* (gridDim.x, LA_MAX_M) their columns */
    unsigned *count; /* blocks done; 0 between launches */
    int32_t *ids;
} la_params;

/* Shared memory of a launch with m8 token rows: x, the warps' staging tiles and running bests. */
static size_t la_smem_bytes(int m8, int k)
{
    return (size_t)m8 * (size_t)(k + LA_XPAD) * 2 + (size_t)LA_WARPS * m8 * 16 * 2 +
           (size_t)LA_WARPS * m8 * (sizeof(float) + sizeof(int32_t));
}

/* Where a warp's next group of LA_U chunks comes from: chunks c.. of tile `tile` (a group never
 * spans two tiles: k % (32 LA_U) == 0). */
typedef struct la_cursor {
    int tile, c;
} la_cursor;

/* The next LA_U chunks of the warp's tiles (zeros past the weight's rows), then the cursor on. */
template <typename T>
static __device__ __forceinline__ void la_load(uint4 a0[LA_U], uint4 a1[LA_U], la_cursor &cur,
                                               const la_params &p, int cpt, int step, int g, int t)
{
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const int r = cur.tile * 16 + g;
    const T *w0 = (const T *)p.w + (int64_t)r * p.k + cur.c * 32 + 8 * t;
    const bool v0 = r < p.n, v1 = r + 8 < p.n;
#pragma unroll
    for (int u = 0; u < LA_U; u++) {
        a0[u] = v0 ? sk_load_stream(w0 + u * 32) : zero;
        a1[u] = v1 ? sk_load_stream(w0 + (int64_t)8 * p.k + u * 32) : zero;
    }
    cur.c += LA_U;
    if (cur.c == cpt) {
        cur.c = 0;
        cur.tile += step;
    }
}

/* (v, i) into a lane's running best (rv, ri) of one token. A lane meets its columns in increasing
 * order (tile by tile, g before g + 8), so the order of cuda_argmax.cuh reduces to: a real column
 * over none, NaN over numbers, a strictly larger value; the first of equals stays. */
static __device__ __forceinline__ void la_take(float v, int32_t i, float *rv, int32_t *ri)
{
    if (i >= 0 && (*ri < 0 || v > *rv || (v != v && *rv == *rv))) {
        *rv = v;
        *ri = i;
    }
}

/* A tile's epilogue (see the top). acc[j][e] of lane (g, t): column tile * 16 + g + 8 (e / 2),
 * token 8 j + 2 t + e % 2. */
template <typename T, int NT>
static __device__ __forceinline__ void la_epilogue(const la_params &p, float acc[NT][4], int tile,
                                                   float b0, float b1, T *stg, float rv[NT][2],
                                                   int32_t ri[NT][2], int g, int t, int lane)
{
    const int c0 = tile * 16 + g, c1 = c0 + 8;
    const int32_t i0 = c0 < p.n_valid ? c0 : -1, i1 = c1 < p.n_valid ? c1 : -1;
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int tok = 8 * j + 2 * t + e;
            const T h0 = gl_cu_from_f32<T>(acc[j][e] + b0),
                    h1 = gl_cu_from_f32<T>(acc[j][e + 2] + b1);
            if (p.y) {
                stg[tok * 16 + g] = h0;
                stg[tok * 16 + g + 8] = h1;
            }
            la_take(gl_cu_f32(h0), i0, &rv[j][e], &ri[j][e]);
            la_take(gl_cu_f32(h1), i1, &rv[j][e], &ri[j][e]);
        }
    if (!p.y) return;
    __syncwarp();
    for (int pc = lane; pc < NT * 16; pc += 32) { /* (token, half of the 16 columns) */
        const int tok = pc >> 1, col = tile * 16 + (pc & 1) * 8;
        if (tok < p.m && col < p.n)
            *reinterpret_cast<uint4 *>((T *)p.y + (int64_t)tok * p.n + col) =
                *reinterpret_cast<const uint4 *>(stg + tok * 16 + (pc & 1) * 8);
    }
    __syncwarp();
}

/* acc += a group of LA_U chunks: the NT fragments of a chunk first, then its two k16 steps each
 * over all NT accumulators (no two consecutive mma.sync share one) */
template <typename T, int NT>
static __device__ __forceinline__ void la_mul(float acc[NT][4], const uint4 a0[LA_U],
                                              const uint4 a1[LA_U], const T *xc, int xstr)
{
#pragma unroll
    for (int u = 0; u < LA_U; u++) {
        uint4 b[NT];
#pragma unroll
        for (int j = 0; j < NT; j++)
            b[j] = *reinterpret_cast<const uint4 *>(xc + u * 32 + j * 8 * xstr);
#pragma unroll
        for (int j = 0; j < NT; j++)
            sk_mma<T>::run(acc[j], a0[u].x, a1[u].x, a0[u].y, a1[u].y, b[j].x, b[j].y);
#pragma unroll
        for (int j = 0; j < NT; j++)
            sk_mma<T>::run(acc[j], a0[u].z, a1[u].z, a0[u].w, a1[u].w, b[j].z, b[j].w);
    }
}

template <typename T, int NT, int BPS>
__global__ void __launch_bounds__(LA_THREADS, BPS) la_kernel(la_params p)
{
    extern __shared__ __align__(16) unsigned char la_sm[];
    constexpr int M8 = NT * 8;
    __shared__ bool last;
    const int xstr = p.k + LA_XPAD;
    T *xs = reinterpret_cast<T *>(la_sm);
    T *stg_all = xs + (size_t)M8 * xstr;
    float *bv_all = reinterpret_cast<float *>(stg_all + LA_WARPS * M8 * 16);
    int32_t *bi_all = reinterpret_cast<int32_t *>(bv_all + LA_WARPS * M8);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    T *stg = stg_all + warp * M8 * 16;
    float *bv = bv_all + warp * M8;
    int32_t *bi = bi_all + warp * M8;
    const int gw = blockIdx.x * LA_WARPS + warp, step = gridDim.x * LA_WARPS;
    const int cpt = p.k >> 5;
    const int my_tiles = gw < p.tiles ? (p.tiles - 1 - gw) / step + 1 : 0;
    const int groups = my_tiles * (cpt / LA_U);
    const T *bias = (const T *)p.bias;

    /* Before the wait: the first group of weights (weights are no kernel's output). */
    uint4 a0[LA_U], a1[LA_U], n0[LA_U], n1[LA_U];
    la_cursor lc = {gw, 0};
    if (groups > 0) la_load<T>(a0, a1, lc, p, cpt, step, g, t);
    int ctile = gw;
    float b0 = bias && ctile * 16 + g < p.n ? gl_cu_f32(bias[ctile * 16 + g]) : 0.0f;
    float b1 = bias && ctile * 16 + g + 8 < p.n ? gl_cu_f32(bias[ctile * 16 + g + 8]) : 0.0f;
    cuda_pdl_trigger();
    cuda_pdl_wait();

    const T *x = (const T *)p.x;
    const int kv = p.k >> 3; /* 16-byte pieces per row */
    for (int v = threadIdx.x; v < M8 * kv; v += LA_THREADS) {
        const int row = v / kv, col = (v - row * kv) * 8;
        const uint4 val =
            row < p.m ? __ldg(reinterpret_cast<const uint4 *>(x + (int64_t)row * p.xs + col))
                      : make_uint4(0, 0, 0, 0);
        *reinterpret_cast<uint4 *>(xs + row * xstr + col) = val;
    }
    __syncthreads();

    float acc[NT][4], rv[NT][2]; /* rv, ri: the lane's best column so far of each of its tokens */
    int32_t ri[NT][2];
#pragma unroll
    for (int j = 0; j < NT; j++) {
        acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
        rv[j][0] = rv[j][1] = 0.0f;
        ri[j][0] = ri[j][1] = -1;
    }
/* after a group: at the end of a tile its epilogue, then the next tile's biases (used a tile
 * later) */
#define LA_TILE_STEP()                                                                             \
    do {                                                                                           \
        cc += LA_U;                                                                                \
        if (cc == cpt) {                                                                           \
            la_epilogue<T, NT>(p, acc, ctile, b0, b1, stg, rv, ri, g, t, lane);                    \
            for (int j = 0; j < NT; j++)                                                           \
                acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;                              \
            cc = 0;                                                                                \
            ctile += step;                                                                         \
            const int r = ctile * 16 + g;                                                          \
            b0 = bias && ctile < p.tiles && r < p.n ? gl_cu_f32(bias[r]) : 0.0f;                   \
            b1 = bias && ctile < p.tiles && r + 8 < p.n ? gl_cu_f32(bias[r + 8]) : 0.0f;           \
        }                                                                                          \
    } while (0)
    int cc = 0;
    const T *xl = xs + g * xstr + 8 * t;
    /* Two register sets in turn (a group's loads are issued while the other set is multiplied; a
     * copy from one set to the other would wait for the loads it copies, and the next group's
     * loads would then only go out after this one's arrived: latency + compute per group) */
#pragma unroll 1
    for (int gi = 0; gi < groups; gi += 2) {
        if (gi + 1 < groups) la_load<T>(n0, n1, lc, p, cpt, step, g, t);
        la_mul<T, NT>(acc, a0, a1, xl + cc * 32, xstr);
        LA_TILE_STEP();
        if (gi + 1 >= groups) break;
        if (gi + 2 < groups) la_load<T>(a0, a1, lc, p, cpt, step, g, t);
        la_mul<T, NT>(acc, n0, n1, xl + cc * 32, xstr);
        LA_TILE_STEP();
    }
#undef LA_TILE_STEP

    /* The warp's best per token (its 8 lanes of a token meet by shuffles), the block's, then the
     * last block's reduction over the blocks. */
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            arg_warp_best(&rv[j][e], &ri[j][e], 4);
            if (g == 0) {
                bv[8 * j + 2 * t + e] = rv[j][e];
                bi[8 * j + 2 * t + e] = ri[j][e];
            }
        }
    __syncthreads();
    if (threadIdx.x < M8) {
        const int tok = threadIdx.x;
        float v = bv_all[tok];
        int32_t i = bi_all[tok];
        for (int w = 1; w < LA_WARPS; w++)
            if (arg_better(bv_all[w * M8 + tok], bi_all[w * M8 + tok], v, i)) {
                v = bv_all[w * M8 + tok];
                i = bi_all[w * M8 + tok];
            }
        p.pv[blockIdx.x * LA_MAX_M + tok] = v;
        p.pi[blockIdx.x * LA_MAX_M + tok] = i;
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(p.count, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    for (int tok = warp; tok < p.m; tok += LA_WARPS) {
        const int32_t i = arg_partials_best(p.pv + tok, p.pi + tok, (int)gridDim.x, LA_MAX_M);
        if (lane == 0) p.ids[tok] = i;
    }
    if (threadIdx.x == 0) *p.count = 0;
}

/* BPS blocks per SM (two where the registers allow: more loads in flight) */
template <typename T, int NT, int BPS> static void la_launch(cuda_state *s, const la_params &p)
{
    const size_t smem = la_smem_bytes(NT * 8, p.k);
    cuda_note(s,
              cudaFuncSetAttribute(la_kernel<T, NT, BPS>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
              "linear_argmax (shared memory)");
    cuda_launch_pdl(s, la_kernel<T, NT, BPS>, dim3((unsigned)(s->sm_count * BPS)), dim3(LA_THREADS),
                    smem, "linear_argmax", p);
}

template <typename T> static void la_dispatch(cuda_state *s, const la_params &p)
{
    if (p.m <= 8)
        la_launch<T, 1, 2>(s, p);
    else if (p.m <= 16)
        la_launch<T, 2, 2>(s, p);
    else if (p.m <= 32)
        la_launch<T, 4, 1>(s, p);
    else if (p.m <= 48)
        la_launch<T, 6, 1>(s, p);
    else
        la_launch<T, 8, 1>(s, p); /* m <= LA_MAX_M */
}

static int la_m8(int32_t m)
{
    return m <= 8 ? 8 : m <= 16 ? 16 : m <= 32 ? 32 : m <= 48 ? 48 : 64;
}

/* The fused kernel for this call; false: its preconditions do not hold. */
static bool la_fused(cuda_state *s, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                     const void *bias, int32_t n_valid, void *y, bool keep_y, int32_t *ids)
{
    const int32_t n = w->rows, k = w->cols;
    if (m < s->la_min_m || m > s->la_max_m || k % (32 * LA_U) != 0 || n % 8 != 0 ||
        x_stride % 8 != 0 || !cuda_aligned16(x) || !cuda_aligned16(w->data) || !cuda_aligned16(y) ||
        la_smem_bytes(la_m8(m), k) > LA_SMEM_MAX)
        return false;
    const size_t part = (size_t)s->sm_count * LA_MAX_BPS * LA_MAX_M;
    const size_t bytes = part * (sizeof(float) + sizeof(int32_t)) + 16;
    const void *before = s->la_scratch;
    if (cuda_grow(&s->la_scratch, &s->la_scratch_bytes, bytes, "linear_argmax scratch") !=
        GLOSSA_STATUS_OK)
        return false;
    la_params p;
    memset(&p, 0, sizeof p);
    p.pv = (float *)s->la_scratch;
    p.pi = (int32_t *)(p.pv + part);
    p.count = (unsigned *)(p.pi + part);
    if (s->la_scratch != before &&
        !cuda_note(s, cudaMemsetAsync(p.count, 0, 16, s->stream), "linear_argmax (counter)"))
        return false;
    p.m = m;
    p.n = n;
    p.k = k;
    p.xs = x_stride;
    p.n_valid = n_valid;
    p.tiles = (n + 15) / 16;
    p.x = x;
    p.w = w->data;
    p.bias = bias;
    p.y = keep_y ? y : NULL; /* NULL: the kernel writes no logits */
    p.ids = ids;
    if (s->act_dtype == GL_DTYPE_F16)
        la_dispatch<__half>(s, p);
    else
        la_dispatch<__nv_bfloat16>(s, p);
    return true;
}

bool cuda_op_linear_argmax(backend *b, int32_t m, const void *x, int32_t x_stride,
                           const gl_weight *w, const gl_weight *bias, int32_t n_valid, void *y,
                           bool keep_y, int32_t *ids)
{
    cuda_state *s = cuda_state_of(b);
    if (s->la_off) return false;
    if (m <= 0) return true;
    cuda_bind(s);
    if (n_valid < 1 || n_valid > w->rows) {
        cuda_note(s, cudaErrorInvalidValue, "linear_argmax: n_valid outside the weight's rows");
        return true;
    }
    const void *bp = bias ? bias->data : NULL;
    if (!keep_y && cuda_lm_int8_argmax(s, m, x, x_stride, w, bp, n_valid, ids)) return true;
    if (la_fused(s, m, x, x_stride, w, bp, n_valid, y, keep_y, ids)) return true;
    cuda_op_linear(b, m, x, x_stride, w, bias, GL_ACT_NONE, NULL, y);
    const glossa_status st = cuda_argmax_launch(s, m, n_valid, w->rows, y, ids);
    if (st != GLOSSA_STATUS_OK) cuda_note(s, cudaErrorMemoryAllocation, "linear_argmax (argmax)");
    return true;
}

void cuda_lm_argmax_init(cuda_state *s)
{
    const char *env = getenv("GLOSSA_CUDA_LM_ARGMAX");
    s->la_off = env && env[0] == '0';
    env = getenv("GLOSSA_CUDA_LM_ARGMAX_MIN");
    s->la_min_m = env ? atoi(env) : LA_DEFAULT_MIN_M;
    env = getenv("GLOSSA_CUDA_LM_ARGMAX_MAX");
    s->la_max_m = env ? atoi(env) : LA_DEFAULT_MAX_M;
    if (s->la_max_m > LA_MAX_M) s->la_max_m = LA_MAX_M;
}

void cuda_lm_argmax_release(cuda_state *s)
{
    cudaFree(s->la_scratch);
    s->la_scratch = NULL;
    s->la_scratch_bytes = 0;
}
