/* What one dependent step of a decode pass costs on this GPU, by the way steps are joined.
 *
 * A batch-1 decode step is ~150 dependent operations whose data is small (a 2 KB activation
 * vector) and whose weights are 2-8 MB each: their time is the fixed cost of each dependency,
 * not the bytes. This measures that fixed cost for the ways glossa can join them:
 *   kern      a chain of kernels in one CUDA graph (what glossa does with PDL off);
 *   kern+pdl  the same with programmatic dependent launch, weights read before griddepcontrol.wait
 *             (what the skinny kernel does);
 *   persist   one persistent kernel, one block per SM, steps joined by a grid barrier (atomic
 *             counter, acquire spin), weights read after the barrier;
 *   persist+pf the same with the next step's weight slice fetched into shared memory (cp.async)
 *             before the barrier, so the barrier and the weight stream overlap.
 * Each step: every block reads the whole D-element fp16 vector the previous step wrote, reduces
 * it together with its 16 KB weight slice (WB bytes; 0 = no weights), and writes 16 elements of
 * the next vector. Per-step cost = slope between N = 16 and N = 96 steps (launch costs cancel).
 * Build: nvcc -O3 -arch=sm_90 -o sync_cost bench/cuda/sync_cost.cu; run: ./sync_cost */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_check.h"

#define D 2048     /* vector elements (fp16): every block reads all of it each step */
#define THREADS 256
#define WB 16384   /* weight bytes per block per step */

static __device__ __forceinline__ float block_sum(float v, float *sh)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.0f;
    for (int w = 0; w < THREADS / 32; w++) t += sh[w];
    __syncthreads();
    return t;
}

static __device__ __forceinline__ float h8sum(uint4 u)
{
    const __half2 *h = reinterpret_cast<const __half2 *>(&u);
    float s = 0.0f;
    for (int i = 0; i < 4; i++) {
        float2 f = __half22float2(h[i]);
        s += f.x + f.y;
    }
    return s;
}

/* weight slice of (step, block): WB bytes, each thread WB / 16 / THREADS 16-byte loads */
static __device__ __forceinline__ float weight_sum(const uint4 *w, int step, int nb, int wb)
{
    if (!wb) return 0.0f;
    const uint4 *p = w + ((size_t)step * nb + blockIdx.x) * (wb / 16);
    float s = 0.0f;
    uint4 r[WB / 16 / THREADS];
#pragma unroll
    for (int i = 0; i < WB / 16 / THREADS; i++) r[i] = __ldcs(p + threadIdx.x + i * THREADS);
#pragma unroll
    for (int i = 0; i < WB / 16 / THREADS; i++) s += h8sum(r[i]);
    return s;
}

static __device__ __forceinline__ float vec_sum(const __half *in)
{
    float s = 0.0f;
    for (int i = threadIdx.x * 8; i < D; i += THREADS * 8) {
        uint4 u;
        asm volatile("ld.global.cg.v4.u32 {%0,%1,%2,%3}, [%4];"
                     : "=r"(u.x), "=r"(u.y), "=r"(u.z), "=r"(u.w)
                     : "l"(in + i));
        s += h8sum(u);
    }
    return s;
}

static __device__ __forceinline__ void write_out(__half *out, float t)
{
    if (threadIdx.x < 16) {
        int i = blockIdx.x * 16 + threadIdx.x;
        if (i < D) out[i] = __float2half(t * 1e-4f + threadIdx.x * 1e-3f);
    }
}

__global__ void __launch_bounds__(THREADS) step_kernel(const __half *in, __half *out, const uint4 *w,
                                                       int step, int wb, int pdl)
{
    __shared__ float sh[THREADS / 32];
    float s = 0.0f;
    if (pdl) {
        asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
        s = weight_sum(w, step, gridDim.x, wb); /* weights do not depend on the previous step */
        asm volatile("griddepcontrol.wait;" ::: "memory");
    } else {
        s = weight_sum(w, step, gridDim.x, wb);
    }
    s += vec_sum(in);
    write_out(out, block_sum(s, sh));
}

static __device__ __forceinline__ void grid_barrier(unsigned *ctr, unsigned target)
{
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned v;
        asm volatile("atom.add.release.gpu.u32 %0, [%1], 1;" : "=r"(v) : "l"(ctr) : "memory");
        do {
            asm volatile("ld.acquire.gpu.u32 %0, [%1];" : "=r"(v) : "l"(ctr) : "memory");
        } while (v < target);
    }
    __syncthreads();
}

static __device__ __forceinline__ void cp_async16(void *smem, const void *g)
{
    unsigned sa = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sa), "l"(g) : "memory");
}

