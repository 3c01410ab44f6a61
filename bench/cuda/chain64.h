/* The 64-row decoder chain of the bench/cuda probes (stack64_probe, gemm64_cluster_probe): the 72
 * GEMMs of an mbart-large-50 decode step on 64 tokens, 12 layers x [QKV (3072 x 1024), O,
 * cross-Q, cross-O (1024 x 1024), FC1 (4096 x 1024, exact GELU after it), FC2 (1024 x 4096)],
 * fp16, no bias, chained through their activations: x0 -> QKV -> qkv; qkv[:, :1024] -> O -> x1
 * -> cQ -> q2 -> cO -> x2 -> FC1 -> h (GELU) -> FC2 -> x0. Random weights scaled by
 * sqrt(3 / k) keep the activations in range over the 72 GEMMs. Also the cuBLASLt plans of a
 * layer (as glossa runs its GEMMs) and the probes' timing loop. */
#ifndef GLOSSA_BENCH_CUDA_CHAIN64_H
#define GLOSSA_BENCH_CUDA_CHAIN64_H

#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_check.h"
#include "lt_gemm.h"

#define C64_M         64 /* tokens */
#define C64_LAYERS    12
#define C64_PER_LAYER 6
#define C64_GEMMS     (C64_LAYERS * C64_PER_LAYER)

/* n (output features) and k of a layer's GEMMs, and the row stride of their inputs */
static const int c64_dims[C64_PER_LAYER][2] = {{3072, 1024}, {1024, 1024}, {1024, 1024},
                                               {1024, 1024}, {4096, 1024}, {1024, 4096}};
static const int c64_xs[C64_PER_LAYER] = {1024, 3072, 1024, 1024, 1024, 4096};

typedef struct c64_gemm {
    const __half *w;           /* n x k */
    const __half *x;           /* C64_M rows, stride xs */
    __half *y;                 /* C64_M rows, stride ys (= n) */
    int32_t n, k, xs, ys, act; /* act: exact GELU on the output (FC1) */
} c64_gemm;

typedef struct chain64 {
    __half *w[C64_LAYERS][C64_PER_LAYER];
    size_t wbytes;
    __half *x0, *x0_init, *qkv, *x1, *q2, *x2, *h;
    c64_gemm g[C64_GEMMS];
} chain64;

static __device__ __forceinline__ float gelu(float v)
{
    return 0.5f * v * (1.0f + erff(v * 0.70710678f));
}

__global__ void fill_kernel(__half *w, int64_t n, float a, uint32_t seed)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        w[i] = __float2half_rn(a * ((float)(h & 0xffffff) / 8388608.0f - 1.0f));
    }
}

__global__ void gelu_kernel(__half *h, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) h[i] = __float2half_rn(gelu(__half2float(h[i])));
}

/* The weights, the activation buffers (x0_init random, the chain's input) and the GEMM table */
static void chain64_make(chain64 *c)
{
    c->wbytes = 0;
    for (int l = 0; l < C64_LAYERS; l++)
        for (int j = 0; j < C64_PER_LAYER; j++) {
            const int64_t n = (int64_t)c64_dims[j][0] * c64_dims[j][1];
            CK(cudaMalloc(&c->w[l][j], n * 2));
            fill_kernel<<<512, 256>>>(c->w[l][j], n, sqrtf(3.0f / c64_dims[j][1]),
                                      977u * (l * 8 + j + 1));
            c->wbytes += n * 2;
        }
    CK(cudaMalloc(&c->x0, C64_M * 1024 * 2));
    CK(cudaMalloc(&c->x0_init, C64_M * 1024 * 2));
    CK(cudaMalloc(&c->qkv, C64_M * 3072 * 2));
    CK(cudaMalloc(&c->x1, C64_M * 1024 * 2));
    CK(cudaMalloc(&c->q2, C64_M * 1024 * 2));
    CK(cudaMalloc(&c->x2, C64_M * 1024 * 2));
    CK(cudaMalloc(&c->h, C64_M * 4096 * 2));
    fill_kernel<<<64, 256>>>(c->x0_init, C64_M * 1024, 1.0f, 12345u);
    const __half *in[C64_PER_LAYER] = {c->x0, c->qkv, c->x1, c->q2, c->x2, c->h};
    __half *out[C64_PER_LAYER] = {c->qkv, c->x1, c->q2, c->x2, c->h, c->x0};
    for (int i = 0; i < C64_GEMMS; i++) {
        const int j = i % C64_PER_LAYER;
        c->g[i] = (c64_gemm){c->w[i / C64_PER_LAYER][j],
                             in[j],
                             out[j],
                             c64_dims[j][0],
                             c64_dims[j][1],
                             c64_xs[j],
                             c64_dims[j][0],
                             j == 4};
    }
}

