/* The kernels of beam_topk (cuda_beam.cu has the host side and the design notes). Device code
 * only, so that it can be read (and exercised) on its own.
 *
 * Keys. A candidate is one 64-bit integer: the high half orders acc (bt_key: the float order, NaN
 * above everything, +0 == -0), the low half is 0xFFFFFFFF - flat (flat = beam * n + token
 * <= INT32_MAX, so the low half is never 0 and a lower flat index gives a larger key). Larger key
 * = ranks first, exactly the op's total order; 0 means "no candidate". Keys are unique within a
 * group, so every selection below is deterministic whatever the thread schedule.
 *
 * Chunks. Block (c, i) of both passes owns the columns [lo, hi) of list row i: with a = the
 * number of leading columns before the row's first 16-byte boundary (0..7, rows need only be
 * 2-byte aligned), chunk 0 is [0, a + BT_CHUNK) and chunk c > 0 is [a + c BT_CHUNK, a + (c + 1)
 * BT_CHUNK), cut at n. A thread reads BT_VEC 16-byte vectors (8 columns each) of the aligned part,
 * vector j of thread t at a + c BT_CHUNK + 8 (j BT_THREADS + t) (coalesced), and threads t < a of
 * chunk 0 one head column each. The last chunk may be short or empty. */
#ifndef GLOSSA_BACKEND_CUDA_BEAM_KERNELS_CUH
#define GLOSSA_BACKEND_CUDA_BEAM_KERNELS_CUH

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/cuda/cuda_argmax.cuh"

#define BT_THREADS 256                          /* threads per block of both kernels */
#ifndef BT_VEC
#define BT_VEC 8 /* 16-byte vectors per thread and chunk */
#endif
#define BT_CHUNK   (BT_THREADS * BT_VEC * 8)    /* columns per block: 16384 */
#define BT_SCAP    2048                         /* survivors a block holds in shared memory */
#define BT_ROUND   (BT_THREADS * 4)             /* most survivors one round of the fallback adds */
#define BT_GMAX    65536                        /* groups per call (rows are at most 65535) */
#define BT_FAST    (-1)                         /* bt_rowstat.lim: compare x with the row's bound */
#define BT_NOLIM   0x7FFFFFFF                   /* bt_rowstat.lim: every entry's key, no rank cut */

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
    int32_t forced;  /* in [0, n), or -1: none */
    int32_t ban_off; /* into the ban list */
    int32_t n_ban;
} bt_group;

/* pass 1's result per (list row, chunk) */
#define BT_WARPS (BT_THREADS / 32)

typedef struct bt_chunk {
    double csum;            /* sum of expf(x - cmax) (NaN with a NaN or +inf in the chunk) */
    float cmax;             /* the chunk's largest value (NaN ignored; -inf when none) */
    uint32_t wit;           /* bit w: wmax[w] is a witness (warp w holds a column, no column of
                               the chunk is banned) */
    float wmax[BT_WARPS];   /* the largest value of warp w's columns (an entry's value) */
} bt_chunk;

/* per list row, written by pass 1's last block of the group */
typedef struct bt_rowstat {
    float m;     /* row maximum */
    float lse;   /* (float)log(sum exp(x - m)); NaN for a NaN row */
    float x;     /* lim == BT_FAST: the entries with x >= this are exactly those with key >= the
                    group threshold (NaN: none) */
    int32_t lim; /* BT_FAST, or: every entry's key is computed and those of column rank < lim in
                    their chunk are kept (BT_NOLIM: all) */
} bt_rowstat;

