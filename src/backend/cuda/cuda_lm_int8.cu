/* The greedy lm_head at 1-64 rows through an int8 shadow of its weight, with an exact answer:
 * linear_argmax's ids-only calls (keep_y false) for big vocabularies.
 *
 * Why: at one token a greedy step's lm_head reads the whole fp16 weight (mbart-large-50: 250,056
 * x 1,024, 512 MB, 165 us at the H100's 3.1 TB/s) to find one column. Here a step reads an int8
 * copy (256 MB) and a bound on how far each int8 logit can be from the fp16 one; only the columns
 * the bound cannot rule out are computed again from the fp16 rows. The ids are those of the linear
 * op's logits (rounded to the act dtype) and the argmax order of cuda_argmax.cuh; nothing is
 * approximated. (Summation order aside: the rescoring sums a row in another fp32 order than the
 * linear op, as the fused kernel of cuda_lm_argmax.cu does; a product within an fp32 rounding of
 * an act-dtype rounding boundary may round the other way in one of the two.)
 *
 * The shadow (built once per weight, on the stream; dropped when the weight is freed): row i's
 * scale s_i = max|w_i| / 127, q_i = round(w_i / s_i) in int8, and
 *   c_i = ||w_i - s_i q_i||_2 (1 + 1e-4) + 1e-3 (s_i ||q_i||_2 + ||w_i||_2),
 *   en_i = ||w_i - s_i q_i||_2 (1 + 1e-4), qn_i = s_i ||q_i||_2 (1 + 1e-4)
 * (a row with a non-finite weight: inf), and their maxima over the finite rows with max |b|
 * (l8_maxes, again when the bias changes). By Cauchy-Schwarz the real logit z_i = w_i . x + b_i
 * is within ||w_i - s_i q_i||_2 ||x||_2 of a_i = s_i (q_i . x) + b_i (fp16 x, l8_scan); the 1e-3
 * terms cover both sums' fp32 (tensor-core) rounding, 8x the worst case of 1,024 terms. With x in
 * int8 too (l8_wide) the difference is e_w . x + s_w q_w . e_x: en_i ||x|| + qn_i ||e_x||, plus
 * 1e-4 (en_i + qn_i) ||x|| for the rescoring's fp32 sum (exact int32 sums there).
 *
 * Pass 1 (1-8 rows: l8_scan, one block per 32 rows; 9-64: l8_wide, cuda_lm_int8_wide.cu): a_i
 * by mma.sync, written per token as a half (av), each token's largest a_i of a finite row AM (an
 * order-preserving unsigned atomicMax), and its ||x||_2 (and s_x, ||e_x||_2) into tokc. Only that:
 * a first form that computed and wrote each column's own bounds spent ~85% of its instructions
 * there (ncu, docs/PERF.md).
 * Pass 2 (l8_pick, a block per 16,384 columns and token): B = the largest bound of any column for
 * the token (from the maxima; + 4e-7 (|a| + max|b|) and max|b| 2^-22 for a's own fp32 roundings),
 * L = AM - B - 4e-7 |AM| (a lower bound of the AM column's logit, so of the largest); a column
 * with av + |av| (2^-10 + 4.1e-7) + 2^-24 + B (an upper bound of its logit through the half; av
 * is stored no lower than -65504, so that a logit under the half range still has one) below L by
 * more than two act-dtype ulps rounds strictly below the winner and cannot win. Every other
 * column (every column when x is not finite or no row is) is computed from its row, rounded to
 * the act dtype as the linear op rounds, and taken in the argmax order; per-block bests, the last
 * block (a self-resetting counter) reduces them to ids and resets AM. The bound grows with av, so
 * when pass 1 ran on wgmma (33-64 rows) and also wrote each token's largest av per 128 columns
 * (tmax), pass 2 reads those first and av only where a tile's maximum reaches the threshold.
 *
 * fp16 or bf16 activations and weights (the weight's dtype the act dtype). bf16 runs pass 1 through
 * l8_wide at every row count (x quantised to int8: l8_scan's exact int8 -> half trick has no
 * two-instruction bf16 form) and rounds the rescored logits to bf16, two bf16 ulps in the test.
 * GLOSSA_CUDA_LM_INT8=0: off (the linear op + argmax kernels, or the fused kernel). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_lm_int8.cuh"

/* ---- the shadow ---- */

/* One warp a row: scale, int8 row, bound (see the top), and for l8_wide's int8 x the row's
 * en = ||w - s q||_2 and qn = s ||q||_2, each (1 + 1e-4) for their own rounding (inf: a row with a
 * non-finite weight). */
