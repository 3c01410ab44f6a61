/* Pass 1 of the int8 lm_head path (cuda_lm_int8.cu) for 9-64 rows: the same values as l8_scan
 * (hi per token and column, rounded up to a half; each token's largest lower bound into lmax), in
 * the layout of the fused lm_head kernel (cuda_lm_argmax.cu), since here x is too large to read
 * again for every 32 rows: persistent, one block per SM, x (m rows padded to a multiple of 8) staged
 * in shared memory once with the tokens' norms; warp w of block b takes 16-row tiles w + 8 b, then
 * every 8 gridDim.x-th, streaming each tile's int8 rows into registers (16 bytes a lane: 64 columns
 * of k for 4 lanes, L8W_U such chunks a load group, two register sets in turn) and multiplying them
 * (turned into halves exactly) with mma.sync against x fragments from shared memory. A tile's
 * epilogue writes hi and keeps the lane's largest lower bound per token in registers; at the end
 * the 8 lanes of a token, the block and the grid meet by max (shuffles, shared and global
 * atomics). Needs k % 256 == 0 (else the caller's other paths run). */
#include "backend/cuda/cuda_lm_int8.cuh"

#define L8W_U 4    /* 64-wide chunks per load group */
#define L8W_XPAD 4 /* halves after each staged x row: rows 2 banks apart (conflict-free uint2) */

static size_t l8w_smem(int m8, int k)
{
    return (size_t)m8 * (size_t)(k + L8W_XPAD) * sizeof(__half) + (size_t)m8 * 2 * sizeof(float);
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

/* acc += a group: per chunk the A fragments of its four k16 steps (bytes / halves 4 s .. 4 s + 3
 * of the lane's 16 as the columns {2t, 2t + 1, 2t + 8, 2t + 9}, as l8_chunk), then each step over
 * all NT token tiles (no two consecutive mma.sync share an accumulator). xl: the lane's x at
 * token g, column 16 t of the group's first chunk. */
template <int NT>
static __device__ __forceinline__ void l8w_mul(float acc[NT][4], const uint4 a0[L8W_U],
                                               const uint4 a1[L8W_U], const __half *xl, int xstr)
{
#pragma unroll
    for (int u = 0; u < L8W_U; u++) {
        const uint32_t *w0 = reinterpret_cast<const uint32_t *>(&a0[u]);
        const uint32_t *w1 = reinterpret_cast<const uint32_t *>(&a1[u]);
#pragma unroll
        for (int s = 0; s < 4; s++) {
            const uint32_t f0 = l8_h2(w0[s], 0x5140), f1 = l8_h2(w1[s], 0x5140);
            const uint32_t f2 = l8_h2(w0[s], 0x7362), f3 = l8_h2(w1[s], 0x7362);
#pragma unroll
            for (int j = 0; j < NT; j++) {
                const uint2 b =
                    *reinterpret_cast<const uint2 *>(xl + j * 8 * xstr + u * L8_CH + 4 * s);
                sk_mma<__half>::run(acc[j], f0, f1, f2, f3, b.x, b.y);
            }
        }
    }
}

/* A column's scale, bound and bias (zeros past n_valid) */
typedef struct l8w_col {
    float sc, bd, b;
} l8w_col;

static __device__ __forceinline__ l8w_col l8w_col_load(const l8_params &p, int r)
{
    l8w_col c = {0.0f, 0.0f, 0.0f};
    if (r < p.n_valid) {
        c.sc = p.scale[r];
        c.bd = p.bound[r];
        c.b = p.bias ? __half2float(p.bias[r]) : 0.0f;
    }
    return c;
}

/* A tile's epilogue: acc[j][e] of lane (g, t) is column tile * 16 + g + 8 (e / 2), token
 * 8 j + 2 t + e % 2. */
template <int NT>
static __device__ __forceinline__ void l8w_epilogue(const l8_params &p, const float acc[NT][4],
                                                    int tile, l8w_col c0, l8w_col c1,
                                                    const float *xn, unsigned lmx[NT][2], int g,
                                                    int t)
{
    const int r0 = tile * 16 + g, r1 = r0 + 8;
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int tok = 8 * j + 2 * t + e;
            if (tok >= p.m) continue;
            float hi, lo;
            if (r0 < p.n_valid) {
                l8_bounds(c0.sc, acc[j][e], c0.b, c0.bd, xn[tok], &hi, &lo);
                p.hi[(int64_t)tok * p.ldh + r0] = __float2half_ru(hi);
                lmx[j][e] = max(lmx[j][e], l8_enc(lo));
            }
            if (r1 < p.n_valid) {
                l8_bounds(c1.sc, acc[j][e + 2], c1.b, c1.bd, xn[tok], &hi, &lo);
                p.hi[(int64_t)tok * p.ldh + r1] = __float2half_ru(hi);
                lmx[j][e] = max(lmx[j][e], l8_enc(lo));
            }
        }
}

