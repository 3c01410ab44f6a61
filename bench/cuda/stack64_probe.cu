/* Is a persistent multi-row decoder kernel worth building? The GEMMs of a 64-row decode step,
 * as phases of one kernel, against the same GEMMs as a cuBLASLt chain.
 *
 * At batch 64 the 72 decoder GEMMs of an mbart-large-50 step cost ~526 us in the op path's chain
 * (docs/PERF.md, "where a batch-64 step goes"): 7.3 us each against 0.8 us of weight bytes,
 * because cuBLASLt's kernels cannot join the PDL chain and each boundary costs a launch, a ramp
 * and a tail. A persistent kernel replaces the boundaries by grid barriers and can stream every
 * weight ahead of the barrier that gates its phase. This program measures that premise alone:
 *
 *   - cuBLASLt: 12 layers x [QKV (3072 x 1024), O, cross-Q, cross-O (1024 x 1024), FC1
 *     (4096 x 1024) + an exact-GELU kernel, FC2 (1024 x 4096)] on 64 tokens, fp16, captured in
 *     a graph and replayed (what the op path's GEMMs cost, attention and norms left out);
 *   - the persistent form of the same chain: G = 128 blocks (one per SM, 200 KB of shared
 *     memory), a phase per GEMM; a phase's unit is 64 output features x one of S K-splits (S
 *     chosen so the units fill the blocks); the block's weight slice for phase p + 1 is
 *     requested (cp.async) before it waits for phase p's barrier; the activations come from L2
 *     after it; mma.sync m16n8k16 from ldmatrix fragments; S > 1 adds fp32 partial tiles with
 *     vector atomics and the last unit of a tile (a counter) rounds the tile to fp16 (GELU for
 *     FC1) and zeroes it; a grid barrier (one counter, release / acquire) ends each phase.
 *
 * Printed: us per 72-GEMM step for cuBLASLt's chain (also two 32-row chains as concurrent graph
 * branches) and for the persistent kernel's modes (0 the above; 1 weights loaded after the wait;
 * 2 barriers only; 3 the next phase reads the fp32 sums itself; 4 the same token-major; 5 staged
 * from a fixed buffer), the parts of mode 4 left out one at a time, and the persistent results'
 * largest difference from cuBLASLt's after the 72 GEMMs (relative to the largest |value|).
 * `stack64_probe MODE`: that mode's kernel 3 times, nothing else (for ncu).
 * Result (H100, 2026-11-27, docs/PERF.md): cuBLASLt 414 us; persistent 686-994 us, barriers
 * alone 100 us; the activations re-read from L2 by every unit (1.1 GB of L2 reads a step) are
 * the cost.
 * Build: nvcc -O3 -arch=sm_90 -o stack64_probe bench/cuda/stack64_probe.cu -lcublasLt */
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "chain64.h"

#define M C64_M   /* tokens */
#define G 128     /* blocks = the most units a phase has */
#define F 64      /* output features per unit */
#define KC_MAX 512
#define ROWH (KC_MAX + 8) /* halves per staged row: rows 16 bytes apart mod 128 */
#define THREADS 256
#define LAYERS C64_LAYERS
#define PER_LAYER C64_PER_LAYER
#define PHASES C64_GEMMS
#define SMEM_BYTES ((size_t)3 * F * ROWH * 2)
#define ACC_N 4096 /* rows of an fp32 sum buffer (the widest n) */

typedef struct phase {
    const __half *w; /* n x k */
    const __half *x; /* M rows, stride xs */
    __half *y;       /* M rows, stride ys */
    int32_t n, k, xs, ys, S, act;
} phase;

typedef struct probe_params {
    const phase *ph;
    float *acc;      /* 3 x (ACC_N x M) fp32 partial sums (mode 3: a phase's output, by pi % 3;
                        else the first, zero between phases) */
    unsigned *cnt;   /* per feature tile: units added so far */
    unsigned *bar;   /* the grid barrier's count */
    const float *xst; /* mode 5: a fixed token-major fp32 input (M x 4096) */
    int32_t skip;    /* timing only: 1 no x staging, 2 no mma, 4 no output */
    int32_t mode;    /* 0 full, 1 weights loaded after the wait, 2 barriers only, 3 the next
                        phase reads the fp32 sums (no counter, no rounding pass), 4 the same
                        with token-major sums */
} probe_params;