/* the order of acc as an unsigned integer (see the top) */
static __device__ __forceinline__ uint32_t bt_key(float v)
{
    return arg_key(v);
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

/* The 16-bit act types: packed maximum (NaN loses to a number, like fmaxf) and conversion. */
template <typename T> struct bt_ty;
template <> struct bt_ty<__half> {
    typedef __half2 v2;
    static constexpr uint32_t neg_inf2 = 0xFC00FC00u;
    static __device__ __forceinline__ v2 max2(v2 a, v2 b) { return __hmax2(a, b); }
    static __device__ __forceinline__ float2 f2(v2 a) { return __half22float2(a); }
};
template <> struct bt_ty<__nv_bfloat16> {
    typedef __nv_bfloat162 v2;
    static constexpr uint32_t neg_inf2 = 0xFF80FF80u;
    static __device__ __forceinline__ v2 max2(v2 a, v2 b) { return __hmax2(a, b); }
    static __device__ __forceinline__ float2 f2(v2 a) { return __bfloat1622float2(a); }
};

template <typename T> static __device__ __forceinline__ typename bt_ty<T>::v2 bt_v2(uint32_t u)
{
    typename bt_ty<T>::v2 h;
    memcpy(&h, &u, sizeof u);
    return h;
}

template <typename T> static __device__ __forceinline__ float2 bt_f2(uint32_t u)
{
    return bt_ty<T>::f2(bt_v2<T>(u));
}

/* A block's chunk of its row (see the top). */
typedef struct bt_geo {
    int32_t lo, hi; /* the chunk's columns */
    int32_t v0;     /* first column of the vector part */
    int32_t rem;    /* columns of the vector part: hi - v0 (>= 0) */
    int32_t head;   /* head columns [0, head) (chunk 0 only, else 0) */
} bt_geo;

static __device__ __forceinline__ bt_geo bt_geom(const void *xr, int32_t n, int32_t c)
{
    const int32_t a0 = (int32_t)(((16u - ((uint32_t)(uintptr_t)xr & 15u)) & 15u) >> 1);
    const int32_t a = a0 < n ? a0 : n;
    const int64_t v0 = (int64_t)a + (int64_t)c * BT_CHUNK, v1 = v0 + BT_CHUNK;
    bt_geo g;
    g.v0 = (int32_t)(v0 < n ? v0 : n);
    g.hi = (int32_t)(v1 < n ? v1 : n);
    g.lo = c == 0 ? 0 : g.v0;
    g.rem = g.hi - g.v0;
    g.head = c == 0 ? a : 0;
    return g;
}

/* A thread's BT_VEC vectors (columns past hi: -inf) and its head value (-inf where none). */
template <typename T>
static __device__ __forceinline__ void bt_load(const T *xr, const bt_geo &g, int32_t tid,
                                               uint4 raw[BT_VEC], float &hv)
{
#pragma unroll
    for (int j = 0; j < BT_VEC; j++) {
        const int32_t off = (j * BT_THREADS + tid) * 8;
        if (off + 8 <= g.rem) {
            raw[j] = __ldg((const uint4 *)(xr + g.v0 + off));
        } else {
            uint32_t w[4];
#pragma unroll
            for (int q = 0; q < 4; q++) {
                uint32_t lo16 = 0xFFFFu & bt_ty<T>::neg_inf2, hi16 = lo16;
                if (off + 2 * q < g.rem) {
                    const T e = xr[g.v0 + off + 2 * q];
                    uint16_t b;
                    memcpy(&b, &e, sizeof b);
                    lo16 = b;
                }
                if (off + 2 * q + 1 < g.rem) {
                    const T e = xr[g.v0 + off + 2 * q + 1];
                    uint16_t b;
                    memcpy(&b, &e, sizeof b);
                    hi16 = b;
                }
                w[q] = lo16 | (hi16 << 16);
            }
            raw[j] = make_uint4(w[0], w[1], w[2], w[3]);
        }
    }
    hv = tid < g.head ? gl_cu_f32(xr[tid]) : -INFINITY;
}

/* The largest of a thread's values (fmaxf rules; NaN only when every value is NaN). */
template <typename T>
static __device__ __forceinline__ float bt_thread_max(const uint4 raw[BT_VEC], float hv)
{
    typename bt_ty<T>::v2 m2 = bt_v2<T>(raw[0].x);
#pragma unroll
    for (int j = 0; j < BT_VEC; j++) {
        if (j > 0) m2 = bt_ty<T>::max2(m2, bt_v2<T>(raw[j].x));
        m2 = bt_ty<T>::max2(m2, bt_v2<T>(raw[j].y));
        m2 = bt_ty<T>::max2(m2, bt_v2<T>(raw[j].z));
        m2 = bt_ty<T>::max2(m2, bt_v2<T>(raw[j].w));
    }
    const float2 f = bt_ty<T>::f2(m2);
    return fmaxf(fmaxf(f.x, f.y), hv);
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

/* float <-> an integer of the same order (-0 and +0 both 0; NaN excluded) */
static __device__ __forceinline__ int64_t bt_ord(float f)
{
    const uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? -(int64_t)(u & 0x7FFFFFFFu) : (int64_t)u;
}

static __device__ __forceinline__ float bt_from_ord(int64_t o)
{
    return __uint_as_float(o >= 0 ? (uint32_t)o : (0x80000000u | (uint32_t)(-o)));
}

/* The smallest y with bt_key(((y - m) - lse) + s) >= th (m, lse, s finite): acc is a composition
 * of correctly rounded additions, so it never decreases as y grows, and since every x is exact in
 * fp32, x >= y holds exactly for the entries whose key reaches th. -inf: every entry; NaN: none.
 * The search starts at the estimate ((th's acc - s) + lse) + m, a few ulps off at most: it widens
 * a bracket from there by doubling steps, then bisects. */
static __device__ float bt_x_bound(float m, float lse, float s, uint32_t th)
{
#define BT_P(o) (bt_key(((bt_from_ord(o) - m) - lse) + s) >= th)
    const int64_t LO = bt_ord(-INFINITY), HI = bt_ord(INFINITY);
    if (!BT_P(HI)) return NAN;
    if (BT_P(LO)) return -INFINITY;
    const uint32_t u = (th & 0x80000000u) ? (th & 0x7FFFFFFFu) : ~th; /* th's acc (th < NaN's) */
    const float y0 = ((__uint_as_float(u) - s) + lse) + m;
    int64_t o0 = y0 == y0 ? bt_ord(y0) : 0;
    o0 = o0 < LO ? LO : o0 > HI ? HI : o0;
    int64_t lo, hi, step = 1;
    if (BT_P(o0)) {
        hi = o0;
        for (;;) { /* P(hi) */
            lo = hi - step < LO ? LO : hi - step;
            if (!BT_P(lo)) break;
            hi = lo;
            step <<= 1;
        }
    } else {
        lo = o0;
        for (;;) { /* !P(lo) */
            hi = lo + step > HI ? HI : lo + step;
            if (BT_P(hi)) break;
            lo = hi;
            step <<= 1;
        }
    }
    while (hi - lo > 1) { /* !P(lo), P(hi) */
        const int64_t mid = lo + (hi - lo) / 2;
        if (BT_P(mid))
            hi = mid;
        else
            lo = mid;
    }
#undef BT_P
    return bt_from_ord(hi);
}

/* The k-th largest of keys[0, nw) (k <= nw) with the whole block: radix select, 8 bits a round.
 * hist: 256 shared counters, sh: 2 shared words. Every thread of the block must call it. */
static __device__ uint32_t bt_kth_largest(const uint32_t *keys, int32_t nw, int32_t k,
                                          uint32_t *hist, uint32_t *sh)
{
    const int32_t tid = (int32_t)threadIdx.x, lane = tid & 31;
    uint32_t prefix = 0, mask = 0, krem = (uint32_t)k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int32_t b = tid; b < 256; b += (int32_t)blockDim.x)
            hist[b] = 0;
        __syncthreads();
        for (int32_t w = tid; w < nw; w += (int32_t)blockDim.x) {
            const uint32_t key = keys[w];
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (tid < 32) { /* lane L: digits 255 - 8 L down to 248 - 8 L */
            uint32_t loc[8], sum = 0;
#pragma unroll
            for (int q = 0; q < 8; q++) {
                loc[q] = hist[255 - 8 * lane - q];
                sum += loc[q];
            }
            uint32_t inc = sum;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const uint32_t y = __shfl_up_sync(0xffffffffu, inc, o);
                if (lane >= o) inc += y;
            }
            uint32_t acc = inc - sum; /* keys of the larger digits */
            if (acc < krem && krem <= inc) {
                for (int q = 0; q < 8; q++) {
                    if (acc + loc[q] >= krem) {
                        sh[0] = (uint32_t)(255 - 8 * lane - q);
                        sh[1] = krem - acc;
                        break;
                    }
                    acc += loc[q];
                }
            }
        }
        __syncthreads();
        prefix |= sh[0] << shift;
        krem = sh[1];
        mask |= 255u << shift;
    }
    return prefix;
}

