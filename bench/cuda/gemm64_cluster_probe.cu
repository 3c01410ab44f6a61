/* gemm64_cluster_probe: the 72 decoder GEMMs of a 64-row mbart-large-50 step (12 layers: QKV
 * 1024 -> 3072, O, cross-Q and cross-O 1024 -> 1024, FC1 1024 -> 4096 + GELU, FC2 4096 -> 1024;
 * fp16, no bias) as a chain of own wgmma kernels, one PDL launch each, against the cuBLASLt
 * graph chain glossa runs (docs/PERF.md: 411 us isolated, ~526 us in the real step).
 *
 * The form tried here: split-K with the partial sums reduced through distributed shared memory
 * inside a thread-block cluster, no global atomics, no counters. A GEMM is (n / BN) clusters of
 * CS CTAs; CTA r of a cluster takes output features [f0, f0 + BN) and k range [r ck, (r + 1) ck)
 * (ck = k / CS); it requests its weight slice (cp.async into wgmma's 128-byte swizzle) before
 * griddepcontrol.wait and its x slice (64 tokens x ck) after it, multiplies with
 * wgmma.m64nBNk16 (fp32 sums in registers), writes the 64 x BN partial tile into its shared
 * memory, and after a cluster barrier sums rows [r 64 / CS, (r + 1) 64 / CS) of all CS partial
 * tiles (ld through map_shared_rank), applies GELU where asked and stores fp16; a second
 * cluster barrier keeps every tile alive until its readers are done.
 * (The earlier chained form, stack64_probe on attempt/gemm64-pdl, added its partials by float2
 * atomics into an fp32 tile that the tile's last CTA rounded: 1,139 us a step.)
 *
 * cl_push_kernel (CL_PUSH / CL_BULK): the same tiles, but each CTA sends every owner its rows
 * (st.async from registers, or one bulk copy per owner out of its own shared memory) into a
 * receive slot completing bytes on the owner's mbarrier; one split cluster barrier (arrive after
 * the mbarrier's init, wait before the first send), none at the end.
 * H100 (docs/PERF.md, stop 22): cuBLASLt graph chain 412-414 us; cl_kernel 458 (BN 128, CS 8),
 * 423 with the dependents launched after the MMAs (295 without the reduction: timing only);
 * cl_push_kernel BN 64, CS 2/4/4/4/2/8: 392-400 (push or bulk), **362 with bulk copies and the
 * dependents launched at the start**; x fetched per 64 of k with the MMAs following: slower.
 *
 * Last, the mixed chain: a small PDL kernel (mix_kernel, a layer norm of the GEMM's output rows)
 * after every GEMM, cuBLASLt vs the best cluster form: 775-808 vs 730 us, also with a host wait
 * after each replay and with memcpy / memset nodes in the graph; one cluster GEMM among 71
 * cuBLASLt ones costs nothing here. (In glossa's step
 * one cluster launch costs ~65 us: docs/PERF.md, attempt/gemm64-cluster.)
 *
 * Prints, per configuration (BN and CS per GEMM, flags), us a step and, where the result is
 * whole, the final activations' max |diff| against the cuBLASLt chain relative to max |ref|.
 * Build: nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -Ibench/cuda -o gemm64_cluster_probe \
 *   bench/cuda/gemm64_cluster_probe.cu -lcublasLt */
#include <cooperative_groups.h>
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "chain64.h"

namespace cg = cooperative_groups;

#define M          C64_M /* tokens */
#define PER_LAYER  C64_PER_LAYER
#define PHASES     C64_GEMMS
#define CL_THREADS 128

typedef struct cl_phase {
    const __half *w; /* n x k */
    const __half *x; /* M rows, stride xs */
    __half *y;       /* M rows, stride ys */
    int32_t n, k, xs, ys, act, cs;
    int32_t flags; /* timing only: CL_* below */
} cl_phase;

#define CL_NO_X   1   /* no x fetch (stale shared memory) */
#define CL_NO_MMA 2   /* no MMAs */
#define CL_NO_RED 4   /* each CTA stores its own partial rows, no cluster reads or barriers */
#define CL_LATE   8   /* griddepcontrol.launch_dependents after the MMAs, not at the start */
#define CL_NO_PDL 16  /* launched without programmatic stream serialisation */
#define CL_PUSH   32  /* the push form (cl_push_kernel) */
#define CL_BULK   64  /* the push form with bulk copies */
#define CL_PIPE   128 /* push form: x in one cp.async group per 64 of k, MMAs as each lands */
#define CL_EARLY  256 /* push form: griddepcontrol.launch_dependents at the start */

