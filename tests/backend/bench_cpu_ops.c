/* Timings of the CPU backend's main ops (not a ctest test). Build against a Release library:
 *   cmake -S . -B build-be-rel -DCMAKE_BUILD_TYPE=Release && cmake --build build-be-rel --target glossa
 *   cc -std=c11 -O2 -D_DEFAULT_SOURCE -Iinclude -Isrc tests/backend/bench_cpu_ops.c \
 *      build-be-rel/libglossa.a $(pkg-config --cflags --libs openblas jansson libutf8proc) \
 *      -lpthread -lm -o build-be-rel/bench_cpu_ops
 *   build-be-rel/bench_cpu_ops [n_threads]
 * Prints ms per call and GFLOP/s (linear) or GB/s (memory-bound ops). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rnd(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    return p;
}

static int reps_for(double flops)
{
    int r = (int)(4e9 / (flops + 1));
    return r < 2 ? 2 : r > 500 ? 500 : r;
}

static void bench_linear(backend *b, int m, int k, int n, gl_act act, bool res, const char *what)
{
    float *x = rnd((size_t)m * k), *wv = rnd((size_t)n * k), *bv = rnd(n);
    float *y = rnd((size_t)m * n), *r = rnd((size_t)m * n);
    gl_weight w, bias;
    b->ops->weight_from_host(b, wv, GL_DTYPE_F32, n, k, &w);
    b->ops->weight_from_host(b, bv, GL_DTYPE_F32, 1, n, &bias);
    double flops = 2.0 * m * k * n;
    int reps = reps_for(flops);
    /* best of 5 batches (the machine may be shared), alternating ours and the baseline: the same
     * GEMM as one multi-threaded OpenBLAS call, without epilogue */
    double t = 1e30, tb = 1e30;
    for (int batch = 0; batch < 5; batch++) {
        b->ops->linear(b, m, x, k, &w, &bias, act, res ? r : NULL, y);
        double t0 = now();
        for (int i = 0; i < reps; i++)
            b->ops->linear(b, m, x, k, &w, &bias, act, res ? r : NULL, y);
        double ti = (now() - t0) / reps;
        t = ti < t ? ti : t;
        if (getenv("NO_BASELINE")) continue;
        openblas_set_num_threads(b->n_threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w.data, k, 0.0f,
                    y, n);
        t0 = now();
        for (int i = 0; i < reps; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w.data, k,
                        0.0f, y, n);
        ti = (now() - t0) / reps;
        tb = ti < tb ? ti : tb;
        openblas_set_num_threads(1);
    }
    printf("linear %-28s m=%-4d k=%-5d n=%-6d %8.3f ms %7.1f GFLOP/s %6.1f GB/s(W) | plain sgemm "
           "%8.3f ms %7.1f GFLOP/s\n",
           what, m, k, n, t * 1e3, flops / t * 1e-9, 4.0 * n * k / t * 1e-9, tb * 1e3,
           flops / tb * 1e-9);
    b->ops->weight_free(b, &w);
    b->ops->weight_free(b, &bias);
    free(x);
    free(wv);
    free(bv);
    free(y);
    free(r);
}

