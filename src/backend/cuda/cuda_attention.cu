/* The two attention ops of the CUDA backend (contracts in backend.h).
 *
 * attention (packed sequences, contiguous K/V): the tensor-core kernel of cuda_attention_flash.cu
 * for head_dim 32/64/80/96/128 with 16-byte aligned rows; any other call (tiny models' head_dim
 * 4..24, odd strides) runs the row kernel below with contiguous K/V.
 *
 * attention_paged (decode; cross-attention; teacher forcing): the row kernel reading K/V through
 * the block tables, flash-decoding style. attention_paged_kv: the same kernel, the causal tail's
 * K/V read from the new tokens' rows instead of the cache and written to the cache by the blocks
 * of part 0 (no kv_write kernel before it; GLOSSA_CUDA_KV_FUSE=0 declines it).
 *
 * Row kernel: one block of 128 threads per (sequence, head, part), grid x = n_seqs * parts,
 * y = n_heads. The block attends one query at a time with all its threads: lanes form groups of
 * LPK lanes (LPK * 8 >= head_dim, a power of two), each lane holding 8 dimensions of q, k and v
 * (one 16-byte load each when aligned); the 128 / LPK groups of the block take keys round-robin,
 * U = 4 keys per group in flight, each group keeping an fp32 online softmax (running max, sum,
 * output slice). The groups' states are merged at the end: within a warp by shuffles, then the 4
 * warps' through shared memory (rows_merge).
 * parts > 1 splits work over more blocks when n_seqs * n_heads alone would not fill the GPU:
 *   - split mode (paged op, the sequence has at most ATT_QMAX queries: decode): part p reduces its
 *     chunk of the keys of every query and writes (max, sum, unnormalised output) partials to
 *     cuda_state.attn_scratch; a second kernel merges the parts of each query. Chunks are sized on
 *     the device from the real kv length (at least ATT_MIN_CHUNK keys; parts past the end write
 *     empty partials), so the host only picks the part count, from n_seqs * n_heads and
 *     max_blocks_per_seq (no split while max_blocks_per_seq * block_size <= ATT_SPLIT_KEYS), and
 *     never synchronises.
 *   - otherwise (contiguous op, or many queries per sequence): part p takes queries p, p + parts,
 *     ... over all their keys, writing outputs directly; the merge kernel skips such sequences.
 * attn_scratch grows on demand (cuda_grow: a cudaMalloc outside the steady state; run one step of
 * each shape before capturing a CUDA graph). If it cannot grow, the call runs with parts = 1. */
#include <limits.h>
#include <string.h>

#include "backend/cuda/cuda_attention.cuh"

#define ATT_THREADS 128
#define ATT_U 4            /* keys per lane group in flight */
#define ATT_MIN_BLOCKS 8   /* resident blocks per SM the (16-byte) kernels' registers allow */
#define ATT_QMAX 8         /* split mode only for sequences with at most this many queries */
#define ATT_MIN_CHUNK 32   /* keys per split part at least (device side, real lengths) */
#define ATT_SPLIT_KEYS 128 /* host side: parts <= max context / this (no split up to 128 keys) */
#define ATT_MAX_PARTS 64
#define ATT_MAX_HD 256
#define ATT_SO 1024        /* floats of the group-state tile: groups * LPK * 8 = 128 * 8 */

/* The attention_paged_kv op's new tokens: the causal tail's keys and values are read from rows
 * q_off[s] .. of k / v (stride apart) instead of the cache, and the blocks of part 0 write them to
 * the cache at slots[token] (negative: skipped). */
typedef struct rows_new {
    const void *k, *v;
    int64_t stride;
    const int32_t *slots;
} rows_new;

typedef struct rows_params {
    const void *q;
    int64_t q_stride;
    const int32_t *q_off;
    const void *k, *v;
    /* contiguous K/V */
    int64_t kv_stride;
    const int32_t *k_off;
    /* paged K/V: rows (slot * n_heads + h) * head_dim */
    const int32_t *tables;
    int32_t mbps, block_size;
    int32_t bs_shift; /* log2(block_size) when a power of two, else -1 */
    const int32_t *kv_lens;
    void *out;
    int64_t out_stride;
    int32_t head_dim, n_heads;
    int32_t parts;  /* grid.x = n_seqs * parts */
    int32_t split;  /* parts split the keys of sequences with <= ATT_QMAX queries */
    float *partials;
    int32_t causal;
    int32_t prior;    /* paged: gl_kv_view.prior (the keys before the causal tail predate the pass) */
    rows_new nw;      /* paged, causal: the attention_paged_kv op's new tokens (nw.k NULL: none) */
    float scale_log2; /* scale * log2(e) */
} rows_params;