/* wgmma shared-memory descriptor: K-major, 128-byte swizzle, 8-row groups 1024 bytes apart */
static __device__ __forceinline__ uint64_t cl_desc(uint32_t addr)
{
    return (uint64_t)((addr & 0x3FFFFu) >> 4) | ((uint64_t)1 << 16) |
           ((uint64_t)(1024 >> 4) << 32) | ((uint64_t)1 << 62);
}

/* rows x ck halves of src (row stride ld) into the swizzled atoms at dst: per 64 of k an atom of
 * rows x 128 bytes, the 16-byte piece c of row r at c ^ (r % 8); one cp.async group */
static __device__ __forceinline__ void cl_fetch(uint32_t dst, const __half *src, int64_t ld,
                                                int rows, int ck)
{
    const int per_row = ck / 8, pieces = rows * per_row;
    for (int e = threadIdx.x; e < pieces; e += CL_THREADS) {
        const int r = e / per_row, q = e % per_row, a = q >> 3, c = q & 7;
        const uint32_t d = dst + (uint32_t)(a * rows * 128 + r * 128 + ((c ^ (r & 7)) << 4));
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d),
                     "l"(src + (int64_t)r * ld + q * 8)
                     : "memory");
    }
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
static __device__ __forceinline__ void cl_mma64(float (&d)[32], uint64_t da, uint64_t db, int acc)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
                 "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
                   "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
                   "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),
                   "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
                   "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(acc)
                 : "memory");
}

static __device__ __forceinline__ void cl_mma128(float (&d)[64], uint64_t da, uint64_t db, int acc)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {"
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
                 "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
                   "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
                   "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),
                   "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
                   "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
                   "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
                   "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]),
                   "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]),
                   "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(acc)
                 : "memory");
}
#endif

template <int BN>
static __device__ __forceinline__ void cl_mma(float (&d)[BN / 2], uint64_t da, uint64_t db, int acc)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if constexpr (BN == 64)
        cl_mma64(d, da, db, acc);
    else
        cl_mma128(d, da, db, acc);
#endif
}

/* shared memory a CTA needs: the weight and x slices, or the partial tile (fp32, rows BN + 8
 * apart), whichever is larger, and 1 KB to align */
static size_t cl_smem(int bn, int ck)
{
    const size_t in = (size_t)(bn + M) * ck * 2, part = (size_t)M * (bn + 8) * 4;
    return (in > part ? in : part) + 1024;
}

template <int BN, int CS> __global__ void __launch_bounds__(CL_THREADS) cl_kernel(cl_phase q)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ __align__(1024) unsigned char cl_raw[];
    cg::cluster_group cl = cg::this_cluster();
    constexpr int cs = CS;
    const int r = (int)cl.block_rank(), ck = q.k / cs;
    const int f0 = (int)(blockIdx.x / cs) * BN, k0 = r * ck;
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(cl_raw);
    const uint32_t wsm = (raw + 1023u) & ~1023u, xsm = wsm + (uint32_t)(BN * ck * 2);
    float *part = reinterpret_cast<float *>(cl_raw + (wsm - raw));
    constexpr int PS = BN + 8;

    cl_fetch(wsm, q.w + (int64_t)f0 * q.k + k0, q.k, BN, ck); /* weights: before the wait */
    if (!(q.flags & CL_LATE)) asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    if (!(q.flags & CL_NO_X)) cl_fetch(xsm, q.x + k0, q.xs, M, ck);
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();

    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++)
        d[i] = 0.0f;
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll 1
    for (int a = 0; a < ((q.flags & CL_NO_MMA) ? 0 : ck / 64); a++)
