/* The decoder_stack op (backend.h): every pre-LN decoder layer of a one-token pass in one
 * persistent kernel (batch-1 decode).
 *
 * Why: at one token a layer reads ~28 MB of weights (mbart-large: 9.5 us at the copy rate) but the
 * op path runs 11 dependent kernels; chained by PDL each costs ~1.1 us of launch and drain beyond
 * its bytes, and a kernel streams its weight only from shortly before it runs: ~28 us a layer
 * (docs/PERF.md). Here the weight stream never waits for the activations: one block per SM for
 * the whole stack, each with a producer warp that copies the block's share of every weight, in
 * the order the layers use them, into a ring of 16 KB shared-memory slots (cp.async.bulk on
 * mbarriers), running ahead of the compute by as much as the ring holds (12 slots, ~0.85 layer).
 * Only the activations (a few KB per phase) wait, on global counters.
 *
 * A layer is 6 phases; each waits until every block has counted itself into the previous
 * phase's counter (red.release; one thread per block polls with ld.acquire):
 *   A  LN(x) -> xs (every block, redundantly; x also to sm->xcur), the block's QKV rows -> qkv,
 *      their K/V columns also to the cache at the new token's slot
 *   B  every block the self-attention of head h = block % heads (the keys before the new one
 *      loaded before the wait), then its part (block / heads of the head's 8-9 parts) of the O
 *      rows times that head's 64 columns, added to acc_o (fp32 atomics: the heads meet there)
 *   C  x1 = xcur + acc_o + b_o (every block, all of d, rounded once as the op path's linear
 *      rounds) -> xcur; LN(x1) -> xs; the cross-Q rows -> q
 *   D  as B for the cross-attention over the encoder K/V and cross-O -> acc_x
 *   E  x2 = xcur + acc_x + b_co -> xcur; LN(x2) -> xs; the FC1 rows + activation -> h;
 *      acc_o's rows of the block back to zero (its readers, C, are done)
 *   F  h -> xs; the FC2 rows + b + xcur -> x (global, the next layer's input); acc_x to zero
 * A GEMV phase splits the matrix's rows evenly over the blocks (contiguous ranges) in slot-sized
 * pieces of whole rows; a piece's rows go to the 8 consumer warps round-robin, each a dot product
 * of 16-byte vectors from shared memory (fp32 sums), lane 0 the epilogue. A B/D piece is the
 * part's rows of the head's 64 columns: one 128-byte copy a row, issued by all 32 producer
 * lanes. Every buffer a phase reads was last written at least one wait before by every writer,
 * and nothing is overwritten before its last reader's phase has been waited for; values other blocks wrote in this launch are read with ld.global.cg.
 * Loads that do not depend on the previous phase (LN gamma/beta, biases, the attention's prior
 * K/V, the layer descriptors: in shared memory) are issued before the wait: each cost ~1 us of
 * a phase after it. FC2's ring slots are released only after the next layer's first wait:
 * refilled at once they put 64 KB of copies ahead of that wait's poll on the SM (+1.9 us).
 * Not bitwise deterministic: the 16 heads' fp32 sums of B and D meet in atomics in no fixed
 * order, so a rerun may round an activation one act-dtype ulp the other way (logits within
 * ~4e-3; greedy ids unchanged in every check: docs/PERF.md).
 * The last block to finish resets the counters for the next launch (every block has passed every
 * wait by then). All blocks must be resident at once (they wait on each other): one per SM by
 * its shared memory, grid = SM count, checked against the occupancy query; a wait that has not
 * seen its counter after 2 s traps (a device error, never a hang).
 * Limits (else false: the op path): head_dim 64, d a multiple of 8 up to DS_LN_MAX, ffn up to
 * DS_XMAX, a weight row at most one slot, heads <= SMs with >= d / 128 blocks a head, at most
 * DS_MAX_LAYERS layers, 16-byte aligned buffers. GLOSSA_CUDA_STACK=0 declines every call;
 * GLOSSA_CUDA_STACK_TRACE=1 (with GLOSSA_GRAPHS=0) prints, every 32nd call, the previous
 * launch's per-phase wait and work times of blocks 0 and G - 1.
 *
 * H100 (docs/PERF.md): batch 1 0.497-0.498 ms/step vs 0.529-0.534 op by op; a layer ~25 us,
 * ~10 of it in the 6 waits (1.4-2.7 us each). With no weights copied at all (timing only) a layer
 * still takes ~20 us: the phases' compute and waits alone are most of the 0.45 ms target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_decoder_stack.cuh"
#include "backend/cuda/cuda_internal.h"

/* The block's rows [r0, r1) of an n-row matrix */
static __device__ __forceinline__ void ds_rows(int n, int *r0, int *r1)
{
    *r0 = (int)((int64_t)n * blockIdx.x / gridDim.x);
    *r1 = (int)((int64_t)n * (blockIdx.x + 1) / gridDim.x);
}