template <typename T>
__global__ void l8_quantize(const T *w, int64_t rows, int k, int8_t *q, float *scale, float *bound,
                            float *en, float *qn)
{
    const int lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    if (r >= rows) return;
    const uint4 *wr = reinterpret_cast<const uint4 *>(w + r * k);
    float mx = 0.0f;
    bool bad = false;
    for (int v = lane; v < k / 8; v += 32) {
        const uint4 u = wr[v];
        const T *h = reinterpret_cast<const T *>(&u);
        for (int e = 0; e < 8; e++) {
            const float f = gl_cu_f32(h[e]);
            bad |= !isfinite(f);
            mx = fmaxf(mx, fabsf(f));
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        bad |= __shfl_xor_sync(0xffffffffu, (int)bad, o) != 0;
    }
    const float s = mx > 0.0f && !bad ? mx / 127.0f : 1.0f;
    double se = 0.0, sq = 0.0, sw = 0.0;
    for (int v = lane; v < k / 8; v += 32) {
        const uint4 u = wr[v];
        const T *h = reinterpret_cast<const T *>(&u);
        uint2 packed;
        int8_t *pb = reinterpret_cast<int8_t *>(&packed);
        for (int e = 0; e < 8; e++) {
            const float f = bad ? 0.0f : gl_cu_f32(h[e]);
            const float qf = fminf(fmaxf(rintf(f / s), -127.0f), 127.0f);
            const double err = (double)f - (double)qf * (double)s;
            se += err * err;
            sq += (double)qf * qf;
            sw += (double)f * f;
            pb[e] = (int8_t)qf;
        }
        reinterpret_cast<uint2 *>(q + r * k)[v] = packed;
    }
    for (int o = 16; o > 0; o >>= 1) {
        se += __shfl_xor_sync(0xffffffffu, se, o);
        sq += __shfl_xor_sync(0xffffffffu, sq, o);
        sw += __shfl_xor_sync(0xffffffffu, sw, o);
    }
    if (lane == 0) {
        scale[r] = s;
        bound[r] = bad ? INFINITY
                       : (float)(sqrt(se) * (1.0 + 1e-4) + 1e-3 * ((double)s * sqrt(sq) + sqrt(sw)));
        en[r] = bad ? INFINITY : (float)(sqrt(se) * (1.0 + 1e-4));
        qn[r] = bad ? INFINITY : (float)((double)s * sqrt(sq) * (1.0 + 1e-4));
    }
}

/* mx[0..2] = the largest finite bound, en, qn over the rows; mx[3] = max |bias| (0 without one).
 * One block. */
template <typename T>
__global__ void l8_maxes(const float *bound, const float *en, const float *qn, int64_t rows,
                         const T *bias, float *mx)
{
    __shared__ float red[4][32];
    float m[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
        const float v[3] = {bound[r], en[r], qn[r]};
#pragma unroll
        for (int i = 0; i < 3; i++)
            if (isfinite(v[i])) m[i] = fmaxf(m[i], v[i]);
        if (bias) m[3] = fmaxf(m[3], fabsf(gl_cu_f32(bias[r]))); /* NaN: ignored */
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) m[i] = fmaxf(m[i], __shfl_xor_sync(0xffffffffu, m[i], o));
        if ((threadIdx.x & 31) == 0) red[i][threadIdx.x >> 5] = m[i];
    }
    __syncthreads();
    if (threadIdx.x < 4) {
        float v = 0.0f;
        for (int w = 0; w < (int)(blockDim.x / 32); w++) v = fmaxf(v, red[threadIdx.x][w]);
        mx[threadIdx.x] = v;
    }
}

/* ---- pass 1 ---- */

/* Chunk c of the lane's four rows (tile 0: g, g + 8; tile 1: 16 + g, 24 + g), zeros past the
 * valid rows or the warp's chunks. */
static __device__ __forceinline__ void l8_load(uint4 a[4], const l8_params &p, int f0, int g,
                                               int t, int c, int c_end)
{
    const uint4 zero = make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const int row = f0 + (r >> 1) * 16 + g + (r & 1) * 8;
        a[r] = c < c_end && row < p.n_valid
                   ? sk_load_stream(p.q + (int64_t)row * p.k + c * L8_CH + 16 * t)
                   : zero;
    }
}

/* One chunk: four k16 steps of both tiles against token g's x (16 halves at 16 t of the chunk:
 * step s takes the bytes / halves 4 s .. 4 s + 3 as the fragment's columns {2t, 2t + 1, 2t + 8,
 * 2t + 9}; A and B agree, so the sum covers the chunk once). ssq: token g's sum of squares. */