#pragma unroll
        for (int s = 0; s < 4; s++)
            cl_mma<BN>(d, cl_desc(xsm + (uint32_t)(a * M * 128 + 32 * s)),
                       cl_desc(wsm + (uint32_t)(a * BN * 128 + 32 * s)), a > 0 || s > 0);
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
    for (int i = 0; i < BN / 2; i++)
        asm volatile("" : "+f"(d[i])::"memory");
    __syncthreads(); /* every warp's MMAs done with the slices: the partial tile over them */
    if (q.flags & CL_LATE) asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");

    /* d[4 i + e]: token 16 w + g + 8 (e / 2), feature 8 i + 2 t + e % 2 */
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < BN / 8; i++)
#pragma unroll
        for (int h = 0; h < 2; h++)
            *reinterpret_cast<float2 *>(part + (16 * w + g + 8 * h) * PS + 8 * i + 2 * t) =
                make_float2(d[4 * i + 2 * h], d[4 * i + 2 * h + 1]);
    const bool red = !(q.flags & CL_NO_RED);
    if (red)
        cl.sync();
    else
        __syncthreads();

    /* rows [r0, r0 + 64 / CS) of the CS partial tiles: every load in flight at once */
    constexpr int ROWS = M / CS, NV = ROWS * BN / 4, PER = (NV + CL_THREADS - 1) / CL_THREADS;
    const int r0 = r * ROWS;
#pragma unroll
    for (int j = 0; j < PER; j++) {
        const int e = threadIdx.x + j * CL_THREADS;
        if (NV % CL_THREADS != 0 && e >= NV) break;
        const int row = r0 + e / (BN / 4), c = (e % (BN / 4)) * 4;
        float *mine = part + row * PS + c;
        float4 v[CS];
#pragma unroll
        for (int p = 0; p < CS; p++)
            v[p] = red || p == 0
                       ? *reinterpret_cast<const float4 *>(red ? cl.map_shared_rank(mine, p) : mine)
                       : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        float4 s = v[0];
#pragma unroll
        for (int p = 1; p < CS; p++)
            s.x += v[p].x, s.y += v[p].y, s.z += v[p].z, s.w += v[p].w;
        if (q.act) s = make_float4(gelu(s.x), gelu(s.y), gelu(s.z), gelu(s.w));
        __half2 *o = reinterpret_cast<__half2 *>(q.y + (int64_t)row * q.ys + f0 + c);
        o[0] = __floats2half2_rn(s.x, s.y);
        o[1] = __floats2half2_rn(s.z, s.w);
    }
    if (red) cl.sync(); /* the peers' reads of this tile done */
#endif
}

/* ---- the push form (CL_PUSH): the partial rows go to their owner by st.async ----
 * CTA r owns rows [r 64 / CS, (r + 1) 64 / CS); every CTA sends each owner its partial rows
 * (st.async into slot "sender" of the owner's receive buffer, completing bytes on the owner's
 * mbarrier) and adds up the CS slots of its own rows once its mbarrier has all the bytes. One
 * cluster barrier, split: arrived at right after the mbarrier's init (before the weight fetch),
 * waited on before the first send. No barrier at the end: an owner leaves only after its bytes
 * came, and a sender's st.async carries its data in registers. */
/* BULK: the partial tile written to the CTA's own shared memory (over the slices) and each
 * owner's rows sent by one bulk copy (cp.async.bulk shared::cta -> shared::cluster) instead of
 * st.async from registers. */
static __host__ __device__ size_t cl_push_in(int bn, int ck, bool bulk)
{
    const size_t in = (size_t)(bn + M) * ck * 2, part = (size_t)M * (bn + 8) * 4;
    return bulk && part > in ? part : in;
}

static size_t cl_push_smem(int bn, int ck, bool bulk)
{
    return cl_push_in(bn, ck, bulk) + (size_t)M * (bn + 8) * 4 + 16 + 1024;
}

/* cp.async.wait_group with a run-time count (at most 7 newer groups pending) */
static __device__ __forceinline__ void cl_wait_groups(int n)
{
    switch (n) {
    case 0:
        asm volatile("cp.async.wait_group 0;\n" ::: "memory");
        break;
    case 1:
        asm volatile("cp.async.wait_group 1;\n" ::: "memory");
        break;
    case 2:
        asm volatile("cp.async.wait_group 2;\n" ::: "memory");
        break;
    case 3:
        asm volatile("cp.async.wait_group 3;\n" ::: "memory");
        break;
    case 4:
        asm volatile("cp.async.wait_group 4;\n" ::: "memory");
        break;
    case 5:
        asm volatile("cp.async.wait_group 5;\n" ::: "memory");
        break;
    case 6:
        asm volatile("cp.async.wait_group 6;\n" ::: "memory");
        break;
    default:
        asm volatile("cp.async.wait_group 7;\n" ::: "memory");
        break;
    }
}

