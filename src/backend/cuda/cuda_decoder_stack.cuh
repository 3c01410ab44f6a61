/* The decoder stack kernel's layout (constants, descriptors, parameters, shared memory) and its
 * per-phase device pieces: the mbarrier / bulk-copy and phase-barrier primitives, the layer-norm
 * staging, and the attention of one head with its share of the output projection. The kernel
 * itself (producer, GEMV phases, the schedule) and the op are cuda_decoder_stack.cu, whose header
 * comment describes the design. Included by that file only. */
#ifndef GLOSSA_BACKEND_CUDA_DECODER_STACK_CUH
#define GLOSSA_BACKEND_CUDA_DECODER_STACK_CUH

#include "backend/cuda/cuda_attention.cuh"
#include "backend/cuda/cuda_internal.h"

#define DS_WARPS 8 /* consumer warps; one more warp produces (16: slower, docs/PERF.md) */
#define DS_NG (DS_WARPS * 4) /* the attention's 8-lane key groups */
#define DS_CTHREADS (DS_WARPS * 32)
#define DS_THREADS (DS_CTHREADS + 32)
#define DS_SLOT 16384 /* bytes per ring slot */
#define DS_SLOTS 12 /* 11: 1-2% slower a step (docs/PERF.md); 12 leaves ~1.5 KB of the 227 KB */
#define DS_XMAX 8192 /* elements of the staged input row */
#define DS_HD 64
#define DS_PHASES 6
#define DS_LN_MAX 2048 /* d of the layer norms (one 16-byte piece a thread) */
#define DS_MAX_LAYERS 64
#define DS_U 4 /* keys per lane group in flight */
#define DS_TIMEOUT_NS 2000000000ull
#define DS_CSTRIDE 32 /* counters 128 bytes apart (a line each) */

typedef struct ds_layer {
    const void *w[6], *bias[6], *ln_g[3], *ln_b[3];
    void *sk, *sv, *xk, *xv;
} ds_layer;

typedef struct ds_params {
    const ds_layer *layers;
    int32_t n_layers, d, ffn, heads, act;
    float eps, scale_log2;
    void *x, *qkv, *q, *h;
    const int32_t *slots, *lens, *xlens, *tab, *xtab;
    int32_t bs, bs_shift, xbs, xbs_shift;
    unsigned *cnt; /* n_layers * DS_PHASES phase counters, then the exit count */
    float *acc;    /* (2, d) fp32: the O and cross-O projections' per-head sums (zero between) */
    unsigned long long *trace; /* GLOSSA_CUDA_STACK_TRACE=1: times of blocks 0 and G - 1 */
} ds_params;

#define DS_TRACE_N (1 + DS_MAX_LAYERS * DS_PHASES * 3) /* a phase: wait end, mid, signal */

/* Shared memory after the ring */
typedef struct ds_smem {
    float red[2][DS_WARPS];        /* the layer norm's two sums */
    float o[DS_WARPS][DS_HD];
    float m[DS_WARPS], l[DS_WARPS];
    float ao[DS_HD];                        /* the block's head's attention output */
    __align__(16) unsigned short xcur[DS_LN_MAX]; /* the layer's residual row so far (act bits) */
    unsigned long long full[DS_SLOTS], empty[DS_SLOTS];
    ds_layer lay[DS_MAX_LAYERS]; /* the descriptors, copied once: no global pointer chase */
} ds_smem;

#define DS_SMEM_BYTES(esz) ((size_t)DS_SLOTS * DS_SLOT + (size_t)DS_XMAX * (esz) + sizeof(ds_smem))
static_assert(DS_SMEM_BYTES(2) <= 227 * 1024, "one block per SM: the ring, xs and ds_smem fit an SM's 227 KB");
static_assert(DS_LN_MAX <= DS_XMAX, "xs holds a layer norm's row");

/* ---- mbarriers and bulk copies (sm_90) ---- */
static __device__ __forceinline__ uint32_t ds_sa(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}
static __device__ __forceinline__ void ds_mbar_init(unsigned long long *b, unsigned count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(ds_sa(b)), "r"(count) : "memory");
}
static __device__ __forceinline__ void ds_mbar_wait(unsigned long long *b, unsigned parity)
{
    asm volatile("{\n"
                 ".reg .pred p;\n"
                 "DS_WAIT_%=:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
                 "@!p bra DS_WAIT_%=;\n"
                 "}\n" ::"r"(ds_sa(b)),
                 "r"(parity)
                 : "memory");
}
static __device__ __forceinline__ void ds_mbar_arrive(unsigned long long *b)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(ds_sa(b)) : "memory");
}
static __device__ __forceinline__ void ds_mbar_expect(unsigned long long *b, unsigned bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(ds_sa(b)),
                 "r"(bytes)
                 : "memory");
}
static __device__ __forceinline__ void ds_bulk(void *dst, const void *src, unsigned bytes,
                                               unsigned long long *b)
{
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, "
                 "[%3];" ::"r"(ds_sa(dst)),
                 "l"(src), "r"(bytes), "r"(ds_sa(b))
                 : "memory");
}