static __device__ __forceinline__ uint32_t sa(const void *p)
{
    return (uint32_t)__cvta_generic_to_shared(p);
}

static __device__ __forceinline__ void cp16(void *dst, const void *src)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sa(dst)), "l"(src));
}

static __device__ __forceinline__ uint4 ld_cg(const void *p)
{
    uint4 v;
    asm volatile("ld.global.cg.v4.u32 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

static __device__ __forceinline__ void ldsm4(uint32_t r[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(sa(p)));
}

static __device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0,
                                                uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* The unit of block b in phase q: feature tile and K range (false: none) */
static __device__ __forceinline__ bool unit_of(const phase &q, int b, int &f0, int &k0, int &kc)
{
    const int tiles = q.n / F;
    if (b >= tiles * q.S) return false;
    kc = q.k / q.S;
    f0 = (b / q.S) * F;
    k0 = (b % q.S) * kc;
    return true;
}

/* Request the block's weight slice of phase q (F rows x kc) into ws */
static __device__ void fetch_w(const phase &q, __half *ws)
{
    int f0, k0, kc;
    if (!unit_of(q, blockIdx.x, f0, k0, kc)) return;
    const int cpr = kc / 8;
    for (int i = threadIdx.x; i < F * cpr; i += THREADS) {
        const int r = i / cpr, c = i % cpr;
        cp16(ws + r * ROWH + c * 8, q.w + (int64_t)(f0 + r) * q.k + k0 + c * 8);
    }
}

static __device__ __forceinline__ void bar_wait(const unsigned *bar, unsigned target)
{
    if (threadIdx.x == 0) {
        unsigned v;
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(bar) : "memory");
        } while (v < target);
    }
    __syncthreads();
}

static __device__ __forceinline__ void bar_arrive(unsigned *bar)
{
    __syncthreads();
    if (threadIdx.x == 0)
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(bar) : "memory");
}

/* x's rows [0, M), columns [k0, k0 + kc), fp16, into xb: every load issued before any store */
static __device__ __forceinline__ void stage_x16(const phase &q, int k0, int kc, __half *xb)
{
    const int cpr = kc / 8, total = M * cpr;
    uint4 v[16];
#pragma unroll
    for (int u = 0; u < 16; u++) {
        const int i = threadIdx.x + u * THREADS;
        if (i < total) v[u] = ld_cg(q.x + (int64_t)(i / cpr) * q.xs + k0 + (i % cpr) * 8);
    }
#pragma unroll
    for (int u = 0; u < 16; u++) {
        const int i = threadIdx.x + u * THREADS;
        if (i < total) *reinterpret_cast<uint4 *>(xb + (i / cpr) * ROWH + (i % cpr) * 8) = v[u];
    }
}

/* The same from the previous phase's fp32 sums (feature-major: acc[f][token]), GELU if act */
static __device__ __forceinline__ void stage_x32(const float *acc, int k0, int kc, int act,
                                                 __half *xb)
{
    const int total = kc * (M / 4); /* uint4 of 4 tokens */
    for (int base = 0; base < total; base += 16 * THREADS) {
        uint4 v[16];
#pragma unroll
        for (int u = 0; u < 16; u++) {
            const int i = base + threadIdx.x + u * THREADS;
            if (i < total) v[u] = ld_cg(acc + (int64_t)(k0 + i / (M / 4)) * M + (i % (M / 4)) * 4);
        }
#pragma unroll
        for (int u = 0; u < 16; u++) {
            const int i = base + threadIdx.x + u * THREADS;
            if (i < total) {
                const float *f = reinterpret_cast<const float *>(&v[u]);
                const int col = i / (M / 4), tok = (i % (M / 4)) * 4;
                for (int e = 0; e < 4; e++)
                    xb[(tok + e) * ROWH + col] = __float2half_rn(act ? gelu(f[e]) : f[e]);
            }
        }
    }
}