template <int NT>
__global__ void __launch_bounds__(L8_THREADS, 1) l8_wide(l8_params p)
{
    extern __shared__ __align__(16) unsigned char l8w_sm[];
    constexpr int M8 = NT * 8;
    __shared__ unsigned bmax[M8];
    const int xstr = p.k + L8W_XPAD;
    __half *xs = reinterpret_cast<__half *>(l8w_sm);
    float *xn = reinterpret_cast<float *>(xs + (size_t)M8 * xstr);
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
    l8w_col c0 = l8w_col_load(p, ctile * 16 + g), c1 = l8w_col_load(p, ctile * 16 + g + 8);
    if (threadIdx.x < M8) bmax[threadIdx.x] = L8_NEG_INF_ENC;
    cuda_pdl_trigger();
    cuda_pdl_wait();

    /* x into shared memory (8-byte pieces: the rows are 8 bytes apart mod 16), then the norms */
    const int kv = p.k >> 2;
    for (int v = threadIdx.x; v < M8 * kv; v += L8_THREADS) {
        const int row = v / kv, col = (v - row * kv) * 4;
        const uint2 val = row < p.m ? __ldg(reinterpret_cast<const uint2 *>(
                                          p.x + (int64_t)row * p.xs + col))
                                    : make_uint2(0, 0);
        *reinterpret_cast<uint2 *>(xs + row * xstr + col) = val;
    }
    __syncthreads();
    for (int tok = warp; tok < M8; tok += L8_WARPS) {
        float ss = 0.0f;
        for (int c = lane * 2; c < p.k; c += 64) {
            const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(xs + tok * xstr + c));
            ss += f.x * f.x + f.y * f.y;
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        if (lane == 0) xn[tok] = sqrtf(ss) * (1.0f + 1e-4f);
    }
    __syncthreads();

    float acc[NT][4];
    unsigned lmx[NT][2];
#pragma unroll
    for (int j = 0; j < NT; j++) {
        acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
        lmx[j][0] = lmx[j][1] = L8_NEG_INF_ENC;
    }
#define L8W_STEP()                                                                                 \
    do {                                                                                           \
        cc += L8W_U;                                                                               \
        if (cc == cpt) {                                                                           \
            l8w_epilogue<NT>(p, acc, ctile, c0, c1, xn, lmx, g, t);                                \
            for (int j = 0; j < NT; j++)                                                           \
                acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;                              \
            cc = 0;                                                                                \
            ctile += step;                                                                         \
            c0 = l8w_col_load(p, ctile * 16 + g);                                                  \
            c1 = l8w_col_load(p, ctile * 16 + g + 8);                                              \
        }                                                                                          \
    } while (0)
    int cc = 0;
    const __half *xl = xs + g * xstr + 16 * t;
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

    /* each token's largest lower bound: its 8 lanes, the block, the grid */
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            unsigned v = lmx[j][e];
#pragma unroll
            for (int o = 4; o < 32; o <<= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
            if (g == 0) atomicMax(&bmax[8 * j + 2 * t + e], v);
        }
    __syncthreads();
    if (threadIdx.x < p.m && bmax[threadIdx.x] != L8_NEG_INF_ENC)
        atomicMax(&p.lmax[threadIdx.x], bmax[threadIdx.x]);
}

template <int NT> static bool l8w_launch(cuda_state *s, const l8_params &p)
{
    const size_t smem = l8w_smem(NT * 8, p.k);
    if (smem > 227 * 1024 ||
        !cuda_note(s,
                   cudaFuncSetAttribute(l8_wide<NT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem),
                   "lm_head int8 (shared memory)"))
        return false;
    cuda_launch_pdl(s, l8_wide<NT>, dim3((unsigned)s->sm_count), dim3(L8_THREADS), smem,
                    "lm_head int8 wide scan", p);
    return true;
}

bool l8_wide_launch(cuda_state *s, const l8_params &p)
{
    if (p.k % (L8_CH * L8W_U) != 0) return false;
    if (p.m <= 16) return l8w_launch<2>(s, p);
    if (p.m <= 32) return l8w_launch<4>(s, p);
    if (p.m <= 48) return l8w_launch<6>(s, p);
    return l8w_launch<8>(s, p);
}