/* ---- pass 1: statistics; the group's last block finishes them ----
 * Block (chunk c, list row i): the chunk's maximum, its warps' maxima, and the sum of
 * expf(x - max): each thread sums expf(x - its own maximum) pairwise in fp32 over each vector's 8
 * columns and those sums in double, and the block adds the thread sums rescaled by
 * exp(thread max - chunk max) in double, in a fixed order. A forced group's rows are
 * not read (no result depends on them).
 *
 * The last block of a group to finish (an atomic counter, reset by that block) then computes:
 *   per row: m = the maximum, lse = (float)log(sum over chunks of csum exp(cmax - m)) in double
 *            (NaN when m is -inf: an all -inf or all NaN row; NaN flows from a NaN chunk sum);
 *   the group threshold th: the warps' maxima (8 a chunk) are distinct entries whose acc is
 *            known (witnesses, unless the chunk holds a banned column); the k-th best of their
 *            keys means at least k entries rank at or above it, so no entry below it can be
 *            among the k best (0, i.e. no threshold, for a forced group or when fewer than k
 *            witnesses exist);
 *   per row how pass 2 finds its entries with key >= th (bt_rowstat), and per chunk whether pass
 *            2 needs to look at it at all (cwork; gsel: how many do). */
template <typename T>
__global__ void __launch_bounds__(BT_THREADS, 5) /* 5 blocks an SM: at most 51 registers */
    bt_stats(const T *x, int32_t n, int64_t ld, int32_t nc, const bt_row *rows,
             const bt_group *groups, const int32_t *bans, bt_chunk *cs, bt_rowstat *rs,
             uint32_t *wkey, uint32_t *gth, uint8_t *cwork, int32_t *gsel, int32_t *gdone,
             int32_t *gdone2, int32_t *gcnt)
{
    __shared__ float sm[BT_THREADS / 32];
    __shared__ double sd[BT_THREADS / 32];
    __shared__ uint32_t hist[256];
    __shared__ uint32_t sh[2];
    __shared__ int32_t s_last, s_work;
    const int32_t i = (int32_t)blockIdx.y, c = (int32_t)blockIdx.x, tid = (int32_t)threadIdx.x;
    const int32_t lane = tid & 31, wid = tid >> 5;
    const bt_row r = rows[i];
    const bt_group g = groups[r.group];
    const T *xr = x + (size_t)r.xrow * (size_t)ld;
    const bt_geo geo = bt_geom(xr, n, c);
    float tm = -INFINITY;
    double tsum = 0.0;
    if (g.forced < 0) {
        uint4 raw[BT_VEC];
        float hv;
        bt_load<T>(xr, geo, tid, raw, hv);
        tm = bt_thread_max<T>(raw, hv);
        const float ref = tm == -INFINITY ? 0.0f : tm; /* NaN stays NaN: the sum turns NaN */
        tsum = (double)expf(hv - ref);
#pragma unroll
        for (int j = 0; j < BT_VEC; j++) { /* 8 terms pairwise in fp32, then into the double */
            const float2 a = bt_f2<T>(raw[j].x), b = bt_f2<T>(raw[j].y);
            const float2 e = bt_f2<T>(raw[j].z), f = bt_f2<T>(raw[j].w);
            const float s0 = (expf(a.x - ref) + expf(a.y - ref)) + (expf(b.x - ref) + expf(b.y - ref));
            const float s1 = (expf(e.x - ref) + expf(e.y - ref)) + (expf(f.x - ref) + expf(f.y - ref));
            tsum += (double)(s0 + s1);
        }
    }
    /* a banned column in the chunk spoils its maximum as a witness */
    bool spoiled = false;
    if (tid < g.n_ban) {
        const int32_t t = bans[g.ban_off + tid];
        spoiled = t >= geo.lo && t < geo.hi;
    }
    float bm = tm;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        bm = fmaxf(bm, __shfl_xor_sync(0xffffffffu, bm, o));
    if (lane == 0) sm[wid] = bm;
    spoiled = __syncthreads_or(spoiled); /* also the barrier for sm */
    float M = sm[0];
    for (int w = 1; w < BT_THREADS / 32; w++)
        M = fmaxf(M, sm[w]);
    const float ref = tm == -INFINITY ? 0.0f : tm;
    double part = tsum == 0.0 ? 0.0 : tsum * exp((double)ref - (double)M);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        part += __shfl_xor_sync(0xffffffffu, part, o);
    if (lane == 0) sd[wid] = part;
    __syncthreads();
    if (tid == 0) {
        double total = 0.0;
        for (int w = 0; w < BT_THREADS / 32; w++)
            total += sd[w];
        bt_chunk ch;
        ch.cmax = M;
        ch.csum = total;
        ch.wit = 0;
        for (int w = 0; w < BT_WARPS; w++) {
            ch.wmax[w] = sm[w];
            if (!spoiled && (256 * w < geo.rem || (w == 0 && geo.head > 0))) ch.wit |= 1u << w;
        }
        cs[(size_t)i * (size_t)nc + (size_t)c] = ch;
        __threadfence();
        const int32_t prev = atomicAdd(&gdone[r.group], 1);
        s_last = prev == g.n_beams * nc - 1;
        if (s_last) __threadfence();
    }
    __syncthreads();
    if (!s_last) return;

    /* ---- the group's last block ---- */
    const int32_t nb = g.n_beams, nw = nb * nc;
    const size_t l0 = (size_t)g.row_begin * (size_t)nc;
    for (int32_t b = wid; b < nb; b += BT_THREADS / 32) { /* a warp per row */
        const size_t o = l0 + (size_t)b * (size_t)nc;
        float m = -INFINITY;
        for (int32_t q = lane; q < nc; q += 32)
            m = fmaxf(m, __ldcg(&cs[o + q].cmax));
#pragma unroll
        for (int s = 16; s > 0; s >>= 1)
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
        double sum = 0.0;
        for (int32_t q = lane; q < nc; q += 32) {
            const double v = __ldcg(&cs[o + q].csum);
            if (v != 0.0) sum += v * exp((double)__ldcg(&cs[o + q].cmax) - (double)m);
        }
#pragma unroll
        for (int s = 16; s > 0; s >>= 1)
            sum += __shfl_xor_sync(0xffffffffu, sum, s);
        if (lane == 0) {
            rs[g.row_begin + b].m = m;
            rs[g.row_begin + b].lse = m == -INFINITY ? NAN : (float)log(sum);
        }
    }
    __syncthreads();
    uint32_t th = 0;
    if (g.forced < 0 && nw * BT_WARPS >= g.k) {
        uint32_t *wk = wkey + l0 * BT_WARPS;
        for (int32_t w = tid; w < nw * BT_WARPS; w += BT_THREADS) {
            const int32_t ri = g.row_begin + w / (nc * BT_WARPS), q = w % BT_WARPS;
            const size_t li = l0 + (size_t)(w / BT_WARPS);
            uint32_t key = 0;
            if ((__ldcg(&cs[li].wit) >> q) & 1u)
                key = bt_key(((__ldcg(&cs[li].wmax[q]) - rs[ri].m) - rs[ri].lse) + rows[ri].score);
            wk[w] = key;
        }
        __syncthreads();
        th = bt_kth_largest(wk, nw * BT_WARPS, g.k, hist, sh);
    }
    for (int32_t b = tid; b < nb; b += BT_THREADS) { /* a thread per row */
        const int32_t ri = g.row_begin + b;
        const float m = rs[ri].m, lse = rs[ri].lse, s = rows[ri].score;
        int32_t lim;
        float xb = NAN;
        if (g.forced >= 0)
            lim = g.k; /* keys from the column alone: the forced one and the k lowest others */
        else if (lse != lse || s == -INFINITY)
            lim = g.k + g.n_ban; /* every unbanned entry has one key (NaN, or -inf) */
        else if (s != s || s == INFINITY)
            lim = BT_NOLIM;
        else {
            lim = BT_FAST;
            xb = bt_x_bound(m, lse, s, th);
        }
        rs[ri].x = xb;
        rs[ri].lim = lim;
    }
    /* which chunks pass 2 must look at; the others' blocks return at once */
    if (tid == 0) s_work = 0;
    __syncthreads();
    for (int32_t w = tid; w < nw; w += BT_THREADS) {
        const int32_t cc = w % nc, ri = g.row_begin + w / nc;
        const bt_geo ge = bt_geom(x + (size_t)rows[ri].xrow * (size_t)ld, n, cc);
        const int32_t lim = rs[ri].lim;
        bool wk = ge.lo < ge.hi;
        if (wk && lim == BT_FAST)
            wk = rs[ri].x <= __ldcg(&cs[l0 + w].cmax);
        else if (wk && lim != BT_NOLIM) /* the row's first columns, and the forced one */
            wk = cc == 0 || (g.forced >= ge.lo && g.forced < ge.hi);
        cwork[l0 + w] = wk;
        if (wk) atomicAdd(&s_work, 1);
    }
    __syncthreads();
    if (tid == 0) {
        int32_t nwork = s_work;
        if (nwork == 0) { /* unreachable (th leaves at least k entries); a block must write out */
            cwork[l0] = 1;
            nwork = 1;
        }
        gsel[r.group] = nwork;
        gth[r.group] = th;
        gdone[r.group] = 0;
        gdone2[r.group] = 0;
        gcnt[r.group] = 0;
    }
}

