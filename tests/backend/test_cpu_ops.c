/* CPU backend: every op except attention (test_cpu_attention.c) against a naive double-precision
 * reference on random inputs of many shapes, weights given as F32/F16/BF16; the thread pool; the
 * direct small-m GEMM and the OpenBLAS path; identical results for 1 and 4 threads. */
#include <stdatomic.h>

#include "backend/cpu/cpu_internal.h"
#include "core/threadpool.h"
#include "cpu_test_util.h"

/* ---- dtype, thread pool, memory ---- */

static void test_dtype(void)
{
    CHECK(gl_dtype_size(GL_DTYPE_F32) == 4);
    CHECK(gl_dtype_size(GL_DTYPE_F16) == 2);
    CHECK(gl_dtype_size(GL_DTYPE_BF16) == 2);
    CHECK(gl_dtype_size((gl_dtype)7) == 0);
    CHECK_STREQ(gl_dtype_name(GL_DTYPE_F32), "F32");
    CHECK_STREQ(gl_dtype_name(GL_DTYPE_F16), "F16");
    CHECK_STREQ(gl_dtype_name(GL_DTYPE_BF16), "BF16");
    CHECK_STREQ(gl_dtype_name((gl_dtype)7), "?");
}

typedef struct tp_ctx {
    int *hits;
    atomic_llong sum;
    int n_threads;
    int bad_tid;
} tp_ctx;

static void tp_fn(void *ctx, int64_t begin, int64_t end, int tid)
{
    tp_ctx *c = ctx;
    if (tid < 0 || tid >= c->n_threads) c->bad_tid = 1;
    long long s = 0;
    for (int64_t i = begin; i < end; i++) {
        c->hits[i]++;
        s += i;
    }
    atomic_fetch_add(&c->sum, s);
}

static void test_threadpool(void)
{
    int sizes[] = {1, 2, 4, 8, 0};
    for (int si = 0; si < 5; si++) {
        threadpool *p = NULL;
        CHECK_OK(threadpool_create(sizes[si], &p));
        if (!p) continue;
        int nt = threadpool_size(p);
        CHECK(nt >= 1 && (sizes[si] == 0 || nt == sizes[si]));
        int64_t ns[] = {0, 1, 2, 3, 7, 100, 1000, 100003};
        int *hits = calloc(100003, sizeof *hits);
        for (int ni = 0; ni < 8; ni++)
            for (int64_t grain = 1; grain <= 4096; grain *= 64) {
                int64_t n = ns[ni];
                memset(hits, 0, (size_t)n * sizeof *hits);
                tp_ctx c = {hits, 0, nt, 0};
                threadpool_parallel_for(p, n, grain, tp_fn, &c);
                int once = 1;
                for (int64_t i = 0; i < n; i++) once &= hits[i] == 1;
                CHECK_MSG(once && c.sum == n * (n - 1) / 2 && !c.bad_tid,
                          "pool of %d, n %lld, grain %lld", nt, (long long)n, (long long)grain);
            }
        /* many small jobs back to back: the hand-over between jobs */
        int ok = 1;
        for (int r = 0; r < 20000; r++) {
            memset(hits, 0, 64 * sizeof *hits);
            tp_ctx c = {hits, 0, nt, 0};
            threadpool_parallel_for(p, 64, 1, tp_fn, &c);
            ok &= c.sum == 64 * 63 / 2;
        }
        CHECK(ok);
        free(hits);
        threadpool_destroy(p);
    }
    threadpool_destroy(NULL);
}

