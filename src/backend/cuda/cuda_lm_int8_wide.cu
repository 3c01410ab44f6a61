/* Pass 1 of the int8 lm_head path (cuda_lm_int8.cu) for 9-32 rows, bf16 from 1 row, and 33-64
 * rows where l8_ws (cuda_lm_int8_wg.cu, wgmma) cannot run: the same values as l8_scan
 * (the int8 logit per token and column as a half; each token's largest one into lmax), in
 * the layout of the fused lm_head kernel (cuda_lm_argmax.cu), since here x is too large to read
 * again for every 32 rows: persistent, one block per SM; warp w of block b takes 16-row tiles
 * w + 8 b, then every 8 gridDim.x-th, streaming each tile's int8 rows into registers (16 bytes a
 * lane: 64 columns of k for 4 lanes, L8W_U such chunks a load group, two register sets in turn).
 * Not memory latency-bound (H100, docs/PERF.md): 4 cp.async stages a warp in shared memory (3
 * groups in flight) ran 111 / 130 / 153 / 177 us at 16 / 32 / 48 / 64 rows against 101 / 122 /
 * 148 / 178 of this loop (with the earlier per-column bound epilogue; now 102 / 124 / 144 / 168),
 * and fetching the warp's next tiles into L2 (1-8 ahead) was slower (197-226 us at 64 rows). Two
 * blocks a SM (2-chunk groups to fit 128 registers) were slower at every size (112-183 us).
 *
 * x in int8 too: each token row quantised (scale max|x| / 127, kept in shared memory with
 * ||x||_2 and ||x - s_x q_x||_2) by every block at up to 16 rows, and above by l8_xquant once
 * for the grid (cuda_lm_int8_wg.cu) and copied into each block's shared memory (per block it
 * cost 7 / 12 / 16 us of the 32 / 48 / 64-row pass; at 16 rows the extra launch cost a step
 * more than the 2 us it saves: H100, docs/PERF.md), and the product is integer:
 * mma.sync.m16n8k32.s8 with int32 sums, exact (|sum| <= k 127^2), no conversions. (The first
 * form, the rows turned into halves against fp16 x on m16n8k16, ran as fast: 175 us at 64 rows on
 * the H100, against ~85 us of int8 bytes: both issue-bound by a per-value epilogue that computed
 * each column's bounds, ~3,100 warp instructions a tile against ~420 in the main loop; ncu.)
 * The logit a = s_w s_x sum + b goes out as a half; its bound is pass 2's (cuda_lm_int8.cu).
 * A token with a non-finite x gets s_x = NaN: every column a candidate. Needs k % 256 == 0. */
#include <type_traits>

#include "backend/cuda/cuda_lm_int8.cuh"

#define L8W_U 4     /* 64-wide chunks per load group */
#define L8W_XQ_NT 2 /* above 8 * L8W_XQ_NT rows, x from l8_xquant (see above) */
#define L8W_XPAD 64 /* bytes after each staged int8 x row: rows 64 bytes apart mod 128 (uint4) */

static size_t l8w_smem(int m8, int k)
{
    return (size_t)m8 * (size_t)(k + L8W_XPAD) + (size_t)m8 * 3 * sizeof(float);
}

