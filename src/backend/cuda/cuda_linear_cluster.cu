/* linear for 33-64 rows (decode steps of batches 33-64, beam 16 x 4): a split-K GEMM whose
 * partial sums meet in distributed shared memory, one thread-block cluster per 64 output
 * features, on Hopper's warpgroup MMA (wgmma, sm_90a).
 *
 * Why: at 64 rows a decoder GEMM (n, k = 1024-4096) reads 2-8 MB of weight and does little
 * arithmetic; the chain of 72 a step is latency-bound. cuBLASLt's kernels cannot join the
 * programmatic-dependent-launch chain (docs/PERF.md), so each starts only after the kernel
 * before it ended: 7.3 us a GEMM in the step, 5.7 in a graph of GEMMs alone. This kernel fetches
 * its weight slice before cuda_pdl_wait() (while earlier kernels run) and needs no global
 * atomics or counters: bench/cuda/gemm64_cluster_probe.cu timed the 72 GEMMs at 362 us against
 * cuBLASLt's 412 (H100), the form below being its best. In the step it wins only on the small
 * weights (the 36 1024 x 1024 GEMMs of mbart-large-50's decoder: batch 64 0.865 vs 0.903 ms of
 * replay device time); the larger ones stay with cuBLASLt (lc_split says why).
 *
 * Work: cluster c (CS CTAs, 128 threads each) owns output features [64 c, 64 c + 64); CTA r of it
 * takes k range [r ck, (r + 1) ck), ck = k / CS <= 512. It copies its weight slice (64 rows x ck,
 * cp.async into wgmma's 128-byte swizzle: per 64 of k an atom of 64 rows x 128 bytes, 16-byte
 * piece c of row j at c ^ (j % 8)) before the wait, the x slice (64 token rows x ck; rows past m
 * zero-filled) after it, and multiplies with wgmma.m64n64k16 (fp16 or bf16 in, fp32 sums in
 * registers, both operands K-major in shared memory). The 64 x 64 partial tile goes into its own
 * shared memory (over the slices), and each other CTA o of the cluster gets rows
 * [o 64 / CS, (o + 1) 64 / CS) of it by one bulk copy (shared::cta -> shared::cluster) into
 * receive slot r, completing bytes on o's mbarrier. A CTA adds up the CS slots of its own rows in
 * rank order once its mbarrier has every byte (the result does not depend on timing), then
 * applies bias, activation and residual and stores the act dtype. One cluster barrier, split:
 * arrived at after the mbarrier's init, waited on before the first copy (every peer's barrier
 * set); none at the end (a CTA leaves after its bytes came and its own copies were read).
 * Launch: cluster dimension CS with programmatic dependent launch; cuda_pdl_trigger() first.
 * Preconditions (else cuBLASLt): fp16 / bf16 activations and weight, 1 <= m <= 64, n % 64 == 0,
 * n x k <= LC_MAX_WEIGHT, k % 128 == 0 with a split (lc_split), x_stride % 8 == 0, x, W, y,
 * bias and residual 16-byte aligned, the GPU runs this sm_90a code (cuda_linear_cluster_init),
 * GLOSSA_CUDA_CLUSTER != 0. */
#include <stdlib.h>

#include <type_traits>

#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_internal.h"

#define LC_M 64          /* token rows of the tile (wgmma's m64) */
#define LC_N 64          /* output features per cluster */
#define LC_THREADS 128   /* one warpgroup */
#define LC_PS (LC_N + 8) /* floats per partial-tile row (the 8-byte stores meet 2-way at most) */
#define LC_MAX_CK 512
#define LC_MIN_CLUSTERS_CTAS 64 /* a split gives at least this many CTAs if it can */
#define LC_MAX_WEIGHT (1 << 20) /* elements (lc_split) */

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define LC_HAVE 1
#else
#define LC_HAVE 0
#endif

typedef struct lc_params {
    int32_t m, n, k, xs, act;
    const void *x, *w, *bias, *res;
    void *y;
} lc_params;

/* Bytes before the receive slots: the two slices, or the partial tile over them if larger */
static __host__ __device__ __forceinline__ uint32_t lc_in_bytes(int ck)
{
    const uint32_t in = (uint32_t)(LC_N + LC_M) * (uint32_t)ck * 2u, part = LC_M * LC_PS * 4u;
    return in > part ? in : part;
}

static size_t lc_smem(int ck)
{
    return (size_t)lc_in_bytes(ck) + LC_M * LC_PS * 4u + 16u + 1024u; /* + mbarrier, alignment */
}

