/* Does the lm_head's output stride decide cuBLASLt's kernel?
 *
 * mBART-50's vocabulary has 250,054 entries: a logits row is 500,108 bytes, 12 bytes past a
 * multiple of 16. cuBLASLt's Hopper kernels (nvjet, TMA) need 16-byte aligned strides, so with the
 * logits rows packed (ldc = n) it may fall back to an sm80 kernel (cp.async). This times, per row
 * count m, y(m, n) = x(m, 1024) W(n, 1024)^T + bias with
 *   A: n = 250,054, ldc = 250,054 (packed rows: what glossa does),
 *   B: n = 250,054, ldc = 250,056 (rows padded to 16 bytes, the same outputs),
 *   C: n = 250,056, ldc = 250,056 (the weight padded too),
 * for each: the heuristic's first algorithm and the fastest of its first 8, each as a graph of
 * REPS back-to-back calls (512 MB of weight: no L2 reuse between calls), with the kernel names.
 * Build: nvcc -O3 -arch=sm_90 -o lt_ldc_probe bench/cuda/lt_ldc_probe.cu -lcublasLt */
#include <cublasLt.h>
#include <cuda.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_check.h"
#include "graph_names.h"
#include "lt_gemm.h"

#define REPS 10
#define CANDS 8

__global__ void fill(__half *p, size_t n, float v)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        p[i] = __float2half(v * (float)((i * 2654435761u) % 17) - 8.0f * v);
}

typedef struct probe {
    cublasLtHandle_t lt;
    cudaStream_t st;
    void *ws;
    size_t ws_bytes;
} probe;

/* Times one algorithm: us per call over a graph of REPS calls; names the first kernel. */
static float time_algo(probe *p, const lt_gemm *gm, const void *w, const void *x, void *y,
                       const cublasLtMatmulAlgo_t *algo, char *name, size_t name_cap)
{
    const float alpha = 1.0f, beta = 0.0f;
    cudaGraph_t g;
    CK(cudaStreamBeginCapture(p->st, cudaStreamCaptureModeThreadLocal));
    for (int r = 0; r < REPS; r++)
        if (cublasLtMatmul(p->lt, gm->op, &alpha, w, gm->a, x, gm->b, &beta, y, gm->c, y, gm->c,
                           algo, p->ws, p->ws_bytes, p->st) != CUBLAS_STATUS_SUCCESS) {
            cudaStreamEndCapture(p->st, &g);
            if (g) cudaGraphDestroy(g);
            cudaGetLastError();
            return -1.0f;
        }
    CK(cudaStreamEndCapture(p->st, &g));
    size_t n = 0;
    CK(cudaGraphGetNodes(g, NULL, &n));
    name[0] = 0;
    if (n) {
        cudaGraphNode_t *nodes = (cudaGraphNode_t *)malloc(n * sizeof *nodes);
        CK(cudaGraphGetNodes(g, nodes, &n));
        size_t per = n / REPS, used = 0;
        for (size_t i = 0; i < per && i < n; i++) {
            const char *nm = cuda_graph_kernel_name(nodes[i]);
            used += (size_t)snprintf(name + used, used < name_cap ? name_cap - used : 0, "%s%.60s",
                                     i ? " + " : "", nm ? nm : "-");
            if (used >= name_cap) break;
        }
        free(nodes);
    }
    cudaGraphExec_t ex;
    CK(cudaGraphInstantiate(&ex, g, 0));
    CK(cudaGraphLaunch(ex, p->st)); /* warm */
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    float best = 1e30f;
    for (int t = 0; t < 3; t++) {
        CK(cudaEventRecord(e0, p->st));
        CK(cudaGraphLaunch(ex, p->st));
        CK(cudaEventRecord(e1, p->st));
        CK(cudaStreamSynchronize(p->st));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        if (ms < best) best = ms;
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaGraphExecDestroy(ex));
    CK(cudaGraphDestroy(g));
    return best * 1000.0f / REPS;
}

static void run(probe *p, int m, int n, int ldc, const __half *w, const __half *x, __half *y,
                const __half *bias)
{
    const int k = 1024;
    lt_gemm g;
    lt_gemm_make(&g, m, n, k, ldc, bias, p->ws_bytes);
    cublasLtMatmulHeuristicResult_t res[CANDS];
    int nres = 0;
    LK(cublasLtMatmulAlgoGetHeuristic(p->lt, g.op, g.a, g.b, g.c, g.c, g.pref, CANDS, res, &nres));
    char name[512], best_name[512] = "";
    float first = -1.0f, best = 1e30f;
    int best_i = -1;
    for (int i = 0; i < nres; i++) {
        float us = time_algo(p, &g, w, x, y, &res[i].algo, name, sizeof name);
        if (i == 0) first = us;
        if (us > 0 && us < best) {
            best = us;
            best_i = i;
            strcpy(best_name, name);
        }
        if (i == 0) printf("    first: %.1f us  %s\n", us, name);
    }
    printf("  m=%d n=%d ldc=%d: %d candidates, first %.1f us, best #%d %.1f us (%.2f TB/s of "
           "weight+logits)  %s\n",
           m, n, ldc, nres, first, best_i, best,
           ((double)n * k * 2 + (double)m * n * 2) / (best * 1e-6) / 1e12, best_name);
    fflush(stdout);
    lt_gemm_free(&g);
}

int main(void)
{
    probe p;
    LK(cublasLtCreate(&p.lt));
    CK(cudaStreamCreate(&p.st));
    p.ws_bytes = (size_t)32 << 20;
    CK(cudaMalloc(&p.ws, p.ws_bytes));
    const int nmax = 250056, k = 1024, mmax = 128;
    __half *x, *w, *y, *bias;
    CK(cudaMalloc(&x, (size_t)mmax * k * 2));
    CK(cudaMalloc(&w, (size_t)nmax * k * 2));
    CK(cudaMalloc(&y, (size_t)mmax * nmax * 2));
    CK(cudaMalloc(&bias, (size_t)nmax * 2));
    fill<<<1024, 256, 0, p.st>>>(w, (size_t)nmax * k, 1.0f / 256.0f);
    fill<<<64, 256, 0, p.st>>>(x, (size_t)mmax * k, 1.0f / 16.0f);
    fill<<<64, 256, 0, p.st>>>(bias, (size_t)nmax, 0.0f);
    CK(cudaStreamSynchronize(p.st));
    static const int ms[] = {33, 48, 64, 128};
    for (int i = 0; i < 4; i++) {
        run(&p, ms[i], 250054, 250054, w, x, y, bias);
        run(&p, ms[i], 250054, 250056, w, x, y, bias);
        run(&p, ms[i], 250056, 250056, w, x, y, bias);
    }
    return 0;
}
