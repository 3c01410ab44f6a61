/* The CUDA backend against its CPU twin: every op except attention (test_cuda_attention.c), on
 * fresh random inputs, for F16 and BF16 activations.
 *
 * Both backends see identical inputs: random values are rounded to the activation dtype on the
 * host (core/half.h, round-to-nearest-even as the device) and uploaded through upload_f32; a
 * weight goes to the GPU in its checkpoint dtype (F32 / F16 / BF16) and to the CPU as the F32
 * values the GPU holds after its own conversion. Outputs on the GPU are poisoned (all-ones bytes:
 * NaN in every dtype) before each op, so an element never written fails the comparison.
 *
 * Float ops: max |gpu - cpu| / max |cpu| <= 1e-2 (F16) or 2e-2 (BF16). Copies (gather_rows,
 * kv_write, kv_copy_blocks), argmax, the conversions and round trips: exact. The worst error per
 * op and dtype is printed at the end. Exits 77 (skipped) without a CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cpu_test_util.h"
#include "core/half.h"
#include "core/status.h"
#include "test.h"
#include "gpu/gpu_test_util.h"

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

static void record(const pair *p, const char *op, double err, const char *where)
{
    char key[48];
    snprintf(key, sizeof key, "%s %s", op, p->tag);
    int i = 0;
    while (i < g_n_stats && strcmp(g_stats[i].op, key) != 0) i++;
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

static void record_exact(const pair *p, const char *op, int same, const char *where)
{
    pair q = *p;
    q.tol = 0;
    record(&q, op, same ? 0.0 : INFINITY, where);
}

static int same_floats(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))) return 0;
    return 1;
}

/* ---- host rounding, device buffers ---- */

static float *rnd(size_t n, float lo, float hi, gl_dtype act)
{
    float *v = rand_buf(n, lo, hi);
    for (size_t i = 0; i < n; i++) v[i] = round_act(v[i], act);
    return v;
}

static size_t act_size(backend *b)
{
    return gl_dtype_size(b->act_dtype);
}

static void *dev_alloc(backend *b, size_t bytes)
{
    void *p = NULL;
    CHECK_OK(b->ops->alloc(b, bytes ? bytes : 16, &p));
    return p;
}

static void poison(backend *b, void *d, size_t n)
{
    size_t bytes = n * act_size(b);
    unsigned char *ones = malloc(bytes ? bytes : 1);
    memset(ones, 0xff, bytes);
    CHECK_OK(b->ops->upload(b, d, ones, bytes));
    b->ops->sync(b);
    free(ones);
}

static void *dev_f32(backend *b, const float *h, size_t n)
{
    void *d = dev_alloc(b, n * act_size(b));
    if (d && n) CHECK_OK(b->ops->upload_f32(b, d, h, n));
    return d;
}

static void *dev_i32(backend *b, const int32_t *h, size_t n)
{
    void *d = dev_alloc(b, n * sizeof(int32_t));
    if (d && n) CHECK_OK(b->ops->upload(b, d, h, n * sizeof(int32_t)));
    return d;
}

static float *host_f32(backend *b, const void *d, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    CHECK_OK(b->ops->download_f32(b, h, d, n));
    return h;
}

/* A weight on both backends: the GPU gets the tensor in `wt`, the CPU the F32 values the GPU holds
 * (v is rounded in place to wt, then to the act dtype). */
typedef struct wpair {
    gl_weight g, c;
} wpair;

static wpair make_wpair(const pair *p, float *v, int rows, int cols, gl_dtype wt)
{
    wpair w;
    memset(&w, 0, sizeof w);
    size_t n = (size_t)rows * cols;
    void *h = to_dtype(v, n, wt);
    CHECK_OK(p->g->ops->weight_from_host(p->g, h, wt, rows, cols, &w.g));
    free(h);
    for (size_t i = 0; i < n; i++) v[i] = round_act(v[i], p->act);
    CHECK_OK(p->c->ops->weight_from_host(p->c, v, GL_DTYPE_F32, rows, cols, &w.c));
    return w;
}

static void free_wpair(const pair *p, wpair *w)
{
    p->g->ops->weight_free(p->g, &w->g);
    p->c->ops->weight_free(p->c, &w->c);
}

static backend *side(const pair *p, int i)
{
    return i == 0 ? p->g : p->c;
}

/* ---- memory, conversions ---- */

static void test_memory(const pair *p)
{
    backend *g = p->g;
    unsigned char host[1000], back[1000];
    for (int i = 0; i < 1000; i++) host[i] = (unsigned char)(i * 7 + 3);
    void *d = dev_alloc(g, sizeof host);
    CHECK_OK(g->ops->upload(g, d, host, sizeof host));
    memset(back, 0, sizeof back);
    CHECK_OK(g->ops->download(g, back, d, sizeof back));
    record_exact(p, "upload/download", memcmp(host, back, sizeof host) == 0, "1000 bytes");
    g->ops->free(g, d);
    g->ops->free(g, NULL);
    void *huge = (void *)1;
    CHECK_STATUS(g->ops->alloc(g, (size_t)1 << 52, &huge), GLOSSA_STATUS_OUT_OF_MEMORY);
    CHECK(huge == NULL);

    /* upload_f32 rounds to nearest even (as half.h); download_f32 is exact. 5M elements: more
     * than one staging chunk. Specials: huge (inf in F16), tiny (subnormal), -0. */
    size_t n = 5u << 20;
    float *v = rand_buf(n, -3, 3);
    v[0] = 1e6f;
    v[1] = -1e-7f;
    v[2] = -0.0f;
    v[3] = 65519.0f;
    v[4] = 65520.0f;
    for (size_t i = 5; i < n; i += 9973) v[i] *= 1e-6f;
    d = dev_f32(g, v, n);
    float *got = host_f32(g, d, n);
    for (size_t i = 0; i < n; i++) v[i] = round_act(v[i], p->act);
    int same = memcmp(got, v, n * sizeof *v) == 0; /* bits: -0 stays -0 */
    record_exact(p, "upload_f32/download_f32", same, "5M values, RNE like half.h");
    g->ops->free(g, d);
    free(got);
    free(v);
}