/* A GEMV's per-row epilogue values live in the registers of the warp that owns the row: lane j
 * of warp w holds the value of the block's local row w + 8 j (rows are dealt to the warps
 * round-robin). ds_lane_row: that row's index (or -1). */
static __device__ __forceinline__ int ds_lane_row(int n)
{
    int r0, r1;
    ds_rows(n, &r0, &r1);
    const int lr = (threadIdx.x >> 5) + DS_WARPS * (threadIdx.x & 31);
    return r0 + lr < r1 ? r0 + lr : -1;
}

/* The lane's bias of an n-row GEMV (0 when none): loaded before the phase's wait (weights). */
template <typename T>
static __device__ __forceinline__ float ds_bias(const void *bias, int n)
{
    const int f = ds_lane_row(n);
    return bias && f >= 0 ? gl_cu_f32(static_cast<const T *>(bias)[f]) : 0.0f;
}

/* GEMV g of layer L over the staged xs (k elements): the block's rows, piece by piece from the
 * ring, a piece's rows dealt to the warps (local row w + 8 j to warp w), each a warp's dot
 * product of 16-byte vectors (fp32 sums); epilogue by g: 0 QKV (+ cache at slot sl), 2 plain
 * into q, 4 activation into h, 5 FC2 + the residual row from sm->xcur into x (O and cross-O are
 * ds_opart's); rounding as the op path rounds. bj: the lane's bias. (Tried and slower: a warp's
 * rows of all pieces at once, and mma.sync over k-split warps meeting in shared memory,
 * docs/PERF.md.) */
template <typename T>
static __device__ void ds_gemv(const ds_params &p, const ds_layer &L, int g, int n, int k,
                               const T *xs, char *ring, ds_smem *sm, uint32_t *it, float bj,
                               int64_t sl)
{
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int r0, r1;
    ds_rows(n, &r0, &r1);
    const int rowb = k * (int)sizeof(T), rpp = DS_SLOT / rowb;
    const int d = p.d;
    for (int r = r0; r < r1; r += rpp, (*it)++) {
        const int rows = min(rpp, r1 - r);
        const uint32_t slot = *it % DS_SLOTS;
        ds_mbar_wait(&sm->full[slot], (*it / DS_SLOTS) & 1u);
        const T *piece = reinterpret_cast<const T *>(ring + (size_t)slot * DS_SLOT);
        const int i0 = ((warp - (r - r0)) % DS_WARPS + DS_WARPS) % DS_WARPS;
        for (int i = i0; i < rows; i += DS_WARPS) {
            const uint4 *wr = reinterpret_cast<const uint4 *>(piece + (size_t)i * k);
            const uint4 *xr = reinterpret_cast<const uint4 *>(xs);
            float a0 = 0.0f, a1 = 0.0f;
#pragma unroll 4
            for (int v = lane; v < k / 8; v += 32) {
                float wf[8], xf[8];
                ds_unpack<T>(wr[v], wf);
                ds_unpack<T>(xr[v], xf);
#pragma unroll
                for (int e = 0; e < 8; e += 2) {
                    a0 += wf[e] * xf[e];
                    a1 += wf[e + 1] * xf[e + 1];
                }
            }
            float acc = a0 + a1;
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
            const int f = r + i, j = (r - r0 + i) / DS_WARPS; /* the lane holding the row's values */
            const float v = acc + __shfl_sync(0xffffffffu, bj, j);
            if (g == 5) { /* FC2: the residual row from sm->xcur, the sum to x */
                if (lane == 0)
                    static_cast<T *>(p.x)[f] = gl_cu_from_f32<T>(
                        v + gl_cu_f32(reinterpret_cast<const T *>(sm->xcur)[f]));
            } else if (lane == 0) {
                if (g == 0) {
                    const T o = gl_cu_from_f32<T>(v);
                    static_cast<T *>(p.qkv)[f] = o;
                    if (f >= d && sl >= 0) { /* sl: the new token's cache slot */
                        const int c = f - d;
                        if (c < d) static_cast<T *>(L.sk)[sl * d + c] = o;
                        else static_cast<T *>(L.sv)[sl * d + c - d] = o;
                    }
                } else if (g == 2) {
                    static_cast<T *>(p.q)[f] = gl_cu_from_f32<T>(v);
                } else {
                    static_cast<T *>(p.h)[f] = gl_cu_from_f32<T>(lin_act(v, p.act));
                }
            }
        }
        __syncwarp();
        /* FC2's slots are released after the next layer's first wait (ds_release): refilled at
         * once they put 64 KB of copies ahead of that wait's poll on this SM (+1.9 us a layer;
         * released later, the delay moves to a later poll) */
        if (lane == 0 && g != 5) ds_mbar_arrive(&sm->empty[slot]);
    }
}