/* f[0..8) = row[d0 .. d0 + 8), zeros past head_dim. VEC: one 16-byte load (head_dim % 8 == 0). */
template <typename T, bool VEC>
__device__ __forceinline__ void rows_load(const T *row, int d0, int hd, float f[8])
{
    if (VEC) {
        if (d0 < hd) {
            attn_load8(row + d0, f);
        } else {
#pragma unroll
            for (int e = 0; e < 8; e++) f[e] = 0.0f;
        }
    } else {
#pragma unroll
        for (int e = 0; e < 8; e++) f[e] = d0 + e < hd ? gl_cu_f32(row[d0 + e]) : 0.0f;
    }
}

/* Element offset of key/value row j of the block's (sequence, head). */
template <bool PAGED>
__device__ __forceinline__ int64_t rows_kv_off(const rows_params &p, const int32_t *table,
                                               int64_t kvbase, int h, int j)
{
    if (PAGED) {
        const int b = p.bs_shift >= 0 ? j >> p.bs_shift : j / p.block_size;
        const int r = p.bs_shift >= 0 ? j & (p.block_size - 1) : j % p.block_size;
        int64_t slot = (int64_t)table[b] * p.block_size + r;
        return (slot * p.n_heads + h) * p.head_dim;
    }
    return kvbase + (int64_t)j * p.kv_stride;
}

typedef struct rows_smem {
    float o[ATT_SO]; /* warp w's merged output at o[w * head_dim] */
    float m[ATT_THREADS / 32], l[ATT_THREADS / 32];
} rows_smem;

/* Merge the groups' states; write the normalised row to orow, or (max, sum, output) to part.
 * First within each warp by shuffles (lanes LPK apart hold the same dims of different groups),
 * then the warps' states through shared memory: one barrier and loops over the 4 warps instead of
 * loops over every group (at batch 1 the kernel is bound by its serial instruction count: one warp
 * per scheduler; ncu, H100). */
template <typename T, int LPK>
__device__ void rows_merge(rows_smem *sm, float m, float l, float acc[8], int hd, T *orow,
                           float *part)
{
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, d0 = (lane % LPK) * 8;
    attn_merge_lanes<LPK>(&m, &l, acc);
    constexpr int NW = ATT_THREADS / 32;
    if (lane < LPK) {
        if (lane == 0) {
            sm->m[warp] = m;
            sm->l[warp] = l;
        }
#pragma unroll
        for (int e = 0; e < 8; e++)
            if (d0 + e < hd) sm->o[warp * hd + d0 + e] = acc[e];
    }
    __syncthreads(); /* warp states written */
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < NW; w++) mx = fmaxf(mx, sm->m[w]);
    float wt[NW], sum = 0.0f;
#pragma unroll
    for (int w = 0; w < NW; w++) {
        wt[w] = sm->m[w] == -INFINITY ? 0.0f : exp2f(sm->m[w] - mx);
        sum += wt[w] * sm->l[w];
    }
    for (int d = threadIdx.x; d < hd; d += ATT_THREADS) {
        float a = 0.0f;
#pragma unroll
        for (int w = 0; w < NW; w++) a += wt[w] * sm->o[w * hd + d];
        if (orow)
            orow[d] = gl_cu_from_f32<T>(sum > 0.0f ? a / sum : 0.0f);
        else
            part[2 + d] = a;
    }
    if (part && threadIdx.x == 0) {
        part[0] = mx;
        part[1] = sum;
    }
    __syncthreads(); /* shared memory free for the next query */
}

