/* The CUDA-vs-CPU test harness of test_cuda_ops.c and test_cuda_linear.c: a pair of backends
 * (CUDA and its CPU twin) with the dtype's tolerance, the worst error per op (printed by
 * pair_report), act-dtype random inputs, device buffers, weights on both backends, and variant
 * backends created with one environment setting. Include after test.h and gpu_test_util.h. */
#ifndef GLOSSA_TESTS_GPU_CUDA_PAIR_UTIL_H
#define GLOSSA_TESTS_GPU_CUDA_PAIR_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu_test_util.h"
#include "core/half.h"
#include "core/status.h"

typedef struct pair {
    backend *g; /* CUDA */
    backend *c; /* CPU */
    gl_dtype act;
    double tol;
    const char *tag; /* "F16", "BF16", "F16/plain-gemm", ... */
} pair;

/* ---- worst error per op ---- */

#define MAX_STATS 64
static struct {
    char op[48];
    double worst;
    double tol;
    char where[200];
} g_stats[MAX_STATS];
static int g_n_stats;

static inline void record(const pair *p, const char *op, double err, const char *where)
{
    char key[48];
    snprintf(key, sizeof key, "%s %s", op, p->tag);
    int i = 0;
    while (i < g_n_stats && strcmp(g_stats[i].op, key) != 0)
        i++;
    if (i == g_n_stats && g_n_stats < MAX_STATS) {
        g_n_stats++;
        snprintf(g_stats[i].op, sizeof g_stats[i].op, "%s", key);
        g_stats[i].worst = -1;
        g_stats[i].tol = p->tol;
    }
    if (i < MAX_STATS && !(err <= g_stats[i].worst)) {
        g_stats[i].worst = err;
        snprintf(g_stats[i].where, sizeof g_stats[i].where, "%s", where);
    }
    CHECK_MSG(err <= p->tol, "%s [%s]: relative error %.3g > %.3g", where, p->tag, err, p->tol);
}

static inline void record_exact(const pair *p, const char *op, int same, const char *where)
{
    pair q = *p;
    q.tol = 0;
    record(&q, op, same ? 0.0 : INFINITY, where);
}

static inline int same_floats(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))) return 0;
    return 1;
}

/* ---- host rounding, device buffers ---- */

static inline float *rnd(size_t n, float lo, float hi, gl_dtype act)
{
    float *v = rand_buf(n, lo, hi);
    for (size_t i = 0; i < n; i++)
        v[i] = round_act(v[i], act);
    return v;
}

static inline size_t act_size(backend *b)
{
    return gl_dtype_size(b->act_dtype);
}

static inline void *dev_alloc(backend *b, size_t bytes)
{
    void *p = NULL;
    CHECK_OK(b->ops->alloc(b, bytes ? bytes : 16, &p));
    return p;
}

static inline void poison(backend *b, void *d, size_t n)
{
    size_t bytes = n * act_size(b);
    unsigned char *ones = malloc(bytes ? bytes : 1);
    memset(ones, 0xff, bytes);
    CHECK_OK(b->ops->upload(b, d, ones, bytes));
    b->ops->sync(b);
    free(ones);
}

static inline void *dev_f32(backend *b, const float *h, size_t n)
{
    void *d = dev_alloc(b, n * act_size(b));
    if (d && n) CHECK_OK(b->ops->upload_f32(b, d, h, n));
    return d;
}

static inline void *dev_i32(backend *b, const int32_t *h, size_t n)
{
    void *d = dev_alloc(b, n * sizeof(int32_t));
    if (d && n) CHECK_OK(b->ops->upload(b, d, h, n * sizeof(int32_t)));
    return d;
}

static inline float *host_f32(backend *b, const void *d, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++)
        h[i] = NAN;
    CHECK_OK(b->ops->download_f32(b, h, d, n));
    return h;
}

/* A weight on both backends: the GPU gets the tensor in `wt`, the CPU the F32 values the GPU holds
 * (v is rounded in place to wt, then to the act dtype). */
typedef struct wpair {
    gl_weight g, c;
} wpair;

static inline wpair make_wpair(const pair *p, float *v, int rows, int cols, gl_dtype wt)
{
    wpair w;
    memset(&w, 0, sizeof w);
    size_t n = (size_t)rows * cols;
    void *h = to_dtype(v, n, wt);
    CHECK_OK(p->g->ops->weight_from_host(p->g, h, wt, rows, cols, &w.g));
    free(h);
    for (size_t i = 0; i < n; i++)
        v[i] = round_act(v[i], p->act);
    CHECK_OK(p->c->ops->weight_from_host(p->c, v, GL_DTYPE_F32, rows, cols, &w.c));
    return w;
}

static inline void free_wpair(const pair *p, wpair *w)
{
    p->g->ops->weight_free(p->g, &w->g);
    p->c->ops->weight_free(p->c, &w->c);
}

static inline backend *side(const pair *p, int i)
{
    return i == 0 ? p->g : p->c;
}

/* A fresh CUDA backend created with one environment setting (a code path variant), tagged
 * "<dtype>/<name>" in the report; false when it could not be created. */
static inline bool variant_begin(pair *p, char *tag, size_t tag_size, const char *name,
                                 const char *env, const char *value)
{
    snprintf(tag, tag_size, "%s/%s", gl_dtype_name(p->act), name);
    p->tag = tag;
    p->g = NULL;
    setenv(env, value, 1);
    CHECK_OK(backend_cuda_create(0, p->act, &p->g));
    unsetenv(env);
    return p->g != NULL;
}

/* The worst error per op and where, one line each. */
static inline void pair_report(void)
{
    printf("%-32s %10s %8s  %s\n", "op", "worst", "limit", "where");
    for (int i = 0; i < g_n_stats; i++)
        printf("%-32s %10.3g %8.1g  %s\n", g_stats[i].op, g_stats[i].worst, g_stats[i].tol,
               g_stats[i].where);
}

/* run_all(cpu, act) for F16 and BF16 against one CPU backend, then the report (a test's main
 * after its own checks). */
static inline void pair_run_both(void (*run_all)(backend *cpu, gl_dtype act))
{
    backend *cpu = NULL;
    CHECK_OK(backend_cpu_create(0, &cpu));
    if (!cpu) return;
    run_all(cpu, GL_DTYPE_F16);
    run_all(cpu, GL_DTYPE_BF16);
    backend_destroy(cpu);
    pair_report();
}

#endif
