/* The kernels of beam_topk (cuda_beam.cu has the host side and the design notes). Device code
 * only, so that it can be read (and exercised) on its own.
 *
 * Keys. A candidate is one 64-bit integer: the high half orders acc (bt_key: the float order, NaN
 * above everything, +0 == -0), the low half is 0xFFFFFFFF - flat (flat = beam * n + token
 * <= INT32_MAX, so the low half is never 0 and a lower flat index gives a larger key). Larger key
 * = ranks first, exactly the op's total order; 0 means "no candidate". Keys are unique within a
 * group, so every selection below is deterministic whatever the thread schedule. */
#ifndef GLOSSA_BACKEND_CUDA_BEAM_KERNELS_CUH
#define GLOSSA_BACKEND_CUDA_BEAM_KERNELS_CUH

#include <math.h>
#include <stdint.h>
#include <string.h>

#define BT_CHUNK      4096                    /* columns per block */
#define BT_THREADS    256                     /* threads per block of every kernel */
#define BT_PER_THREAD (BT_CHUNK / BT_THREADS) /* columns per thread */
#define BT_THR_MAX    4096                    /* witnesses a group threshold is taken from */
#define BT_MERGE_CAP  4096                    /* candidates a merge sorts at once */

typedef struct bt_row {
    int32_t xrow;  /* row of x */
    int32_t group; /* index into the groups */
    int32_t beam;  /* within the group */
    float score;   /* running beam score */
} bt_row;

typedef struct bt_group {
    int32_t row_begin; /* first of its rows in the row list (rows of a group are consecutive) */
    int32_t n_beams;
    int32_t k;
    int32_t forced;  /* in [0, n) or none */
    int32_t ban_off; /* into the ban list */
    int32_t n_ban;
} bt_group;