/* c += A B, int8 in, int32 sums: mma.sync.m16n8k32 */
static __device__ __forceinline__ void l8_imma(int c[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                               uint32_t a3, uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

typedef struct l8w_cursor {
    int tile, c;
} l8w_cursor;

/* The next L8W_U chunks of the lane's rows tile * 16 + g and + 8 (zeros past n_valid), then the
 * cursor on (a group never spans two tiles). */
static __device__ __forceinline__ void l8w_load(uint4 a0[L8W_U], uint4 a1[L8W_U], l8w_cursor &cur,
                                                const l8_params &p, int cpt, int step, int g, int t)
{
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const int r = cur.tile * 16 + g;
    const int8_t *q0 = p.q + (int64_t)r * p.k + cur.c * L8_CH + 16 * t;
    const bool v0 = r < p.n_valid, v1 = r + 8 < p.n_valid;
#pragma unroll
    for (int u = 0; u < L8W_U; u++) {
        a0[u] = v0 ? sk_load_stream(q0 + u * L8_CH) : zero;
        a1[u] = v1 ? sk_load_stream(q0 + (int64_t)8 * p.k + u * L8_CH) : zero;
    }
    cur.c += L8W_U;
    if (cur.c == cpt) {
        cur.c = 0;
        cur.tile += step;
    }
}

/* acc += a group. A chunk's 16 bytes of a lane (words 0-3) feed two k32 steps: step s takes word
 * 2 s as the fragment's columns 4t..4t+3 and word 2 s + 1 as 16+4t..16+4t+3, for the rows (A) and
 * for token g's x (B) alike, so the sum covers the chunk once. Each step runs over all NT token
 * tiles (no two consecutive mma.sync share an accumulator). xl: the lane's x bytes at token g,
 * byte 16 t of the group's first chunk. */
template <int NT>
static __device__ __forceinline__ void l8w_mul(int acc[NT][4], const uint4 a0[L8W_U],
                                               const uint4 a1[L8W_U], const int8_t *xl, int xstr)
{
#pragma unroll
    for (int u = 0; u < L8W_U; u++) {
        uint4 b[NT];
#pragma unroll
        for (int j = 0; j < NT; j++)
            b[j] = *reinterpret_cast<const uint4 *>(xl + j * 8 * xstr + u * L8_CH);
#pragma unroll
        for (int j = 0; j < NT; j++)
            l8_imma(acc[j], a0[u].x, a1[u].x, a0[u].y, a1[u].y, b[j].x, b[j].y);
#pragma unroll
        for (int j = 0; j < NT; j++)
            l8_imma(acc[j], a0[u].z, a1[u].z, a0[u].w, a1[u].w, b[j].z, b[j].w);
    }
}

/* A column's scale and bias, and whether its row is finite (else no part of the max) */
typedef struct l8w_col {
    float sc, b;
    bool ok;
} l8w_col;

template <typename T>
static __device__ __forceinline__ l8w_col l8w_col_load(const l8_params &p, int r)
{
    l8w_col c = {0.0f, 0.0f, false};
    if (r < p.n_valid) {
        c.sc = p.scale[r];
        c.b = p.bias ? gl_cu_f32(((const T *)p.bias)[r]) : 0.0f;
        c.ok = isfinite(p.en[r]);
    }
    return c;
}

/* A tile's epilogue: acc[j][e] of lane (g, t) is column tile * 16 + g + 8 (e / 2), token
 * 8 j + 2 t + e % 2; its int8 logit s_w s_x sum + b to av (a half) and into the lane's max of the
 * token. (The bound is pass 2's: the largest over the columns, per token.) */
template <int NT>
static __device__ __forceinline__ void l8w_epilogue(const l8_params &p, const int acc[NT][4],
                                                    int tile, const l8w_col &c0,
                                                    const l8w_col &c1, const float *sx,
                                                    float lmx[NT][2], int g, int t)
{
    const int r0 = tile * 16 + g, r1 = r0 + 8;
    __half *col0 = p.av + r0;
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int tok = 8 * j + 2 * t + e;
            if (tok >= p.m) continue;
            const float st = sx[tok];
            __half *o = col0 + (int64_t)tok * p.ldh;
            if (r0 < p.n_valid) {
                const float av = c0.sc * (st * (float)acc[j][e]) + c0.b;
                o[0] = l8_av(av, c0.ok);
                lmx[j][e] = fmaxf(lmx[j][e], c0.ok ? av : -INFINITY);
            }
            if (r1 < p.n_valid) {
                const float av = c1.sc * (st * (float)acc[j][e + 2]) + c1.b;
                o[8] = l8_av(av, c1.ok);
                lmx[j][e] = fmaxf(lmx[j][e], c1.ok ? av : -INFINITY);
            }
        }
}

template <typename T, int NT>
__global__ void __launch_bounds__(L8_THREADS, 1) l8_wide(l8_params p)
{
    constexpr bool PREQ = NT > L8W_XQ_NT;
    extern __shared__ __align__(16) unsigned char l8w_sm[];
    constexpr int M8 = NT * 8;
    __shared__ unsigned bmax[M8];
    const int xstr = p.k + L8W_XPAD;
    int8_t *xq = reinterpret_cast<int8_t *>(l8w_sm);
    float *sx = reinterpret_cast<float *>(l8w_sm + (size_t)M8 * xstr);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int gw = blockIdx.x * L8_WARPS + warp, step = gridDim.x * L8_WARPS;
    const int tiles = (p.n_valid + 15) / 16, cpt = p.k / L8_CH;
    const int my_tiles = gw < tiles ? (tiles - 1 - gw) / step + 1 : 0;
    const int groups = my_tiles * (cpt / L8W_U);

    /* before the wait: the first group of int8 rows and the first tile's column constants */
    uint4 a0[L8W_U], a1[L8W_U], n0[L8W_U], n1[L8W_U];
    l8w_cursor lc = {gw, 0};
    if (groups > 0) l8w_load(a0, a1, lc, p, cpt, step, g, t);
    int ctile = gw;
    l8w_col c0 = l8w_col_load<T>(p, ctile * 16 + g), c1 = l8w_col_load<T>(p, ctile * 16 + g + 8);
    if (threadIdx.x < M8) bmax[threadIdx.x] = L8_NEG_INF_ENC;
    cuda_pdl_trigger();
    cuda_pdl_wait();
    if (PREQ) { /* x from l8_xquant (swizzled in p.xg) into padded rows; the scales from tokc */
        const int kv = p.k / 16;
        for (int e = threadIdx.x; e < M8 * kv; e += L8_THREADS) {
            const int tok = e / kv, kb = (e % kv) * 16;
            *reinterpret_cast<uint4 *>(xq + tok * xstr + kb) =
                *reinterpret_cast<const uint4 *>(p.xg + l8_xq_off(tok, kb, p.k, -1));
        }
        if (threadIdx.x < M8) sx[threadIdx.x] = p.tokc[threadIdx.x];
        __syncthreads();
    } else { /* each block quantises x itself */
        l8_stage_x<T>(p, M8, xq, xstr, sx, sx + M8, sx + 2 * M8);
        __syncthreads();
        if (blockIdx.x == 0) /* the tokens' constants for pass 2 */
            for (int i = threadIdx.x; i < 3 * p.m; i += L8_THREADS)
                p.tokc[(i / p.m) * L8_MAX_M + i % p.m] = sx[(i / p.m) * M8 + i % p.m];
    }

    int acc[NT][4];
    float lmx[NT][2]; /* the lane's largest int8 logit of a finite row, per token */
#pragma unroll
    for (int j = 0; j < NT; j++) {
        acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0;
        lmx[j][0] = lmx[j][1] = -INFINITY;
    }
#define L8W_STEP()                                                                                 \
    do {                                                                                           \
        cc += L8W_U;                                                                               \
        if (cc == cpt) {                                                                           \
            l8w_epilogue<NT>(p, acc, ctile, c0, c1, sx, lmx, g, t);                                \
            for (int j = 0; j < NT; j++)                                                           \
                acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0;                                 \
            cc = 0;                                                                                \
            ctile += step;                                                                         \
            c0 = l8w_col_load<T>(p, ctile * 16 + g);                                               \
            c1 = l8w_col_load<T>(p, ctile * 16 + g + 8);                                           \
        }                                                                                          \
    } while (0)
    int cc = 0;
    const int8_t *xl = xq + g * xstr + 16 * t;
#pragma unroll 1
    for (int gi = 0; gi < groups; gi += 2) {
        if (gi + 1 < groups) l8w_load(n0, n1, lc, p, cpt, step, g, t);
        l8w_mul<NT>(acc, a0, a1, xl + cc * L8_CH, xstr);
        L8W_STEP();
        if (gi + 1 >= groups) break;
        if (gi + 2 < groups) l8w_load(a0, a1, lc, p, cpt, step, g, t);
        l8w_mul<NT>(acc, n0, n1, xl + cc * L8_CH, xstr);
        L8W_STEP();
    }
#undef L8W_STEP

    /* each token's largest int8 logit: its 8 lanes, the block, the grid */
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            unsigned v = arg_key(lmx[j][e]);
#pragma unroll
            for (int o = 4; o < 32; o <<= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
            if (g == 0) atomicMax(&bmax[8 * j + 2 * t + e], v);
        }
    __syncthreads();
    if (threadIdx.x < p.m && bmax[threadIdx.x] != L8_NEG_INF_ENC)
        atomicMax(&p.lmax[threadIdx.x], bmax[threadIdx.x]);
}

template <typename T, int NT> static bool l8w_launch(cuda_state *s, const l8_params &p)
{
    const size_t smem = l8w_smem(NT * 8, p.k);
    if (smem > 227 * 1024 ||
        !cuda_note(s,
                   cudaFuncSetAttribute(l8_wide<T, NT>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                   "lm_head int8 (shared memory)"))
        return false;
    if (NT > L8W_XQ_NT) l8_xquant_launch(s, p, !std::is_same<T, __half>::value);
    cuda_launch_pdl(s, l8_wide<T, NT>, dim3((unsigned)s->sm_count), dim3(L8_THREADS), smem,
                    "lm_head int8 wide scan", p);
    return true;
}

template <typename T> static bool l8w_dispatch(cuda_state *s, const l8_params &p)
{
    if (p.m <= 16) return l8w_launch<T, 2>(s, p);
    if (p.m <= 32) return l8w_launch<T, 4>(s, p);
    if (p.m <= 48) return l8w_launch<T, 6>(s, p);
    return l8w_launch<T, 8>(s, p);
}

bool l8_wide_launch(cuda_state *s, const l8_params &p, bool bf16)
{
    if (p.k % (L8_CH * L8W_U) != 0) return false;
    return bf16 ? l8w_dispatch<__nv_bfloat16>(s, p) : l8w_dispatch<__half>(s, p);
}