__global__ void __launch_bounds__(THREADS) persist_kernel(__half *a, __half *b, const uint4 *w,
                                                          int n_steps, int wb, int pf,
                                                          unsigned *ctr)
{
    __shared__ float sh[THREADS / 32];
    __shared__ uint4 wbuf[2][WB / 16];
    const int nb = gridDim.x;
    const int per = WB / 16 / THREADS;
    if (pf && wb) {
        const uint4 *p = w + (size_t)blockIdx.x * (WB / 16);
        for (int i = 0; i < per; i++) cp_async16(&wbuf[0][threadIdx.x + i * THREADS], p + threadIdx.x + i * THREADS);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    for (int st = 0; st < n_steps; st++) {
        const __half *in = st & 1 ? b : a;
        __half *out = st & 1 ? a : b;
        float s = 0.0f;
        if (pf && wb) {
            if (st + 1 < n_steps) { /* next step's slice in flight across this step and barrier */
                const uint4 *p = w + ((size_t)(st + 1) * nb + blockIdx.x) * (WB / 16);
                for (int i = 0; i < per; i++)
                    cp_async16(&wbuf[(st + 1) & 1][threadIdx.x + i * THREADS], p + threadIdx.x + i * THREADS);
            }
            asm volatile("cp.async.commit_group;" ::: "memory");
            asm volatile("cp.async.wait_group 1;" ::: "memory");
            for (int i = 0; i < per; i++) s += h8sum(wbuf[st & 1][threadIdx.x + i * THREADS]);
        } else {
            s = weight_sum(w, st, nb, wb);
        }
        s += vec_sum(in);
        write_out(out, block_sum(s, sh));
        grid_barrier(ctr, (unsigned)(st + 1) * nb);
    }
}

int main(void)
{
    int dev = 0, sms = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, dev));
    printf("device: %s, %d SMs\n", prop.name, sms);
    const int NMAX = 96;
    __half *a, *b;
    uint4 *w;
    unsigned *ctr;
    size_t wbytes = (size_t)NMAX * 256 * WB; /* up to 256 blocks */
    CK(cudaMalloc(&a, D * 2));
    CK(cudaMalloc(&b, D * 2));
    CK(cudaMalloc(&w, wbytes));
    CK(cudaMalloc(&ctr, 4));
    CK(cudaMemset(a, 0, D * 2));
    CK(cudaMemset(b, 0, D * 2));
    CK(cudaMemset(w, 0x11, wbytes));
    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int reps = 50;

    /* chains of kernels in a graph */
    const int nbk[2] = {64, 132};
    for (int bi = 0; bi < 2; bi++) {
        const int blocks = nbk[bi];
        for (int pdl = 0; pdl < 2; pdl++) {
            for (int wbi = 0; wbi < 2; wbi++) {
                int wb = wbi ? WB : 0;
                float per_n[2];
                const int ns[2] = {16, NMAX};
                for (int k = 0; k < 2; k++) {
                    cudaGraph_t g;
                    cudaGraphExec_t ge;
                    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
                    for (int i = 0; i < ns[k]; i++) {
                        cudaLaunchConfig_t cfg = {};
                        cudaLaunchAttribute at[1];
                        cfg.gridDim = dim3(blocks);
                        cfg.blockDim = dim3(THREADS);
                        cfg.stream = st;
                        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
                        at[0].val.programmaticStreamSerializationAllowed = 1;
                        cfg.attrs = at;
                        cfg.numAttrs = pdl;
                        CK(cudaLaunchKernelEx(&cfg, step_kernel, (const __half *)(i & 1 ? b : a),
                                              i & 1 ? a : b, (const uint4 *)w, i, wb, pdl));
                    }
                    CK(cudaStreamEndCapture(st, &g));
                    CK(cudaGraphInstantiate(&ge, g, 0));
                    for (int r = 0; r < 5; r++) CK(cudaGraphLaunch(ge, st));
                    CK(cudaEventRecord(e0, st));
                    for (int r = 0; r < reps; r++) CK(cudaGraphLaunch(ge, st));
                    CK(cudaEventRecord(e1, st));
                    CK(cudaEventSynchronize(e1));
                    float ms;
                    CK(cudaEventElapsedTime(&ms, e0, e1));
                    per_n[k] = ms * 1000.0f / reps;
                    CK(cudaGraphExecDestroy(ge));
                    CK(cudaGraphDestroy(g));
                }
                printf("kern%-4s blocks %3d weights %5d B/block: %6.2f us/step (N=16 %.1f us, N=%d %.1f us)\n",
                       pdl ? "+pdl" : "", blocks, wb, (per_n[1] - per_n[0]) / (NMAX - 16), per_n[0],
                       NMAX, per_n[1]);
            }
        }
    }

    /* persistent kernel with grid barriers: one block per SM */
    for (int pf = 0; pf < 2; pf++) {
        for (int wbi = 0; wbi < 2; wbi++) {
            int wb = wbi ? WB : 0;
            if (pf && !wb) continue;
            float per_n[2];
            const int ns[2] = {16, NMAX};
            for (int k = 0; k < 2; k++) {
                float tot = 0.0f;
                for (int r = -3; r < reps; r++) {
                    CK(cudaMemsetAsync(ctr, 0, 4, st));
                    if (r == 0) CK(cudaEventRecord(e0, st));
                    void *args[] = {&a, &b, &w, (void *)&ns[k], &wb, &pf, &ctr};
                    CK(cudaLaunchCooperativeKernel((void *)persist_kernel, dim3(sms), dim3(THREADS),
                                                   args, 0, st));
                }
                CK(cudaEventRecord(e1, st));
                CK(cudaEventSynchronize(e1));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                tot = ms * 1000.0f / reps;
                per_n[k] = tot;
            }
            printf("persist%-3s blocks %3d weights %5d B/block: %6.2f us/step (N=16 %.1f us, N=%d %.1f us)\n",
                   pf ? "+pf" : "", sms, wb, (per_n[1] - per_n[0]) / (NMAX - 16), per_n[0], NMAX,
                   per_n[1]);
        }
    }
    CK(cudaGetLastError());
    return 0;
}