static __device__ __forceinline__ void l8_chunk(float acc[2][4], const uint4 a[4], const l8_params &p,
                                                int g, int t, int c, float *ssq)
{
    uint4 xv[2] = {make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
    if (g < p.m) {
        const __half *xr = (const __half *)p.x + (int64_t)g * p.xs + c * L8_CH + 16 * t;
        xv[0] = __ldg(reinterpret_cast<const uint4 *>(xr));
        xv[1] = __ldg(reinterpret_cast<const uint4 *>(xr) + 1);
    }
    const uint32_t *xw = reinterpret_cast<const uint32_t *>(xv);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&xw[i]));
        *ssq += f.x * f.x + f.y * f.y;
    }
#pragma unroll
    for (int s = 0; s < 4; s++) {
        const uint32_t b0 = xw[2 * s], b1 = xw[2 * s + 1];
#pragma unroll
        for (int tile = 0; tile < 2; tile++) {
            const uint32_t w0 = reinterpret_cast<const uint32_t *>(&a[2 * tile])[s];
            const uint32_t w1 = reinterpret_cast<const uint32_t *>(&a[2 * tile + 1])[s];
            sk_mma<__half>::run(acc[tile], l8_h2(w0, 0x5140), l8_h2(w1, 0x5140), l8_h2(w0, 0x7362),
                                l8_h2(w1, 0x7362), b0, b1);
        }
    }
}

__global__ void __launch_bounds__(L8_THREADS, 2) l8_scan(l8_params p)
{
    __shared__ float red[L8_WARPS][8][32];
    __shared__ float xsq[L8_WARPS][L8_SMALL_M];
    __shared__ unsigned bmax[L8_SMALL_M];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int f0 = blockIdx.x * L8_ROWS;
    const int c_beg = warp * p.cpw, c_end = min(p.k / L8_CH, c_beg + p.cpw);
    uint4 a[4], nx[4] = {};
    l8_load(a, p, f0, g, t, c_beg, c_end); /* weights: before the wait */
    /* the thread's epilogue entry: (tile, e) = tid / 32, lane tid % 32 */
    const int e8 = threadIdx.x >> 5, ln = lane;
    const int row = f0 + 16 * (e8 >> 2) + (ln >> 2) + ((e8 & 3) >> 1) * 8;
    const int tok = 2 * (ln & 3) + (e8 & 1);
    const bool live = row < p.n_valid && tok < p.m;
    const float sc = live ? p.scale[row] : 0.0f;
    const bool ok = live && isfinite(p.bound[row]); /* a row with a non-finite weight: no max */
    const float bi = live && p.bias ? __half2float(((const __half *)p.bias)[row]) : 0.0f;
    if (threadIdx.x < L8_SMALL_M) bmax[threadIdx.x] = L8_NEG_INF_ENC;
    cuda_pdl_trigger();
    cuda_pdl_wait();
    float acc[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
    float ssq = 0.0f;
    for (int c = c_beg; c < c_end; c++) {
        if (c + 1 < c_end) l8_load(nx, p, f0, g, t, c + 1, c_end);
        l8_chunk(acc, a, p, g, t, c, &ssq);
#pragma unroll
        for (int r = 0; r < 4; r++) a[r] = nx[r];
    }
    ssq += __shfl_xor_sync(0xffffffffu, ssq, 1);
    ssq += __shfl_xor_sync(0xffffffffu, ssq, 2);
    if (t == 0) xsq[warp][g] = ssq;
#pragma unroll
    for (int tile = 0; tile < 2; tile++)
#pragma unroll
        for (int e = 0; e < 4; e++) red[warp][tile * 4 + e][lane] = acc[tile][e];
    __syncthreads();
    if (live) {
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < L8_WARPS; w++) sum += red[w][e8][ln];
        const float av = sc * sum + bi;
        /* a row with a non-finite weight: +inf, always rescored (its logit may be NaN: it wins) */
        p.av[(int64_t)tok * p.ldh + row] = l8_av(av, ok);
        if (ok) atomicMax(&bmax[tok], arg_key(av));
    }
    if (blockIdx.x == 0 && threadIdx.x < p.m) { /* the tokens' constants for pass 2 */
        float xx = 0.0f;
#pragma unroll
        for (int w = 0; w < L8_WARPS; w++) xx += xsq[w][threadIdx.x];
        p.tokc[threadIdx.x] = 1.0f;
        p.tokc[L8_MAX_M + threadIdx.x] = sqrtf(xx) * (1.0f + 1e-4f);
        p.tokc[2 * L8_MAX_M + threadIdx.x] = 0.0f;
    }
    __syncthreads();
    if (threadIdx.x < p.m && bmax[threadIdx.x] != L8_NEG_INF_ENC)
        atomicMax(&p.lmax[threadIdx.x], bmax[threadIdx.x]);
}