/* the order of acc as an unsigned integer (see the top) */
static __device__ __forceinline__ uint32_t bt_key(float v)
{
    if (v != v) return 0xFFFFFFFFu;
    if (v == 0.0f) return 0x80000000u;
    const uint32_t u = __float_as_uint(v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static __device__ __forceinline__ uint64_t bt_cand(uint32_t key, uint32_t flat)
{
    return ((uint64_t)key << 32) | (uint64_t)(0xFFFFFFFFu - flat);
}

static __device__ __forceinline__ bool bt_banned(const int32_t *ban, int32_t n_ban, int32_t t)
{
    for (int32_t i = 0; i < n_ban; i++)
        if (ban[i] == t) return true;
    return false;
}

/* Sort s[0, n) in descending order with the whole block (bitonic; pads s up to the next power of
 * two with 0, so s must have room for it). Every thread of the block must call it. */
template <typename K> static __device__ void bt_sort_desc(K *s, int32_t n)
{
    int32_t p = 1;
    while (p < n)
        p <<= 1;
    for (int32_t w = n + (int32_t)threadIdx.x; w < p; w += (int32_t)blockDim.x)
        s[w] = 0;
    __syncthreads();
    for (int32_t size = 2; size <= p; size <<= 1) {
        for (int32_t stride = size >> 1; stride > 0; stride >>= 1) {
            for (int32_t t = (int32_t)threadIdx.x; t < p / 2; t += (int32_t)blockDim.x) {
                const int32_t lo = 2 * stride * (t / stride) + t % stride, hi = lo + stride;
                const K a = s[lo], b = s[hi];
                const bool desc = (lo & size) == 0;
                if (desc ? a < b : a > b) {
                    s[lo] = b;
                    s[hi] = a;
                }
            }
            __syncthreads();
        }
    }
}

/* A slot in a shared list for every lane with keep (one atomic per warp); all 32 lanes of the
 * warp must call it together. Returns the slot (meaningful where keep). */
static __device__ __forceinline__ int32_t bt_append(bool keep, int32_t *count)
{
    const uint32_t mask = __ballot_sync(0xffffffffu, keep);
    const int32_t lane = (int32_t)(threadIdx.x & 31);
    int32_t base = 0;
    if (lane == 0 && mask) base = atomicAdd(count, __popc(mask));
    base = __shfl_sync(0xffffffffu, base, 0);
    return base + __popc(mask & ((1u << lane) - 1u));
}

/* (ov, oi) beats (m, mi): a real entry over none (index -1), then the larger value, then the
 * lower column (values here are never NaN) */
static __device__ __forceinline__ bool bt_arg_better(float ov, int32_t oi, float m, int32_t mi)
{
    return oi >= 0 && (mi < 0 || ov > m || (ov == m && oi < mi));
}

/* The column of a thread's j-th value of a chunk. P2 (n even, rows 4-byte aligned): the thread
 * loads column pairs (one 32-bit load each, half the load instructions), values j and j + 1 of
 * pair j / 2; otherwise single columns BT_THREADS apart. Either way a thread's columns increase
 * with j (the first-maximum rule of bt_stats relies on it). */
template <bool P2> static __device__ __forceinline__ int32_t bt_col(int32_t c0, int j, int32_t tid)
{
    return P2 ? c0 + 2 * ((j >> 1) * BT_THREADS + tid) + (j & 1) : c0 + j * BT_THREADS + tid;
}

/* A thread's BT_PER_THREAD values of the chunk [c0, c1) of row xr, fill where past c1 or skip. */
template <typename T, bool P2>
static __device__ __forceinline__ void bt_load(const T *xr, int32_t c0, int32_t c1, int32_t tid,
                                               bool skip, float fill, float v[BT_PER_THREAD])
{
#pragma unroll
    for (int j = 0; j < BT_PER_THREAD; j += P2 ? 2 : 1) {
        const int32_t t = bt_col<P2>(c0, j, tid);
        if (P2) { /* c0, c1 even: the pair is whole or absent */
            if (!skip && t < c1) {
                const uint32_t u = *(const uint32_t *)(xr + t);
                T e[2];
                memcpy(e, &u, sizeof u);
                v[j] = gl_cu_f32(e[0]);
                v[j + 1] = gl_cu_f32(e[1]);
            } else {
                v[j] = v[j + 1] = fill;
            }
        } else {
            v[j] = !skip && t < c1 ? gl_cu_f32(xr[t]) : fill;
        }
    }
}

/* ---- pass 1: chunk statistics ----
 * Block (chunk c, list row i): cmax = the largest value of the chunk (NaN ignored; -inf when there
 * is none), carg = the first column holding it (-1 when none), csum = sum of expf(x - cmax) in a
 * double (NaN when the chunk holds a NaN; 0 when cmax is -inf). Reductions: warp shuffles, then
 * the BT_THREADS / 32 warp results in a fixed order. */
template <typename T, bool P2>
__global__ void bt_stats(const T *x, int32_t n, int64_t ld, int32_t n_chunks, const bt_row *rows,
                         float *cmax, int32_t *carg, double *csum)
{
    __shared__ float sv[BT_THREADS / 32];
    __shared__ int32_t si[BT_THREADS / 32];
    __shared__ double sd[BT_THREADS / 32];
    const int32_t i = (int32_t)blockIdx.y, c = (int32_t)blockIdx.x, tid = (int32_t)threadIdx.x;
    const int32_t lane = tid & 31, wid = tid >> 5;
    const T *xr = x + (size_t)rows[i].xrow * (size_t)ld;
    const int32_t c0 = c * BT_CHUNK, c1 = n - c0 < BT_CHUNK ? n : c0 + BT_CHUNK;
    float v[BT_PER_THREAD];
    float m = -INFINITY;
    int32_t mi = -1;
    bool nan_seen = false;
    bt_load<T, P2>(xr, c0, c1, tid, false, -INFINITY, v);
#pragma unroll
    for (int j = 0; j < BT_PER_THREAD; j++) {
        const int32_t t = bt_col<P2>(c0, j, tid);
        if (t < c1 && v[j] > m) { /* columns in increasing order: the first maximum stays */
            m = v[j];
            mi = t;
        }
        nan_seen = nan_seen || v[j] != v[j];
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, m, o);
        const int32_t oi = __shfl_xor_sync(0xffffffffu, mi, o);
        if (bt_arg_better(ov, oi, m, mi)) {
            m = ov;
            mi = oi;
        }
    }
    if (lane == 0) {
        sv[wid] = m;
        si[wid] = mi;
    }
    const bool any_nan = __syncthreads_or(nan_seen); /* also the barrier for sv, si */
    float cm = sv[0];
    int32_t ci = si[0];
    for (int w = 1; w < BT_THREADS / 32; w++)
        if (bt_arg_better(sv[w], si[w], cm, ci)) {
            cm = sv[w];
            ci = si[w];
        }
    double sum = 0.0;
#pragma unroll
    for (int j = 0; j < BT_PER_THREAD; j++) {
        const int32_t t = bt_col<P2>(c0, j, tid);
        if (t < c1) sum += (double)expf(v[j] - cm);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) sd[wid] = sum;
    __syncthreads();
    if (tid == 0) {
        double total = 0.0;
        for (int w = 0; w < BT_THREADS / 32; w++)
            total += sd[w];
        const size_t o = (size_t)i * (size_t)n_chunks + (size_t)c;
        cmax[o] = cm;
        carg[o] = ci;
        csum[o] = any_nan ? (double)NAN : cm == -INFINITY ? 0.0 : total;
    }
}

/* ---- pass 2: row statistics and the group threshold ----
 * Block g: for each of its rows (a warp each) the maximum and lse = (float)log(sum over chunks of
 * csum * exp(cmax - max)) (NaN when the maximum is -inf: an all -inf or all NaN row; NaN also
 * flows from a chunk's NaN sum or from +inf). Then the threshold: the chunk maxima are distinct
 * entries of the group's rows (witnesses) whose acc is known; the k-th best witness key means at
 * least k entries rank at or above it, so no entry below it can be among the k best. Witnesses
 * that are banned are left out; a forced group, or one with fewer than k usable witnesses or more
 * than BT_THR_MAX, gets threshold 0 (every entry is a survivor). */
__global__ void bt_finish(int32_t n, int32_t n_chunks, const bt_row *rows, const bt_group *groups,
                          const int32_t *bans, const float *cmax, const int32_t *carg,
                          const double *csum, float *rmax, float *rlse, uint32_t *thr)
{
    __shared__ uint32_t keys[BT_THR_MAX];
    const bt_group g = groups[blockIdx.x];
    const int32_t lane = (int32_t)(threadIdx.x & 31), nwarps = (int32_t)(blockDim.x >> 5);
    for (int32_t b = (int32_t)(threadIdx.x >> 5); b < g.n_beams; b += nwarps) { /* warp per row */
        const int32_t i = g.row_begin + b;
        const float *cm = cmax + (size_t)i * (size_t)n_chunks;
        const double *cs = csum + (size_t)i * (size_t)n_chunks;
        float m = -INFINITY; /* chunk maxima are never NaN */
        for (int32_t c = lane; c < n_chunks; c += 32)
            m = fmaxf(m, cm[c]);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        double s = 0.0;
        if (m != -INFINITY)
            for (int32_t c = lane; c < n_chunks; c += 32)
                s += cs[c] * exp((double)cm[c] - (double)m);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) {
            rmax[i] = m;
            rlse[i] = m == -INFINITY ? NAN : (float)log(s);
        }
    }
    __syncthreads();
    const int32_t nw = g.n_beams * n_chunks;
    if ((g.forced >= 0 && g.forced < n) || nw < g.k || nw > BT_THR_MAX) {
        if (threadIdx.x == 0) thr[blockIdx.x] = 0;
        return;
    }
    for (int32_t w = (int32_t)threadIdx.x; w < nw; w += (int32_t)blockDim.x) {
        const int32_t i = g.row_begin + w / n_chunks;
        const size_t o = (size_t)i * (size_t)n_chunks + (size_t)(w % n_chunks);
        const int32_t t = carg[o];
        uint32_t key = 0;
        if (t >= 0 && !bt_banned(bans + g.ban_off, g.n_ban, t))
            key = bt_key(((cmax[o] - rmax[i]) - rlse[i]) + rows[i].score);
        keys[w] = key;
    }
    bt_sort_desc(keys, nw); /* pads to a power of two, then its first barrier */
    if (threadIdx.x == 0) thr[blockIdx.x] = keys[g.k - 1];
}