/* One query (qrow, head offset applied) against keys [jb, je) of the block's (sequence, head). */
template <typename T, int LPK, bool VEC, bool PAGED>
__device__ void rows_query(const rows_params &p, rows_smem *sm, const T *qrow, const int32_t *table,
                           int64_t kvbase, int h, int jb, int je, int tail_from,
                           int64_t tail_row0, T *orow, float *part)
{
    constexpr int KPW = 32 / LPK, NG = (ATT_THREADS / 32) * KPW;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane / LPK, d0 = (lane % LPK) * 8;
    const int hd = p.head_dim;
    const T *kp = static_cast<const T *>(p.k), *vp = static_cast<const T *>(p.v);

    float qf[8], acc[8];
    rows_load<T, VEC>(qrow, d0, hd, qf);
#pragma unroll
    for (int e = 0; e < 8; e++) {
        qf[e] *= p.scale_log2;
        acc[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    /* the loop bound depends on the warp only, so the shuffles below see all 32 lanes */
    for (int jw = jb + warp * KPW; jw < je; jw += NG * ATT_U) {
        /* VEC: K and V rows stay raw (16 bytes each) until used, which keeps the kernel at a
         * register count that lets more blocks stay resident */
        uint4 kr[ATT_U], vr[ATT_U];
        float kf[VEC ? 1 : ATT_U][8], vf[VEC ? 1 : ATT_U][8], sc[ATT_U];
        const uint4 z4 = make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int u = 0; u < ATT_U; u++) {
            const int j = jw + g + u * NG;
            const T *kb = kp, *vb = vp;
            int64_t off = 0;
            if (PAGED && j < je && j >= tail_from) { /* tail from the new rows */
                kb = static_cast<const T *>(p.nw.k);
                vb = static_cast<const T *>(p.nw.v);
                off = (tail_row0 + (j - tail_from)) * p.nw.stride + (int64_t)h * hd;
            } else if (j < je) {
                off = rows_kv_off<PAGED>(p, table, kvbase, h, j);
            }
            if (VEC) {
                const bool in = j < je && d0 < hd;
                kr[u] = in ? *reinterpret_cast<const uint4 *>(kb + off + d0) : z4;
                vr[u] = in ? *reinterpret_cast<const uint4 *>(vb + off + d0) : z4;
            } else if (j < je) {
                rows_load<T, VEC>(kb + off, d0, hd, kf[VEC ? 0 : u]);
                rows_load<T, VEC>(vb + off, d0, hd, vf[VEC ? 0 : u]);
            } else {
#pragma unroll
                for (int e = 0; e < 8; e++) kf[VEC ? 0 : u][e] = vf[VEC ? 0 : u][e] = 0.0f;
            }
        }
        float mt = -INFINITY;
#pragma unroll
        for (int u = 0; u < ATT_U; u++) {
            float k8[8];
            if (VEC) attn_unpack8<T>(kr[u], k8);
#pragma unroll
            for (int e = 0; e < 8; e++)
                if (!VEC) k8[e] = kf[VEC ? 0 : u][e];
            float s = 0.0f;
#pragma unroll
            for (int e = 0; e < 8; e++) s += qf[e] * k8[e];
            /* butterfly: every lane of the group ends with the same bits (a + b == b + a) */
#pragma unroll
            for (int off = LPK / 2; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
            sc[u] = jw + g + u * NG < je ? s : -INFINITY;
            mt = fmaxf(mt, sc[u]);
        }
        const float mnew = fmaxf(m, mt);
        if (mnew != -INFINITY) {
            const float corr = exp2f(m - mnew);
            l *= corr;
#pragma unroll
            for (int e = 0; e < 8; e++) acc[e] *= corr;
#pragma unroll
            for (int u = 0; u < ATT_U; u++) {
                const float pu = exp2f(sc[u] - mnew);
                l += pu;
                float v8[8];
                if (VEC) attn_unpack8<T>(vr[u], v8);
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    if (!VEC) v8[e] = vf[VEC ? 0 : u][e];
                    acc[e] += pu * v8[e];
                }
            }
            m = mnew;
        }
    }
    rows_merge<T, LPK>(sm, m, l, acc, hd, orow, part);
}

/* Before the PDL wait (paged, kv.prior): the block's first keys that predate the pass, fetched
 * into L1 (their block-table entries with them), so that after the wait only q and the causal
 * tail written by this pass come from further away. Lines written during the pass are never
 * fetched, so L1 holds nothing stale. */
template <bool PAGED>
__device__ __forceinline__ void rows_prefetch(const rows_params &p, const int32_t *table, int h,
                                              int jb, int je)
{
    const char *kp = static_cast<const char *>(p.k), *vp = static_cast<const char *>(p.v);
    const int row_bytes = p.head_dim * 2;
    je = min(je, jb + 2 * ATT_THREADS);
    for (int j = jb + (int)threadIdx.x; j < je; j += ATT_THREADS) {
        const int64_t off = rows_kv_off<PAGED>(p, table, 0, h, j) * 2;
        for (int b = 0; b < row_bytes; b += 128) {
            asm volatile("prefetch.global.L1 [%0];" ::"l"(kp + off + b));
            asm volatile("prefetch.global.L1 [%0];" ::"l"(vp + off + b));
        }
    }
}

template <typename T, int LPK, bool VEC, bool PAGED>
__global__ void __launch_bounds__(ATT_THREADS, VEC ? ATT_MIN_BLOCKS : 1) rows_kernel(rows_params p)
{
    __shared__ rows_smem sm;
    cuda_pdl_trigger();
    /* the index arrays are uploaded before the pass: read before the wait */
    const int s = blockIdx.x / p.parts, part = blockIdx.x % p.parts, h = blockIdx.y;
    const int hd = p.head_dim;
    const int q0 = p.q_off[s], nq = p.q_off[s + 1] - q0;
    int nk;
    int64_t kvbase = 0;
    const int32_t *table = nullptr;
    if (PAGED) {
        nk = p.kv_lens[s];
        table = p.tables + (int64_t)s * p.mbps;
    } else {
        const int k0 = p.k_off[s];
        nk = p.k_off[s + 1] - k0;
        kvbase = (int64_t)k0 * p.kv_stride + (int64_t)h * hd;
    }
    const bool split = p.split && nq <= ATT_QMAX;
    if (PAGED && p.prior && nq > 0) {
        const int nold = p.causal ? nk - nq : nk;
        int jb = 0, je = nk;
        if (split) { /* the part's chunk of the first query's keys */
            const int jlim = p.causal ? max(0, min(nk, nk - nq + 1)) : nk;
            const int chunk = max(ATT_MIN_CHUNK, (jlim + p.parts - 1) / p.parts);
            jb = min(jlim, part * chunk);
            je = min(jlim, jb + chunk);
        }
        rows_prefetch<PAGED>(p, table, h, jb, min(je, nold));
    }
    /* attention_paged_kv: the causal tail's K/V rows of this head go into the cache (part 0) after
     * the queries (which read them from the new rows, not the cache): the copy's loads then hit
     * L1, and the queries' loads are not queued behind a slot load and a copy; the first slot of
     * each thread is read before the wait (uploaded before the pass) */
    const bool fused = PAGED && p.nw.k;
    const int tail_from = fused ? nk - nq : INT_MAX;
    const int cw = VEC ? hd / 8 : hd; /* copy pieces a row: 16 bytes (VEC) or one element */
    int64_t slot0 = -1;
    if (fused && part == 0 && (int)threadIdx.x < nq * cw)
        slot0 = p.nw.slots[q0 + (int)threadIdx.x / cw];
    cuda_pdl_wait();
    const T *qb = static_cast<const T *>(p.q) + (int64_t)q0 * p.q_stride + (int64_t)h * hd;
    T *ob = static_cast<T *>(p.out) + (int64_t)q0 * p.out_stride + (int64_t)h * hd;
    const int i_first = split ? 0 : part, i_step = split ? 1 : p.parts;
    for (int i = i_first; i < nq; i += i_step) {
        int jlim = nk;
        if (p.causal) jlim = max(0, min(nk, nk - nq + i + 1));
        const T *qrow = qb + (int64_t)i * p.q_stride;
        if (split) {
            const int chunk = max(ATT_MIN_CHUNK, (jlim + p.parts - 1) / p.parts);
            const int jb = min(jlim, part * chunk), je = min(jlim, jb + chunk);
            float *dst = p.partials +
                         ((((int64_t)s * ATT_QMAX + i) * p.n_heads + h) * p.parts + part) * (hd + 2);
            rows_query<T, LPK, VEC, PAGED>(p, &sm, qrow, table, kvbase, h, jb, je, tail_from, q0,
                                           nullptr, dst);
        } else {
            rows_query<T, LPK, VEC, PAGED>(p, &sm, qrow, table, kvbase, h, 0, jlim, tail_from, q0,
                                           ob + (int64_t)i * p.out_stride, nullptr);
        }
    }
    if (fused && part == 0) {
        for (int e = threadIdx.x; e < nq * cw; e += ATT_THREADS) {
            const int i = e / cw, c = e % cw;
            const int64_t slot = e == (int)threadIdx.x ? slot0 : p.nw.slots[q0 + i];
            if (slot < 0) continue;
            const int64_t src = (int64_t)(q0 + i) * p.nw.stride + (int64_t)h * hd;
            const int64_t dst = (slot * p.n_heads + h) * hd;
            T *kc = static_cast<T *>(const_cast<void *>(p.k)) + dst;
            T *vc = static_cast<T *>(const_cast<void *>(p.v)) + dst;
            const T *kn = static_cast<const T *>(p.nw.k) + src;
            const T *vn = static_cast<const T *>(p.nw.v) + src;
            if (VEC) {
                reinterpret_cast<uint4 *>(kc)[c] = reinterpret_cast<const uint4 *>(kn)[c];
                reinterpret_cast<uint4 *>(vc)[c] = reinterpret_cast<const uint4 *>(vn)[c];
            } else {
                kc[c] = kn[c];
                vc[c] = vn[c];
            }
        }
    }
}

/* Merge the split parts of each query of sequences in split mode. Grid (n_seqs, n_heads). */
template <typename T> __global__ void __launch_bounds__(ATT_THREADS) rows_combine(rows_params p)
{
    cuda_pdl_trigger();
    const int s = blockIdx.x, h = blockIdx.y, hd = p.head_dim;
    const int q0 = p.q_off[s], nq = p.q_off[s + 1] - q0; /* uploaded before the pass */
    cuda_pdl_wait();
    if (nq > ATT_QMAX) return; /* written directly by rows_kernel */
    for (int i = 0; i < nq; i++) {
        const float *base =
            p.partials + (((int64_t)s * ATT_QMAX + i) * p.n_heads + h) * p.parts * (hd + 2);
        float mx = -INFINITY;
        for (int x = 0; x < p.parts; x++) mx = fmaxf(mx, base[(int64_t)x * (hd + 2)]);
        float sum = 0.0f;
        for (int x = 0; x < p.parts; x++) {
            const float mp = base[(int64_t)x * (hd + 2)];
            if (mp != -INFINITY) sum += exp2f(mp - mx) * base[(int64_t)x * (hd + 2) + 1];
        }
        T *orow = static_cast<T *>(p.out) + (int64_t)(q0 + i) * p.out_stride + (int64_t)h * hd;
        for (int d = threadIdx.x; d < hd; d += ATT_THREADS) {
            float acc = 0.0f;
            for (int x = 0; x < p.parts; x++) {
                const float mp = base[(int64_t)x * (hd + 2)];
                if (mp != -INFINITY) acc += exp2f(mp - mx) * base[(int64_t)x * (hd + 2) + 2 + d];
            }
            orow[d] = gl_cu_from_f32<T>(sum > 0.0f ? acc / sum : 0.0f);
        }
    }
}

template <typename T, int LPK, bool PAGED>
static void rows_launch_lpk(cuda_state *s, const rows_params &p, int n_seqs, bool vec)
{
    dim3 grid((unsigned)((int64_t)n_seqs * p.parts), (unsigned)p.n_heads);
    if (vec)
        cuda_launch_pdl(s, rows_kernel<T, LPK, true, PAGED>, grid, dim3(ATT_THREADS), 0,
                        "attention", p);
    else
        cuda_launch_pdl(s, rows_kernel<T, LPK, false, PAGED>, grid, dim3(ATT_THREADS), 0,
                        "attention", p);
}

template <typename T, bool PAGED>
static void rows_launch(cuda_state *s, const rows_params &p, int n_seqs, bool vec)
{
    const int hd = p.head_dim;
    if (hd <= 8)
        rows_launch_lpk<T, 1, PAGED>(s, p, n_seqs, vec);
    else if (hd <= 16)
        rows_launch_lpk<T, 2, PAGED>(s, p, n_seqs, vec);
    else if (hd <= 32)
        rows_launch_lpk<T, 4, PAGED>(s, p, n_seqs, vec);
    else if (hd <= 64)
        rows_launch_lpk<T, 8, PAGED>(s, p, n_seqs, vec);
    else if (hd <= 128)
        rows_launch_lpk<T, 16, PAGED>(s, p, n_seqs, vec);
    else
        rows_launch_lpk<T, 32, PAGED>(s, p, n_seqs, vec);
    if (p.split) {
        dim3 grid((unsigned)n_seqs, (unsigned)p.n_heads);
        cuda_launch_pdl(s, rows_combine<T>, grid, dim3(ATT_THREADS), 0, "attention (merge)", p);
    }
}

static void rows_run(cuda_state *s, gl_dtype t, bool paged, const rows_params &p, int n_seqs,
                     bool vec)
{
    if (t == GL_DTYPE_BF16) {
        if (paged)
            rows_launch<__nv_bfloat16, true>(s, p, n_seqs, vec);
        else
            rows_launch<__nv_bfloat16, false>(s, p, n_seqs, vec);
    } else {
        if (paged)
            rows_launch<__half, true>(s, p, n_seqs, vec);
        else
            rows_launch<__half, false>(s, p, n_seqs, vec);
    }
    cuda_note(s, cudaGetLastError(), "attention (row kernel)");
}

/* Blocks per (sequence, head) so that about two blocks per SM are resident, capped by want. */
static int32_t rows_parts(const cuda_state *s, int64_t n_seqs, int64_t n_heads, int64_t want)
{
    const int64_t base = n_seqs * n_heads;
    const int64_t target = (int64_t)(s->sm_count > 0 ? s->sm_count : 132) * 2;
    int64_t parts = (target + base - 1) / base;
    if (parts > want) parts = want;
    if (parts > ATT_MAX_PARTS) parts = ATT_MAX_PARTS;
    return (int32_t)(parts < 1 ? 1 : parts);
}

extern "C" void cuda_op_attention(backend *b, int32_t n_seqs, int32_t n_heads, int32_t head_dim,
                                  const void *q, int32_t q_stride, const void *k, const void *v,
                                  int32_t kv_stride, const int32_t *q_off, const int32_t *k_off,
                                  bool causal, float scale, void *out)
{
    cuda_state *s = cuda_state_of(b);
    if (n_seqs <= 0 || n_heads <= 0 || head_dim <= 0) return;
    cuda_bind(s);
    if (head_dim > ATT_MAX_HD) {
        cuda_note(s, cudaErrorInvalidValue, "attention: head_dim > 256 is not supported");
        return;
    }
    attn_packed_args a = {n_seqs, n_heads, head_dim, q,     k,     v,     q_stride,
                          kv_stride, q_off, k_off, causal, scale, out};
    if (cuda_attn_flash(s, b->act_dtype, &a)) return;

    rows_params p;
    memset(&p, 0, sizeof p);
    p.q = q;
    p.q_stride = q_stride;
    p.q_off = q_off;
    p.k = k;
    p.v = v;
    p.kv_stride = kv_stride;
    p.k_off = k_off;
    p.out = out;
    p.out_stride = (int64_t)n_heads * head_dim;
    p.head_dim = head_dim;
    p.n_heads = n_heads;
    p.parts = rows_parts(s, n_seqs, n_heads, ATT_MAX_PARTS);
    p.split = 0;
    p.causal = causal;
    p.scale_log2 = scale * 1.4426950408889634f;
    const bool vec = head_dim % 8 == 0 && q_stride % 8 == 0 && kv_stride % 8 == 0 &&
                     cuda_aligned16(q) && cuda_aligned16(k) && cuda_aligned16(v) &&
                     cuda_aligned16(out);
    rows_run(s, b->act_dtype, false, p, n_seqs, vec);
}

/* attention_paged, and with nw attention_paged_kv */
static void paged_run(backend *b, int32_t n_seqs, const void *q, int32_t q_stride,
                      const int32_t *q_off, const gl_kv_view *kv, const int32_t *kv_lens,
                      bool causal, float scale, void *out, const rows_new *nw)
{
    cuda_state *s = cuda_state_of(b);
    const int32_t hd = kv->head_dim, nh = kv->n_heads;
    rows_params p;
    memset(&p, 0, sizeof p);
    if (nw) p.nw = *nw;
    p.q = q;
    p.q_stride = q_stride;
    p.q_off = q_off;
    p.k = kv->k;
    p.v = kv->v;
    p.tables = kv->block_tables;
    p.mbps = kv->max_blocks_per_seq;
    p.block_size = kv->block_size;
    p.bs_shift = -1;
    for (int32_t sh = 0; sh < 31; sh++)
        if ((int32_t)1 << sh == kv->block_size) p.bs_shift = sh;
    p.kv_lens = kv_lens;
    p.out = out;
    p.out_stride = (int64_t)nh * hd;
    p.head_dim = hd;
    p.n_heads = nh;
    p.causal = causal;
    p.prior = kv->prior;
    p.scale_log2 = scale * 1.4426950408889634f;
    /* parts: fill the GPU, but short contexts (<= ATT_SPLIT_KEYS by the host's bound) run in one
     * kernel without the merge launch */
    const int64_t max_ctx = (int64_t)kv->max_blocks_per_seq * kv->block_size;
    p.parts = rows_parts(s, n_seqs, nh, (max_ctx + ATT_SPLIT_KEYS - 1) / ATT_SPLIT_KEYS);
    if (p.parts > 1) {
        const size_t bytes = (size_t)n_seqs * ATT_QMAX * nh * p.parts * (hd + 2) * sizeof(float);
        if (cuda_grow(&s->attn_scratch, &s->attn_scratch_bytes, bytes, "attention scratch") ==
            GLOSSA_STATUS_OK) {
            p.split = 1;
            p.partials = static_cast<float *>(s->attn_scratch);
        } else {
            p.parts = 1;
        }
    }
    const bool vec = hd % 8 == 0 && q_stride % 8 == 0 && cuda_aligned16(q) &&
                     cuda_aligned16(kv->k) && cuda_aligned16(kv->v) && cuda_aligned16(out) &&
                     (!nw || (nw->stride % 8 == 0 && cuda_aligned16(nw->k) &&
                              cuda_aligned16(nw->v)));
    rows_run(s, b->act_dtype, true, p, n_seqs, vec);
}

extern "C" void cuda_op_attention_paged(backend *b, int32_t n_seqs, const void *q,
                                        int32_t q_stride, const int32_t *q_off,
                                        const gl_kv_view *kv, const int32_t *kv_lens, bool causal,
                                        float scale, void *out)
{
    cuda_state *s = cuda_state_of(b);
    if (n_seqs <= 0 || kv->n_heads <= 0 || kv->head_dim <= 0) return;
    cuda_bind(s);
    if (kv->head_dim > ATT_MAX_HD) {
        cuda_note(s, cudaErrorInvalidValue, "attention_paged: head_dim > 256 is not supported");
        return;
    }
    paged_run(b, n_seqs, q, q_stride, q_off, kv, kv_lens, causal, scale, out, NULL);
}

extern "C" bool cuda_op_attention_paged_kv(backend *b, int32_t n_seqs, const void *q,
                                           int32_t q_stride, const int32_t *q_off,
                                           const void *k_new, const void *v_new,
                                           int32_t kv_stride, const int32_t *slot_mapping,
                                           const gl_kv_view *kv, const int32_t *kv_lens,
                                           float scale, void *out)
{
    cuda_state *s = cuda_state_of(b);
    if (s->kv_fuse_off || n_seqs <= 0 || kv->n_heads <= 0 || kv->head_dim <= 0 ||
        kv->head_dim > ATT_MAX_HD)
        return false;
    cuda_bind(s);
    const rows_new nw = {k_new, v_new, kv_stride, slot_mapping};
    paged_run(b, n_seqs, q, q_stride, q_off, kv, kv_lens, true, scale, out, &nw);
    return true;
}

void cuda_attention_release(cuda_state *s)
{
    if (s->attn_scratch) cudaFree(s->attn_scratch);
    s->attn_scratch = NULL;
    s->attn_scratch_bytes = 0;
}