template <int BN, int CS, bool BULK>
__global__ void __launch_bounds__(CL_THREADS) cl_push_kernel(cl_phase q)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ __align__(1024) unsigned char cl_raw[];
    constexpr int PS = BN + 8, ROWS = M / CS;
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    const int ck = q.k / CS, f0 = (int)(blockIdx.x / CS) * BN, k0 = (int)r * ck;
    const uint32_t raw = (uint32_t)__cvta_generic_to_shared(cl_raw);
    const uint32_t wsm = (raw + 1023u) & ~1023u, xsm = wsm + (uint32_t)(BN * ck * 2);
    const uint32_t rcv = wsm + (uint32_t)cl_push_in(BN, ck, BULK),
                   bar = rcv + (uint32_t)(M * PS * 4);
    float *part = reinterpret_cast<float *>(cl_raw + (wsm - raw));
    float *rcvp = reinterpret_cast<float *>(cl_raw + (rcv - raw));
    if (threadIdx.x == 0) {
        asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(bar) : "memory");
        asm volatile(
            "{\n.reg .b64 st;\nmbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n}\n" ::"r"(
                bar),
            "r"((CS - 1) * ROWS * (BULK ? PS : BN) * 4)
            : "memory");
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");

    cl_fetch(wsm, q.w + (int64_t)f0 * q.k + k0, q.k, BN, ck); /* weights: before the wait */
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    const bool pipe = q.flags & CL_PIPE;
    if (q.flags & CL_EARLY) asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
    if (pipe) /* one group per 64 of k: the MMAs on atom a start once it is in */
        for (int a = 0; a < ck / 64; a++)
            cl_fetch(xsm + a * M * 128, q.x + k0 + 64 * a, q.xs, M, 64);
    else if (!(q.flags & CL_NO_X))
        cl_fetch(xsm, q.x + k0, q.xs, M, ck);
    if (!pipe) {
        asm volatile("cp.async.wait_group 0;\n" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();
    }

    float d[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++)
        d[i] = 0.0f;
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll 1
    for (int a = 0; a < ((q.flags & CL_NO_MMA) ? 0 : ck / 64); a++) {
        if (pipe) {
            cl_wait_groups(ck / 64 - 1 - a);
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            __syncthreads();
        }
#pragma unroll
        for (int s = 0; s < 4; s++)
            cl_mma<BN>(d, cl_desc(xsm + (uint32_t)(a * M * 128 + 32 * s)),
                       cl_desc(wsm + (uint32_t)(a * BN * 128 + 32 * s)), a > 0 || s > 0);
    }
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
    for (int i = 0; i < BN / 2; i++)
        asm volatile("" : "+f"(d[i])::"memory");
    if (!(q.flags & CL_EARLY)) asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
    asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory"); /* peers' barriers set */

    /* d[4 i + e]: token 16 w + g + 8 (e / 2), feature 8 i + 2 t + e % 2; row -> owner row / ROWS,
     * into the owner's slot r at (row % ROWS) */
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    if (BULK) {
        __syncthreads(); /* every warp's MMAs done with the slices: the partial tile over them */
#pragma unroll
        for (int i = 0; i < BN / 8; i++)
#pragma unroll
            for (int h = 0; h < 2; h++)
                *reinterpret_cast<float2 *>(part + (16 * w + g + 8 * h) * PS + 8 * i + 2 * t) =
                    make_float2(d[4 * i + 2 * h], d[4 * i + 2 * h + 1]);
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();
        if (threadIdx.x == 0) {
            const uint32_t bytes = (uint32_t)(ROWS * PS * 4);
            for (int o = 0; o < CS; o++) {
                if (o == (int)r) continue;
                uint32_t rdst, rbar;
                asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n"
                             : "=r"(rdst)
                             : "r"(rcv + r * bytes), "r"(o));
                asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n"
                             : "=r"(rbar)
                             : "r"(bar), "r"(o));
                asm volatile(
                    "cp.async.bulk.shared::cluster.shared::cta.mbarrier::complete_tx::bytes "
                    "[%0], [%1], %2, [%3];\n" ::"r"(rdst),
                    "r"(wsm + o * bytes), "r"(bytes), "r"(rbar)
                    : "memory");
            }
            asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
        }
    }