static void test_memory(backend *b)
{
    void *p = NULL;
    CHECK_OK(b->ops->alloc(b, 1000, &p));
    CHECK(p && ((uintptr_t)p & 63) == 0);
    float host[250], back[250];
    for (int i = 0; i < 250; i++) host[i] = (float)i * 0.5f;
    CHECK_OK(b->ops->upload(b, p, host, sizeof host));
    b->ops->sync(b);
    CHECK_OK(b->ops->download(b, back, p, sizeof back));
    CHECK(memcmp(host, back, sizeof host) == 0);
    memset(back, 0, sizeof back);
    CHECK_OK(b->ops->upload_f32(b, p, host, 250));
    CHECK_OK(b->ops->download_f32(b, back, p, 250));
    CHECK(memcmp(host, back, sizeof host) == 0);
    b->ops->free(b, p);
    CHECK_STATUS(b->ops->alloc(b, SIZE_MAX - 8, &p), GLOSSA_STATUS_OUT_OF_MEMORY);
    CHECK(p == NULL);

    /* weights: exact conversions, bad arguments */
    float v[6] = {1.0f, -2.5f, 3.1415926f, 65504.0f, 1e-7f, -0.0f};
    for (int t = 0; t < 3; t++) {
        float r[6];
        memcpy(r, v, sizeof v);
        gl_weight w = make_weight(b, r, 2, 3, TEST_DTYPE(t));
        CHECK(w.rows == 2 && w.cols == 3 && w.dtype == GL_DTYPE_F32 && w.data);
        if (w.data) CHECK(memcmp(w.data, r, sizeof r) == 0);
        b->ops->weight_free(b, &w);
        CHECK(w.data == NULL);
    }
    gl_weight w;
    CHECK_STATUS(b->ops->weight_from_host(b, v, GL_DTYPE_F32, 0, 3, &w),
                 GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(b->ops->weight_from_host(b, NULL, GL_DTYPE_F32, 1, 3, &w),
                 GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(b->ops->weight_from_host(b, v, (gl_dtype)9, 1, 3, &w),
                 GLOSSA_STATUS_INVALID_ARGUMENT);
    b->ops->weight_free(b, NULL);
}

/* ---- linear ---- */

static double ref_act(double s, gl_act act)
{
    switch (act) {
    case GL_ACT_NONE: return s;
    case GL_ACT_GELU: return 0.5 * s * (1.0 + erf(s / sqrt(2.0)));
    case GL_ACT_GELU_TANH:
        return 0.5 * s * (1.0 + tanh(sqrt(2.0 / M_PI) * (s + 0.044715 * s * s * s)));
    case GL_ACT_RELU: return s < 0 ? 0 : s;
    case GL_ACT_SILU: return s / (1.0 + exp(-s));
    }
    return s;
}

static void ref_linear(int m, int k, int n, const float *x, int xs, const float *w,
                       const float *bias, gl_act act, const float *res, double *out)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int c = 0; c < k; c++) s += (double)x[(size_t)i * xs + c] * w[(size_t)j * k + c];
            if (bias) s += bias[j];
            s = ref_act(s, act);
            if (res) s += res[(size_t)i * n + j];
            out[(size_t)i * n + j] = s;
        }
}

/* Activations alone, element by element, over [-12, 12] (k = 1, W = 1): relative error against
 * tail-accurate double forms. */