/* Release ring pieces [first, first + n) (every consumer warp). */
static __device__ __forceinline__ void ds_release(ds_smem *sm, uint32_t first, uint32_t n)
{
    __syncwarp();
    if ((threadIdx.x & 31) == 0)
        for (uint32_t i = first; i < first + n; i++) ds_mbar_arrive(&sm->empty[i % DS_SLOTS]);
}


/* At most DS_INFLIGHT pieces in flight: piece it waits for piece it - DS_INFLIGHT to land. A
 * burst of refills (64 KB when FC2's four slots free at once) queues ahead of the SM's
 * latency-critical loads (the next wait's poll, the staging reads) and cost ~2 us a layer. */
#define DS_INFLIGHT 2
static __device__ __forceinline__ void ds_pace(ds_smem *sm, uint32_t it)
{
    if (it >= DS_INFLIGHT) {
        const uint32_t j = it - DS_INFLIGHT;
        ds_mbar_wait(&sm->full[j % DS_SLOTS], (j / DS_SLOTS) & 1u);
    }
}

/* The producer warp: the block's pieces of every weight, in the consumers' order. Lane 0 waits
 * for a free slot and arms its barrier; the copies of a piece of O / cross-O rows (one 128-byte
 * row each: the head's 64 columns) are spread over the warp's lanes (issued by one thread they
 * kept the producer late enough to delay the phase after, docs/PERF.md). */
template <typename T>
static __device__ void ds_produce(const ds_params &p, char *ring, ds_smem *sm)
{
    const int lane = threadIdx.x & 31;
    uint32_t it = 0;
    for (int l = 0; l < p.n_layers; l++) {
        const ds_layer &L = sm->lay[l];
        for (int g = 0; g < 6; g++, __syncwarp()) {
            const int n = g == 0 ? 3 * p.d : g == 4 ? p.ffn : p.d;
            const int k = g == 5 ? p.ffn : p.d;
            const int rowb = k * (int)sizeof(T), rpp = DS_SLOT / rowb;
            int r0, r1;
            ds_rows(n, &r0, &r1);
            const char *w = static_cast<const char *>(L.w[g]);
            if (g == 1 || g == 3) { /* O / cross-O: the block's head columns of its part's rows */
                const int H = p.heads, h = (int)blockIdx.x % H, part = (int)blockIdx.x / H;
                const int nparts = ((int)gridDim.x - h + H - 1) / H;
                ds_part_rows(p.d, part, nparts, &r0, &r1);
                const uint32_t slot = it % DS_SLOTS;
                const unsigned hb = DS_HD * (unsigned)sizeof(T);
                if (lane == 0) {
                    ds_pace(sm, it);
                    if (it >= DS_SLOTS) ds_mbar_wait(&sm->empty[slot], ((it / DS_SLOTS) - 1) & 1u);
                    ds_mbar_expect(&sm->full[slot], (unsigned)(r1 - r0) * hb);
                }
                __syncwarp();
                for (int r = r0 + lane; r < r1; r += 32)
                    ds_bulk(ring + (size_t)slot * DS_SLOT + (size_t)(r - r0) * hb,
                            w + ((int64_t)r * p.d + (int64_t)h * DS_HD) * (int64_t)sizeof(T), hb,
                            &sm->full[slot]);
                it++;
                continue;
            }
            for (int r = r0; r < r1; r += rpp, it++) {
                if (lane != 0) continue;
                const int rows = min(rpp, r1 - r);
                const uint32_t slot = it % DS_SLOTS;
                ds_pace(sm, it);
                if (it >= DS_SLOTS) ds_mbar_wait(&sm->empty[slot], ((it / DS_SLOTS) - 1) & 1u);
                const unsigned bytes = (unsigned)(rows * rowb);
                ds_mbar_expect(&sm->full[slot], bytes);
                ds_bulk(ring + (size_t)slot * DS_SLOT, w + (int64_t)r * rowb, bytes,
                        &sm->full[slot]);
            }
        }
    }
}