/* The same from token-major sums (acc[token][feature], n features a row): contiguous */
static __device__ __forceinline__ void stage_x32t(const float *acc, int n, int k0, int kc, int act,
                                                  __half *xb)
{
    const int per = kc / 4, total = M * per;
    for (int base = 0; base < total; base += 16 * THREADS) {
        uint4 v[16];
#pragma unroll
        for (int u = 0; u < 16; u++) {
            const int i = base + threadIdx.x + u * THREADS;
            if (i < total) v[u] = ld_cg(acc + (int64_t)(i / per) * n + k0 + (i % per) * 4);
        }
#pragma unroll
        for (int u = 0; u < 16; u++) {
            const int i = base + threadIdx.x + u * THREADS;
            if (i < total) {
                const float *f = reinterpret_cast<const float *>(&v[u]);
                __half2 h2[2];
                h2[0] = __floats2half2_rn(act ? gelu(f[0]) : f[0], act ? gelu(f[1]) : f[1]);
                h2[1] = __floats2half2_rn(act ? gelu(f[2]) : f[2], act ? gelu(f[3]) : f[3]);
                *reinterpret_cast<uint2 *>(xb + (i / per) * ROWH + (i % per) * 4) =
                    *reinterpret_cast<const uint2 *>(h2);
            }
        }
    }
}