/* ---- pass 2: selection; the group's last marked block merges ----
 * Block (chunk c, list row i), where pass 1 marked the chunk (cwork; the others return at once):
 * the chunk's entries with key >= th, found as bt_rowstat says:
 *   BT_FAST: marked when the chunk's maximum reaches the row's bound; each thread loads its
 *            columns and compares each with the bound into a bit mask; only the few survivors get
 *            their key (bt_keep, kept out of line: code that runs once per block is fetched cold,
 *            so it is kept small);
 *   a rank cut lim: only the row's first lim + 1 columns (chunk 0) and the forced one can be
 *            kept: a thread each, x not read (their keys do not depend on it);
 *   BT_NOLIM: every column's key.
 * Survivors go to a shared list; when more than BT_SCAP survive (ties, no threshold), the block
 * starts over in rounds of at most BT_ROUND columns, cutting the list back to the k best whenever
 * it could overflow. The best min(k, count) are appended to the group's list. acc is computed with
 * the very operations of the CPU twin: ((x - max) - lse) + score.
 *
 * The last of the group's marked blocks to finish merges the group's list in windows of
 * BT_SCAP - k, keeping the k best, and writes them to out (n_groups, kmax; 0 past the last
 * candidate). */
struct bt_sel {
    float m, lse, s, xb;
    int32_t lim, k, forced, n_ban, lo;
    uint32_t th, bkey, fbase;
    const int32_t *ban;
    bool fast;
};