/* wgmma shared-memory descriptor: K-major, 128-byte swizzle, 8-row groups 1024 bytes apart */
static __device__ __forceinline__ uint64_t lc_desc(uint32_t addr)
{
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)1 << 16) |
           ((uint64_t)(1024 >> 4) << 32) | ((uint64_t)1 << 62);
}

/* 64 rows x ck elements of src (row stride ld) into the swizzled atoms at dst, one cp.async
 * group; rows from `valid` on are zero-filled (nothing read) */
static __device__ __forceinline__ void lc_fetch(uint32_t dst, const char *src, int64_t ld_bytes,
                                                int ck, int valid)
{
    const int per_row = ck / 8, pieces = 64 * per_row;
    for (int e = threadIdx.x; e < pieces; e += LC_THREADS) {
        const int j = e / per_row, q = e % per_row, a = q >> 3, c = q & 7;
        const uint32_t d = dst + (uint32_t)(a * 64 * 128 + j * 128 + ((c ^ (j & 7)) << 4));
        const bool in = j < valid;
        const char *s = src + (in ? (int64_t)j * ld_bytes + q * 16 : 0);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(s),
                     "r"(in ? 16 : 0)
                     : "memory");
    }
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

#if LC_HAVE
/* d += x w^T over one k16 step: 64 tokens x 64 features, fp32 sums */
template <typename T>
static __device__ __forceinline__ void lc_mma(float (&d)[32], uint64_t da, uint64_t db, int acc)
{
#define LC_MMA_ARGS                                                                                \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                      \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "            \
    "%32, %33, p, 1, 1, 0, 0;\n}\n"
#define LC_MMA_OUTS                                                                                \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),          \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),  \
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]),            \
        "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),            \
        "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
    if constexpr (std::is_same<T, __half>::value)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " LC_MMA_ARGS
                     : LC_MMA_OUTS
                     : "l"(da), "l"(db), "r"(acc)
                     : "memory");
    else
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " LC_MMA_ARGS
                     : LC_MMA_OUTS
                     : "l"(da), "l"(db), "r"(acc)
                     : "memory");
#undef LC_MMA_ARGS
#undef LC_MMA_OUTS
}
#endif

/* A CTA's rows [r ROWS, (r + 1) ROWS) of the cluster's 64 features: the CS partial tiles (its
 * own in `part`, the peers' in their receive slots) added in rank order, then bias, activation
 * (ACT false: none, a branch-free loop the compiler keeps lean) and residual, 4 features a thread
 * and step, 8-byte loads and stores. */
template <typename T, int CS, bool ACT>
static __device__ __forceinline__ void lc_store(const lc_params &p, const float *part,
                                                const float *rcvp, uint32_t r, int f0)
{
    constexpr int ROWS = LC_M / CS, NV = ROWS * LC_N / 4, PER = (NV + LC_THREADS - 1) / LC_THREADS;
#pragma unroll
    for (int j = 0; j < PER; j++) {
        const int e = threadIdx.x + j * LC_THREADS;
        const int rr = e / (LC_N / 4), c = (e % (LC_N / 4)) * 4, tok = (int)r * ROWS + rr;
        if ((NV % LC_THREADS != 0 && e >= NV) || tok >= p.m) continue;
        float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int o = 0; o < CS; o++) {
            const float4 v = *reinterpret_cast<const float4 *>(
                (o == (int)r ? part + (int)r * ROWS * LC_PS : rcvp + o * ROWS * LC_PS) +
                rr * LC_PS + c);
            s[0] += v.x, s[1] += v.y, s[2] += v.z, s[3] += v.w;
        }
        const int64_t at = (int64_t)tok * p.n + f0 + c;
        T b4[4], r4[4], out[4];
        if (p.bias)
            *reinterpret_cast<uint2 *>(b4) =
                *reinterpret_cast<const uint2 *>((const T *)p.bias + f0 + c);
        if (p.res)
            *reinterpret_cast<uint2 *>(r4) =
                *reinterpret_cast<const uint2 *>((const T *)p.res + at);
#pragma unroll
        for (int u = 0; u < 4; u++) {
            float a = s[u];
            if (p.bias) a += gl_cu_f32(b4[u]);
            if (ACT) a = lin_act(a, p.act);
            if (p.res) a += gl_cu_f32(r4[u]);
            out[u] = gl_cu_from_f32<T>(a);
        }
        *reinterpret_cast<uint2 *>((T *)p.y + at) = *reinterpret_cast<const uint2 *>(out);
    }
}

