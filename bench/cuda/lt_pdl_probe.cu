/* Do cuBLASLt's kernels wait for their predecessor when a graph joins them by a programmatic edge?
 *
 * cuBLASLt launches its kernels without programmatic dependent launch, so in a captured decode
 * pass each GEMM starts only after the kernel before it ended. Turning the captured edges into its
 * kernels programmatic would overlap their launch with the kernel before, but is safe only for
 * kernels that execute griddepcontrol.wait (SASS ACQBULK) before reading their inputs; the nvjet
 * kernels are not in the fatbin cuobjdump lists, so this asks the kernels themselves.
 *
 * For each decode GEMM shape: a graph of [late_writer, cublasLtMatmul] where late_writer triggers
 * its dependents first thing, spins ~200 us, then writes x = 1. The edges into the GEMM's kernels
 * are made programmatic. A kernel that executes griddepcontrol.wait starts early but reads x only
 * after late_writer ended: y = x W^T = 1 exactly (W = 1 / k). A kernel that does not wait reads
 * x = 0 and leaves y = 0 (or a mix). Printed per shape: the graph's kernels, the edges changed,
 * how many outputs are wrong, and the graph time with and without the edges changed.
 * Kernel names: cuGraphKernelNodeGetParams + cuFuncGetName through cudaGetDriverEntryPointByVersion.
 * Build: nvcc -O3 -arch=sm_90 -o lt_pdl_probe bench/cuda/lt_pdl_probe.cu -lcublasLt
 * Result (H100, CUDA 13.0, 2026-11-26): no kernel waits (docs/PERF.md). */
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

/* Make every plain edge from a kernel node into a kernel node whose name `want` accepts
 * programmatic (fired when the upstream kernel's blocks have all triggered or exited). Returns the
 * edges changed, or -1 when the graph could not be read or changed (it may then be half changed:
 * drop it). */
static int cuda_graph_pdl_edges(cudaGraph_t g, int (*want)(const char *name))
{
    size_t n = 0;
    if (cudaGraphGetEdges(g, NULL, NULL, NULL, &n) != cudaSuccess) return -1;
    if (n == 0) return 0;
    cudaGraphNode_t *from = (cudaGraphNode_t *)malloc(n * sizeof *from);
    cudaGraphNode_t *to = (cudaGraphNode_t *)malloc(n * sizeof *to);
    cudaGraphEdgeData *ed = (cudaGraphEdgeData *)malloc(n * sizeof *ed);
    int changed = 0;
    if (!from || !to || !ed || cudaGraphGetEdges(g, from, to, ed, &n) != cudaSuccess) changed = -1;
    for (size_t i = 0; changed >= 0 && i < n; i++) {
        if (ed[i].type != cudaGraphDependencyTypeDefault) continue;
        const char *dst = cuda_graph_kernel_name(to[i]);
        if (!dst || !want(dst) || !cuda_graph_kernel_name(from[i])) continue;
        cudaGraphEdgeData pe = ed[i];
        pe.type = cudaGraphDependencyTypeProgrammatic;
        pe.from_port = cudaGraphKernelNodePortProgrammatic;
        if (cudaGraphRemoveDependencies(g, &from[i], &to[i], &ed[i], 1) != cudaSuccess ||
            cudaGraphAddDependencies(g, &from[i], &to[i], &pe, 1) != cudaSuccess)
            changed = -1;
        else
            changed++;
    }
    free(from);
    free(to);
    free(ed);
    cudaGetLastError();
    return changed;
}

__global__ void late_writer(__half *x, int n, long long spin)
{
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    const long long t0 = clock64();
    while (clock64() - t0 < spin) {
    }
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[i] = __float2half(1.0f);
}

__global__ void fill(__half *p, size_t n, float v)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        p[i] = __float2half(v);
}

static const char *g_only; /* NULL: every kernel gets the edges */
static int want_all(const char *name)
{
    return !g_only || strncmp(name, g_only, strlen(g_only)) == 0;
}

static void list_kernels(cudaGraph_t g)
{
    size_t n = 0;
    CK(cudaGraphGetNodes(g, NULL, &n));
    cudaGraphNode_t nodes[64];
    if (n > 64) n = 64;
    CK(cudaGraphGetNodes(g, nodes, &n));
    for (size_t i = 0; i < n; i++) {
        const char *name = cuda_graph_kernel_name(nodes[i]);
        cudaGraphNodeType t;
        CK(cudaGraphNodeGetType(nodes[i], &t));
        printf("    node %zu: type %d %s\n", i, (int)t, name ? name : "-");
    }
}