/* ---- consumer-side synchronisation ---- */
static __device__ __forceinline__ void ds_cbar()
{
    asm volatile("bar.sync 1, %0;" ::"n"(DS_CTHREADS) : "memory");
}
static __device__ __forceinline__ unsigned ds_ld_acquire(const unsigned *p)
{
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
static __device__ __forceinline__ unsigned long long ds_now()
{
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
/* Phase barriers: a counter per phase of the launch; a block counts itself in when its part of the
 * phase is written (release), and one thread per block polls the counter of the phase it needs
 * (acquire). One poller per block: more (a thread per block's flag, tried) flood the L2 with
 * polls and slow every other block's loads. */
static __device__ __forceinline__ void ds_signal(unsigned *c)
{
    ds_cbar(); /* every consumer thread's writes of the phase are done */
    if (threadIdx.x == 0) asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(c) : "memory");
}
/* Until counter c reaches target (every consumer thread returns after). */
static __device__ __forceinline__ void ds_wait(const unsigned *c, unsigned target)
{
    if (threadIdx.x == 0 && ds_ld_acquire(c) < target) {
        const unsigned long long t0 = ds_now();
        while (ds_ld_acquire(c) < target)
            if (ds_now() - t0 > DS_TIMEOUT_NS) __trap();
    }
    ds_cbar();
}

static __device__ __forceinline__ uint4 ds_ldcg(const void *p)
{
    return __ldcg(reinterpret_cast<const uint4 *>(p));
}

template <typename T> static __device__ __forceinline__ void ds_unpack(uint4 v, float f[8])
{
    const T *e = reinterpret_cast<const T *>(&v);
#pragma unroll
    for (int i = 0; i < 8; i++) f[i] = gl_cu_f32(e[i]);
}

/* xs = src (n elements) */
template <typename T> static __device__ void ds_stage(T *xs, const T *src, int n)
{
    for (int v = threadIdx.x; v < n / 8; v += DS_CTHREADS)
        reinterpret_cast<uint4 *>(xs)[v] = ds_ldcg(src + (int64_t)v * 8);
    ds_cbar();
}

/* A layer norm's gamma and beta pieces of the thread (NV 16-byte pieces), loaded before the
 * phase's wait: they are weights. */
#define DS_LN_NV ((DS_LN_MAX / 8 + DS_CTHREADS - 1) / DS_CTHREADS)
typedef struct ds_lnw {
    uint4 g[DS_LN_NV], b[DS_LN_NV], rb[DS_LN_NV]; /* gamma, beta, the residual's bias */
} ds_lnw;

template <typename T>
static __device__ __forceinline__ ds_lnw ds_ln_load(const void *g, const void *b, const void *rb, int d)
{
    ds_lnw w;
    const uint4 z = make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int i = 0; i < DS_LN_NV; i++) {
        const int v = threadIdx.x + i * DS_CTHREADS;
        w.g[i] = v < d / 8 ? __ldg(static_cast<const uint4 *>(g) + v) : z;
        w.b[i] = b && v < d / 8 ? __ldg(static_cast<const uint4 *>(b) + v) : z; /* beta 0 */
        w.rb[i] = rb && v < d / 8 ? __ldg(static_cast<const uint4 *>(rb) + v) : z;
    }
    return w;
}

/* Sum over the consumer threads (every one gets it); red: DS_WARPS floats, not reused until
 * a later barrier. */
static __device__ __forceinline__ float ds_csum(float v, float *red)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    ds_cbar();
    float t = 0.0f;
#pragma unroll
    for (int w = 0; w < DS_WARPS; w++) t += red[w];
    return t;
}

/* The layer's residual row into sm->xcur and LN of it into xs, as cuda_norm.cu's layernorm
 * (two-pass fp32 statistics). acc NULL: the row is x (global); else it is xcur + acc + w.rb, the
 * per-head sums of an attention's output projection plus its bias and the residual, rounded once
 * to the act dtype as the op path's linear rounds. */