/* The ring's barriers armed and the layer descriptors copied into shared memory, once (no global
 * pointer chase per phase); every thread of the block. */
static __device__ void ds_setup(const ds_params &p, ds_smem *sm)
{
    if (threadIdx.x == 0) {
        for (int i = 0; i < DS_SLOTS; i++) {
            ds_mbar_init(&sm->full[i], 1);
            ds_mbar_init(&sm->empty[i], DS_WARPS);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    const unsigned long long *src = reinterpret_cast<const unsigned long long *>(p.layers);
    unsigned long long *dst = reinterpret_cast<unsigned long long *>(sm->lay);
    const int nw = p.n_layers * (int)(sizeof(ds_layer) / 8);
    for (int i = threadIdx.x; i < nw; i += DS_THREADS) dst[i] = src[i];
    __syncthreads();
}

/* The last block through resets the counters for the next launch (every block is past its last
 * wait once all have counted themselves here); thread 0 of each block counts the block out. */
static __device__ void ds_exit(const ds_params &p)
{
    if (threadIdx.x != 0) return;
    const unsigned n = (unsigned)p.n_layers * DS_PHASES;
    unsigned *fin = p.cnt + DS_CSTRIDE * n;
    __threadfence(); /* this block's last count before its exit count */
    if (atomicAdd(fin, 1u) == gridDim.x - 1) {
        __threadfence();
        for (unsigned i = 0; i <= n; i++) p.cnt[DS_CSTRIDE * i] = 0;
        __threadfence();
    }
}

template <typename T> __global__ void __launch_bounds__(DS_THREADS, 1) ds_kernel(ds_params p)
{
    extern __shared__ __align__(128) char ds_dyn[];
    char *ring = ds_dyn;
    T *xs = reinterpret_cast<T *>(ds_dyn + (size_t)DS_SLOTS * DS_SLOT);
    ds_smem *sm = reinterpret_cast<ds_smem *>(ds_dyn + (size_t)DS_SLOTS * DS_SLOT +
                                              (size_t)DS_XMAX * sizeof(T));
    ds_setup(p, sm);
    if (threadIdx.x >= DS_CTHREADS) { /* the producer warp: weights only, before any wait */
        ds_produce<T>(p, ring, sm);
        return;
    }
    /* before the wait: the pass's indices (uploaded before the pass) */
    const int64_t slot0 = p.slots[0];
    const int nself = p.lens[0], ncross = p.xlens[0];
    cuda_pdl_wait(); /* x comes from the kernel before */
    const bool tr = p.trace && threadIdx.x == 0 && (blockIdx.x == 0 || blockIdx.x == gridDim.x - 1);
    unsigned long long *trb = tr ? p.trace + (blockIdx.x ? DS_TRACE_N : 0) : nullptr;
    if (tr) trb[0] = ds_now();
    const unsigned G = gridDim.x;
    const int d = p.d;

    T *x = static_cast<T *>(p.x);
    uint32_t it = 0;
    float bj; /* the lane's bias of the phase's GEMV */
    ds_lnw lw;
    /* phase ph of layer l: wait for the previous phase's counter to reach nb blocks (W), work,
     * count this block into the phase's counter (S) */
#define DS_W(nb, ph)                                                                               \
    do {                                                                                           \
        ds_wait(p.cnt + DS_CSTRIDE * (base + (ph) - 1), (nb));                                     \
        if (tr) trb[1 + (l * DS_PHASES + (ph)) * 3] = ds_now();                                    \
    } while (0)
#define DS_S(ph)                                                                                   \
    do {                                                                                           \
        if (tr) trb[3 + (l * DS_PHASES + (ph)) * 3] = ds_now();                                    \
        ds_signal(p.cnt + DS_CSTRIDE * (base + (ph)));                                             \
    } while (0)
#define DS_M(ph)                                                                                   \
    do {                                                                                           \
        if (tr) trb[2 + (l * DS_PHASES + (ph)) * 3] = ds_now();                                    \
    } while (0)
    const int hh = (int)blockIdx.x % p.heads, part = (int)blockIdx.x / p.heads;
    const int nparts = ((int)G - hh + p.heads - 1) / p.heads;
    int dr0, dr1; /* the block's rows of d: it zeroes them in acc after their last reader */
    ds_rows(d, &dr0, &dr1);
    float *acc_o = p.acc, *acc_x = p.acc + d;
    uint32_t held = 0; /* the first ring piece of the FC2 pieces not yet released */
    for (int l = 0; l < p.n_layers; l++) {
        const ds_layer &L = sm->lay[l];
        const unsigned base = (unsigned)l * DS_PHASES;
        /* A: LN(x) and the QKV rows (+ cache) */
        bj = ds_bias<T>(L.bias[0], 3 * d);
        lw = ds_ln_load<T>(L.ln_g[0], L.ln_b[0], nullptr, d);
        if (l > 0) {
            DS_W(G, 0);
            ds_release(sm, held, it - held); /* the previous layer's FC2 pieces */
        } else if (tr) {
            trb[1] = ds_now();
        }
        ds_stage_ln<T>(xs, x, nullptr, lw, d, p.eps, sm);
        DS_M(0);
        ds_gemv<T>(p, L, 0, 3 * d, d, xs, ring, sm, &it, bj, slot0);
        DS_S(0);
        { /* B: every block the attention of head hh, then its share of O into acc_o */
            const T *K = static_cast<const T *>(L.sk), *V = static_cast<const T *>(L.sv);
            ds_kv kv;
            ds_kv_load<T>(p, K, V, p.tab, p.bs, p.bs_shift, hh, 0, nself - 1, 0, true, &kv);
            DS_W(G, 1);
            ds_attend<T>(p, static_cast<const T *>(p.qkv), K, V, p.tab, p.bs, p.bs_shift, hh,
                         nself, nself - 1, kv, sm);
            DS_M(1);
            ds_opart<T>(d, part, nparts, acc_o, ring, sm, &it);
        }
        DS_S(1);
        /* C: x += O (+ bias), LN, the cross-Q rows */
        bj = ds_bias<T>(L.bias[2], d);
        lw = ds_ln_load<T>(L.ln_g[1], L.ln_b[1], L.bias[1], d);
        DS_W(G, 2);
        ds_stage_ln<T>(xs, x, acc_o, lw, d, p.eps, sm);
        DS_M(2);
        ds_gemv<T>(p, L, 2, d, d, xs, ring, sm, &it, bj, slot0);
        DS_S(2);
        { /* D: the cross-attention of head hh, its share of cross-O into acc_x */
            const T *K = static_cast<const T *>(L.xk), *V = static_cast<const T *>(L.xv);
            ds_kv kv;
            ds_kv_load<T>(p, K, V, p.xtab, p.xbs, p.xbs_shift, hh, 0, ncross, 0, true, &kv);
            DS_W(G, 3);
            ds_attend<T>(p, static_cast<const T *>(p.q), K, V, p.xtab, p.xbs, p.xbs_shift, hh,
                         ncross, ncross, kv, sm);
            DS_M(3);
            ds_opart<T>(d, part, nparts, acc_x, ring, sm, &it);
        }
        DS_S(3);
        /* E: x += cross-O (+ bias), LN, the FC1 rows; acc_o back to zero (read in C) */
        bj = ds_bias<T>(L.bias[4], p.ffn);
        lw = ds_ln_load<T>(L.ln_g[2], L.ln_b[2], L.bias[3], d);
        DS_W(G, 4);
        ds_stage_ln<T>(xs, x, acc_x, lw, d, p.eps, sm);
        DS_M(4);
        for (int r = dr0 + (int)threadIdx.x; r < dr1; r += DS_CTHREADS) acc_o[r] = 0.0f;
        ds_gemv<T>(p, L, 4, p.ffn, d, xs, ring, sm, &it, bj, slot0);
        DS_S(4);
        /* F: the FC2 rows + the residual into x; acc_x back to zero (read in E) */
        bj = ds_bias<T>(L.bias[5], d);
        DS_W(G, 5);
        ds_stage<T>(xs, static_cast<const T *>(p.h), p.ffn);
        DS_M(5);
        for (int r = dr0 + (int)threadIdx.x; r < dr1; r += DS_CTHREADS) acc_x[r] = 0.0f;
        held = it;
        ds_gemv<T>(p, L, 5, d, p.ffn, xs, ring, sm, &it, bj, slot0);
        DS_S(5);
    }
#undef DS_W
#undef DS_S
#undef DS_M
    ds_exit(p);
}

/* ---- host side ---- */

static int ds_shift(int v)
{
    for (int s = 0; s < 31; s++)
        if (1 << s == v) return s;
    return -1;
}

static bool ds_weight_ok(const gl_weight *w, int64_t rows, int64_t cols, gl_dtype t)
{
    return w && w->data && w->rows == rows && w->cols == cols && w->dtype == t &&
           cuda_aligned16(w->data);
}

static bool ds_vec_ok(const gl_weight *w, int64_t n, gl_dtype t, bool optional)
{
    if (!w || !w->data) return optional;
    return (int64_t)w->rows * w->cols == n && w->dtype == t && cuda_aligned16(w->data);
}

static bool ds_view_same(const gl_kv_view *a, const gl_kv_view *b)
{
    return a->block_tables == b->block_tables && a->max_blocks_per_seq == b->max_blocks_per_seq &&
           a->block_size == b->block_size && a->n_heads == b->n_heads &&
           a->head_dim == b->head_dim;
}

/* ds_dev: the descriptors, the trace (2 blocks), the counters */
#define DS_TRACE_OFF (DS_MAX_LAYERS * sizeof(ds_layer))
#define DS_CNT_OFF (DS_TRACE_OFF + 2 * DS_TRACE_N * sizeof(unsigned long long))
#define DS_ACC_OFF (DS_CNT_OFF + (DS_MAX_LAYERS * DS_PHASES + 1) * DS_CSTRIDE * sizeof(unsigned))

/* The layer descriptors on the device (uploaded when they change, never while recording). */
static bool ds_upload(cuda_state *s, const ds_layer *h, int n)
{
    const size_t bytes = (size_t)n * sizeof(ds_layer);
    if (s->ds_dev && s->ds_host && s->ds_n == n && memcmp(s->ds_host, h, bytes) == 0) return true;
    if (cuda_is_recording()) return false;
    if (!s->ds_dev || !s->ds_host) {
        const size_t cap = DS_ACC_OFF + 2 * DS_LN_MAX * sizeof(float);
        if (cuda_grow(&s->ds_dev, &s->ds_dev_bytes, cap, "decoder stack descriptors") !=
                GLOSSA_STATUS_OK ||
            !cuda_note(s, cudaMemsetAsync(s->ds_dev, 0, cap, s->stream), "decoder stack counters"))
            return false;
        if (!s->ds_host) s->ds_host = malloc(DS_MAX_LAYERS * sizeof(ds_layer));
        if (!s->ds_host) return false;
    }
    if (!cuda_note(s, cudaStreamSynchronize(s->stream), "decoder stack") ||
        !cuda_note(s, cudaMemcpy(s->ds_dev, h, bytes, cudaMemcpyHostToDevice),
                   "decoder stack descriptors"))
        return false;
    memcpy(s->ds_host, h, bytes);
    s->ds_n = n;
    return true;
}

template <typename T> static bool ds_launch(cuda_state *s, const ds_params &p)
{
    const size_t smem = DS_SMEM_BYTES(sizeof(T));
    if (!s->ds_attr_done) {
        s->ds_attr_done = true;
        int blocks = 0;
        if (cudaFuncSetAttribute(ds_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)smem) != cudaSuccess ||
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, ds_kernel<T>, DS_THREADS,
                                                          smem) != cudaSuccess ||
            blocks < 1) {
            cudaGetLastError();
            s->ds_off = true;
            return false;
        }
    }
    if (s->ds_off) return false;
    cuda_launch_pdl(s, ds_kernel<T>, dim3((unsigned)s->sm_count), dim3(DS_THREADS), smem,
                    "decoder stack", p);
    return true;
}