#pragma unroll
    for (int h = 0; h < 2 && !BULK; h++) {
        const int row = 16 * w + g + 8 * h, own = row / ROWS;
        const uint32_t off = (uint32_t)(((int)r * ROWS + row % ROWS) * PS + 2 * t) * 4;
        if (own == (int)r) {
#pragma unroll
            for (int i = 0; i < BN / 8; i++)
                *reinterpret_cast<float2 *>(rcvp + (off / 4) + 8 * i) =
                    make_float2(d[4 * i + 2 * h], d[4 * i + 2 * h + 1]);
        } else {
            uint32_t rdst, rbar;
            asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n"
                         : "=r"(rdst)
                         : "r"(rcv + off), "r"(own));
            asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n"
                         : "=r"(rbar)
                         : "r"(bar), "r"(own));
#pragma unroll
            for (int i = 0; i < BN / 8; i++)
                asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v2.f32 [%0], "
                             "{%1, %2}, [%3];\n" ::"r"(rdst + 32 * i),
                             "f"(d[4 * i + 2 * h]), "f"(d[4 * i + 2 * h + 1]), "r"(rbar)
                             : "memory");
        }
    }
    /* this CTA's rows: every peer's bytes in, then the slots added in order */
    uint32_t done = 0;
    for (long spin = 0; !done; spin++) {
        if (spin > (1L << 26)) __trap(); /* a probe that hangs reports instead */
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\n"
                     "selp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar)
                     : "memory");
    }
    __syncthreads(); /* the local slot's stores */
    constexpr int NV = ROWS * BN / 4, PER = (NV + CL_THREADS - 1) / CL_THREADS;
#pragma unroll
    for (int j = 0; j < PER; j++) {
        const int e = threadIdx.x + j * CL_THREADS;
        if (NV % CL_THREADS != 0 && e >= NV) break;
        const int rr = e / (BN / 4), c = (e % (BN / 4)) * 4;
        float4 v[CS];
#pragma unroll
        for (int p = 0; p < CS; p++)
            v[p] = *reinterpret_cast<const float4 *>(
                (BULK && p == (int)r ? part + (int)r * ROWS * PS : rcvp + p * ROWS * PS) + rr * PS +
                c);
        float4 s = v[0];
#pragma unroll
        for (int p = 1; p < CS; p++)
            s.x += v[p].x, s.y += v[p].y, s.z += v[p].z, s.w += v[p].w;
        if (q.act) s = make_float4(gelu(s.x), gelu(s.y), gelu(s.z), gelu(s.w));
        __half2 *o =
            reinterpret_cast<__half2 *>(q.y + (int64_t)((int)r * ROWS + rr) * q.ys + f0 + c);
        o[0] = __floats2half2_rn(s.x, s.y);
        o[1] = __floats2half2_rn(s.z, s.w);
    }
    if (BULK && threadIdx.x == 0) /* the bulk copies done reading this CTA's tile */
        asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
#endif
}

typedef void (*cl_fn)(cl_phase);

template <int BN, bool BULK> static cl_fn cl_pick_push(int cs)
{
    return cs == 2    ? cl_push_kernel<BN, 2, BULK>
           : cs == 4  ? cl_push_kernel<BN, 4, BULK>
           : cs == 8  ? cl_push_kernel<BN, 8, BULK>
           : cs == 16 ? cl_push_kernel<BN, 16, BULK>
                      : NULL;
}

template <int BN> static cl_fn cl_pick_cs(int cs, bool push, bool bulk)
{
    if (push) return bulk ? cl_pick_push<BN, true>(cs) : cl_pick_push<BN, false>(cs);
    return cs == 2    ? cl_kernel<BN, 2>
           : cs == 4  ? cl_kernel<BN, 4>
           : cs == 8  ? cl_kernel<BN, 8>
           : cs == 16 ? cl_kernel<BN, 16>
                      : NULL;
}

static cl_fn cl_pick(int bn, int cs, bool push = false, bool bulk = false)
{
    return bn == 64    ? cl_pick_cs<64>(cs, push, bulk)
           : bn == 128 ? cl_pick_cs<128>(cs, push, bulk)
                       : NULL;
}