/* ---- pass 2 ---- */

/* Column i's logit as the linear op writes it: fp32 sum + bias, rounded to the act dtype T (every
 * lane of the warp returns it). */
template <typename T>
static __device__ __forceinline__ float l8_exact(const l8_params &p, int tok, int i)
{
    const int lane = threadIdx.x & 31;
    const uint4 *wr = reinterpret_cast<const uint4 *>((const T *)p.w + (int64_t)i * p.k);
    const uint4 *xr = reinterpret_cast<const uint4 *>((const T *)p.x + (int64_t)tok * p.xs);
    float s = 0.0f;
    for (int v = lane; v < p.k / 8; v += 32) {
        const uint4 wu = __ldg(wr + v), xu = __ldg(xr + v);
        const T *wh = reinterpret_cast<const T *>(&wu), *xh = reinterpret_cast<const T *>(&xu);
#pragma unroll
        for (int e = 0; e < 8; e += 2)
            s += gl_cu_f32(wh[e]) * gl_cu_f32(xh[e]) + gl_cu_f32(wh[e + 1]) * gl_cu_f32(xh[e + 1]);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    const float b = p.bias ? gl_cu_f32(((const T *)p.bias)[i]) : 0.0f;
    return gl_cu_f32(gl_cu_from_f32<T>(s + b));
}

/* Two ulps of the act dtype at |L| (a column whose logit is below L by more than this rounds
 * strictly below it), inf near the top of the dtype's range (overflow ties every column above). */
static __device__ __forceinline__ float l8_two_ulps(__half, float L)
{
    return fabsf(L) < 32768.0f ? fabsf(L) * 0x1p-9f + 0x1p-14f : INFINITY;
}
static __device__ __forceinline__ float l8_two_ulps(__nv_bfloat16, float L)
{
    return fabsf(L) < 0x1p126f ? fabsf(L) * 0x1p-6f + 0x1p-120f : INFINITY;
}

/* Column av's upper bound: its half's rounding (2^-10 relative, 2^-24 below the normal range),
 * its own fp32 roundings, and B; never decreasing in a, so a tile's largest av bounds all its
 * columns */
static __device__ __forceinline__ float l8_hi(float a, float B)
{
    return a + fabsf(a) * (0x1p-10f + 4.1e-7f) + 0x1p-24f + B;
}

/* Columns base + 8 lane .. + 7 (their av in hv): those whose bound reaches thr (all: every one)
 * appended to the block's candidate list (cand, n), or, past its L8_CANDS, rescored exactly
 * here by the whole warp (the best kept in (bv, bi)). Every lane of the warp calls it. */
template <typename T>
static __device__ __forceinline__ void l8_pick_piece(const l8_params &p, int tok, uint4 hv,
                                                     int base, int c1, float B, float thr,
                                                     bool all, int32_t *cand, int *n, float &bv,
                                                     int32_t &bi)
{
    const int lane = threadIdx.x & 31;
    const __half *h = reinterpret_cast<const __half *>(&hv);
    unsigned m8 = 0;
#pragma unroll
    for (int e = 0; e < 8; e++)
        if (base + lane * 8 + e < c1 && (all || !(l8_hi(__half2float(h[e]), B) < thr)))
            m8 |= 1u << e;
    if (m8) {
        int at = atomicAdd(n, __popc(m8));
        for (unsigned r = m8; r && at < L8_CANDS; r &= r - 1, at++) {
            cand[at] = base + lane * 8 + __ffs(r) - 1;
            m8 &= m8 - 1; /* listed: not rescored here */
        }
    }
    unsigned any = __ballot_sync(0xffffffffu, m8 != 0);
    while (any) {
        const int j = __ffs(any) - 1;
        any &= any - 1;
        unsigned mj = __shfl_sync(0xffffffffu, m8, j);
        while (mj) {
            const int col = base + j * 8 + __ffs(mj) - 1;
            mj &= mj - 1;
            const float v = l8_exact<T>(p, tok, col);
            if (arg_better(v, col, bv, bi)) {
                bv = v;
                bi = col;
            }
        }
    }
}

/* One block per (chunk of L8_PICK_COLS columns, token). The chunk's candidates (columns whose
 * bound reaches thr) go to a list in shared memory that the block's 8 warps then rescore in turn
 * (they cluster: found in place, a few warps rescored one after another, each a dependent load of
 * a weight row). Without tile maxima: 16-byte loads of av (8 columns a lane, 8 pieces a thread,
 * all in flight). With them (p.tmax, pass 1 on wgmma): the chunk's 128 tile maxima first, then
 * av only of the 256-column groups holding a tile whose maximum's bound reaches thr (typically a
 * few of the chunk's 64), a warp's all in flight. Per-block bests; each token's last block (a
 * self-resetting counter per token) reduces its blocks' to the id and resets AM. */
template <typename T> __global__ void __launch_bounds__(L8_THREADS) l8_pick(l8_params p)
{
    constexpr int NT = L8_PICK_COLS / L8_TILE, GC = 32 * 8; /* tiles; columns a group */
    constexpr int NI = L8_PICK_COLS / 8 / L8_THREADS;      /* pieces (groups) a thread (warp) */
    __shared__ float sv[L8_WARPS];
    __shared__ int32_t si[L8_WARPS];
    __shared__ unsigned tfl[NT / 32];
    __shared__ int32_t cand[L8_CANDS];
    __shared__ int ncand;
    __shared__ bool last;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, tok = blockIdx.y;
    const int c0 = blockIdx.x * L8_PICK_COLS, c1 = min(p.n_valid, c0 + L8_PICK_COLS);
    cuda_pdl_trigger();
    if (threadIdx.x == 0) ncand = 0;
    cuda_pdl_wait();
    /* B: the largest bound of any column for this token (see the top); L: a lower bound of the
     * column with the largest int8 logit AM, so of the largest logit */
    const float AM = arg_unkey(__ldcg(&p.lmax[tok]));
    const float sx = __ldcg(&p.tokc[tok]), xn = __ldcg(&p.tokc[L8_MAX_M + tok]),
                xe = __ldcg(&p.tokc[2 * L8_MAX_M + tok]);
    const float cm = __ldg(&p.mx[0]), em = __ldg(&p.mx[1]), qm = __ldg(&p.mx[2]),
                bm = __ldg(&p.mx[3]);
    const float A = p.wide ? em + 1e-4f * (qm + em) : cm, QX = p.wide ? qm * xe : 0.0f;
    const float B = A * xn + QX + 4e-7f * bm + bm * 0x1p-22f;
    const float L = AM - B - 4e-7f * fabsf(AM);
    /* a non-finite x, no finite row, a non-finite bound: every column */
    const bool all = !(isfinite(sx) && isfinite(xn) && isfinite(xe) && isfinite(L) && isfinite(B));
    /* two act-dtype ulps of |L| (a larger column rounds strictly higher); near the top of the
     * dtype's range (overflow to inf ties every column above it): every column */
    const float u = l8_two_ulps(T(), L);
    const float thr = all ? -INFINITY : L - u;
    const uint4 *hrow = reinterpret_cast<const uint4 *>(p.av + (int64_t)tok * p.ldh);
    const int pend = (c1 + 7) / 8; /* pieces of 8 columns, [c0 / 8, pend) */
    float bv = 0.0f;
    int32_t bi = -1;
    uint4 hv[NI];
    if (p.tmax) {
        if (threadIdx.x < NT) {
            const int t0 = c0 / L8_TILE + (int)threadIdx.x;
            const bool in = t0 * L8_TILE < c1;
            const float a = in ? __half2float(__ldcg(p.tmax + (int64_t)tok * p.ldt + t0)) : 0.0f;
            const unsigned f = __ballot_sync(0xffffffffu, in && (all || !(l8_hi(a, B) < thr)));
            if (lane == 0) tfl[warp] = f;
        }
        __syncthreads(); /* tfl, ncand */
        static_assert(NI * L8_WARPS * GC == L8_PICK_COLS, "a warp's groups");
        unsigned gf = 0; /* the warp's flagged groups: gi = warp + 8 it */
#pragma unroll
        for (int it = 0; it < NI; it++) {
            const int t = 2 * (warp + L8_WARPS * it), pc = c0 / 8 + (t / 2) * 32 + lane;
            const bool f = ((tfl[t / 32] >> (t % 32)) & 3u) != 0;
            gf |= (unsigned)f << it;
            hv[it] = f && pc < pend ? __ldcg(hrow + pc) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int it = 0; it < NI; it++)
            if ((gf >> it) & 1u)
                l8_pick_piece<T>(p, tok, hv[it], c0 + (warp + L8_WARPS * it) * GC, c1, B, thr,
                                 all, cand, &ncand, bv, bi);
    } else {
#pragma unroll
        for (int it = 0; it < NI; it++) {
            const int pc = c0 / 8 + it * L8_THREADS + threadIdx.x;
            hv[it] = pc < pend ? __ldcg(hrow + pc) : make_uint4(0, 0, 0, 0);
        }
        __syncthreads(); /* ncand */
#pragma unroll
        for (int it = 0; it < NI; it++) /* lane j: base + 8 j .. */
            l8_pick_piece<T>(p, tok, hv[it], c0 + (it * L8_THREADS + warp * 32) * 8, c1, B, thr,
                             all, cand, &ncand, bv, bi);
    }
    __syncthreads(); /* the list */
    const int nc = min(ncand, L8_CANDS);
    for (int c = warp; c < nc; c += L8_WARPS) {
        const int col = cand[c];
        const float v = l8_exact<T>(p, tok, col);
        if (arg_better(v, col, bv, bi)) {
            bv = v;
            bi = col;
        }
    }
    if (lane == 0) {
        sv[warp] = bv;
        si[warp] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < L8_WARPS; w++)
            if (arg_better(sv[w], si[w], bv, bi)) {
                bv = sv[w];
                bi = si[w];
            }
        p.pv[tok * p.nb2 + blockIdx.x] = bv;
        p.pi[tok * p.nb2 + blockIdx.x] = bi;
        __threadfence();
        last = atomicAdd(&p.count[tok], 1u) == gridDim.x - 1;
    }
    __syncthreads();
    if (!last || warp > 0) return;
    __threadfence();
    const int32_t i = arg_partials_best(p.pv + tok * p.nb2, p.pi + tok * p.nb2, p.nb2, 1);
    if (lane == 0) {
        p.ids[tok] = i;
        p.lmax[tok] = L8_NEG_INF_ENC;
        p.count[tok] = 0;
    }
}