template <typename T>
static __device__ void ds_stage_ln(T *xs, const T *x, const float *acc, const ds_lnw &w, int d,
                                   float eps, ds_smem *sm)
{
    uint4 *xc = reinterpret_cast<uint4 *>(sm->xcur);
    uint4 xv[DS_LN_NV];
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < DS_LN_NV; i++) {
        const int v = threadIdx.x + i * DS_CTHREADS;
        xv[i] = make_uint4(0, 0, 0, 0);
        if (v < d / 8) {
            if (!acc) {
                xv[i] = ds_ldcg(x + (int64_t)v * 8);
            } else {
                const float4 a0 = __ldcg(reinterpret_cast<const float4 *>(acc) + 2 * v);
                const float4 a1 = __ldcg(reinterpret_cast<const float4 *>(acc) + 2 * v + 1);
                const float af[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                float rf[8], bf[8];
                ds_unpack<T>(xc[v], rf);
                ds_unpack<T>(w.rb[i], bf);
                T *oe = reinterpret_cast<T *>(&xv[i]);
#pragma unroll
                for (int e = 0; e < 8; e++) oe[e] = gl_cu_from_f32<T>(af[e] + bf[e] + rf[e]);
            }
            xc[v] = xv[i];
        }
        float f[8];
        ds_unpack<T>(xv[i], f);
#pragma unroll
        for (int e = 0; e < 8; e++) sum += f[e];
    }
    const float mean = ds_csum(sum, sm->red[0]) / (float)d;
    float q = 0.0f;
#pragma unroll
    for (int i = 0; i < DS_LN_NV; i++) {
        if (threadIdx.x + i * DS_CTHREADS >= d / 8) continue;
        float f[8];
        ds_unpack<T>(xv[i], f);
#pragma unroll
        for (int e = 0; e < 8; e++) q += (f[e] - mean) * (f[e] - mean);
    }
    const float rstd = rsqrtf(ds_csum(q, sm->red[1]) / (float)d + eps);
#pragma unroll
    for (int i = 0; i < DS_LN_NV; i++) {
        const int v = threadIdx.x + i * DS_CTHREADS;
        if (v >= d / 8) continue;
        float f[8], gf[8], bf[8];
        ds_unpack<T>(xv[i], f);
        ds_unpack<T>(w.g[i], gf);
        ds_unpack<T>(w.b[i], bf);
        uint4 o;
        T *oe = reinterpret_cast<T *>(&o);
#pragma unroll
        for (int e = 0; e < 8; e++) oe[e] = gl_cu_from_f32<T>((f[e] - mean) * rstd * gf[e] + bf[e]);
        reinterpret_cast<uint4 *>(xs)[v] = o;
    }
    ds_cbar();
}

/* The K/V rows of the keys a lane group takes first (j = grp + DS_NG u, u < DS_U), loaded before
 * the phase's wait for the keys below nprior (written before this launch); the rest (the new
 * token's, and keys past the first round) after it. */
typedef struct ds_kv {
    uint4 k[DS_U], v[DS_U];
} ds_kv;

template <typename T>
static __device__ __forceinline__ void ds_kv_load(const ds_params &p, const T *K, const T *V,
                                                  const int32_t *tab, int bs, int bs_shift, int h,
                                                  int jb, int je, int j0, bool zero_rest, ds_kv *kv)
{
    const int lane = threadIdx.x & 31, d0 = (lane & 7) * 8;
    const int grp = (threadIdx.x >> 5) * 4 + (lane >> 3);
#pragma unroll
    for (int u = 0; u < DS_U; u++) {
        const int j = j0 + grp + u * DS_NG;
        if (j >= jb && j < je) {
            const int blk = bs_shift >= 0 ? j >> bs_shift : j / bs;
            const int row = bs_shift >= 0 ? j & (bs - 1) : j % bs;
            const int64_t slot = (int64_t)tab[blk] * bs + row;
            const int64_t off = (slot * p.heads + h) * DS_HD + d0;
            kv->k[u] = ds_ldcg(K + off);
            kv->v[u] = ds_ldcg(V + off);
        } else if (zero_rest) {
            kv->k[u] = kv->v[u] = make_uint4(0, 0, 0, 0);
        }
    }
}

/* One head (blockIdx.x) of one query (q, head slice at h * 64) over n cached keys: 8-lane groups,
 * 16 bytes of q, k, v per lane, DS_U keys per group in flight, online softmax in fp32; the 32
 * groups merged by shuffles, then the warps through shared memory. kv: the first round's keys
 * below nprior, loaded before the wait (ds_kv_load). */