/* ---- pass 3: survivors of each chunk ----
 * Block (chunk c, list row i): every entry whose key reaches the group threshold, sorted; the
 * best min(k, count) go to cand[(i * n_chunks + c) * kmax ...], their number to ccount. acc is
 * computed with the very operations of the CPU twin: ((x - max) - lse) + score. */
template <typename T, bool P2>
__global__ void bt_select(const T *x, int32_t n, int64_t ld, int32_t n_chunks, int32_t kmax,
                          const bt_row *rows, const bt_group *groups, const int32_t *bans,
                          const float *rmax, const float *rlse, const uint32_t *thr, uint64_t *cand,
                          int32_t *ccount)
{
    __shared__ uint64_t surv[BT_CHUNK];
    __shared__ int32_t ns;
    const int32_t i = (int32_t)blockIdx.y, c = (int32_t)blockIdx.x, tid = (int32_t)threadIdx.x;
    const bt_row r = rows[i];
    const bt_group g = groups[r.group];
    if (tid == 0) ns = 0;
    __syncthreads();
    const T *xr = x + (size_t)r.xrow * (size_t)ld;
    const int32_t c0 = c * BT_CHUNK, c1 = n - c0 < BT_CHUNK ? n : c0 + BT_CHUNK;
    const float m = rmax[i], lse = rlse[i], s = r.score;
    const uint32_t th = thr[r.group];
    const bool forced = g.forced >= 0 && g.forced < n;
    const int32_t *ban = bans + g.ban_off;
    const uint32_t fbase = (uint32_t)r.beam * (uint32_t)n;
    float v[BT_PER_THREAD];
    bt_load<T, P2>(xr, c0, c1, tid, forced, 0.0f, v);
#pragma unroll
    for (int j = 0; j < BT_PER_THREAD; j++) {
        const int32_t t = bt_col<P2>(c0, j, tid);
        bool keep = false;
        uint32_t key = 0;
        if (t < c1) {
            const float lp = forced ? (t == g.forced ? 0.0f : -INFINITY) : (v[j] - m) - lse;
            key = bt_key(lp + s);
            keep = key >= th;
            if (keep && forced && t != g.forced) {
                /* every other entry of a forced row has the same key, so the chunk's k lowest
                 * such columns outrank the rest: no need to sort all 4096 (the step that forces
                 * BOS or EOS took ~1 ms of bt_select on mbart-50 at 16 x 4, H100) */
                const int32_t rank = t - c0 - (g.forced >= c0 && g.forced < t ? 1 : 0);
                keep = rank < g.k;
            }
            if (keep && !forced && g.n_ban > 0 && bt_banned(ban, g.n_ban, t)) {
                key = bt_key(-INFINITY + s);
                keep = key >= th;
            }
        }
        const int32_t slot = bt_append(keep, &ns);
        if (keep) surv[slot] = bt_cand(key, fbase + (uint32_t)t);
    }
    __syncthreads();
    const int32_t count = ns;
    const size_t li = (size_t)i * (size_t)n_chunks + (size_t)c;
    if (count == 0) {
        if (tid == 0) ccount[li] = 0;
        return;
    }
    bt_sort_desc(surv, count);
    const int32_t out = count < g.k ? count : g.k;
    for (int32_t j = tid; j < out; j += (int32_t)blockDim.x)
        cand[li * (size_t)kmax + j] = surv[j];
    if (tid == 0) ccount[li] = out;
}