/* GLOSSA_CUDA_STACK_TRACE=1: the last launch's phases, as block 0 and the last
 * block saw them, averaged over the layers after the first: the wait (from the block's previous
 * signal to the wait's end) and the work (from there to the signal) in two parts, split where the
 * phase's GEMV or O share starts (after the LN staging or the attention), in us. */
static void ds_trace_print(cuda_state *s)
{
    static unsigned long long t[2 * DS_TRACE_N];
    if (!s->ds_dev || s->ds_n < 2 || cudaDeviceSynchronize() != cudaSuccess ||
        cudaMemcpy(t, static_cast<char *>(s->ds_dev) + DS_TRACE_OFF, sizeof t,
                   cudaMemcpyDeviceToHost) != cudaSuccess)
        return;
    const int L = s->ds_n;
    for (int b = 0; b < 2; b++) {
        const unsigned long long *tb = t + b * DS_TRACE_N;
        fprintf(stderr,
                "decoder stack trace, block %s: %.2f us for %d layers; per phase wait/work us "
                "(work: first part + second):",
                b ? "last" : "0",
                (double)(tb[3 + ((L - 1) * DS_PHASES + DS_PHASES - 1) * 3] - tb[0]) / 1e3, L);
        for (int ph = 0; ph < DS_PHASES; ph++) {
            double w = 0, k1 = 0, k2 = 0;
            for (int l = 1; l < L; l++) {
                const int i = l * DS_PHASES + ph;
                const int prev = i - 1;
                w += (double)(tb[1 + i * 3] - tb[3 + prev * 3]);
                k1 += (double)(tb[2 + i * 3] - tb[1 + i * 3]);
                k2 += (double)(tb[3 + i * 3] - tb[2 + i * 3]);
            }
            fprintf(stderr, " %d: %.2f/%.2f+%.2f", ph, w / (L - 1) / 1e3, k1 / (L - 1) / 1e3,
                    k2 / (L - 1) / 1e3);
        }
        fprintf(stderr, "\n");
    }
}