__global__ void __launch_bounds__(THREADS, 1) probe_kernel(probe_params p)
{
    extern __shared__ __align__(16) __half sm[];
    __half *wb[2] = {sm, sm + F * ROWH};
    __half *xb = sm + 2 * F * ROWH;
    __shared__ int last;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int fm = (warp & 3) * 16, tn = (warp >> 2) * 32;

    if (p.mode == 0 || p.mode >= 3) fetch_w(p.ph[0], wb[0]);
    asm volatile("cp.async.commit_group;\n" ::);
    for (int pi = 0; pi < PHASES; pi++) {
        const phase q = p.ph[pi];
        if ((p.mode == 0 || p.mode >= 3) && pi + 1 < PHASES) fetch_w(p.ph[pi + 1], wb[(pi + 1) & 1]);
        asm volatile("cp.async.commit_group;\n" ::);
        if (pi > 0) bar_wait(p.bar, (unsigned)(G * pi));
        if (p.mode >= 3 && pi + 1 < PHASES) { /* the buffer phase pi + 1 adds into */
            float *z = p.acc + (size_t)((pi + 1) % 3) * ACC_N * M;
            const int n4 = p.ph[pi + 1].n * M / 4, per = (n4 + G - 1) / G;
            for (int i = blockIdx.x * per + threadIdx.x; i < min(n4, (blockIdx.x + 1) * per);
                 i += THREADS)
                reinterpret_cast<uint4 *>(z)[i] = make_uint4(0, 0, 0, 0);
        }
        int f0, k0, kc;
        const bool has = p.mode != 2 && unit_of(q, blockIdx.x, f0, k0, kc);
        if (has) {
            __half *ws = wb[pi & 1];
            if (p.mode == 1) fetch_w(q, ws);
            asm volatile("cp.async.commit_group;\n" ::);
            if (p.skip & 1)
                ;
            else if (p.mode == 5)
                stage_x32t(p.xst, 4096, k0, kc, 0, xb);
            else if (p.mode == 4 && pi > 0)
                stage_x32t(p.acc + (size_t)((pi - 1) % 3) * ACC_N * M, p.ph[pi - 1].n, k0, kc,
                           p.ph[pi - 1].act, xb);
            else if (p.mode == 3 && pi > 0)
                stage_x32(p.acc + (size_t)((pi - 1) % 3) * ACC_N * M, k0, kc, p.ph[pi - 1].act, xb);
            else
                stage_x16(q, k0, kc, xb);
            /* groups in flight: W(pi) (or the mode-1 fetch), W(pi + 1), the empty last one */
            if (p.mode == 1)
                asm volatile("cp.async.wait_group 0;\n" ::);
            else
                asm volatile("cp.async.wait_group 2;\n" ::);
            __syncthreads();

            float c[4][4];
#pragma unroll
            for (int j = 0; j < 4; j++) c[j][0] = c[j][1] = c[j][2] = c[j][3] = 0.0f;
            /* mode 4: tokens as the A rows, features as B's columns (token-major sums) */
            const __half *ap = (p.mode >= 4 ? xb : ws) + (fm + (lane & 7) + ((lane >> 3) & 1) * 8) * ROWH + (lane >> 4) * 8;
            const __half *bp = (p.mode >= 4 ? ws : xb) + (tn + 8 * (lane >> 4) + (lane & 7)) * ROWH + ((lane >> 3) & 1) * 8;
#pragma unroll 4
            for (int kk = 0; kk < ((p.skip & 2) ? 0 : kc); kk += 16) {
                uint32_t a[4], b01[4], b23[4];
                ldsm4(a, ap + kk);
                ldsm4(b01, bp + kk);
                ldsm4(b23, bp + 16 * ROWH + kk);
                mma16816(c[0], a, b01[0], b01[1]);
                mma16816(c[1], a, b01[2], b01[3]);
                mma16816(c[2], a, b23[0], b23[1]);
                mma16816(c[3], a, b23[2], b23[3]);
            }
            const int fa = f0 + fm + g, fb = fa + 8;
            if (p.skip & 4) {
                if (c[0][0] == 12345.0f) q.y[0] = __float2half_rn(c[1][1] + c[2][2] + c[3][3]);
            } else if (p.mode >= 4) { /* token-major fp32 sums: acc[token][feature] */
                float *acc = p.acc + (size_t)(pi % 3) * ACC_N * M;
                const int ta = fm + g, tb = ta + 8;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const int f = f0 + tn + 8 * j + 2 * t;
                    atomicAdd(reinterpret_cast<float2 *>(acc + (int64_t)ta * q.n + f),
                              make_float2(c[j][0], c[j][1]));
                    atomicAdd(reinterpret_cast<float2 *>(acc + (int64_t)tb * q.n + f),
                              make_float2(c[j][2], c[j][3]));
                }
            } else if (p.mode == 3) { /* fp32 sums, read by the next phase */
                float *acc = p.acc + (size_t)(pi % 3) * ACC_N * M;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const int tok = tn + 8 * j + 2 * t;
                    atomicAdd(reinterpret_cast<float2 *>(acc + (int64_t)fa * M + tok),
                              make_float2(c[j][0], c[j][1]));
                    atomicAdd(reinterpret_cast<float2 *>(acc + (int64_t)fb * M + tok),
                              make_float2(c[j][2], c[j][3]));
                }
            } else if (q.S == 1) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const int tok = tn + 8 * j + 2 * t;
                    float v[4] = {c[j][0], c[j][1], c[j][2], c[j][3]};
                    if (q.act)
                        for (int e = 0; e < 4; e++) v[e] = gelu(v[e]);
                    q.y[(int64_t)tok * q.ys + fa] = __float2half_rn(v[0]);
                    q.y[(int64_t)(tok + 1) * q.ys + fa] = __float2half_rn(v[1]);
                    q.y[(int64_t)tok * q.ys + fb] = __float2half_rn(v[2]);
                    q.y[(int64_t)(tok + 1) * q.ys + fb] = __float2half_rn(v[3]);
                }
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const int tok = tn + 8 * j + 2 * t;
                    atomicAdd(reinterpret_cast<float2 *>(p.acc + (int64_t)fa * M + tok),
                              make_float2(c[j][0], c[j][1]));
                    atomicAdd(reinterpret_cast<float2 *>(p.acc + (int64_t)fb * M + tok),
                              make_float2(c[j][2], c[j][3]));
                }
                __syncthreads();
                if (threadIdx.x == 0) {
                    __threadfence();
                    last = atomicAdd(&p.cnt[f0 / F], 1u) == (unsigned)(q.S - 1);
                    if (last) {
                        p.cnt[f0 / F] = 0;
                        __threadfence();
                    }
                }
                __syncthreads();
                if (last) { /* the tile's sums are complete: round, store, zero */
                    for (int i = threadIdx.x; i < F * M / 4; i += THREADS) {
                        const int f = i / (M / 4), tok = (i % (M / 4)) * 4;
                        float *a = p.acc + (int64_t)(f0 + f) * M + tok;
                        const uint4 u = ld_cg(a);
                        const float *v = reinterpret_cast<const float *>(&u);
                        for (int e = 0; e < 4; e++)
                            q.y[(int64_t)(tok + e) * q.ys + f0 + f] =
                                __float2half_rn(q.act ? gelu(v[e]) : v[e]);
                        *reinterpret_cast<uint4 *>(a) = make_uint4(0, 0, 0, 0);
                    }
                }
            }
        } else {
            asm volatile("cp.async.commit_group;\n" ::);
        }
        if (threadIdx.x == 0) __threadfence();
        bar_arrive(p.bar);
    }
    asm volatile("cp.async.wait_group 0;\n" ::);
}