/* ---- pass 4: merge ----
 * Block g: the k best of its rows' chunk lists (each sorted, at most k long). A thread takes a
 * whole list; lists are read in windows of (BT_MERGE_CAP - k) / k lists, appended to the k best
 * so far, and the buffer is cut back to the k best whenever it holds more. out (n_groups, kmax):
 * keys, 0 past the last candidate. */
__global__ void bt_merge(int32_t n_chunks, int32_t kmax, const bt_group *groups,
                         const uint64_t *cand, const int32_t *ccount, uint64_t *out)
{
    __shared__ uint64_t buf[BT_MERGE_CAP];
    __shared__ int32_t cnt;
    const bt_group g = groups[blockIdx.x];
    const int32_t tid = (int32_t)threadIdx.x;
    if (tid == 0) cnt = 0;
    __syncthreads();
    const size_t l0 = (size_t)g.row_begin * (size_t)n_chunks;
    const int32_t lists = g.n_beams * n_chunks, win = (BT_MERGE_CAP - g.k) / g.k;
    for (int32_t w0 = 0; w0 < lists; w0 += win) {
        const int32_t w1 = lists - w0 < win ? lists : w0 + win;
        for (int32_t l = w0 + tid; l < w1; l += (int32_t)blockDim.x) {
            const int32_t nl = ccount[l0 + (size_t)l];
            if (nl <= 0) continue;
            const int32_t at = atomicAdd(&cnt, nl);
            const uint64_t *src = cand + (l0 + (size_t)l) * (size_t)kmax;
            for (int32_t j = 0; j < nl; j++)
                buf[at + j] = src[j];
        }
        __syncthreads();
        const int32_t now = cnt;
        if (now > g.k) {
            bt_sort_desc(buf, now); /* its first barrier: every thread has read cnt */
            if (tid == 0) cnt = g.k;
        }
        __syncthreads();
    }
    const int32_t now = cnt;
    bt_sort_desc(buf, now);
    for (int32_t j = tid; j < g.k; j += (int32_t)blockDim.x)
        out[(size_t)blockIdx.x * (size_t)kmax + (size_t)j] = j < now ? buf[j] : 0;
}

#endif