/* ---- host side ---- */

/* The shadow of weight src (one at a time, with the maxima for one bias), and pass scratch. */
struct cuda_l8 {
    const void *src, *bias;
    int64_t rows, k;
    void *mem; /* q (rows x k), then rows floats each: scale, bound, en, qn; then mx (4) */
    size_t mem_bytes;
    void *scr; /* lmax (L8_MAX_M), tokc, counters; pv, pi (L8_MAX_M x nb2); av (m8 x ldh); xg;
                  tmax */
    size_t scr_bytes;
    int32_t scr_nb2, scr_m8;
    int64_t scr_ldh;
};

static float *l8_scale(cuda_l8 *l)
{
    return (float *)((char *)l->mem + (((size_t)l->rows * (size_t)l->k + 255) & ~(size_t)255));
}

/* The shadow of w and its maxima for bias: built (quantised) once per weight, the maxima again
 * when the bias changes; nothing while recording. Pass 1 reads the shadow before its PDL wait, so
 * the stream is synchronised after a build (once). */
static bool l8_shadow(cuda_state *s, cuda_l8 *l, const gl_weight *w, const void *bias)
{
    const bool same = l->src == w->data && l->rows == w->rows && l->k == w->cols;
    if (same && l->bias == bias) return true;
    if ((l->src && !same) || cuda_is_recording()) return false; /* another weight's, or not now */
    const size_t rows = (size_t)w->rows, k = (size_t)w->cols;
    if (!same) {
        const size_t bytes = rows * k + 4 * rows * sizeof(float) + 4 * sizeof(float) + 256;
        if (cuda_grow(&l->mem, &l->mem_bytes, bytes, "lm_head int8 shadow") != GLOSSA_STATUS_OK) {
            cudaGetLastError();
            s->l8_off = true; /* no memory for it: never again */
            return false;
        }
        l->rows = w->rows;
        l->k = w->cols;
        float *scale = l8_scale(l);
        const unsigned grid = (unsigned)((rows + 7) / 8), block = 8 * 32; /* a warp a row */
        if (w->dtype == GL_DTYPE_BF16)
            l8_quantize<<<grid, block, 0, s->stream>>>(
                (const __nv_bfloat16 *)w->data, (int64_t)rows, (int)k, (int8_t *)l->mem, scale,
                scale + rows, scale + 2 * rows, scale + 3 * rows);
        else
            l8_quantize<<<grid, block, 0, s->stream>>>((const __half *)w->data, (int64_t)rows,
                                                       (int)k, (int8_t *)l->mem, scale,
                                                       scale + rows, scale + 2 * rows,
                                                       scale + 3 * rows);
    }
    float *scale = l8_scale(l);
    if (w->dtype == GL_DTYPE_BF16) /* the bias has the weight's (the act) dtype */
        l8_maxes<<<1, 1024, 0, s->stream>>>(scale + rows, scale + 2 * rows, scale + 3 * rows,
                                            (int64_t)rows, (const __nv_bfloat16 *)bias,
                                            scale + 4 * rows);
    else
        l8_maxes<<<1, 1024, 0, s->stream>>>(scale + rows, scale + 2 * rows, scale + 3 * rows,
                                            (int64_t)rows, (const __half *)bias, scale + 4 * rows);
    if (!cuda_note(s, cudaGetLastError(), "lm_head int8 shadow") ||
        !cuda_note(s, cudaStreamSynchronize(s->stream), "lm_head int8 shadow")) {
        l->src = NULL;
        return false;
    }
    l->src = w->data;
    l->bias = bias;
    return true;
}