/* One run of the persistent kernel: the barrier count zeroed, then a cooperative launch */
static void probe_launch(const probe_params *pp, cudaStream_t st)
{
    void *args[] = {(void *)pp};
    CK(cudaMemsetAsync(pp->bar, 0, 4, st));
    CK(cudaLaunchCooperativeKernel((void *)probe_kernel, dim3(G), dim3(THREADS), args, SMEM_BYTES,
                                   st));
}

static void run_probe(const void *pp, cudaStream_t st)
{
    probe_launch((const probe_params *)pp, st);
}

int main(int argc, char **argv)
{
    const int split[PER_LAYER] = {2, 8, 8, 8, 2, 8}; /* units: 96, 128, 128, 128, 128, 128 */
    chain64 c;
    chain64_make(&c);
    __half *x0 = c.x0, *x0_init = c.x0_init;
    phase ph[PHASES];
    for (int i = 0; i < PHASES; i++) {
        const c64_gemm *g = &c.g[i];
        ph[i] = (phase){g->w, g->x, g->y, g->n, g->k, g->xs, g->ys, split[i % PER_LAYER], g->act};
        if (g->n / F * ph[i].S > G || g->k / ph[i].S > KC_MAX) {
            fprintf(stderr, "bad split\n");
            return 1;
        }
    }
    phase *dph;
    float *acc;
    unsigned *cnt, *bar;
    CK(cudaMalloc(&dph, sizeof ph));
    CK(cudaMemcpy(dph, ph, sizeof ph, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&acc, (size_t)3 * ACC_N * M * 4));
    CK(cudaMemset(acc, 0, (size_t)3 * ACC_N * M * 4));
    CK(cudaMalloc(&cnt, 256 * 4));
    CK(cudaMemset(cnt, 0, 256 * 4));
    CK(cudaMalloc(&bar, 4));
    float *xst;
    CK(cudaMalloc(&xst, (size_t)M * 4096 * 4));
    CK(cudaMemset(xst, 0, (size_t)M * 4096 * 4));
    CK(cudaFuncSetAttribute(probe_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            (int)SMEM_BYTES));
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    if (argc > 1) { /* one mode, 3 launches (for a profiler) */
        probe_params pp = {dph, acc, cnt, bar, xst, 0, atoi(argv[1])};
        for (int r = 0; r < 3; r++) probe_launch(&pp, st);
        CK(cudaStreamSynchronize(st));
        return 0;
    }

    const int reps = 20;
    chain64_lt t;
    chain64_lt_make(&t, &c, st, reps);
    cublasLtHandle_t lt = t.lt;
    const __half *ref = t.ref, *zb = t.zb;
    __half *got = (__half *)malloc(M * 1024 * 2);
    void *ws = t.ws;
    const uint64_t ws_bytes = t.ws_bytes;
    const float one = 1.0f, zero = 0.0f;

    /* Two chains of 32 rows (rows 0-31 and 32-63, their own activations) as two branches of
     * one graph, against one such chain alone: would two half-batches overlap? */
    {
        const int M2 = M / 2;
        lt_gemm lh[PER_LAYER];
        cublasLtMatmulHeuristicResult_t hh[PER_LAYER];
        chain64_lt_layer(lt, lh, hh, M2, zb, ws_bytes);
        /* branch b's activations: a copy of every buffer (x0 .. h) */
        const int widths[PER_LAYER] = {3072, 1024, 1024, 1024, 4096, 1024}; /* out widths */
        __half *bo[2][PER_LAYER];
        for (int b = 0; b < 2; b++)
            for (int j = 0; j < PER_LAYER; j++) CK(cudaMalloc(&bo[b][j], (size_t)M2 * widths[j] * 2));
        void *ws2;
        CK(cudaMalloc(&ws2, ws_bytes));
        cudaStream_t st2;
        CK(cudaStreamCreate(&st2));
        cudaEvent_t fork, join;
        CK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
        CK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
        for (int two = 0; two < 2; two++) {
            cudaGraph_t g2;
            cudaGraphExec_t ge2;
            CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
            if (two) {
                CK(cudaEventRecord(fork, st));
                CK(cudaStreamWaitEvent(st2, fork, 0));
            }
            for (int b = 0; b <= two; b++) {
                cudaStream_t sb = b ? st2 : st;
                for (int i = 0; i < PHASES; i++) {
                    const int j = i % PER_LAYER;
                    /* the chain's input of phase j is the output of phase j - 1 (FC2's for QKV) */
                    const __half *xin = bo[b][(j + PER_LAYER - 1) % PER_LAYER];
                    LK(cublasLtMatmul(lt, lh[j].op, &one, ph[i].w, lh[j].a, xin, lh[j].b, &zero,
                                      bo[b][j], lh[j].c, bo[b][j], lh[j].c, &hh[j].algo,
                                      b ? ws2 : ws, ws_bytes, sb));
                    if (j == 4)
                        gelu_kernel<<<M2 * 4096 / 256, 256, 0, sb>>>(bo[b][4], M2 * 4096);
                }
            }
            if (two) {
                CK(cudaEventRecord(join, st2));
                CK(cudaStreamWaitEvent(st, join, 0));
            }
            CK(cudaStreamEndCapture(st, &g2));
            CK(cudaGraphInstantiate(&ge2, g2, 0));
            printf("cuBLASLt, %s: %.1f us a step\n",
                   two ? "two 32-row chains as concurrent graph branches" : "one 32-row chain",
                   chain64_time(chain64_run_graph, ge2, st, reps));
        }
    }

    const char *names[6] = {"persistent, weights fetched a phase ahead",
                            "persistent, weights fetched after the wait",
                            "persistent, barriers only",
                            "persistent, fp32 sums read by the next phase (no rounding pass)",
                            "persistent, the same with token-major sums (tokens as the mma's A)",
                            "persistent, token-major, x staged from a fixed buffer (timing only)"};
    float *accf = (float *)malloc((size_t)ACC_N * M * 4);
    for (int mode = 0; mode < 6; mode++) {
        probe_params pp = {dph, acc, cnt, bar, xst, 0, mode};
        /* the first run from x0_init: its result against cuBLASLt's */
        CK(cudaMemcpy(x0, x0_init, M * 1024 * 2, cudaMemcpyDeviceToDevice));
        probe_launch(&pp, st);
        CK(cudaStreamSynchronize(st));
        if (mode < 2) CK(cudaMemcpy(got, x0, M * 1024 * 2, cudaMemcpyDeviceToHost));
        if (mode >= 3) { /* the last phase's sums: buffer (PHASES - 1) % 3 */
            CK(cudaMemcpy(accf, acc + (size_t)((PHASES - 1) % 3) * ACC_N * M,
                          (size_t)1024 * M * 4, cudaMemcpyDeviceToHost));
            for (int f = 0; f < 1024; f++)
                for (int tk = 0; tk < M; tk++)
                    got[tk * 1024 + f] =
                        __float2half_rn(mode == 4 ? accf[tk * 1024 + f] : accf[f * M + tk]);
        }
        const float tm = chain64_time(run_probe, &pp, st, reps); /* a memset in each run */
        printf("%s: %.1f us a step (%.2f us a phase)", names[mode], tm, tm / PHASES);
        if (mode != 2 && mode != 5) {
            float mx = 0.0f, md = 0.0f;
            for (int i = 0; i < M * 1024; i++) {
                const float a = __half2float(ref[i]), b = __half2float(got[i]);
                mx = fmaxf(mx, fabsf(a));
                md = fmaxf(md, fabsf(a - b));
                if (!(b == b)) md = INFINITY;
            }
            printf("; vs cuBLASLt max|diff| / max|ref| = %.3g (max|ref| %.3g)", md / mx, mx);
        }
        printf("\n");
    }
    for (int skip = 1; skip < 8; skip++) {
        probe_params pp = {dph, acc, cnt, bar, xst, skip, 4};
        const float tm = chain64_time(run_probe, &pp, st, reps);
        printf("mode 4 without%s%s%s: %.1f us a step (%.2f us a phase)\n",
               (skip & 1) ? " x staging" : "", (skip & 2) ? " mma" : "", (skip & 4) ? " output" : "",
               tm, tm / PHASES);
    }
    return 0;
}