int main(void)
{
    cublasLtHandle_t lt;
    LK(cublasLtCreate(&lt));
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    void *ws;
    const size_t ws_bytes = (size_t)32 << 20;
    CK(cudaMalloc(&ws, ws_bytes));
    static const int shapes[][4] = {/* m, n, k, beta */
                                    {64, 1024, 1024, 0}, {64, 1024, 1024, 1}, {64, 3072, 1024, 0},
                                    {64, 4096, 1024, 0}, {64, 1024, 4096, 1}, {64, 250054, 1024, 0},
                                    {128, 1024, 1024, 1}};
    for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
        const int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2], b1 = shapes[si][3];
        __half *x, *w, *y, *bias;
        CK(cudaMalloc(&x, (size_t)m * k * 2));
        CK(cudaMalloc(&w, (size_t)n * k * 2));
        CK(cudaMalloc(&y, (size_t)m * n * 2));
        CK(cudaMalloc(&bias, (size_t)n * 2));
        fill<<<1024, 256, 0, st>>>(w, (size_t)n * k, 1.0f / (float)k);
        fill<<<64, 256, 0, st>>>(bias, (size_t)n, 0.0f);
        lt_gemm gm;
        lt_gemm_make(&gm, m, n, k, n, bias, ws_bytes);
        cublasLtMatmulHeuristicResult_t res;
        int nres = 0;
        LK(cublasLtMatmulAlgoGetHeuristic(lt, gm.op, gm.a, gm.b, gm.c, gm.c, gm.pref, 1, &res,
                                          &nres));
        const float alpha = 1.0f, beta = b1 ? 1.0f : 0.0f;
        printf("m=%d n=%d k=%d beta=%d\n", m, n, k, b1);
        for (int variant = 0; variant < 2; variant++) { /* 0: plain edges, 1: programmatic */
            cudaGraph_t g;
            CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
            late_writer<<<1, 256, 0, st>>>(x, m * k, 400000);
            LK(cublasLtMatmul(lt, gm.op, &alpha, w, gm.a, x, gm.b, &beta, y, gm.c, y, gm.c,
                              &res.algo, ws, ws_bytes, st));
            CK(cudaStreamEndCapture(st, &g));
            int changed = 0;
            if (variant) {
                list_kernels(g);
                changed = cuda_graph_pdl_edges(g, want_all);
            }
            cudaGraphExec_t ex;
            CK(cudaGraphInstantiate(&ex, g, 0));
            int bad = 0;
            float ms_sum = 0.0f;
            cudaEvent_t e0, e1;
            CK(cudaEventCreate(&e0));
            CK(cudaEventCreate(&e1));
            for (int r = 0; r < 5; r++) {
                CK(cudaMemsetAsync(x, 0, (size_t)m * k * 2, st));
                CK(cudaMemsetAsync(y, 0, (size_t)m * n * 2, st)); /* beta = 1: C = 0 */
                CK(cudaEventRecord(e0, st));
                CK(cudaGraphLaunch(ex, st));
                CK(cudaEventRecord(e1, st));
                CK(cudaStreamSynchronize(st));
                float ms;
                CK(cudaEventElapsedTime(&ms, e0, e1));
                ms_sum += ms;
                static __half h[1 << 16];
                const size_t cnt = (size_t)m * n < (1 << 16) ? (size_t)m * n : (1 << 16);
                CK(cudaMemcpy(h, y + ((size_t)m * n - cnt), cnt * 2, cudaMemcpyDeviceToHost));
                for (size_t i = 0; i < cnt; i++)
                    if (__half2float(h[i]) != 1.0f) bad++;
            }
            printf("  %s: edges changed %d, wrong outputs %d (of 5 x the last 64k), graph %.1f us\n",
                   variant ? "programmatic" : "plain", changed, bad, ms_sum / 5 * 1000.0f);
            CK(cudaGraphExecDestroy(ex));
            CK(cudaGraphDestroy(g));
        }
        lt_gemm_free(&gm);
        CK(cudaFree(x));
        CK(cudaFree(w));
        CK(cudaFree(y));
        CK(cudaFree(bias));
    }
    return 0;
}