/* One GEMM of the chain as a cluster launch with PDL (an error is returned, not fatal) */
static cudaError_t cl_launch(const cl_phase &q, int bn, cudaStream_t st)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)(q.n / bn * q.cs));
    cfg.blockDim = dim3(CL_THREADS);
    const bool bulk = q.flags & CL_BULK, push = bulk || (q.flags & CL_PUSH);
    cfg.dynamicSmemBytes = push ? cl_push_smem(bn, q.k / q.cs, bulk) : cl_smem(bn, q.k / q.cs);
    cfg.stream = st;
    cudaLaunchAttribute at[2];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    at[1].id = cudaLaunchAttributeClusterDimension;
    at[1].val.clusterDim.x = (unsigned)q.cs;
    at[1].val.clusterDim.y = 1;
    at[1].val.clusterDim.z = 1;
    cfg.attrs = at;
    cfg.numAttrs = 2;
    if (q.flags & CL_NO_PDL) {
        cfg.attrs = at + 1;
        cfg.numAttrs = 1;
    }
    void (*k)(cl_phase) = cl_pick(bn, q.cs, push, bulk);
    return k ? cudaLaunchKernelEx(&cfg, k, q) : cudaErrorInvalidValue;
}

/* The mixed chain's stand-in for the decode step's other kernels: row blockIdx.x of y (n wide)
 * normalised in place (a layer norm without weights), 128 threads; with pdl it triggers first and
 * waits before reading, as glossa's chain kernels do. */
__global__ void mix_kernel(__half *y, int n, int pdl)
{
    if (pdl) {
        asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
        asm volatile("griddepcontrol.wait;\n" ::: "memory");
    }
    __shared__ float red[2][4];
    __half *row = y + (int64_t)blockIdx.x * n;
    float s = 0.0f, q = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = __half2float(row[i]);
        s += v;
        q += v * v;
    }
    for (int o = 16; o > 0; o >>= 1) {
        s += __shfl_xor_sync(0xffffffffu, s, o);
        q += __shfl_xor_sync(0xffffffffu, q, o);
    }
    if ((threadIdx.x & 31) == 0) red[0][threadIdx.x >> 5] = s, red[1][threadIdx.x >> 5] = q;
    __syncthreads();
    s = red[0][0] + red[0][1] + red[0][2] + red[0][3];
    q = red[1][0] + red[1][1] + red[1][2] + red[1][3];
    const float mean = s / n, rstd = rsqrtf(fmaxf(q / n - mean * mean, 0.0f) + 1e-5f);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        row[i] = __float2half_rn((__half2float(row[i]) - mean) * rstd);
}

static void mix_launch(__half *y, int n, bool pdl, cudaStream_t st)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(M);
    cfg.blockDim = dim3(128);
    cfg.stream = st;
    cudaLaunchAttribute at;
    at.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at.val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = &at;
    cfg.numAttrs = pdl ? 1 : 0;
    CK(cudaLaunchKernelEx(&cfg, mix_kernel, y, n, (int)pdl));
}

/* max |a - b| / max |a| over n halves (inf if b has a NaN) */
static float rel_diff(const __half *a, const __half *b, int n)
{
    float mx = 0.0f, md = 0.0f;
    for (int i = 0; i < n; i++) {
        const float x = __half2float(a[i]), y = __half2float(b[i]);
        mx = fmaxf(mx, fabsf(x));
        md = fmaxf(md, fabsf(x - y));
        if (!(y == y)) md = INFINITY;
    }
    return md / mx;
}

/* reps replays of ge, each waited for by the host: mean device time (events around it) and
 * wall time (host clock, launch to wait) per replay, us */