template <typename T>
static __device__ void ds_attend(const ds_params &p, const T *q, const T *K, const T *V,
                                 const int32_t *tab, int bs, int bs_shift, int h, int n,
                                 int nprior, ds_kv kv, ds_smem *sm)
{
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int d0 = (lane & 7) * 8, grp = warp * 4 + (lane >> 3);
    float qf[8], acc[8];
    ds_kv_load<T>(p, K, V, tab, bs, bs_shift, h, nprior, n, 0, false, &kv); /* the first round's rest */
    ds_unpack<T>(ds_ldcg(q + h * DS_HD + d0), qf);
#pragma unroll
    for (int e = 0; e < 8; e++) {
        qf[e] *= p.scale_log2;
        acc[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int j0 = 0; j0 < n; j0 += DS_NG * DS_U) {
        if (j0 > 0) ds_kv_load<T>(p, K, V, tab, bs, bs_shift, h, 0, n, j0, true, &kv);
        const uint4 *kr = kv.k, *vr = kv.v;
        float sc[DS_U], mt = -INFINITY;
#pragma unroll
        for (int u = 0; u < DS_U; u++) {
            float kf[8];
            ds_unpack<T>(kr[u], kf);
            float s = 0.0f;
#pragma unroll
            for (int e = 0; e < 8; e++) s += qf[e] * kf[e];
            s += __shfl_xor_sync(0xffffffffu, s, 4);
            s += __shfl_xor_sync(0xffffffffu, s, 2);
            s += __shfl_xor_sync(0xffffffffu, s, 1);
            sc[u] = j0 + grp + u * DS_NG < n ? s : -INFINITY;
            mt = fmaxf(mt, sc[u]);
        }
        const float mn = fmaxf(m, mt);
        if (mn != -INFINITY) {
            const float corr = exp2f(m - mn);
            l *= corr;
#pragma unroll
            for (int e = 0; e < 8; e++) acc[e] *= corr;
#pragma unroll
            for (int u = 0; u < DS_U; u++) {
                const float pu = exp2f(sc[u] - mn);
                float vf[8];
                ds_unpack<T>(vr[u], vf);
                l += pu;
#pragma unroll
                for (int e = 0; e < 8; e++) acc[e] += pu * vf[e];
            }
            m = mn;
        }
    }
    attn_merge_lanes<8>(&m, &l, acc);
    if (lane < 8) {
        if (lane == 0) {
            sm->m[warp] = m;
            sm->l[warp] = l;
        }
#pragma unroll
        for (int e = 0; e < 8; e++) sm->o[warp][d0 + e] = acc[e];
    }
    ds_cbar();
    if (threadIdx.x < DS_HD) {
        float mx = -INFINITY;
#pragma unroll
        for (int w = 0; w < DS_WARPS; w++) mx = fmaxf(mx, sm->m[w]);
        float sum = 0.0f, a = 0.0f;
#pragma unroll
        for (int w = 0; w < DS_WARPS; w++) {
            const float wt = sm->m[w] == -INFINITY ? 0.0f : exp2f(sm->m[w] - mx);
            sum += wt * sm->l[w];
            a += wt * sm->o[w][threadIdx.x];
        }
        sm->ao[threadIdx.x] = gl_cu_f32(gl_cu_from_f32<T>(sum > 0.0f ? a / sum : 0.0f));
    }
    ds_cbar(); /* ao complete */
}

/* The block's share of an attention's output projection: rows [r0, r1) of part `part` of
 * `nparts` over d, head h's 64 columns (one ring piece of 128-byte rows), times the head's output
 * sm->ao, added to acc (fp32 atomics: the 16 heads' sums meet there, in no fixed order). */
static __device__ __forceinline__ void ds_part_rows(int d, int part, int nparts, int *r0, int *r1)
{
    *r0 = (int)((int64_t)d * part / nparts);
    *r1 = (int)((int64_t)d * (part + 1) / nparts);
}

template <typename T>
static __device__ void ds_opart(int d, int part, int nparts, float *acc, char *ring, ds_smem *sm,
                                uint32_t *it)
{
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, e0 = (lane & 7) * 8;
    int r0, r1;
    ds_part_rows(d, part, nparts, &r0, &r1);
    const uint32_t slot = *it % DS_SLOTS;
    ds_mbar_wait(&sm->full[slot], (*it / DS_SLOTS) & 1u);
    const char *piece = ring + (size_t)slot * DS_SLOT;
    float a8[8];
#pragma unroll
    for (int e = 0; e < 8; e++) a8[e] = sm->ao[e0 + e];
    for (int i0 = warp * 4; i0 < r1 - r0; i0 += DS_WARPS * 4) { /* warp-uniform bound */
        const int i = i0 + (lane >> 3);
        float v = 0.0f;
        if (i < r1 - r0) {
            float wf[8];
            ds_unpack<T>(*reinterpret_cast<const uint4 *>(piece + (size_t)i * DS_HD * sizeof(T) +
                                                           e0 * sizeof(T)),
                         wf);
#pragma unroll
            for (int e = 0; e < 8; e++) v += wf[e] * a8[e];
        }
        v += __shfl_xor_sync(0xffffffffu, v, 4);
        v += __shfl_xor_sync(0xffffffffu, v, 2);
        v += __shfl_xor_sync(0xffffffffu, v, 1);
        if (i < r1 - r0 && (lane & 7) == 0) atomicAdd(acc + r0 + i, v);
    }
    __syncwarp();
    if (lane == 0) ds_mbar_arrive(&sm->empty[slot]);
    (*it)++;
}

#endif