/* the entry (t, v) has key >= th and passes the rank cut; *key: its key */
static __device__ __noinline__ bool bt_keep(const bt_sel &p, int32_t t, float v, uint32_t *key)
{
    uint32_t kk;
    if (p.fast) {
        if (!(v >= p.xb)) return false;
        if (p.n_ban > 0 && bt_banned(p.ban, p.n_ban, t)) {
            *key = p.bkey;
            return p.bkey >= p.th;
        }
        *key = bt_key(((v - p.m) - p.lse) + p.s);
        return true;
    }
    if (p.forced >= 0)
        kk = t == p.forced ? bt_key(0.0f + p.s) : p.bkey;
    else if (p.n_ban > 0 && bt_banned(p.ban, p.n_ban, t))
        kk = p.bkey;
    else
        kk = bt_key(((v - p.m) - p.lse) + p.s);
    *key = kk;
    if (kk < p.th) return false;
    if (p.lim != BT_NOLIM && t != p.forced) {
        const int32_t rank = t - p.lo - (p.forced >= p.lo && p.forced < t ? 1 : 0);
        if (rank >= p.lim) return false;
    }
    return true;
}

/* The value of column t (x not read: 0). */
template <typename T>
static __device__ __forceinline__ float bt_val(const T *xr, bool read, int32_t t)
{
    return read ? gl_cu_f32(xr[t]) : 0.0f;
}