extern "C" bool cuda_op_decoder_stack(backend *b, const gl_dec_stack *st)
{
    cuda_state *s = cuda_state_of(b);
    if (s->ds_off || st->n_layers < 1 || st->n_layers > DS_MAX_LAYERS || s->sm_count < 1)
        return false;
    const gl_dtype t = b->act_dtype;
    const size_t esz = gl_dtype_size(t);
    const gl_dec_layer *L0 = &st->layers[0];
    const int64_t d = L0->w[1] ? L0->w[1]->rows : 0, ffn = L0->w[4] ? L0->w[4]->rows : 0;
    const gl_kv_view *sv = &L0->self, *xv = &L0->cross;
    if (d < 8 || ffn < 8 || d > DS_LN_MAX || d % 8 || ffn % 8 || ffn > DS_XMAX ||
        d * (int64_t)esz > DS_SLOT || ffn * (int64_t)esz > DS_SLOT || sv->head_dim != DS_HD ||
        (int64_t)sv->n_heads * DS_HD != d || sv->n_heads > s->sm_count ||
        (int64_t)(s->sm_count / sv->n_heads) * (DS_SLOT / (DS_HD * (int64_t)esz)) < d ||
        (int64_t)s->sm_count * DS_CTHREADS < 3 * d || (int64_t)s->sm_count * DS_CTHREADS < ffn ||
        xv->head_dim != DS_HD || xv->n_heads != sv->n_heads || sv->block_size < 1 ||
        xv->block_size < 1 || !cuda_aligned16(st->x) || !cuda_aligned16(st->qkv) ||
        !cuda_aligned16(st->q) || !cuda_aligned16(st->h))
        return false;
    ds_layer h[DS_MAX_LAYERS];
    memset(h, 0, sizeof h);
    for (int32_t l = 0; l < st->n_layers; l++) {
        const gl_dec_layer *L = &st->layers[l];
        const int64_t n[6] = {3 * d, d, d, d, ffn, d}, k[6] = {d, d, d, d, d, ffn};
        for (int g = 0; g < 6; g++) {
            if (!ds_weight_ok(L->w[g], n[g], k[g], t) || !ds_vec_ok(L->bias[g], n[g], t, true))
                return false;
            h[l].w[g] = L->w[g]->data;
            h[l].bias[g] = L->bias[g] ? L->bias[g]->data : NULL;
        }
        for (int i = 0; i < 3; i++) {
            if (!ds_vec_ok(L->ln_g[i], d, t, false) || !ds_vec_ok(L->ln_b[i], d, t, true))
                return false;
            h[l].ln_g[i] = L->ln_g[i]->data;
            h[l].ln_b[i] = L->ln_b[i] ? L->ln_b[i]->data : NULL;
        }
        if (!ds_view_same(&L->self, sv) || !ds_view_same(&L->cross, xv) || !L->self.k ||
            !L->self.v || !L->cross.k || !L->cross.v)
            return false;
        h[l].sk = L->self.k;
        h[l].sv = L->self.v;
        h[l].xk = L->cross.k;
        h[l].xv = L->cross.v;
    }
    cuda_bind(s);
    if (s->ds_trace && !cuda_is_recording() && ++s->ds_calls % 32 == 0) ds_trace_print(s);
    if (!ds_upload(s, h, st->n_layers)) return false;
    ds_params p;
    memset(&p, 0, sizeof p);
    p.layers = static_cast<const ds_layer *>(s->ds_dev);
    p.n_layers = st->n_layers;
    p.d = (int32_t)d;
    p.ffn = (int32_t)ffn;
    p.heads = sv->n_heads;
    p.act = (int32_t)st->act;
    p.eps = st->eps;
    p.scale_log2 = st->scale * 1.4426950408889634f;
    p.x = st->x;
    p.qkv = st->qkv;
    p.q = st->q;
    p.h = st->h;
    p.slots = st->slots;
    p.lens = st->lens;
    p.xlens = st->xlens;
    p.tab = sv->block_tables;
    p.xtab = xv->block_tables;
    p.bs = sv->block_size;
    p.bs_shift = ds_shift(sv->block_size);
    p.xbs = xv->block_size;
    p.xbs_shift = ds_shift(xv->block_size);
    p.cnt = reinterpret_cast<unsigned *>(static_cast<char *>(s->ds_dev) + DS_CNT_OFF);
    p.acc = reinterpret_cast<float *>(static_cast<char *>(s->ds_dev) + DS_ACC_OFF);
    if (s->ds_trace)
        p.trace = reinterpret_cast<unsigned long long *>(static_cast<char *>(s->ds_dev) +
                                                         DS_TRACE_OFF);
    const bool ran = t == GL_DTYPE_BF16 ? ds_launch<__nv_bfloat16>(s, p) : ds_launch<__half>(s, p);
    if (ran) cuda_note(s, cudaGetLastError(), "decoder stack");
    return ran;
}

void cuda_decoder_stack_release(cuda_state *s)
{
    if (s->ds_trace) ds_trace_print(s);
    if (s->ds_dev) cudaFree(s->ds_dev);
    free(s->ds_host);
    s->ds_dev = NULL;
    s->ds_host = NULL;
    s->ds_dev_bytes = 0;
    s->ds_n = 0;
}