static void test_activations(backend *b)
{
    int n = 24001;
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4), one = 1.0f;
    for (int i = 0; i < n; i++) x[i] = -12.0f + (float)i * 0.001f;
    gl_weight w;
    CHECK_OK(b->ops->weight_from_host(b, &one, GL_DTYPE_F32, 1, 1, &w));
    for (int act = GL_ACT_GELU; act <= GL_ACT_SILU; act++) {
        b->ops->linear(b, n, x, 1, &w, NULL, (gl_act)act, NULL, y);
        double worst = 0;
        int wi = 0;
        for (int i = 0; i < n; i++) {
            double v = x[i], r;
            if (act == GL_ACT_GELU) r = 0.5 * v * erfc(-v / sqrt(2.0));
            else if (act == GL_ACT_GELU_TANH)
                r = v / (1.0 + exp(-2.0 * sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
            else if (act == GL_ACT_RELU) r = v < 0 ? 0 : v;
            else r = v / (1.0 + exp(-v));
            double e = fabs(y[i] - r) / (fabs(r) + 1e-30);
            if (r == 0 && y[i] == 0) e = 0;
            if (fabs(r) < 1e-30) continue; /* float underflow territory */
            if (e > worst) {
                worst = e;
                wi = i;
            }
        }
        CHECK_MSG(worst < 1e-5, "act %d: relative error %.3g at x = %g", act, worst, x[wi]);
    }
    b->ops->weight_free(b, &w);
    free(x);
    free(y);
}

enum { RES_NONE, RES_SEPARATE, RES_ALIAS };

/* One linear call; returns 1 when it matched. */
static int run_linear(backend *b, int m, int k, int n, int x_extra, gl_dtype wt, bool with_bias,
                      gl_act act, int res_mode)
{
    int xs = k + x_extra;
    float *x = rand_buf((size_t)m * xs, -1, 1);
    float *wv = rand_buf((size_t)n * k, -0.5f, 0.5f);
    float *bv = rand_buf((size_t)n, -1, 1);
    float *res = rand_buf((size_t)m * n, -2, 2);
    gl_weight w = make_weight(b, wv, n, k, wt);
    gl_weight bias = make_weight(b, bv, 1, n, wt);
    float *y = malloc((size_t)m * n * sizeof *y);
    double *want = malloc((size_t)m * n * sizeof *want);
    ref_linear(m, k, n, x, xs, wv, with_bias ? bv : NULL, act, res_mode != RES_NONE ? res : NULL,
               want);
    const float *r = NULL;
    if (res_mode == RES_SEPARATE) r = res;
    if (res_mode == RES_ALIAS) {
        memcpy(y, res, (size_t)m * n * sizeof *y);
        r = y;
    } else {
        for (size_t i = 0; i < (size_t)m * n; i++) y[i] = NAN; /* must be fully overwritten */
    }
    b->ops->linear(b, m, x, xs, &w, with_bias ? &bias : NULL, act, r, y);
    char what[160];
    snprintf(what, sizeof what, "linear m=%d k=%d n=%d xs=%d %s bias=%d act=%d res=%d", m, k, n,
             xs, gl_dtype_name(wt), with_bias, (int)act, res_mode);
    int ok = check_close(what, y, want, (size_t)m * n, 1e-5);
    b->ops->weight_free(b, &w);
    b->ops->weight_free(b, &bias);
    free(x);
    free(wv);
    free(bv);
    free(res);
    free(y);
    free(want);
    return ok;
}

static void test_linear(backend *b)
{
    static const int shapes[][3] = {{1, 8, 8},    {1, 37, 19},  {3, 64, 33},  {16, 100, 70},
                                    {5, 1, 3},    {17, 129, 257}, {64, 256, 96}, {2, 1024, 40}};
    int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    int combo = 0;
    for (int si = 0; si < n_shapes; si++)
        for (int act = 0; act <= GL_ACT_SILU; act++)
            for (int res = RES_NONE; res <= RES_ALIAS; res++)
                for (int with_bias = 0; with_bias < 2; with_bias++, combo++) {
                    gl_dtype wt = TEST_DTYPE(combo);
                    int x_extra = (combo / 3) % 2 ? 5 : 0;
                    run_linear(b, shapes[si][0], shapes[si][1], shapes[si][2], x_extra, wt,
                               with_bias, (gl_act)act, res);
                }
    /* y aliasing the residual with several GEMM tiles (columns, then rows) */
    run_linear(b, 300, 16, 4000, 3, GL_DTYPE_BF16, true, GL_ACT_GELU, RES_ALIAS);
    run_linear(b, 5000, 8, 300, 0, GL_DTYPE_F32, true, GL_ACT_NONE, RES_ALIAS);
    /* a bigger one through the threaded epilogue */
    run_linear(b, 48, 512, 2048, 0, GL_DTYPE_F16, true, GL_ACT_GELU, RES_SEPARATE);
    run_linear(b, 0, 8, 8, 0, GL_DTYPE_F32, true, GL_ACT_GELU, RES_SEPARATE); /* m = 0: no-op */
    run_linear(b, 32, 200, 301, 1, GL_DTYPE_F32, true, GL_ACT_RELU, RES_SEPARATE);
    run_linear(b, 31, 7, 5, 0, GL_DTYPE_BF16, false, GL_ACT_NONE, RES_NONE);
}

/* The direct small-m GEMM: a row's result does not depend on the batch around it. */
static void test_linear_batch_invariance(backend *b)
{
    if (!((cpu_state *)b->impl)->gemm_small) return;
    int m = 29, k = 203, n = 130;
    float *x = rand_buf((size_t)m * k, -1, 1), *wv = rand_buf((size_t)n * k, -1, 1);
    float *y = malloc((size_t)m * n * 4), *y1 = malloc((size_t)n * 4);
    gl_weight w = make_weight(b, wv, n, k, GL_DTYPE_F32);
    b->ops->linear(b, m, x, k, &w, NULL, GL_ACT_NONE, NULL, y);
    int same = 1;
    for (int i = 0; i < m; i++) {
        b->ops->linear(b, 1, x + (size_t)i * k, k, &w, NULL, GL_ACT_NONE, NULL, y1);
        same &= memcmp(y1, y + (size_t)i * n, (size_t)n * 4) == 0;
    }
    CHECK(same);
    b->ops->weight_free(b, &w);
    free(x);
    free(wv);
    free(y);
    free(y1);
}

/* ---- layernorm, add ---- */

static void ref_layernorm(int m, int d, const double *x, const float *g, const float *bt,
                          double eps, double *out)
{
    for (int i = 0; i < m; i++) {
        const double *xr = x + (size_t)i * d;
        double mean = 0, var = 0;
        for (int c = 0; c < d; c++) mean += xr[c];
        mean /= d;
        for (int c = 0; c < d; c++) var += (xr[c] - mean) * (xr[c] - mean);
        var /= d;
        double rstd = 1.0 / sqrt(var + eps);
        for (int c = 0; c < d; c++)
            out[(size_t)i * d + c] = (xr[c] - mean) * rstd * g[c] + (bt ? bt[c] : 0.0);
    }
}

static void run_layernorm(backend *b, int m, int d, float offset, gl_dtype wt, bool with_r,
                          bool alias, bool with_beta)
{
    size_t n = (size_t)m * d;
    float *x = rand_buf(n, offset - 1, offset + 1);
    float *r = rand_buf(n, -1, 1);
    float *gv = rand_buf((size_t)d, 0.5f, 1.5f);
    float *bv = rand_buf((size_t)d, -0.5f, 0.5f);
    gl_weight g = make_weight(b, gv, 1, d, wt);
    gl_weight bt = make_weight(b, bv, 1, d, wt);
    double *sum = malloc(n * sizeof *sum);
    double *want = malloc(n * sizeof *want);
    float *sumf = malloc(n * sizeof *sumf);
    for (size_t i = 0; i < n; i++) {
        sumf[i] = with_r ? x[i] + r[i] : x[i]; /* the in-place add rounds to float */
        sum[i] = sumf[i];
    }
    ref_layernorm(m, d, sum, gv, with_beta ? bv : NULL, 1e-5, want);
    float *y = alias ? x : malloc(n * sizeof *y);
    b->ops->layernorm(b, m, x, with_r ? r : NULL, &g, with_beta ? &bt : NULL, 1e-5f, y);
    char what[128];
    snprintf(what, sizeof what, "layernorm m=%d d=%d offset=%g %s r=%d alias=%d beta=%d", m, d,
             offset, gl_dtype_name(wt), with_r, alias, with_beta);
    check_close(what, y, want, n, 1e-5);
    if (!alias) CHECK_MSG(memcmp(x, sumf, n * sizeof *x) == 0, "%s: x += r in place", what);
    b->ops->weight_free(b, &g);
    b->ops->weight_free(b, &bt);
    if (!alias) free(y);
    free(x);
    free(r);
    free(gv);
    free(bv);
    free(sum);
    free(want);
    free(sumf);
}

static void test_layernorm(backend *b)
{
    static const int shapes[][2] = {{1, 1}, {1, 7}, {3, 64}, {17, 1000}, {5, 1024}, {40, 33}};
    int combo = 0;
    for (int si = 0; si < 6; si++)
        for (int mode = 0; mode < 8; mode++, combo++)
            run_layernorm(b, shapes[si][0], shapes[si][1], combo % 2 ? 0.0f : 3.0f,
                          TEST_DTYPE(combo), mode & 1, mode & 2, !(mode & 4));
    /* a large common offset: the two-pass variance keeps its precision */
    run_layernorm(b, 4, 1024, 1000.0f, GL_DTYPE_F32, false, false, true);
    run_layernorm(b, 300, 512, 0.0f, GL_DTYPE_F32, true, true, true); /* threaded */
}

static void test_add(backend *b)
{
    size_t ns[] = {1, 7, 1000, 100003};
    for (int i = 0; i < 4; i++)
        for (int alias = 0; alias < 3; alias++) {
            size_t n = ns[i];
            float *x = rand_buf(n, -1, 1), *r = rand_buf(n, -1, 1), *y = malloc(n * 4);
            float *want = malloc(n * 4);
            for (size_t j = 0; j < n; j++) want[j] = x[j] + r[j];
            float *out = alias == 0 ? y : alias == 1 ? x : r;
            b->ops->add(b, (int64_t)n, x, r, out);
            CHECK_MSG(memcmp(out, want, n * 4) == 0, "add n=%zu alias=%d", n, alias);
            free(x);
            free(r);
            free(y);
            free(want);
        }
}

/* ---- embed, gather_rows, argmax ---- */

static void test_embed(backend *b)
{
    static const int shapes[][3] = {{1, 10, 8}, {7, 50, 33}, {40, 100, 1024}, {3, 5, 1}};
    int combo = 0;
    for (int si = 0; si < 4; si++)
        for (int mode = 0; mode < 4; mode++, combo++) {
            int m = shapes[si][0], V = shapes[si][1], d = shapes[si][2];
            bool with_pos = mode & 1;
            float scale = mode & 2 ? sqrtf((float)d) : 1.0f;
            float *tv = rand_buf((size_t)V * d, -1, 1), *pv = rand_buf((size_t)(V + 2) * d, -1, 1);
            gl_weight tok = make_weight(b, tv, V, d, TEST_DTYPE(combo));
            gl_weight pos = make_weight(b, pv, V + 2, d, TEST_DTYPE(combo + 1));
            int32_t *ids = malloc((size_t)m * 4), *positions = malloc((size_t)m * 4);
            for (int i = 0; i < m; i++) {
                ids[i] = rng_int(V);
                positions[i] = rng_int(V + 2);
            }
            float *y = malloc((size_t)m * d * 4);
            double *want = malloc((size_t)m * d * sizeof *want);
            for (int i = 0; i < m; i++)
                for (int c = 0; c < d; c++)
                    want[(size_t)i * d + c] =
                        (double)tv[(size_t)ids[i] * d + c] * scale +
                        (with_pos ? pv[(size_t)positions[i] * d + c] : 0.0);
            b->ops->embed(b, m, ids, with_pos ? positions : NULL, &tok, with_pos ? &pos : NULL,
                          scale, y);
            char what[96];
            snprintf(what, sizeof what, "embed m=%d V=%d d=%d mode=%d", m, V, d, mode);
            check_close(what, y, want, (size_t)m * d, 1e-6);
            b->ops->weight_free(b, &tok);
            b->ops->weight_free(b, &pos);
            free(tv);
            free(pv);
            free(ids);
            free(positions);
            free(y);
            free(want);
        }
}

static void test_gather_argmax(backend *b)
{
    int m = 9, d = 37, rows_n = 20;
    float *x = rand_buf((size_t)rows_n * d, -1, 1), *y = malloc((size_t)m * d * 4);
    int32_t rows[9];
    for (int i = 0; i < m; i++) rows[i] = rng_int(rows_n);
    b->ops->gather_rows(b, m, d, x, rows, y);
    int ok = 1;
    for (int i = 0; i < m; i++) ok &= memcmp(y + (size_t)i * d, x + (size_t)rows[i] * d, d * 4) == 0;
    CHECK(ok);
    free(x);
    free(y);

    int ns[] = {1, 2, 7, 1000, 250027};
    for (int ni = 0; ni < 10; ni++) {
        /* rows packed, then ld = n + 3 with pad columns that would win if they were read */
        int n = ns[ni / 2], mm = 6, ld = n + (ni % 2) * 3;
        float *l = rand_buf((size_t)mm * ld, -10, 10);
        int32_t want[6], got[6];
        for (int i = 0; i < mm; i++) {
            float *r = l + (size_t)i * ld;
            for (int c = n; c < ld; c++)
                r[c] = i == 4 ? NAN : 100.0f;
            if (i == 1 && n > 2) r[n - 1] = r[n / 2] = r[1] = 20.0f; /* ties: lowest index */
            if (i == 2) r[n - 1] = 30.0f;                             /* last */
            if (i == 3) r[0] = 30.0f;                                 /* first */
            if (i == 4 && n > 3) { r[n / 3] = NAN; r[n - 1] = NAN; }  /* NaN wins, first one */
            if (i == 5) for (int c = 0; c < n; c++) r[c] = -1.0f;     /* all equal */
            int best = 0;
            for (int c = 1; c < n; c++) {
                if (isnan(r[best])) break;
                if (isnan(r[c]) || r[c] > r[best]) best = c;
            }
            want[i] = best;
        }
        CHECK_OK(b->ops->argmax(b, mm, n, ld, l, got));
        CHECK_MSG(memcmp(got, want, sizeof want) == 0, "argmax n=%d ld=%d", n, ld);
        if (ni == 1)
            CHECK_STATUS(b->ops->argmax(b, mm, n, n - 1, l, got), GLOSSA_STATUS_INVALID_ARGUMENT);
        free(l);
    }
}

/* ---- 1 thread vs 4 threads: bit-identical results ---- */

typedef struct det_out {
    float *lin, *lin2, *ln, *att, *emb;
    int32_t am[33];
} det_out;

static void det_run(backend *b, uint64_t seed, det_out *o)
{
    rng_state = seed;
    int m = 33, k = 300, n = 500, H = 4, hd = 64, S = 3;
    float *x = rand_buf((size_t)m * k, -1, 1), *wv = rand_buf((size_t)n * k, -0.5f, 0.5f);
    float *bv = rand_buf((size_t)n, -1, 1);
    gl_weight w = make_weight(b, wv, n, k, GL_DTYPE_BF16), bias = make_weight(b, bv, 1, n, GL_DTYPE_F32);
    o->lin = rand_buf((size_t)m * n, -1, 1);
    b->ops->linear(b, m, x, k, &w, &bias, GL_ACT_GELU, o->lin, o->lin);
    CHECK_OK(b->ops->argmax(b, m, n, n, o->lin, o->am));
    o->lin2 = malloc((size_t)16 * n * 4); /* a decode-step shape (64-column tiles) */
    b->ops->linear(b, 16, x, k, &w, &bias, GL_ACT_SILU, NULL, o->lin2);
    gl_weight g = make_weight(b, wv, 1, n, GL_DTYPE_F32);
    o->ln = malloc((size_t)m * n * 4);
    float *r = rand_buf((size_t)m * n, -1, 1);
    b->ops->layernorm(b, m, o->lin, r, &g, &bias, 1e-5f, o->ln);
    int32_t q_off[4] = {0, 1, 40, 300}, k_off[4] = {0, 200, 239, 499};
    float *q = rand_buf((size_t)300 * H * hd, -2, 2), *kk = rand_buf((size_t)499 * H * hd, -1, 1);
    o->att = malloc((size_t)300 * H * hd * 4);
    b->ops->attention(b, S, H, hd, q, H * hd, kk, kk, H * hd, q_off, k_off, true, 0.125f, o->att);
    int32_t ids[5] = {3, 1, 4, 1, 5}, pos[5] = {0, 1, 2, 3, 4};
    o->emb = malloc((size_t)5 * k * 4);
    b->ops->embed(b, 5, ids, pos, &w, &w, 2.0f, o->emb);
    b->ops->weight_free(b, &w);
    b->ops->weight_free(b, &bias);
    b->ops->weight_free(b, &g);
    free(x);
    free(wv);
    free(bv);
    free(r);
    free(q);
    free(kk);
}

static void det_free(det_out *o)
{
    free(o->lin);
    free(o->lin2);
    free(o->ln);
    free(o->att);
    free(o->emb);
}

static void test_threads_identical(void)
{
    backend *b1 = NULL, *b4 = NULL;
    CHECK_OK(backend_cpu_create(1, &b1));
    CHECK_OK(backend_cpu_create(4, &b4));
    if (!b1 || !b4) return;
    CHECK(b1->n_threads == 1 && b4->n_threads == 4);
    det_out o1, o4;
    det_run(b1, 77, &o1);
    det_run(b4, 77, &o4);
    CHECK(memcmp(o1.lin, o4.lin, (size_t)33 * 500 * 4) == 0);
    CHECK(memcmp(o1.lin2, o4.lin2, (size_t)16 * 500 * 4) == 0);
    CHECK(memcmp(o1.ln, o4.ln, (size_t)33 * 500 * 4) == 0);
    CHECK(memcmp(o1.att, o4.att, (size_t)300 * 256 * 4) == 0);
    CHECK(memcmp(o1.emb, o4.emb, (size_t)5 * 300 * 4) == 0);
    CHECK(memcmp(o1.am, o4.am, sizeof o1.am) == 0);
    det_free(&o1);
    det_free(&o4);
    backend_destroy(b1);
    backend_destroy(b4);
}

int main(void)
{
    test_dtype();
    test_threadpool();
    backend *b = NULL;
    CHECK_OK(backend_cpu_create(0, &b));
    if (!b) TEST_MAIN_END();
    CHECK(b->act_dtype == GL_DTYPE_F32 && b->n_threads >= 1 && b->ops->name);
    test_memory(b);
    test_linear(b);
    test_linear_batch_invariance(b);
    if (((cpu_state *)b->impl)->gemm_small) { /* again through OpenBLAS only */
        ((cpu_state *)b->impl)->gemm_small = false;
        test_linear(b);
        ((cpu_state *)b->impl)->gemm_small = true;
    }
    test_activations(b);
    test_layernorm(b);
    test_add(b);
    test_embed(b);
    test_gather_argmax(b);
    backend_destroy(b);
    backend_destroy(NULL);
    test_threads_identical();
    TEST_MAIN_END();
}