#define L8_CNT_BYTES 2048 /* lmax (L8_MAX_M); tokc at L8_TOKC_OFF; the counters at L8_COUNT_OFF */
#define L8_TOKC_OFF 512
#define L8_COUNT_OFF 1536 /* (L8_MAX_M) pass 2's per token */

#define L8_XG_BYTES ((size_t)L8_MAX_M * 8192) /* xg: 64 tokens of k <= 8192 int8 */

static int64_t l8_ldt(int64_t ldh)
{
    return (ldh + L8_TILE - 1) / L8_TILE;
}

static size_t l8_tmax_bytes(int64_t ldh) /* tmax: 64 tokens of l8_ldt halves */
{
    return ((size_t)L8_MAX_M * (size_t)l8_ldt(ldh) * sizeof(__half) + 1023) & ~(size_t)1023;
}

static size_t l8_av_bytes(int32_t m8, int64_t ldh)
{
    return ((size_t)m8 * ldh * sizeof(__half) + 1023) & ~(size_t)1023;
}

static size_t l8_part_bytes(int32_t nb2)
{
    return ((size_t)L8_MAX_M * nb2 * (sizeof(float) + sizeof(int32_t)) + 255) & ~(size_t)255;
}

/* Scratch for m8 tokens of ldh columns and nb2 pass-2 blocks (grown as needed, never while
 * recording); lmax and the counters set when it is (re)allocated. */