/* weight_from_host: the device bits equal half.h's rounding of the source, for every dtype. */
static void test_weights(const pair *p)
{
    backend *g = p->g;
    int sizes[][2] = {{1, 1}, {3, 7}, {1000, 1024}, {5, 1 << 20}}; /* the last: several chunks */
    for (int si = 0; si < 4; si++)
        for (int t = 0; t < 3; t++) {
            gl_dtype wt = TEST_DTYPE(t);
            int rows = sizes[si][0], cols = sizes[si][1];
            size_t n = (size_t)rows * cols;
            float *v = rand_buf(n, -2, 2);
            if (n > 4) {
                v[0] = 70000.0f;
                v[1] = -3e-6f;
                v[2] = -0.0f;
                v[3] = 1e-30f;
            }
            void *h = to_dtype(v, n, wt);
            gl_weight w;
            CHECK_OK(g->ops->weight_from_host(g, h, wt, rows, cols, &w));
            CHECK(w.rows == rows && w.cols == cols && w.dtype == p->act && w.data);
            uint16_t *dev = malloc(n * 2), *want = malloc(n * 2);
            CHECK_OK(g->ops->download(g, dev, w.data, n * 2));
            for (size_t i = 0; i < n; i++)
                want[i] = p->act == GL_DTYPE_F16 ? half_f32_to_f16(v[i]) : half_f32_to_bf16(v[i]);
            char what[96];
            snprintf(what, sizeof what, "weight %d x %d from %s", rows, cols, gl_dtype_name(wt));
            record_exact(p, "weight_from_host", memcmp(dev, want, n * 2) == 0, what);
            g->ops->weight_free(g, &w);
            CHECK(w.data == NULL);
            free(h);
            free(v);
            free(dev);
            free(want);
        }
    gl_weight w;
    float one = 1.0f;
    CHECK_STATUS(g->ops->weight_from_host(g, &one, GL_DTYPE_F32, 0, 1, &w),
                 GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(g->ops->weight_from_host(g, NULL, GL_DTYPE_F32, 1, 1, &w),
                 GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(g->ops->weight_from_host(g, &one, (gl_dtype)9, 1, 1, &w),
                 GLOSSA_STATUS_INVALID_ARGUMENT);
    g->ops->weight_free(g, NULL);
}

/* ---- linear ---- */

enum { RES_NONE, RES_SEPARATE, RES_ALIAS };

static void run_linear(const pair *p, int m, int k, int n, int x_extra, gl_dtype wt,
                       bool with_bias, gl_act act, int res_mode)
{
    int xs = k + x_extra;
    float *x = rnd((size_t)m * xs, -1, 1, p->act);
    float *res = rnd((size_t)m * n, -2, 2, p->act);
    float *wv = rand_buf((size_t)n * k, -0.5f, 0.5f), *bv = rand_buf((size_t)n, -1, 1);
    wpair w = make_wpair(p, wv, n, k, wt), bias = make_wpair(p, bv, 1, n, wt);
    float *out[2];
    for (int s = 0; s < 2; s++) {
        backend *be = side(p, s);
        void *dx = dev_f32(be, x, (size_t)m * xs);
        void *dr = res_mode != RES_NONE ? dev_f32(be, res, (size_t)m * n) : NULL;
        void *dy = res_mode == RES_ALIAS ? dr : dev_alloc(be, (size_t)m * n * act_size(be));
        if (res_mode != RES_ALIAS && s == 0) poison(be, dy, (size_t)m * n);
        gl_weight *wb = s ? &w.c : &w.g, *bb = s ? &bias.c : &bias.g;
        be->ops->linear(be, m, dx, xs, wb, with_bias ? bb : NULL, act, dr, dy);
        out[s] = host_f32(be, dy, (size_t)m * n);
        be->ops->free(be, dx);
        if (dr) be->ops->free(be, dr);
        if (dy != dr) be->ops->free(be, dy);
    }
    char what[160];
    snprintf(what, sizeof what, "linear m=%d k=%d n=%d xs=%d w=%s bias=%d act=%d res=%d", m, k, n,
             xs, gl_dtype_name(wt), with_bias, (int)act, res_mode);
    record(p, "linear", rel_err(out[0], out[1], (size_t)m * n), what);
    free_wpair(p, &w);
    free_wpair(p, &bias);
    free(x);
    free(res);
    free(wv);
    free(bv);
    free(out[0]);
    free(out[1]);
}

static void test_linear(const pair *p, bool quick)
{
    /* every epilogue path (act x residual x bias) on one small shape, x_stride odd half the time */
    int combo = 0;
    for (int act = 0; act <= GL_ACT_SILU; act++)
        for (int res = RES_NONE; res <= RES_ALIAS; res++)
            for (int bias = 0; bias < 2; bias++, combo++)
                run_linear(p, 7, 64, 72, combo % 2 ? 5 : 0, TEST_DTYPE(combo), bias, (gl_act)act,
                           res);
    /* m <= 32 (GLOSSA_CUDA_SKINNY_M) with k % 32 == 0 runs the skinny kernel */
    static const int ms[] = {1, 7, 16, 33, 64, 300};
    static const int nk[][2] = {{64, 64},     {1000, 1024}, {1024, 1000},
                                {1024, 4096}, {4096, 1024}, {4096, 4096}};
    int n_nk = quick ? 3 : 6;
    for (int mi = 0; mi < 6; mi++)
        for (int si = 0; si < n_nk; si++)
            for (int v = 0; v < 2; v++, combo++) {
                int extra = combo % 4 == 1 ? 5 : combo % 4 == 3 ? 8 : 0;
                run_linear(p, ms[mi], nk[si][1], nk[si][0], extra, TEST_DTYPE(combo), combo % 7 != 3,
                           (gl_act)(combo % 5), (combo / 5) % 3);
            }
    /* the model's shapes: fused QKV, fc1 with exact GELU, fc2 + residual in place, lm_head */
    if (!quick) {
        run_linear(p, 64, 1024, 3072, 0, GL_DTYPE_F16, true, GL_ACT_NONE, RES_NONE);
        run_linear(p, 300, 1024, 4096, 0, GL_DTYPE_BF16, true, GL_ACT_GELU, RES_NONE);
        run_linear(p, 300, 4096, 1024, 0, GL_DTYPE_F32, true, GL_ACT_NONE, RES_ALIAS);
        run_linear(p, 3, 1024, 50021, 0, GL_DTYPE_F16, false, GL_ACT_NONE, RES_NONE);
    }
    run_linear(p, 0, 64, 64, 0, GL_DTYPE_F32, true, GL_ACT_GELU, RES_SEPARATE); /* m = 0: no-op */
}

/* The same call twice (the second through the cached plan): identical bits. */
static void test_linear_repeat(const pair *p, int m, int k)
{
    backend *g = p->g;
    int n = 1024;
    float *x = rnd((size_t)m * k, -1, 1, p->act), *wv = rand_buf((size_t)n * k, -0.5f, 0.5f);
    wpair w = make_wpair(p, wv, n, k, GL_DTYPE_F32);
    void *dx = dev_f32(g, x, (size_t)m * k), *dy = dev_alloc(g, (size_t)m * n * 2);
    float *o[2];
    for (int r = 0; r < 2; r++) {
        poison(g, dy, (size_t)m * n);
        g->ops->linear(g, m, dx, k, &w.g, NULL, GL_ACT_SILU, NULL, dy);
        o[r] = host_f32(g, dy, (size_t)m * n);
    }
    char what[64];
    snprintf(what, sizeof what, "m=%d k=%d n=%d", m, k, n);
    record_exact(p, "linear repeat", same_floats(o[0], o[1], (size_t)m * n), what);
    g->ops->free(g, dx);
    g->ops->free(g, dy);
    free_wpair(p, &w);
    free(x);
    free(wv);
    free(o[0]);
    free(o[1]);
}

/* ---- layernorm, add ---- */

static void run_layernorm(const pair *p, int m, int d, float offset, gl_dtype wt, bool with_r,
                          bool alias, bool with_beta)
{
    size_t n = (size_t)m * d;
    float *x = rnd(n, offset - 1, offset + 1, p->act), *r = rnd(n, -1, 1, p->act);
    float *gv = rand_buf((size_t)d, 0.5f, 1.5f), *bv = rand_buf((size_t)d, -0.5f, 0.5f);
    wpair g = make_wpair(p, gv, 1, d, wt), bt = make_wpair(p, bv, 1, d, wt);
    float *outy[2], *outx[2];
    for (int s = 0; s < 2; s++) {
        backend *be = side(p, s);
        void *dx = dev_f32(be, x, n), *dr = with_r ? dev_f32(be, r, n) : NULL;
        void *dy = alias ? dx : dev_alloc(be, n * act_size(be));
        if (!alias && s == 0) poison(be, dy, n);
        be->ops->layernorm(be, m, dx, dr, s ? &g.c : &g.g, with_beta ? (s ? &bt.c : &bt.g) : NULL,
                           1e-5f, dy);
        outy[s] = host_f32(be, dy, n);
        outx[s] = host_f32(be, dx, n);
        be->ops->free(be, dx);
        if (dr) be->ops->free(be, dr);
        if (!alias) be->ops->free(be, dy);
    }
    char what[128];
    snprintf(what, sizeof what, "layernorm m=%d d=%d offset=%g w=%s r=%d alias=%d beta=%d", m, d,
             offset, gl_dtype_name(wt), with_r, alias, with_beta);
    record(p, "layernorm", rel_err(outy[0], outy[1], n), what);
    if (!alias) record(p, "layernorm x+=r", rel_err(outx[0], outx[1], n), what);
    free_wpair(p, &g);
    free_wpair(p, &bt);
    for (int s = 0; s < 2; s++) {
        free(outy[s]);
        free(outx[s]);
    }
    free(x);
    free(r);
    free(gv);
    free(bv);
}

static void test_layernorm(const pair *p)
{
    static const int ms[] = {1, 7, 64, 300};
    /* 256, 768, 1024: the warp form (one warp a row); the rest the block forms */
    static const int ds[] = {1, 7, 64, 256, 768, 1000, 1024, 1030, 2048, 4096};
    int combo = 0;
    for (int mi = 0; mi < 4; mi++)
        for (int di = 0; di < 10; di++)
            for (int v = 0; v < 2; v++, combo++) {
                int mode = combo % 8;
                run_layernorm(p, ms[mi], ds[di], combo % 3 ? 0.0f : 3.0f, TEST_DTYPE(combo),
                              mode & 1, mode & 2, !(mode & 4));
            }
    run_layernorm(p, 0, 64, 0.0f, GL_DTYPE_F32, true, false, true); /* m = 0: no-op */
}

static void test_add(const pair *p)
{
    size_t ns[] = {1, 7, 1000, 100003, 65536};
    for (int i = 0; i < 5; i++)
        for (int alias = 0; alias < 3; alias++) {
            size_t n = ns[i];
            float *x = rnd(n, -1, 1, p->act), *r = rnd(n, -1, 1, p->act), *out[2];
            for (int s = 0; s < 2; s++) {
                backend *be = side(p, s);
                void *dx = dev_f32(be, x, n), *dr = dev_f32(be, r, n);
                void *dy = alias == 1 ? dx : alias == 2 ? dr : dev_alloc(be, n * act_size(be));
                if (alias == 0 && s == 0) poison(be, dy, n);
                be->ops->add(be, (int64_t)n, dx, dr, dy);
                out[s] = host_f32(be, dy, n);
                be->ops->free(be, dx);
                be->ops->free(be, dr);
                if (alias == 0) be->ops->free(be, dy);
            }
            char what[64];
            snprintf(what, sizeof what, "add n=%zu alias=%d", n, alias);
            record(p, "add", rel_err(out[0], out[1], n), what);
            free(x);
            free(r);
            free(out[0]);
            free(out[1]);
        }
}

/* ---- embed, gather_rows, argmax ---- */

static void test_embed(const pair *p)
{
    static const int ms[] = {1, 7, 64, 300};
    static const int ds[] = {8, 33, 1024};
    int combo = 0, V = 1000;
    for (int mi = 0; mi < 4; mi++)
        for (int di = 0; di < 3; di++)
            for (int mode = 0; mode < 4; mode++, combo++) {
                int m = ms[mi], d = ds[di];
                bool with_pos = mode & 1;
                float scale = mode & 2 ? sqrtf((float)d) : 1.0f;
                float *tv = rand_buf((size_t)V * d, -1, 1), *pv = rand_buf((size_t)(V + 2) * d, -1, 1);
                wpair tok = make_wpair(p, tv, V, d, TEST_DTYPE(combo));
                wpair pos = make_wpair(p, pv, V + 2, d, TEST_DTYPE(combo + 1));
                int32_t *ids = malloc((size_t)m * 4), *positions = malloc((size_t)m * 4);
                for (int i = 0; i < m; i++) {
                    ids[i] = rng_int(V);
                    positions[i] = rng_int(V + 2);
                }
                float *out[2];
                for (int s = 0; s < 2; s++) {
                    backend *be = side(p, s);
                    void *di_ = dev_i32(be, ids, (size_t)m), *dp = dev_i32(be, positions, (size_t)m);
                    void *dy = dev_alloc(be, (size_t)m * d * act_size(be));
                    if (s == 0) poison(be, dy, (size_t)m * d);
                    be->ops->embed(be, m, di_, with_pos ? dp : NULL, s ? &tok.c : &tok.g,
                                   with_pos ? (s ? &pos.c : &pos.g) : NULL, scale, dy);
                    out[s] = host_f32(be, dy, (size_t)m * d);
                    be->ops->free(be, di_);
                    be->ops->free(be, dp);
                    be->ops->free(be, dy);
                }
                char what[96];
                snprintf(what, sizeof what, "embed m=%d d=%d pos=%d scale=%g", m, d, with_pos,
                         scale);
                record(p, "embed", rel_err(out[0], out[1], (size_t)m * d), what);
                free_wpair(p, &tok);
                free_wpair(p, &pos);
                free(tv);
                free(pv);
                free(ids);
                free(positions);
                free(out[0]);
                free(out[1]);
            }
}

static void test_gather(const pair *p)
{
    static const int ms[] = {1, 7, 64};
    static const int ds[] = {37, 1024, 1000};
    for (int mi = 0; mi < 3; mi++)
        for (int di = 0; di < 3; di++) {
            int m = ms[mi], d = ds[di], src_rows = 100;
            float *x = rnd((size_t)src_rows * d, -5, 5, p->act), *out[2];
            int32_t *rows = malloc((size_t)m * 4);
            for (int i = 0; i < m; i++) rows[i] = rng_int(src_rows);
            for (int s = 0; s < 2; s++) {
                backend *be = side(p, s);
                void *dx = dev_f32(be, x, (size_t)src_rows * d), *dr = dev_i32(be, rows, (size_t)m);
                void *dy = dev_alloc(be, (size_t)m * d * act_size(be));
                if (s == 0) poison(be, dy, (size_t)m * d);
                be->ops->gather_rows(be, m, d, dx, dr, dy);
                out[s] = host_f32(be, dy, (size_t)m * d);
                be->ops->free(be, dx);
                be->ops->free(be, dr);
                be->ops->free(be, dy);
            }
            char what[64];
            snprintf(what, sizeof what, "gather_rows m=%d d=%d", m, d);
            record_exact(p, "gather_rows", same_floats(out[0], out[1], (size_t)m * d), what);
            free(x);
            free(rows);
            free(out[0]);
            free(out[1]);
        }
}

/* Rows: well separated (a unique maximum), ties (lowest index), the maximum first / last, NaN
 * (the first NaN), all equal. Identical inputs on both sides, so every case is exact. Each n
 * packed and with rows ld = n + 5 apart whose pad columns would win if read. */
static void test_argmax(const pair *p)
{
    static const int ns[] = {1, 2, 7, 1000, 4096, 4097, 250027};
    for (int ci = 0; ci < 14; ci++) {
        int ni = ci / 2, n = ns[ni], m = ni % 2 ? 64 : 9, ld = n + (ci % 2) * 5;
        float *l = rnd((size_t)m * ld, -10, 10, p->act);
        for (int i = 0; i < m; i++) {
            float *r = l + (size_t)i * ld;
            for (int c = n; c < ld; c++)
                r[c] = 60.0f;
            int kind = i % 6;
            if (kind == 0) r[rng_int(n)] = 16.0f;
            if (kind == 1 && n > 2) r[n - 1] = r[n / 2] = r[1] = 20.0f;
            if (kind == 2) r[n - 1] = 30.0f;
            if (kind == 3) r[0] = 30.0f;
            if (kind == 4 && n > 3) {
                r[n / 3] = NAN;
                r[n - 1] = NAN;
            }
            if (kind == 5)
                for (int c = 0; c < n; c++) r[c] = -1.0f;
        }
        int32_t *got[2];
        for (int s = 0; s < 2; s++) {
            backend *be = side(p, s);
            void *dl = dev_f32(be, l, (size_t)m * ld);
            got[s] = malloc((size_t)m * 4);
            for (int i = 0; i < m; i++) got[s][i] = -7;
            CHECK_OK(be->ops->argmax(be, m, n, ld, dl, got[s]));
            be->ops->free(be, dl);
        }
        char what[64];
        snprintf(what, sizeof what, "argmax m=%d n=%d ld=%d", m, n, ld);
        int same = memcmp(got[0], got[1], (size_t)m * 4) == 0;
        if (!same)
            for (int i = 0; i < m; i++)
                if (got[0][i] != got[1][i])
                    fprintf(stderr, "  %s row %d: cuda %d cpu %d\n", what, i, got[0][i], got[1][i]);
        record_exact(p, "argmax", same, what);
        free(l);
        free(got[0]);
        free(got[1]);
    }
}

/* ---- linear_argmax ---- */

/* linear_argmax against the linear op of the CPU (logits) and the argmax op over its own logits
 * (ids: exact, also from a graph replayed twice: the kernel's block counter resets itself); the
 * CPU's logit at each id within the tolerance of the CPU row's maximum (near ties may differ).
 * Row 3 of x holds a NaN (every logit NaN: column 0); with a bias, the columns past n_valid get
 * +80 (they would win if read); tie: two identical weight rows with the largest bias (the lower
 * column wins). n % 8 == 0, k % 128 == 0 and m <= 64 run the fused kernel, the rest the
 * fallback. */
static void run_linear_argmax(const pair *p, int m, int k, int n, int n_valid, int x_extra,
                              bool with_bias, bool tie, gl_dtype wt)
{
    backend *g = p->g, *c = p->c;
    int xs = k + x_extra;
    size_t mn = (size_t)m * n;
    float *x = rnd((size_t)m * xs, -1, 1, p->act);
    if (m > 3) x[3 * (size_t)xs + (size_t)k / 2] = NAN;
    float *wv = rand_buf((size_t)n * k, -0.5f, 0.5f), *bv = rand_buf((size_t)n, -1, 1);
    int t0 = n_valid / 3, t1 = n_valid - 1;
    if (tie && t1 > t0) {
        memcpy(wv + (size_t)t1 * k, wv + (size_t)t0 * k, (size_t)k * sizeof *wv);
        bv[t0] = bv[t1] = 40.0f;
    }
    for (int col = n_valid; col < n; col++)
        bv[col] = 80.0f;
    wpair w = make_wpair(p, wv, n, k, wt), bias = make_wpair(p, bv, 1, n, wt);
    void *dx = dev_f32(g, x, (size_t)m * xs), *dy = dev_alloc(g, mn * act_size(g));
    int32_t *dids = dev_alloc(g, (size_t)m * sizeof(int32_t));
    poison(g, dy, mn);
    bool ran =
        g->ops->linear_argmax(g, m, dx, xs, &w.g, with_bias ? &bias.g : NULL, n_valid, dy, dids);
    int32_t *ids = malloc((size_t)m * 3 * sizeof *ids), *ref = ids + m, *rep = ids + 2 * m;
    for (int i = 0; i < 3 * m; i++)
        ids[i] = -7;
    CHECK_OK(g->ops->download(g, ids, dids, (size_t)m * sizeof *ids));
    float *y = host_f32(g, dy, mn);
    CHECK_OK(g->ops->argmax(g, m, n_valid, n, dy, ref));
    void *cx = dev_f32(c, x, (size_t)m * xs), *cy = dev_alloc(c, mn * act_size(c));
    c->ops->linear(c, m, cx, xs, &w.c, with_bias ? &bias.c : NULL, GL_ACT_NONE, NULL, cy);
    float *yc = host_f32(c, cy, mn);

    char what[160];
    snprintf(what, sizeof what, "linear_argmax m=%d k=%d n=%d valid=%d xs=%d bias=%d tie=%d w=%s",
             m, k, n, n_valid, xs, with_bias, tie, gl_dtype_name(wt));
    CHECK_MSG(ran, "%s: declined", what);
    record(p, "linear_argmax logits", rel_err(y, yc, mn), what);
    int same = memcmp(ids, ref, (size_t)m * sizeof *ids) == 0;
    for (int i = 0; i < m && !same; i++)
        if (ids[i] != ref[i])
            fprintf(stderr, "  %s row %d: fused %d argmax op %d\n", what, i, ids[i], ref[i]);
    record_exact(p, "linear_argmax ids = argmax op", same, what);
    double worst = 0;
    int want_ok = 1;
    for (int i = 0; i < m; i++) {
        const float *r = yc + (size_t)i * n;
        if (m > 3 && i == 3) {
            want_ok &= ids[i] == 0;
            continue;
        }
        if (tie && t1 > t0 && with_bias) want_ok &= ids[i] == t0;
        float mx = -INFINITY, amax = 0;
        for (int col = 0; col < n_valid; col++) {
            mx = r[col] > mx ? r[col] : mx;
            amax = fabsf(r[col]) > amax ? fabsf(r[col]) : amax;
        }
        double e =
            ids[i] >= 0 && ids[i] < n_valid ? (mx - r[ids[i]]) / (amax > 0 ? amax : 1) : INFINITY;
        worst = e > worst ? e : worst;
    }
    record(p, "linear_argmax id vs cpu max", worst, what);
    record_exact(p, "linear_argmax NaN row / tie", want_ok, what);

    void *graph = NULL; /* recorded, replayed twice */
    CHECK_OK(g->ops->graph_begin(g));
    g->ops->linear_argmax(g, m, dx, xs, &w.g, with_bias ? &bias.g : NULL, n_valid, dy, dids);
    CHECK_OK(g->ops->graph_end(g, &graph));
    int replays_same = 1;
    for (int r = 0; r < 2 && graph; r++) {
        for (int i = 0; i < m; i++)
            rep[i] = -7;
        CHECK_OK(g->ops->upload(g, dids, rep, (size_t)m * sizeof *rep)); /* unwritten: fails */
        CHECK_OK(g->ops->graph_launch(g, graph));
        CHECK_OK(g->ops->download(g, rep, dids, (size_t)m * sizeof *rep));
        replays_same &= memcmp(rep, ids, (size_t)m * sizeof *rep) == 0;
    }
    if (graph) g->ops->graph_free(g, graph);
    record_exact(p, "linear_argmax graph replays", replays_same && graph, what);

    g->ops->free(g, dx);
    g->ops->free(g, dy);
    g->ops->free(g, dids);
    c->ops->free(c, cx);
    c->ops->free(c, cy);
    free_wpair(p, &w);
    free_wpair(p, &bias);
    free(x);
    free(wv);
    free(bv);
    free(y);
    free(yc);
    free(ids);
}

static void test_linear_argmax(const pair *p)
{
    if (!p->g->ops->linear_argmax) return;
    /* 9..64 rows: the fused kernel's token tiles (16, 32, 48, 64 rows), several tiles per warp
     * (n = 40,000: 2,500 tiles of 16); below and above: linear + the argmax kernels; biases or
     * none, a padded x stride, every weight dtype */
    static const int ms[] = {1, 5, 9, 16, 17, 33, 64};
    for (int mi = 0; mi < 7; mi++)
        run_linear_argmax(p, ms[mi], 1024, mi % 2 ? 40000 : 1000, mi % 2 ? 39997 : 1000,
                          mi % 3 ? 0 : 8, mi % 4 != 1, mi == 5, TEST_DTYPE(mi));
    run_linear_argmax(p, 32, 1024, 40000, 39990, 0, true, true, GL_DTYPE_F16);
    run_linear_argmax(p, 41, 1024, 4000, 3999, 0, false, false, GL_DTYPE_BF16);
    run_linear_argmax(p, 24, 128, 136, 130, 0, true, false, GL_DTYPE_BF16); /* a group a tile */
    /* fallbacks: m > 64, n % 8 != 0, k % 128 != 0 */
    run_linear_argmax(p, 65, 1024, 1000, 999, 0, true, true, GL_DTYPE_F16);
    run_linear_argmax(p, 33, 1024, 1003, 1003, 0, true, false, GL_DTYPE_F32);
    run_linear_argmax(p, 9, 100, 1000, 996, 0, true, false, GL_DTYPE_F16);
}

/* ---- paged K/V ---- */

typedef struct kv_pool {
    void *k, *v;
    gl_kv_view view;
} kv_pool;

static void kv_pool_make(backend *be, kv_pool *pl, const float *init_k, const float *init_v,
                         int n_blocks, int bs, int H, int hd)
{
    size_t n = (size_t)n_blocks * bs * H * hd;
    pl->k = dev_f32(be, init_k, n);
    pl->v = dev_f32(be, init_v, n);
    memset(&pl->view, 0, sizeof pl->view);
    pl->view.k = pl->k;
    pl->view.v = pl->v;
    pl->view.block_size = bs;
    pl->view.n_heads = H;
    pl->view.head_dim = hd;
}

static void run_kv(const pair *p, int H, int hd, int bs, int n_tok, int stride_mul)
{
    int n_blocks = 12, row = H * hd, kv_stride = stride_mul * row;
    size_t pool_n = (size_t)n_blocks * bs * row;
    float *ik = rnd(pool_n, -1, 1, p->act), *iv = rnd(pool_n, -1, 1, p->act);
    float *src = rnd((size_t)n_tok * kv_stride, -3, 3, p->act);
    int n_slots = n_blocks * bs, *perm = malloc((size_t)n_slots * sizeof *perm);
    for (int i = 0; i < n_slots; i++) perm[i] = i;
    for (int i = n_slots - 1; i > 0; i--) {
        int j = rng_int(i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int32_t *slots = malloc((size_t)n_tok * 4);
    for (int t = 0; t < n_tok; t++) slots[t] = t % 5 == 4 ? -1 : perm[t];
    /* block copies: dst distinct and never a src */
    int n_copy = 4;
    int32_t bsrc[4], bdst[4];
    int bperm[12];
    for (int i = 0; i < n_blocks; i++) bperm[i] = i;
    for (int i = n_blocks - 1; i > 0; i--) {
        int j = rng_int(i + 1), t = bperm[i];
        bperm[i] = bperm[j];
        bperm[j] = t;
    }
    for (int i = 0; i < n_copy; i++) {
        bsrc[i] = bperm[i];
        bdst[i] = bperm[n_copy + i];
    }
    bsrc[3] = bsrc[2]; /* one source copied twice */
    float *after_write[2][2], *after_copy[2][2], *second[2][2];
    for (int s = 0; s < 2; s++) {
        backend *be = side(p, s);
        kv_pool pl;
        kv_pool_make(be, &pl, ik, iv, n_blocks, bs, H, hd);
        void *dsrc = dev_f32(be, src, (size_t)n_tok * kv_stride);
        void *dslots = dev_i32(be, slots, (size_t)n_tok);
        /* K at column 0 of each source row, V after it (as the fused K/V projection) */
        void *dv = (char *)dsrc + (size_t)row * act_size(be);
        be->ops->kv_write(be, n_tok, dsrc, dv, kv_stride, dslots, &pl.view);
        after_write[s][0] = host_f32(be, pl.k, pool_n);
        after_write[s][1] = host_f32(be, pl.v, pool_n);
        void *ds = dev_i32(be, bsrc, 4), *dd = dev_i32(be, bdst, 4);
        /* two views in one call: the written pool and a second pool holding the initial data */
        kv_pool p2;
        kv_pool_make(be, &p2, ik, iv, n_blocks, bs, H, hd);
        const gl_kv_view views[2] = {pl.view, p2.view};
        be->ops->kv_copy_blocks(be, 2, views, n_copy, ds, dd);
        after_copy[s][0] = host_f32(be, pl.k, pool_n);
        after_copy[s][1] = host_f32(be, pl.v, pool_n);
        second[s][0] = host_f32(be, p2.k, pool_n);
        second[s][1] = host_f32(be, p2.v, pool_n);
        be->ops->free(be, p2.k);
        be->ops->free(be, p2.v);
        be->ops->free(be, pl.k);
        be->ops->free(be, pl.v);
        be->ops->free(be, dsrc);
        be->ops->free(be, dslots);
        be->ops->free(be, ds);
        be->ops->free(be, dd);
    }
    char what[96];
    snprintf(what, sizeof what, "kv H=%d hd=%d block=%d tokens=%d stride=%d", H, hd, bs, n_tok,
             kv_stride);
    record_exact(p, "kv_write",
                 same_floats(after_write[0][0], after_write[1][0], pool_n) &&
                     same_floats(after_write[0][1], after_write[1][1], pool_n),
                 what);
    record_exact(p, "kv_copy_blocks",
                 same_floats(after_copy[0][0], after_copy[1][0], pool_n) &&
                     same_floats(after_copy[0][1], after_copy[1][1], pool_n) &&
                     same_floats(second[0][0], second[1][0], pool_n) &&
                     same_floats(second[0][1], second[1][1], pool_n),
                 what);
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < 2; j++) {
            free(after_write[s][j]);
            free(after_copy[s][j]);
            free(second[s][j]);
        }
    free(ik);
    free(iv);
    free(src);
    free(perm);
    free(slots);
}

static void test_kv(const pair *p)
{
    run_kv(p, 4, 64, 16, 150, 3); /* 16-byte path */
    run_kv(p, 16, 64, 32, 300, 2);
    run_kv(p, 3, 5, 16, 100, 2);  /* 2-byte path: row of 15 values */
    run_kv(p, 1, 8, 7, 60, 3);
}

/* linear_kv (the QKV projection writing its K and V columns to the cache from the skinny kernel's
 * epilogue): bit for bit the GPU's linear then kv_write, and within tolerance the CPU's; the CUDA
 * op must take every call with m <= 32 here and decline m = 33 (nothing launched). */
static void run_linear_kv(const pair *p, int m, int H, int hd, gl_dtype wt)
{
    const int d = H * hd, n = 3 * d, k = d, bs = 16, n_blocks = 8;
    const size_t pool_n = (size_t)n_blocks * bs * d;
    float *x = rnd((size_t)m * k, -1, 1, p->act);
    float *wv = rand_buf((size_t)n * k, -0.5f, 0.5f), *bv = rand_buf((size_t)n, -1, 1);
    float *ik = rnd(pool_n, -1, 1, p->act), *iv = rnd(pool_n, -1, 1, p->act);
    wpair w = make_wpair(p, wv, n, k, wt), bias = make_wpair(p, bv, 1, n, wt);
    int32_t slots[40];
    for (int t = 0; t < m; t++) slots[t] = t % 4 == 3 ? -1 : (t * 37 + 5) % (n_blocks * bs);
    float *y[3], *kc[3], *vc[3];
    for (int s = 0; s < 3; s++) { /* 0: GPU fused, 1: GPU linear + kv_write, 2: CPU */
        backend *be = side(p, s == 2);
        kv_pool pl;
        kv_pool_make(be, &pl, ik, iv, n_blocks, bs, H, hd);
        void *dx = dev_f32(be, x, (size_t)m * k), *dy = dev_alloc(be, (size_t)m * n * act_size(be));
        void *dslots = dev_i32(be, slots, (size_t)m);
        gl_weight *wb = s == 2 ? &w.c : &w.g, *bb = s == 2 ? &bias.c : &bias.g;
        bool fused = s == 0 && be->ops->linear_kv &&
                     be->ops->linear_kv(be, m, dx, k, wb, bb, d, dslots, &pl.view, dy);
        if (s == 0) CHECK(fused == (m <= 32));
        if (!fused) {
            be->ops->linear(be, m, dx, k, wb, bb, GL_ACT_NONE, NULL, dy);
            be->ops->kv_write(be, m, (char *)dy + (size_t)d * act_size(be),
                              (char *)dy + (size_t)2 * d * act_size(be), n, dslots, &pl.view);
        }
        y[s] = host_f32(be, dy, (size_t)m * n);
        kc[s] = host_f32(be, pl.k, pool_n);
        vc[s] = host_f32(be, pl.v, pool_n);
        be->ops->free(be, pl.k);
        be->ops->free(be, pl.v);
        be->ops->free(be, dx);
        be->ops->free(be, dy);
        be->ops->free(be, dslots);
    }
    char what[128];
    snprintf(what, sizeof what, "linear_kv m=%d H=%d hd=%d w=%s", m, H, hd, gl_dtype_name(wt));
    record(p, "linear_kv", rel_err(y[0], y[2], (size_t)m * n), what);
    record_exact(p, "linear_kv = linear + kv_write",
                 same_floats(y[0], y[1], (size_t)m * n) && same_floats(kc[0], kc[1], pool_n) &&
                     same_floats(vc[0], vc[1], pool_n),
                 what);
    for (int s = 0; s < 3; s++) {
        free(y[s]);
        free(kc[s]);
        free(vc[s]);
    }
    free_wpair(p, &w);
    free_wpair(p, &bias);
    free(x);
    free(wv);
    free(bv);
    free(ik);
    free(iv);
}

static void test_linear_kv(const pair *p)
{
    static const int ms[] = {1, 5, 16, 33};
    for (int mi = 0; mi < 4; mi++) {
        run_linear_kv(p, ms[mi], 4, 16, TEST_DTYPE(mi));
        run_linear_kv(p, ms[mi], 16, 64, TEST_DTYPE(mi + 1));
    }
}

/* ---- driver ---- */

static void test_create_errors(void)
{
    backend *b = (backend *)1;
    CHECK_STATUS(backend_cuda_create(0, GL_DTYPE_F32, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK(b == NULL);
    b = (backend *)1;
    CHECK_STATUS(backend_cuda_create(backend_cuda_device_count(), GL_DTYPE_F16, &b),
                 GLOSSA_STATUS_NOT_FOUND);
    CHECK(b == NULL);
    CHECK_STATUS(backend_cuda_create(-1, GL_DTYPE_F16, &b), GLOSSA_STATUS_NOT_FOUND);
}

/* GLOSSA_TEST_TIME_LINEAR=1: only time the decoder's linear shapes (fp16, microseconds per call,
 * the median of 9 replays of a graph of 50 back-to-back calls), under whatever GLOSSA_CUDA_* is
 * set. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The 50 calls of op (0: linear with act, 1: linear_argmax) recorded into one graph: us per call,
 * median of 9 replays. */
static double time_graph(backend *g, int op, int m, const void *x, int k, const gl_weight *w,
                         const gl_weight *b, gl_act act, int n_valid, void *y, int32_t *ids)
{
    void *graph = NULL;
    for (int r = 0; r < 2; r++) { /* the first call outside the recording grows scratch */
        if (r == 1) CHECK_OK(g->ops->graph_begin(g));
        for (int i = 0; i < (r ? 50 : 1); i++) {
            if (op)
                g->ops->linear_argmax(g, m, x, k, w, b, n_valid, y, ids);
            else
                g->ops->linear(g, m, x, k, w, b, act, NULL, y);
        }
    }
    CHECK_OK(g->ops->graph_end(g, &graph));
    double t[9];
    for (int r = 0; r < 9; r++) {
        g->ops->sync(g);
        double t0 = now_s();
        CHECK_OK(g->ops->graph_launch(g, graph));
        g->ops->sync(g);
        t[r] = (now_s() - t0) / 50 * 1e6;
    }
    g->ops->graph_free(g, graph);
    for (int a = 0; a < 9; a++)
        for (int c = a + 1; c < 9; c++)
            if (t[c] < t[a]) {
                double z = t[a];
                t[a] = t[c];
                t[c] = z;
            }
    return t[4];
}

/* mbart-large-50's lm_head (250,054 rows, stored 250,056, k = 1,024): the linear op alone, and
 * linear_argmax (GLOSSA_CUDA_LM_ARGMAX_MIN=65: the linear op + the argmax kernels). */
static void time_lm_head(backend *g)
{
    const int n = 250056, k = 1024, nv = 250054;
    float *wv = rand_buf((size_t)n * k, -0.05f, 0.05f), *bv = rand_buf((size_t)n, -1, 1);
    void *wh = to_dtype(wv, (size_t)n * k, GL_DTYPE_F16),
         *bh = to_dtype(bv, (size_t)n, GL_DTYPE_F16);
    gl_weight w, b;
    CHECK_OK(g->ops->weight_from_host(g, wh, GL_DTYPE_F16, n, k, &w));
    CHECK_OK(g->ops->weight_from_host(g, bh, GL_DTYPE_F16, n, 1, &b));
    free(wv);
    free(wh);
    float *xv = rand_buf((size_t)64 * k, -1, 1);
    void *x = dev_f32(g, xv, (size_t)64 * k), *y = dev_alloc(g, (size_t)64 * n * 2);
    int32_t *ids = dev_alloc(g, 64 * sizeof(int32_t));
    static const int ms[] = {1, 8, 16, 32, 48, 64};
    for (int mi = 0; mi < 6; mi++) {
        int m = ms[mi];
        double tl = time_graph(g, 0, m, x, k, &w, &b, GL_ACT_NONE, nv, y, ids);
        double ta =
            g->ops->linear_argmax ? time_graph(g, 1, m, x, k, &w, &b, GL_ACT_NONE, nv, y, ids) : 0;
        printf("time lm_head m=%d: linear %.2f us (%.0f GB/s), linear_argmax %.2f us (%.0f GB/s)\n",
               m, tl, (double)n * k * 2 / tl * 1e-3, ta,
               ta > 0 ? (double)n * k * 2 / ta * 1e-3 : 0);
    }
    g->ops->free(g, ids);
    g->ops->free(g, y);
    g->ops->free(g, x);
    g->ops->weight_free(g, &w);
    g->ops->weight_free(g, &b);
    free(xv);
    free(bv);
    free(bh);
}

static void time_linear(void)
{
    backend *g = NULL;
    CHECK_OK(backend_cuda_create(0, GL_DTYPE_F16, &g));
    if (!g) return;
    static const int shapes[][2] = {{1024, 1024}, {3072, 1024}, {4096, 1024}, {1024, 4096}};
    static const int ms[] = {1, 16, 32, 64, 128};
    for (int si = 0; si < 4; si++) {
        int n = shapes[si][0], k = shapes[si][1];
        float *wv = rand_buf((size_t)n * k, -0.05f, 0.05f), *bv = rand_buf((size_t)n, -1, 1);
        void *wh = to_dtype(wv, (size_t)n * k, GL_DTYPE_F16), *bh = to_dtype(bv, (size_t)n, GL_DTYPE_F16);
        gl_weight w, b;
        CHECK_OK(g->ops->weight_from_host(g, wh, GL_DTYPE_F16, n, k, &w));
        CHECK_OK(g->ops->weight_from_host(g, bh, GL_DTYPE_F16, 1, n, &b));
        float *xv = rand_buf((size_t)128 * k, -1, 1);
        void *x = dev_f32(g, xv, (size_t)128 * k), *y = dev_alloc(g, (size_t)128 * n * 2);
        for (int mi = 0; mi < 5; mi++) {
            int m = ms[mi];
            /* 50 calls recorded into one graph (host launch costs out of the figure) */
            gl_act act = k == 1024 && n == 4096 ? GL_ACT_GELU : GL_ACT_NONE;
            double t = time_graph(g, 0, m, x, k, &w, &b, act, 0, y, NULL);
            printf("time linear m=%d n=%d k=%d: %.2f us, %.0f GB/s of weights\n", m, n, k, t,
                   (double)n * k * 2 / t * 1e-3);
        }
        g->ops->free(g, y);
        g->ops->free(g, x);
        g->ops->weight_free(g, &w);
        g->ops->weight_free(g, &b);
        free(xv);
        free(wh);
        free(bh);
        free(wv);
        free(bv);
    }
    time_lm_head(g);
    backend_destroy(g);
}

/* A fresh CUDA backend created with one environment setting (a code path variant), tagged
 * "<dtype>/<name>" in the report; false when it could not be created. */
static bool variant_begin(pair *p, char *tag, size_t tag_size, const char *name, const char *env,
                          const char *value)
{
    snprintf(tag, tag_size, "%s/%s", gl_dtype_name(p->act), name);
    p->tag = tag;
    p->g = NULL;
    setenv(env, value, 1);
    CHECK_OK(backend_cuda_create(0, p->act, &p->g));
    unsetenv(env);
    return p->g != NULL;
}

static void run_all(backend *cpu, gl_dtype act)
{
    pair p = {NULL, cpu, act, act == GL_DTYPE_F16 ? 1e-2 : 2e-2, gl_dtype_name(act)};
    CHECK_OK(backend_cuda_create(0, act, &p.g));
    if (!p.g) return;
    CHECK(p.g->act_dtype == act && p.g->ops->name && strcmp(p.g->ops->name, "cuda") == 0);
    test_memory(&p);
    test_weights(&p);
    test_linear(&p, false);
    test_linear_repeat(&p, 33, 1000);
    test_linear_repeat(&p, 9, 1024);
    test_linear_repeat(&p, 1, 4096);
    test_layernorm(&p);
    test_add(&p);
    test_embed(&p);
    test_gather(&p);
    test_argmax(&p);
    test_linear_argmax(&p);
    test_kv(&p);
    test_linear_kv(&p);
    p.g->ops->sync(p.g);
    backend_destroy(p.g);

    char tag[32];
    /* the plain GEMM kernel (what runs where cuBLASLt has no algorithm) */
    if (!variant_begin(&p, tag, sizeof tag, "plain-gemm", "GLOSSA_CUDA_GEMM_FALLBACK", "1")) return;
    test_linear(&p, true);
    backend_destroy(p.g);

    /* the skinny kernel's four-token-tile range, m = 17..32 (the default maximum, set again) */
    if (!variant_begin(&p, tag, sizeof tag, "skinny-32", "GLOSSA_CUDA_SKINNY_M", "32")) return;
    for (int m = 17; m <= 32; m += 5)
        run_linear(&p, m, 1024, 1000, 8, GL_DTYPE_F16, true, (gl_act)(m % 5), m % 3);
    backend_destroy(p.g);

    /* the fused lm_head + argmax kernel from one row on (its 8-token tile) */
    if (!variant_begin(&p, tag, sizeof tag, "lm-argmax-1", "GLOSSA_CUDA_LM_ARGMAX_MIN", "1"))
        return;
    run_linear_argmax(&p, 1, 1024, 40000, 39997, 0, true, false, GL_DTYPE_F16);
    run_linear_argmax(&p, 5, 1024, 1000, 1000, 8, true, true, GL_DTYPE_BF16);
    backend_destroy(p.g);

    /* cuBLASLt for every m (the skinny kernel off) */
    if (!variant_begin(&p, tag, sizeof tag, "cublaslt", "GLOSSA_CUDA_SKINNY", "0")) return;
    test_linear(&p, true);
    backend_destroy(p.g);
}

int main(void)
{
    if (backend_cuda_device_count() == 0) {
        printf("no CUDA device: skipped\n");
        return 77;
    }
    if (getenv("GLOSSA_TEST_TIME_LINEAR")) {
        time_linear();
        TEST_MAIN_END();
    }
    test_create_errors();
    backend *cpu = NULL;
    CHECK_OK(backend_cpu_create(0, &cpu));
    if (!cpu) TEST_MAIN_END();
    run_all(cpu, GL_DTYPE_F16);
    run_all(cpu, GL_DTYPE_BF16);
    backend_destroy(cpu);

    printf("%-32s %10s %8s  %s\n", "op", "worst", "limit", "where");
    for (int i = 0; i < g_n_stats; i++)
        printf("%-32s %10.3g %8.1g  %s\n", g_stats[i].op, g_stats[i].worst, g_stats[i].tol,
               g_stats[i].where);
    TEST_MAIN_END();
}