template <typename T, int CS> __global__ void __launch_bounds__(LC_THREADS) lc_kernel(lc_params p)
{
#if LC_HAVE
    extern __shared__ __align__(1024) unsigned char lc_raw[];
    constexpr int ROWS = LC_M / CS;
    cuda_pdl_trigger();
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    const int ck = p.k / CS, f0 = (int)(blockIdx.x / CS) * LC_N, k0 = (int)r * ck;
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(lc_raw);
    const uint32_t wsm = (raw + 1023u) & ~1023u, xsm = wsm + (uint32_t)(LC_N * ck * 2);
    const uint32_t rcv = wsm + lc_in_bytes(ck), bar = rcv + LC_M * LC_PS * 4u;
    float *part = reinterpret_cast<float *>(lc_raw + (wsm - raw));
    const float *rcvp = reinterpret_cast<const float *>(lc_raw + (rcv - raw));
    if (threadIdx.x == 0) {
        asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(bar) : "memory");
        asm volatile("{\n.reg .b64 st;\n"
                     "mbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n}\n" ::"r"(bar),
                     "r"((CS - 1) * ROWS * LC_PS * 4)
                     : "memory");
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");

    /* the weight slice before the wait (no kernel of the chain writes weights), x after it */
    lc_fetch(wsm, (const char *)p.w + ((int64_t)f0 * p.k + k0) * 2, (int64_t)p.k * 2, ck, LC_N);
    cuda_pdl_wait();
    lc_fetch(xsm, (const char *)p.x + (int64_t)k0 * 2, (int64_t)p.xs * 2, ck, p.m);
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();

    float d[32];
#pragma unroll
    for (int i = 0; i < 32; i++) d[i] = 0.0f;
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll 1
    for (int a = 0; a < ck / 64; a++)
#pragma unroll
        for (int s = 0; s < 4; s++)
            lc_mma<T>(d, lc_desc(xsm + (uint32_t)(a * LC_M * 128 + 32 * s)),
                      lc_desc(wsm + (uint32_t)(a * LC_N * 128 + 32 * s)), a > 0 || s > 0);
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
    for (int i = 0; i < 32; i++) asm volatile("" : "+f"(d[i])::"memory");
    __syncthreads(); /* every warp's MMAs done with the slices: the partial tile over them */

    /* d[4 i + e]: token 16 w + g + 8 (e / 2), feature 8 i + 2 t + e % 2 */
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int h = 0; h < 2; h++)
            *reinterpret_cast<float2 *>(part + (16 * w + g + 8 * h) * LC_PS + 8 * i + 2 * t) =
                make_float2(d[4 * i + 2 * h], d[4 * i + 2 * h + 1]);
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* for the bulk copies */
    __syncthreads();
    asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
    if (threadIdx.x == 0) {
        const uint32_t bytes = ROWS * LC_PS * 4u;
#pragma unroll
        for (int o = 0; o < CS; o++) {
            if (o == (int)r) continue;
            uint32_t rdst, rbar;
            asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n"
                         : "=r"(rdst)
                         : "r"(rcv + r * bytes), "r"(o));
            asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(rbar) : "r"(bar), "r"(o));
            asm volatile("cp.async.bulk.shared::cluster.shared::cta.mbarrier::complete_tx::bytes "
                         "[%0], [%1], %2, [%3];\n" ::"r"(rdst),
                         "r"(wsm + (uint32_t)o * bytes), "r"(bytes), "r"(rbar)
                         : "memory");
        }
        asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
    }

    /* this CTA's rows: every peer's slot in, then the slots added in rank order */
    uint32_t done = 0;
    while (!done)
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar)
                     : "memory");
    if (p.act == GL_ACT_NONE) lc_store<T, CS, false>(p, part, rcvp, r, f0);
    else lc_store<T, CS, true>(p, part, rcvp, r, f0);
    if (threadIdx.x == 0) /* the bulk copies done reading this CTA's tile */
        asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
#endif
}

/* CTAs per cluster for an n x k weight: the smallest of 2, 4, 8 with k / CS <= LC_MAX_CK (a
 * multiple of 64) that gives LC_MIN_CLUSTERS_CTAS CTAs, else the smallest that fits; 0: none.
 * Only weights of at most LC_MAX_WEIGHT elements: every cluster reads all of x (m x k), so the
 * x bytes fetched from L2 after the wait are the weight's bytes times m / 64, and past 2 MB that
 * fetch loses to cuBLASLt in the step (H100, batch 64, replay device time: the 1024 x 1024 GEMMs
 * -37 us a step; QKV 3072 x 1024 and FC1 4096 x 1024 +40 us at CS 2, +50 at CS 4; FC2 1024 x
 * 4096 +43 at CS 8, +44 at CS 16; docs/PERF.md). The 1024 x 1024 weights take CS 4 (CS 8:
 * -10 us only). */