template <typename T>
__global__ void __launch_bounds__(BT_THREADS)
    bt_select(const T *x, int32_t n, int64_t ld, int32_t nc, int32_t kmax, const bt_row *rows,
              const bt_group *groups, const int32_t *bans, const bt_chunk *cs,
              const bt_rowstat *rs, const uint32_t *gth, const uint8_t *cwork,
              const int32_t *gsel, uint64_t *glist, int32_t *gcnt, int32_t *gdone2,
              uint64_t *out)
{
    __shared__ uint64_t surv[BT_SCAP];
    __shared__ int32_t ns, s_base, s_last;
    const int32_t i = (int32_t)blockIdx.y, c = (int32_t)blockIdx.x, tid = (int32_t)threadIdx.x;
    if (!cwork[(size_t)i * (size_t)nc + (size_t)c]) return; /* nothing here (pass 1 decided) */
    const bt_row r = rows[i];
    const bt_group g = groups[r.group];
    const bt_rowstat st = rs[i];
    const T *xr = x + (size_t)r.xrow * (size_t)ld;
    const bt_geo geo = bt_geom(xr, n, c);
    bt_sel p;
    p.m = st.m;
    p.lse = st.lse;
    p.s = r.score;
    p.xb = st.x;
    p.lim = st.lim;
    p.k = g.k;
    p.forced = g.forced;
    p.n_ban = g.n_ban;
    p.lo = geo.lo;
    p.th = gth[r.group];
    p.bkey = bt_key(-INFINITY + r.score);
    p.fbase = (uint32_t)r.beam * (uint32_t)n;
    p.ban = bans + g.ban_off;
    p.fast = st.lim == BT_FAST;
    const bool work = geo.lo < geo.hi;
    const bool read = p.fast || p.lim == BT_NOLIM;
    int32_t total = 0;
    if (work) {
        if (tid == 0) ns = 0;
        __syncthreads();
        if (p.fast) {
            uint4 raw[BT_VEC];
            float hv;
            bt_load<T>(xr, geo, tid, raw, hv);
            /* bit e: the thread's e-th value reaches the bound (columns past hi hold -inf) */
            uint64_t mask = 0;
            const float xb = p.xb;
#pragma unroll
            for (int j = 0; j < BT_VEC; j++) {
                const float2 a = bt_f2<T>(raw[j].x), b = bt_f2<T>(raw[j].y);
                const float2 e = bt_f2<T>(raw[j].z), f = bt_f2<T>(raw[j].w);
                const uint32_t bits = (uint32_t)(a.x >= xb) | (uint32_t)(a.y >= xb) << 1 |
                                      (uint32_t)(b.x >= xb) << 2 | (uint32_t)(b.y >= xb) << 3 |
                                      (uint32_t)(e.x >= xb) << 4 | (uint32_t)(e.y >= xb) << 5 |
                                      (uint32_t)(f.x >= xb) << 6 | (uint32_t)(f.y >= xb) << 7;
                mask |= (uint64_t)bits << (8 * j);
            }
            if (tid < geo.head && hv >= xb) {
                uint32_t key;
                if (bt_keep(p, tid, hv, &key)) {
                    const int32_t at = atomicAdd(&ns, 1);
                    if (at < BT_SCAP) surv[at] = bt_cand(key, p.fbase + (uint32_t)tid);
                }
            }
            while (mask) { /* the few survivors one by one */
                const int e = __ffsll((long long)mask) - 1;
                mask &= mask - 1;
                const int32_t off = ((e >> 3) * BT_THREADS + tid) * 8 + (e & 7);
                if (off >= geo.rem) continue;
                const int32_t t = geo.v0 + off;
                uint32_t key;
                if (bt_keep(p, t, gl_cu_f32(xr[t]), &key)) {
                    const int32_t at = atomicAdd(&ns, 1);
                    if (at < BT_SCAP) surv[at] = bt_cand(key, p.fbase + (uint32_t)t);
                }
            }
        } else if (p.lim != BT_NOLIM) { /* the first lim + 1 columns and the forced one */
            int32_t t = -1;
            if (tid <= p.lim && geo.lo + tid < geo.hi) t = geo.lo + tid;
            if (tid == BT_THREADS - 1 && p.forced >= geo.lo && p.forced < geo.hi &&
                p.forced > geo.lo + p.lim)
                t = p.forced;
            uint32_t key;
            if (t >= 0 && bt_keep(p, t, 0.0f, &key)) {
                const int32_t at = atomicAdd(&ns, 1);
                if (at < BT_SCAP) surv[at] = bt_cand(key, p.fbase + (uint32_t)t);
            }
        } else {
            for (int32_t t = geo.lo + tid; t < geo.hi; t += BT_THREADS) {
                uint32_t key;
                if (bt_keep(p, t, gl_cu_f32(xr[t]), &key)) {
                    const int32_t at = atomicAdd(&ns, 1);
                    if (at < BT_SCAP) surv[at] = bt_cand(key, p.fbase + (uint32_t)t);
                }
            }
        }
        __syncthreads();
        total = ns;
        if (total > BT_SCAP) { /* start over in rounds, cut back to the k best while needed */
            __syncthreads(); /* every thread has read ns */
            if (tid == 0) ns = 0;
            __syncthreads();
            const int32_t span = geo.hi - geo.lo;
            for (int32_t r0 = 0; r0 < span; r0 += BT_THREADS * 4) {
                for (int32_t q = 0; q < 4; q++) {
                    const int32_t o = r0 + q * BT_THREADS + tid;
                    uint32_t key;
                    if (o < span && bt_keep(p, geo.lo + o, bt_val(xr, read, geo.lo + o), &key))
                        surv[atomicAdd(&ns, 1)] = bt_cand(key, p.fbase + (uint32_t)(geo.lo + o));
                }
                __syncthreads();
                const int32_t now = ns;
                if (now > BT_SCAP - BT_ROUND) {
                    bt_sort_desc(surv, now); /* its first barrier: every thread has read ns */
                    if (tid == 0) ns = g.k;
                }
                __syncthreads();
            }
            total = ns;
        }
        if (total > g.k) {
            bt_sort_desc(surv, total);
            total = g.k;
        }
        if (total > 0) {
            if (tid == 0) s_base = atomicAdd(&gcnt[r.group], total);
            __syncthreads();
            uint64_t *dst = glist + (size_t)g.row_begin * (size_t)nc * (size_t)kmax + s_base;
            for (int32_t j = tid; j < total; j += BT_THREADS)
                dst[j] = surv[j];
        }
    }
    /* the block's list writes, then one release by thread 0 (the barrier orders them before it) */
    __syncthreads();
    if (tid == 0) {
        __threadfence();
        const int32_t prev = atomicAdd(&gdone2[r.group], 1);
        s_last = prev == gsel[r.group] - 1;
        if (s_last) __threadfence();
    }
    __syncthreads();
    if (!s_last) return;

    /* ---- the group's last block: merge ---- */
    const uint64_t *src = glist + (size_t)g.row_begin * (size_t)nc * (size_t)kmax;
    const int32_t all = __ldcg(&gcnt[r.group]), win = BT_SCAP - g.k;
    int32_t have = 0;
    for (int32_t w0 = 0; w0 < all; w0 += win) {
        const int32_t len = all - w0 < win ? all - w0 : win;
        for (int32_t j = tid; j < len; j += BT_THREADS)
            surv[have + j] = __ldcg(&src[w0 + j]);
        __syncthreads();
        bt_sort_desc(surv, have + len);
        have = have + len < g.k ? have + len : g.k;
    }
    for (int32_t j = tid; j < g.k; j += BT_THREADS)
        out[(size_t)r.group * (size_t)kmax + (size_t)j] = j < have ? surv[j] : 0;
}

#endif