static bool l8_scratch(cuda_state *s, cuda_l8 *l, int32_t m8, int64_t ldh, int32_t nb2)
{
    if (l->scr && l->scr_ldh >= ldh && l->scr_nb2 >= nb2 && l->scr_m8 >= m8) return true;
    if (cuda_is_recording()) return false;
    if (l->scr) { /* grow to cover both the old and the new call */
        m8 = m8 > l->scr_m8 ? m8 : l->scr_m8;
        ldh = ldh > l->scr_ldh ? ldh : l->scr_ldh;
        nb2 = nb2 > l->scr_nb2 ? nb2 : l->scr_nb2;
    }
    const size_t bytes = L8_CNT_BYTES + l8_part_bytes(nb2) + l8_av_bytes(m8, ldh) + L8_XG_BYTES +
                         l8_tmax_bytes(ldh);
    if (cuda_grow(&l->scr, &l->scr_bytes, bytes, "lm_head int8 scratch") != GLOSSA_STATUS_OK) {
        cudaGetLastError();
        s->l8_off = true; /* no memory: the other paths from now on, not a failed malloc a step */
        cudaFree(l->mem); /* (graphs that used it are re-recorded: cuda_grow moved the epoch) */
        l->mem = NULL;
        l->mem_bytes = 0;
        l->src = NULL;
        return false;
    }
    unsigned init[L8_CNT_BYTES / sizeof(unsigned)]; /* lmax -inf, tokc and the counters 0 */
    for (int i = 0; i < (int)(L8_CNT_BYTES / sizeof(unsigned)); i++)
        init[i] = i < L8_MAX_M ? L8_NEG_INF_ENC : 0u;
    if (!cuda_note(s, cudaMemcpyAsync(l->scr, init, sizeof init, cudaMemcpyHostToDevice, s->stream),
                   "lm_head int8 scratch") ||
        !cuda_note(s, cudaStreamSynchronize(s->stream), "lm_head int8 scratch"))
        return false;
    l->scr_m8 = m8;
    l->scr_ldh = ldh;
    l->scr_nb2 = nb2;
    return true;
}