static void bench_misc(backend *b)
{
    int m = 640, d = 1024;
    float *x = rnd((size_t)m * d), *r = rnd((size_t)m * d), *y = rnd((size_t)m * d);
    float *gv = rnd(d);
    gl_weight g;
    b->ops->weight_from_host(b, gv, GL_DTYPE_F32, 1, d, &g);
    int reps = 200;
    double t0 = now();
    for (int i = 0; i < reps; i++) b->ops->layernorm(b, m, y, r, &g, &g, 1e-5f, x);
    double t = (now() - t0) / reps;
    printf("layernorm+residual m=%d d=%d           %8.3f ms %6.1f GB/s\n", m, d, t * 1e3,
           4.0 * m * d * 4 / t * 1e-9);

    /* encoder self-attention: 16 sequences x 40 tokens, 16 heads x 64 */
    int S = 16, L = 40, H = 16, hd = 64, row = H * hd;
    int32_t off[17];
    for (int s = 0; s <= S; s++) off[s] = s * L;
    float *qkv = rnd((size_t)S * L * 3 * row), *out = rnd((size_t)S * L * row);
    t0 = now();
    for (int i = 0; i < reps; i++)
        b->ops->attention(b, S, H, hd, qkv, 3 * row, qkv + row, qkv + 2 * row, 3 * row, off, off,
                          false, 0.125f, out);
    t = (now() - t0) / reps;
    double fl = 4.0 * S * H * L * L * hd;
    printf("attention enc %dx%d H=%d hd=%d            %8.3f ms %6.1f GFLOP/s\n", S, L, H, hd,
           t * 1e3, fl / t * 1e-9);

    /* decode step: 16 sequences, 1 query each, 40 cached keys, block_size 16 */
    int bs = 16, mbps = 4, nblk = S * mbps;
    float *kc = rnd((size_t)nblk * bs * row), *vc = rnd((size_t)nblk * bs * row);
    int32_t *tables = malloc(sizeof(int32_t) * nblk), lens[16], qoff[17];
    for (int i = 0; i < nblk; i++) tables[i] = (i * 7) % nblk;
    for (int s = 0; s < S; s++) lens[s] = L;
    for (int s = 0; s <= S; s++) qoff[s] = s;
    gl_kv_view kv = {kc, vc, tables, mbps, bs, H, hd, false};
    reps = 2000;
    t0 = now();
    for (int i = 0; i < reps; i++)
        b->ops->attention_paged(b, S, qkv, row, qoff, &kv, lens, true, 0.125f, out);
    t = (now() - t0) / reps;
    printf("attention_paged decode %d seqs kv=%d        %8.3f ms\n", S, L, t * 1e3);

    int n = 65536;
    float *logits = rnd((size_t)16 * n);
    int32_t ids[16];
    reps = 200;
    t0 = now();
    for (int i = 0; i < reps; i++)
        b->ops->argmax(b, 16, n, n, logits, ids);
    t = (now() - t0) / reps;
    printf("argmax 16 x %d                       %8.3f ms %6.1f GB/s\n", n, t * 1e3,
           16.0 * n * 4 / t * 1e-9);
    b->ops->weight_free(b, &g);
    free(x);
    free(r);
    free(y);
    free(gv);
    free(qkv);
    free(out);
    free(kc);
    free(vc);
    free(tables);
    free(logits);
}

int main(int argc, char **argv)
{
    int nt = argc > 1 ? atoi(argv[1]) : 0;
    backend *b = NULL;
    if (backend_cpu_create(nt, &b) != GLOSSA_STATUS_OK) return 1;
    printf("cpu backend, %d threads\n", b->n_threads);
    bench_linear(b, 16, 1024, 1024, GL_ACT_NONE, false, "bias");
    bench_linear(b, 16, 1024, 1024, GL_ACT_NONE, true, "bias+residual");
    bench_linear(b, 16, 1024, 4096, GL_ACT_GELU, false, "bias+gelu");
    bench_linear(b, 16, 1024, 65536, GL_ACT_NONE, false, "lm_head (scaled)");
    if (getenv("FULL")) bench_linear(b, 16, 1024, 250112, GL_ACT_NONE, true, "lm_head mbart-50 vocab");
    bench_linear(b, 64, 1024, 1024, GL_ACT_NONE, true, "bias+residual");
    bench_linear(b, 640, 1024, 1024, GL_ACT_NONE, false, "bias");
    bench_linear(b, 640, 1024, 4096, GL_ACT_NONE, false, "bias");
    bench_linear(b, 640, 1024, 4096, GL_ACT_GELU, false, "bias+gelu");
    bench_linear(b, 640, 4096, 1024, GL_ACT_NONE, true, "bias+residual");
    bench_misc(b);
    backend_destroy(b);
    return 0;
}