/* A layer's six cuBLASLt GEMMs at m rows (x with its GEMM's stride) and their algorithms */
static void chain64_lt_layer(cublasLtHandle_t lt, lt_gemm lg[C64_PER_LAYER],
                             cublasLtMatmulHeuristicResult_t hr[C64_PER_LAYER], int m,
                             const __half *zb, uint64_t ws_bytes)
{
    for (int j = 0; j < C64_PER_LAYER; j++) {
        lt_gemm_make(&lg[j], m, c64_dims[j][0], c64_dims[j][1], c64_dims[j][0], zb, ws_bytes);
        /* x has stride xs: describe B with its leading dimension */
        cublasLtMatrixLayoutDestroy(lg[j].b);
        LK(cublasLtMatrixLayoutCreate(&lg[j].b, CUDA_R_16F, c64_dims[j][1], m, c64_xs[j]));
        int got = 0;
        LK(cublasLtMatmulAlgoGetHeuristic(lt, lg[j].op, lg[j].a, lg[j].b, lg[j].c, lg[j].c,
                                          lg[j].pref, 1, &hr[j], &got));
        if (!got) {
            fprintf(stderr, "no cuBLASLt algo\n");
            exit(1);
        }
    }
}

/* us per run of reps back-to-back runs (after one untimed): run(arg, st) enqueues one */
static float chain64_time(void (*run)(const void *, cudaStream_t), const void *arg, cudaStream_t st,
                          int reps)
{
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    run(arg, st);
    CK(cudaEventRecord(e0, st));
    for (int r = 0; r < reps; r++)
        run(arg, st);
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    float ms = 0.0f;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    return 1000.0f * ms / reps;
}

static void chain64_run_graph(const void *ge, cudaStream_t st)
{
    CK(cudaGraphLaunch((cudaGraphExec_t)ge, st));
}

/* The cuBLASLt chain, captured in a graph: the reference (x0 after the 72 GEMMs from x0_init,
 * on the host) and the time to beat */
typedef struct chain64_lt {
    cublasLtHandle_t lt;
    void *ws;
    uint64_t ws_bytes;
    __half *zb; /* a zero bias */
    lt_gemm lg[C64_PER_LAYER];
    cublasLtMatmulHeuristicResult_t hr[C64_PER_LAYER];
    cudaGraphExec_t ge;
    float us; /* a step */
    __half *ref;
} chain64_lt;

/* GEMM i of the chain through cuBLASLt (and FC1's GELU kernel), enqueued on st */
static void chain64_lt_enqueue(const chain64_lt *t, const chain64 *c, int i, cudaStream_t st)
{
    const float one = 1.0f, zero = 0.0f;
    const int j = i % C64_PER_LAYER;
    const c64_gemm *g = &c->g[i];
    LK(cublasLtMatmul(t->lt, t->lg[j].op, &one, g->w, t->lg[j].a, g->x, t->lg[j].b, &zero, g->y,
                      t->lg[j].c, g->y, t->lg[j].c, &t->hr[j].algo, t->ws, t->ws_bytes, st));
    if (g->act) gelu_kernel<<<C64_M * g->n / 256, 256, 0, st>>>(g->y, C64_M * g->n);
}

static void chain64_lt_make(chain64_lt *t, const chain64 *c, cudaStream_t st, int reps)
{
    LK(cublasLtCreate(&t->lt));
    t->ws_bytes = 32u << 20;
    CK(cudaMalloc(&t->ws, t->ws_bytes));
    CK(cudaMalloc(&t->zb, 4096 * 2));
    CK(cudaMemset(t->zb, 0, 4096 * 2));
    chain64_lt_layer(t->lt, t->lg, t->hr, C64_M, t->zb, t->ws_bytes);
    cudaGraph_t graph;
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < C64_GEMMS; i++) chain64_lt_enqueue(t, c, i, st);
    CK(cudaStreamEndCapture(st, &graph));
    CK(cudaGraphInstantiate(&t->ge, graph, 0));
    t->ref = (__half *)malloc(C64_M * 1024 * 2);
    CK(cudaMemcpy(c->x0, c->x0_init, C64_M * 1024 * 2, cudaMemcpyDeviceToDevice));
    CK(cudaGraphLaunch(t->ge, st));
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(t->ref, c->x0, C64_M * 1024 * 2, cudaMemcpyDeviceToHost));
    t->us = chain64_time(chain64_run_graph, t->ge, st, reps);
    printf("cuBLASLt chain (72 GEMMs + 12 GELU kernels, graph): %.1f us a step (%.2f us a GEMM), "
           "%.0f MB of weights (%.1f us at 3 TB/s)\n",
           t->us, t->us / C64_GEMMS, c->wbytes / 1e6, c->wbytes / 3e6);
}

#endif