bool cuda_lm_int8_argmax(cuda_state *s, int32_t m, const void *x, int32_t x_stride,
                         const gl_weight *w, const void *bias, int32_t n_valid, int32_t *ids)
{
    /* bf16: every row count through l8_wide (l8_scan's int8 -> act conversion is fp16's) */
    const bool bf16 = s->act_dtype == GL_DTYPE_BF16, small = m <= L8_SMALL_M && !bf16;
    if (s->l8_off || m < 1 || m > L8_MAX_M || n_valid < s->l8_min_n || n_valid > w->rows ||
        (s->act_dtype != GL_DTYPE_F16 && !bf16) || w->dtype != s->act_dtype ||
        w->cols % L8_CH != 0 || w->cols > 8192 || x_stride % 8 != 0 || !cuda_aligned16(x) ||
        !cuda_aligned16(w->data) || (!small && w->cols % 256 != 0)) /* l8_wide's load groups */
        return false;
    if (!s->l8) {
        s->l8 = (cuda_l8 *)calloc(1, sizeof(cuda_l8));
        if (!s->l8) return false;
    }
    cuda_l8 *l = s->l8;
    const int64_t ldh = (w->rows + 7) / 8 * 8;
    const int32_t nb2 = (n_valid + L8_PICK_COLS - 1) / L8_PICK_COLS;
    if (!l8_shadow(s, l, w, bias) || !l8_scratch(s, l, (m + 7) / 8 * 8, ldh, nb2)) return false;
    const size_t rows = (size_t)w->rows, k = (size_t)w->cols;
    const float *scale = l8_scale(l);
    char *scr = (char *)l->scr;
    l8_params p;
    memset(&p, 0, sizeof p);
    p.m = m;
    p.n_valid = n_valid;
    p.k = (int32_t)k;
    p.xs = x_stride;
    p.cpw = (int32_t)((k / L8_CH + L8_WARPS - 1) / L8_WARPS);
    p.x = x;
    p.w = w->data;
    p.bias = bias;
    p.q = (const int8_t *)l->mem;
    p.scale = scale;
    p.bound = scale + rows;
    p.en = scale + 2 * rows;
    p.qn = scale + 3 * rows;
    p.mx = scale + 4 * rows;
    p.lmax = (unsigned *)scr;
    p.count = (unsigned *)(scr + L8_COUNT_OFF);
    p.pv = (float *)(scr + L8_CNT_BYTES);
    p.pi = (int32_t *)(p.pv + (size_t)L8_MAX_M * l->scr_nb2);
    p.av = (__half *)(scr + L8_CNT_BYTES + l8_part_bytes(l->scr_nb2));
    p.tokc = (float *)(scr + L8_TOKC_OFF);
    p.xg = (int8_t *)(scr + L8_CNT_BYTES + l8_part_bytes(l->scr_nb2) +
                      l8_av_bytes(l->scr_m8, l->scr_ldh));
    p.tmax = (__half *)(p.xg + L8_XG_BYTES);
    p.ldt = l8_ldt(l->scr_ldh);
    p.wide = !small;
    p.ldh = l->scr_ldh;
    p.ids = ids;
    p.nb2 = nb2;
    const bool wg = !small && l8_wg_launch(s, p, bf16, w->rows); /* (it writes p.tmax) */
    if (!wg) p.tmax = NULL;
    if (small)
        cuda_launch_pdl(s, l8_scan, dim3((unsigned)((n_valid + L8_ROWS - 1) / L8_ROWS)),
                        dim3(L8_THREADS), 0, "lm_head int8 scan", p);
    else if (!wg && !l8_wide_launch(s, p, bf16))
        return false;
    if (bf16)
        cuda_launch_pdl(s, l8_pick<__nv_bfloat16>, dim3((unsigned)nb2, (unsigned)m),
                        dim3(L8_THREADS), 0, "lm_head int8 pick", p);
    else
        cuda_launch_pdl(s, l8_pick<__half>, dim3((unsigned)nb2, (unsigned)m), dim3(L8_THREADS), 0,
                        "lm_head int8 pick", p);
    return true;
}

void cuda_lm_int8_forget(cuda_state *s, const void *p)
{
    cuda_l8 *l = s->l8;
    if (l && p && l->bias == p) l->bias = NULL; /* its maxima: again at the next call */
    if (!l || !p || l->src != p) return;
    cudaFree(l->mem);
    l->mem = NULL;
    l->mem_bytes = 0;
    l->src = NULL;
}

void cuda_lm_int8_init(cuda_state *s)
{
    const char *env = getenv("GLOSSA_CUDA_LM_INT8");
    s->l8_off = env && env[0] == '0';
    env = getenv("GLOSSA_CUDA_LM_INT8_MIN_N");
    s->l8_min_n = env ? atoi(env) : L8_MIN_N;
    if (s->l8_min_n < 1) s->l8_min_n = 1;
    s->l8_wg = !s->l8_off && l8_wg_probe(s);
}

void cuda_lm_int8_release(cuda_state *s)
{
    cuda_l8 *l = s->l8;
    if (!l) return;
    cudaFree(l->mem);
    cudaFree(l->scr);
    free(l);
    s->l8 = NULL;
}