static void replay_waited(cudaGraphExec_t ge, cudaStream_t st, int reps, float *dev, float *wall)
{
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    double d = 0.0, w = 0.0;
    for (int r = 0; r <= reps; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(ge, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaStreamSynchronize(st));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        float ms = 0.0f;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (r == 0) continue; /* untimed */
        d += 1000.0 * ms;
        w += (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    *dev = (float)(d / reps);
    *wall = (float)(w / reps);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    chain64 c;
    chain64_make(&c);
    __half *x0 = c.x0, *x0_init = c.x0_init;
    cl_phase ph[PHASES];
    for (int i = 0; i < PHASES; i++) {
        const c64_gemm *g = &c.g[i];
        ph[i] = (cl_phase){g->w, g->x, g->y, g->n, g->k, g->xs, g->ys, g->act, 1, 0};
    }
    cudaStream_t st;
    CK(cudaStreamCreate(&st));

    const int reps = 20;
    chain64_lt t;
    chain64_lt_make(&t, &c, st, reps);
    const __half *ref = t.ref;
    __half *got = (__half *)malloc(M * 1024 * 2);

    for (int bn = 64; bn <= 128; bn *= 2)
        for (int cs = 2; cs <= 16; cs *= 2) {
            CK(cudaFuncSetAttribute(cl_pick(bn, cs), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    (int)cl_smem(bn, 512)));
            CK(cudaFuncSetAttribute(cl_pick(bn, cs), cudaFuncAttributeNonPortableClusterSizeAllowed,
                                    1));
            for (int b = 0; b < 2; b++) {
                const size_t ps = cl_push_smem(bn, 512, b) <= 227 * 1024 ? cl_push_smem(bn, 512, b)
                                                                         : cl_push_smem(bn, 256, b);
                CK(cudaFuncSetAttribute(cl_pick(bn, cs, true, b),
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int)ps));
                CK(cudaFuncSetAttribute(cl_pick(bn, cs, true, b),
                                        cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
            }
        }
    /* configurations: BN and CS for QKV, O, cross-Q, cross-O, FC1, FC2; flags (timing only) */
    typedef struct cl_cfg {
        int bn[PER_LAYER], cs[PER_LAYER], flags;
        const char *what;
    } cl_cfg;
    const cl_cfg cfgs[] = {
        {{128, 128, 128, 128, 128, 128}, {8, 8, 8, 8, 4, 8}, 0, "A: BN 128, CS 8 (FC1 4)"},
        {{128, 128, 128, 128, 128, 128},
         {8, 8, 8, 8, 4, 8},
         CL_LATE,
         "A, dependents after the MMAs"},
        {{128, 128, 128, 128, 128, 128},
         {8, 8, 8, 8, 4, 8},
         CL_LATE | CL_NO_RED,
         "A late, no cluster reduction (timing only)"},
        {{128, 128, 128, 128, 128, 128},
         {4, 4, 4, 4, 4, 8},
         CL_LATE,
         "G: BN 128, CS 4 (FC2 8), late"},
        {{64, 64, 64, 64, 64, 64}, {2, 4, 4, 4, 2, 8}, CL_PUSH, "I: BN 64, CS 2/4/4/4/2/8, push"},
        {{64, 64, 64, 64, 64, 64}, {2, 4, 4, 4, 2, 8}, CL_BULK, "I, bulk"},
        {{64, 64, 64, 64, 64, 64},
         {2, 4, 4, 4, 2, 8},
         CL_BULK | CL_EARLY,
         "I, bulk, early dependents"},
        {{64, 64, 64, 64, 64, 64},
         {2, 4, 4, 4, 2, 8},
         CL_BULK | CL_PIPE | CL_EARLY,
         "I, bulk, early dependents, x pipelined"},
        {{64, 64, 64, 64, 64, 64},
         {4, 8, 8, 8, 4, 8},
         CL_BULK | CL_EARLY,
         "E: BN 64, CS 4/8, bulk, early"},
    };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        const cl_cfg *f = &cfgs[c];
        cl_phase cp[PHASES];
        int bnp[PHASES];
        bool ok = true;
        for (int i = 0; i < PHASES; i++) {
            cp[i] = ph[i];
            cp[i].cs = f->cs[i % PER_LAYER];
            cp[i].flags = f->flags;
            bnp[i] = f->bn[i % PER_LAYER];
            const int ck = cp[i].k / cp[i].cs;
            if (ck % 64 != 0 || ck > 512 || M % cp[i].cs != 0 || cp[i].n % bnp[i] != 0 ||
                ((f->flags & (CL_PUSH | CL_BULK)) &&
                 cl_push_smem(bnp[i], ck, f->flags & CL_BULK) > 227 * 1024))
                ok = false;
        }
        if (!ok) {
            printf("%s: bad split\n", f->what);
            continue;
        }
        /* one plain run first: a launch error (cluster too large for the shared memory) is
         * reported, not fatal */
        CK(cudaMemcpy(x0, x0_init, M * 1024 * 2, cudaMemcpyDeviceToDevice));
        cudaError_t e = cudaSuccess;
        for (int i = 0; i < PHASES && e == cudaSuccess; i++)
            e = cl_launch(cp[i], bnp[i], st);
        if (e == cudaSuccess) e = cudaStreamSynchronize(st);
        if (e != cudaSuccess) {
            printf("%s: %s\n", f->what, cudaGetErrorString(e));
            cudaGetLastError();
            continue;
        }
        cudaGraph_t gc;
        cudaGraphExec_t gce;
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        for (int i = 0; i < PHASES; i++)
            CK(cl_launch(cp[i], bnp[i], st));
        CK(cudaStreamEndCapture(st, &gc));
        CK(cudaGraphInstantiate(&gce, gc, 0));
        CK(cudaMemcpy(x0, x0_init, M * 1024 * 2, cudaMemcpyDeviceToDevice));
        CK(cudaGraphLaunch(gce, st));
        CK(cudaStreamSynchronize(st));
        CK(cudaMemcpy(got, x0, M * 1024 * 2, cudaMemcpyDeviceToHost));
        const float tc = chain64_time(chain64_run_graph, gce, st, reps);
        printf("%s: %.1f us a step (%.2f us a GEMM)", f->what, tc, tc / PHASES);
        if (!(f->flags & (CL_NO_X | CL_NO_MMA | CL_NO_RED)))
            printf(", max|diff| / max|ref| %.3g", rel_diff(ref, got, M * 1024));
        printf("\n");
        CK(cudaGraphExecDestroy(gce));
        CK(cudaGraphDestroy(gc));
    }
    /* The mixed chain: after every GEMM a small kernel over its output (mix_kernel), as the decode
     * step has its layer norms and attentions between the GEMMs; cuBLASLt vs the best cluster form
     * (I, bulk, early dependents) for every GEMM or only the first, the small kernel with PDL or
     * launched plainly; replays back to back and with a host wait after each (as glossa's steps,
     * which read their token ids back). */
    typedef struct mix_cfg {
        int own; /* cluster GEMMs: 0 none, 1 the first only, 2 all */
        bool pdl;
        bool copies; /* an upload (memcpy node) first, a memset node and a download last */
    } mix_cfg;
    const mix_cfg mcfg[] = {{0, true, false},  {0, false, false}, {2, true, false},
                            {2, false, false}, {1, true, false},  {1, false, false},
                            {0, true, true},   {1, true, true},   {2, true, true},
                            {0, false, true},  {1, false, true}};
    int32_t *hbuf, *dbuf;
    CK(cudaMallocHost(&hbuf, 4096));
    CK(cudaMalloc(&dbuf, 4096));
    const char *owns[] = {"cuBLASLt", "the first GEMM a cluster GEMM, the rest cuBLASLt",
                          "cluster GEMMs (I, bulk, early)"};
    for (size_t v = 0; v < sizeof mcfg / sizeof mcfg[0]; v++) {
        cl_phase cp[PHASES];
        const int ibn[PER_LAYER] = {64, 64, 64, 64, 64, 64}, ics[PER_LAYER] = {2, 4, 4, 4, 2, 8};
        for (int i = 0; i < PHASES; i++) {
            cp[i] = ph[i];
            cp[i].cs = ics[i % PER_LAYER];
            cp[i].flags = CL_BULK | CL_EARLY;
        }
        cudaGraph_t gm;
        cudaGraphExec_t gme;
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        if (mcfg[v].copies) CK(cudaMemcpyAsync(dbuf, hbuf, 2048, cudaMemcpyHostToDevice, st));
        for (int i = 0; i < PHASES; i++) {
            if (mcfg[v].own == 2 || (mcfg[v].own == 1 && i == 0))
                CK(cl_launch(cp[i], ibn[i % PER_LAYER], st));
            else
                chain64_lt_enqueue(&t, &c, i, st);
            mix_launch(ph[i].y, ph[i].n, mcfg[v].pdl, st);
        }
        if (mcfg[v].copies) {
            CK(cudaMemsetAsync(dbuf + 512, 0, 1024, st));
            CK(cudaMemcpyAsync(hbuf + 512, dbuf, 256, cudaMemcpyDeviceToHost, st));
        }
        CK(cudaStreamEndCapture(st, &gm));
        CK(cudaGraphInstantiate(&gme, gm, 0));
        const float tm = chain64_time(chain64_run_graph, gme, st, reps);
        float dev = 0.0f, wall = 0.0f;
        replay_waited(gme, st, reps, &dev, &wall);
        printf("mixed chain (a small kernel after each GEMM, %s%s): %s: %.1f us a step back to "
               "back; with a host wait after each, %.1f us of device time, %.1f us of wall time\n",
               mcfg[v].pdl ? "PDL" : "plain launches",
               mcfg[v].copies ? ", memcpy / memset nodes" : "", owns[mcfg[v].own], tm, dev, wall);
        CK(cudaGraphExecDestroy(gme));
        CK(cudaGraphDestroy(gm));
    }
    return 0;
}