static int lc_split(int n, int k)
{
    if ((int64_t)n * k > LC_MAX_WEIGHT) return 0;
    int fit = 0;
    for (int cs = 2; cs <= 8; cs *= 2) {
        if (k % (64 * cs) != 0 || k / cs > LC_MAX_CK) continue;
        if (n / LC_N * cs >= LC_MIN_CLUSTERS_CTAS) return cs;
        if (!fit) fit = cs;
    }
    return fit;
}

template <typename T, int CS> static void lc_launch(cuda_state *s, const lc_params &p)
{
    const size_t smem = lc_smem(p.k / CS);
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)(p.n / LC_N * CS));
    cfg.blockDim = dim3(LC_THREADS);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s->stream;
    cudaLaunchAttribute at[2];
    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = CS;
    at[0].val.clusterDim.y = 1;
    at[0].val.clusterDim.z = 1;
    at[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[1].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at;
    cfg.numAttrs = s->pdl ? 2 : 1;
    cuda_note(s, cudaLaunchKernelEx(&cfg, lc_kernel<T, CS>, p), "linear (cluster GEMM)");
}

template <typename T> static void lc_dispatch(cuda_state *s, const lc_params &p, int cs)
{
    if (cs == 2) lc_launch<T, 2>(s, p);
    else if (cs == 4) lc_launch<T, 4>(s, p);
    else lc_launch<T, 8>(s, p);
}

bool cuda_linear_cluster(cuda_state *s, int32_t m, const void *x, int32_t x_stride,
                         const gl_weight *w, const void *bias, gl_act act, const void *residual,
                         void *y)
{
    const int32_t n = w->rows, k = w->cols;
    const bool bf16 = s->act_dtype == GL_DTYPE_BF16;
    if (!s->lc_ok || m < 1 || m > LC_M || (s->act_dtype != GL_DTYPE_F16 && !bf16) ||
        w->dtype != s->act_dtype || n % LC_N != 0 || x_stride % 8 != 0 ||
        !cuda_aligned16(x) || !cuda_aligned16(w->data) || !cuda_aligned16(y) ||
        (bias && !cuda_aligned16(bias)) || (residual && !cuda_aligned16(residual)))
        return false;
    const int cs = lc_split(n, k);
    if (!cs) return false;
    lc_params p = {m, n, k, x_stride, (int32_t)act, x, w->data, bias, residual, y};
    if (bf16) lc_dispatch<__nv_bfloat16>(s, p, cs);
    else lc_dispatch<__half>(s, p, cs);
    return true;
}

/* Every instance's shared-memory limit, once (not a host call per launch) */
template <typename T> static bool lc_set_smem()
{
    const int smem = (int)lc_smem(LC_MAX_CK);
    return cudaFuncSetAttribute(lc_kernel<T, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                smem) == cudaSuccess &&
           cudaFuncSetAttribute(lc_kernel<T, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                smem) == cudaSuccess &&
           cudaFuncSetAttribute(lc_kernel<T, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                smem) == cudaSuccess;
}

void cuda_linear_cluster_init(cuda_state *s)
{
    const char *env = getenv("GLOSSA_CUDA_CLUSTER");
    s->lc_ok = false;
    if ((env && env[0] == '0') || s->gemm_fallback) return;
    /* the kernel image runs here (sm_90a) and its largest form can be resident */
    int n = 0;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(16 * 8);
    cfg.blockDim = dim3(LC_THREADS);
    cfg.dynamicSmemBytes = lc_smem(LC_MAX_CK);
    cudaLaunchAttribute at;
    at.id = cudaLaunchAttributeClusterDimension;
    at.val.clusterDim.x = 8;
    at.val.clusterDim.y = at.val.clusterDim.z = 1;
    cfg.attrs = &at;
    cfg.numAttrs = 1;
    if (!lc_set_smem<__half>() || !lc_set_smem<__nv_bfloat16>() ||
        cudaOccupancyMaxActiveClusters(&n, lc_kernel<__half, 8>, &cfg) != cudaSuccess) {
        cudaGetLastError();
        return;
    }
    s->lc_ok = n > 0;
}
