/* The CUDA backend's linear ops against the CPU twin (cuda_pair_util.h: identical inputs, poisoned
 * outputs, the dtype's tolerance): linear over every epilogue and the decode shapes, the same call
 * twice (bit-identical), linear_argmax (the lm_head with the argmax: ids exact against the argmax
 * op over its own logits), and the code-path variants (the plain GEMM kernel, the skinny kernel's
 * range, the fused lm_head kernel from one row, cuBLASLt only). linear_kv is test_cuda_ops.c's
 * (with the paged K/V). Exits 77 (skipped) without a CUDA device.
 * GLOSSA_TEST_TIME_LINEAR=1: instead, times the decoder's linears and mbart-large-50's lm_head
 * (the linear op and linear_argmax) at decode row counts, each call in a replayed graph. */
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
#include "gpu/cuda_pair_util.h"

/* ---- linear ---- */

enum { RES_NONE, RES_SEPARATE, RES_ALIAS };

static void run_linear(const pair *p, int m, int k, int n, int x_extra, gl_dtype wt, bool with_bias,
                       gl_act act, int res_mode)
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
                run_linear(p, ms[mi], nk[si][1], nk[si][0], extra, TEST_DTYPE(combo),
                           combo % 7 != 3, (gl_act)(combo % 5), (combo / 5) % 3);
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

/* 33-64 rows (cuda_linear_cluster.cu, k x n: 1024 x 1024 CS 4 ck 256 as in mbart-large-50's
 * decoder, 512 x 512 CS 8 ck 64, 1024 x 256 CS 2 ck 512, 2048 x 512 CS 8 ck 256; 1024 x 4096
 * and 4096 x 1024 too large for it: cuBLASLt), rows past m zero-filled, every epilogue, x rows
 * padded to 8 elements or not */
static void test_linear_cluster(const pair *p)
{
    static const int ms[] = {33, 41, 48, 57, 64};
    static const int kn[][2] = {{1024, 1024}, {512, 512}, {1024, 256}, {2048, 512}, {1024, 4096},
                                {4096, 1024}};
    int combo = 0;
    for (int mi = 0; mi < 5; mi++)
        for (int si = 0; si < 6; si++, combo++)
            run_linear(p, ms[mi], kn[si][0], kn[si][1], combo % 3 == 1 ? 8 : 0, p->act,
                       combo % 4 != 2, (gl_act)(combo % (GL_ACT_SILU + 1)), combo % 3);
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

/* ---- linear_argmax ---- */

/* How far below the CPU row r's largest logit (of its first n_valid) column id's is, relative to
 * the row's largest magnitude (inf: id is no column). Near ties may pick another column. */
static double id_gap(const float *r, int n_valid, int32_t id)
{
    float mx = -INFINITY, amax = 0;
    for (int col = 0; col < n_valid; col++) {
        mx = r[col] > mx ? r[col] : mx;
        amax = fabsf(r[col]) > amax ? fabsf(r[col]) : amax;
    }
    return id >= 0 && id < n_valid ? (mx - r[id]) / (amax > 0 ? amax : 1) : INFINITY;
}

/* linear_argmax for the ids only (keep_y false) recorded into a graph, replayed twice with the
 * ids poisoned before each (an unwritten id fails): 1 when every replay gave want. rep: m ints. */
static int ids_replays_match(backend *g, int m, void *dx, int xs, const gl_weight *w,
                             const gl_weight *bias, int n_valid, void *dy, int32_t *dids,
                             const int32_t *want, int32_t *rep)
{
    void *graph = NULL;
    CHECK_OK(g->ops->graph_begin(g));
    g->ops->linear_argmax(g, m, dx, xs, w, bias, n_valid, dy, false, dids);
    CHECK_OK(g->ops->graph_end(g, &graph));
    int same = graph != NULL;
    for (int r = 0; r < 2 && graph; r++) {
        for (int i = 0; i < m; i++)
            rep[i] = -7;
        CHECK_OK(g->ops->upload(g, dids, rep, (size_t)m * sizeof *rep));
        CHECK_OK(g->ops->graph_launch(g, graph));
        CHECK_OK(g->ops->download(g, rep, dids, (size_t)m * sizeof *rep));
        same &= memcmp(rep, want, (size_t)m * sizeof *rep) == 0;
    }
    if (graph) g->ops->graph_free(g, graph);
    return same;
}

/* One linear_argmax case's inputs and buffers (run_linear_argmax, run_lm_int8): x (m rows,
 * stride xs, random in [-1, 1] at the act dtype), W (n x k, [-0.5, 0.5]), bias ([-1, 1], +80 past
 * n_valid: those columns would win if read), and ids: 3 m host ints (ids, ref, rep). */
typedef struct lm_case {
    int m, k, n, n_valid, xs;
    float *x, *wv, *bv;
    wpair w, bias;
    void *dx, *dy;
    int32_t *dids, *ids;
} lm_case;

/* The host inputs; the caller may change them before lm_case_upload. */
static void lm_case_inputs(lm_case *cs, const pair *p, int m, int k, int n, int n_valid,
                           int x_extra)
{
    memset(cs, 0, sizeof *cs);
    cs->m = m, cs->k = k, cs->n = n, cs->n_valid = n_valid, cs->xs = k + x_extra;
    cs->x = rnd((size_t)m * cs->xs, -1, 1, p->act);
    cs->wv = rand_buf((size_t)n * k, -0.5f, 0.5f);
    cs->bv = rand_buf((size_t)n, -1, 1);
    for (int col = n_valid; col < n; col++)
        cs->bv[col] = 80.0f;
    cs->ids = malloc((size_t)m * 3 * sizeof *cs->ids);
    for (int i = 0; i < 3 * m; i++)
        cs->ids[i] = -7;
}

/* Weight row t1 a copy of row t0, both with bias 60: t0 wins. (With k = 1024 a row's dot with x
 * has a standard deviation of ~5.3 and the best other column reaches ~25: a bias of 40 lost at
 * one of 48 rows once, at -3.2 sigma; 60 needs -7 sigma. The pads' +80 still beats it.) */
static void lm_case_tie(lm_case *cs, int t0, int t1)
{
    memcpy(cs->wv + (size_t)t1 * cs->k, cs->wv + (size_t)t0 * cs->k, (size_t)cs->k * sizeof *cs->wv);
    cs->bv[t0] = cs->bv[t1] = 60.0f;
}

/* W and the bias as weights of dtype wt, x, the logits (dy) and the ids (dids) on the GPU */
static void lm_case_upload(lm_case *cs, const pair *p, gl_dtype wt)
{
    backend *g = p->g;
    cs->w = make_wpair(p, cs->wv, cs->n, cs->k, wt);
    cs->bias = make_wpair(p, cs->bv, 1, cs->n, wt);
    cs->dx = dev_f32(g, cs->x, (size_t)cs->m * cs->xs);
    cs->dy = dev_alloc(g, (size_t)cs->m * cs->n * act_size(g));
    cs->dids = dev_alloc(g, (size_t)cs->m * sizeof(int32_t));
}

/* The CPU's logits of the case (with or without the bias), m x n host floats */
static float *lm_case_cpu_logits(const lm_case *cs, const pair *p, bool with_bias)
{
    backend *c = p->c;
    const size_t mn = (size_t)cs->m * cs->n;
    void *cx = dev_f32(c, cs->x, (size_t)cs->m * cs->xs), *cy = dev_alloc(c, mn * act_size(c));
    c->ops->linear(c, cs->m, cx, cs->xs, &cs->w.c, with_bias ? &cs->bias.c : NULL, GL_ACT_NONE,
                   NULL, cy);
    float *yc = host_f32(c, cy, mn);
    c->ops->free(c, cx);
    c->ops->free(c, cy);
    return yc;
}

static void lm_case_free(lm_case *cs, const pair *p)
{
    backend *g = p->g;
    g->ops->free(g, cs->dx);
    g->ops->free(g, cs->dy);
    g->ops->free(g, cs->dids);
    free_wpair(p, &cs->w);
    free_wpair(p, &cs->bias);
    free(cs->x);
    free(cs->wv);
    free(cs->bv);
    free(cs->ids);
}

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
    backend *g = p->g;
    size_t mn = (size_t)m * n;
    lm_case cs;
    lm_case_inputs(&cs, p, m, k, n, n_valid, x_extra);
    const int xs = cs.xs;
    if (m > 3) cs.x[3 * (size_t)xs + (size_t)k / 2] = NAN;
    int t0 = n_valid / 3, t1 = n_valid - 1;
    if (tie && t1 > t0) lm_case_tie(&cs, t0, t1);
    lm_case_upload(&cs, p, wt);
    const gl_weight *bias = with_bias ? &cs.bias.g : NULL;
    poison(g, cs.dy, mn);
    bool ran = g->ops->linear_argmax(g, m, cs.dx, xs, &cs.w.g, bias, n_valid, cs.dy, true, cs.dids);
    int32_t *ids = cs.ids, *ref = ids + m, *rep = ids + 2 * m;
    CHECK_OK(g->ops->download(g, ids, cs.dids, (size_t)m * sizeof *ids));
    float *y = host_f32(g, cs.dy, mn);
    CHECK_OK(g->ops->argmax(g, m, n_valid, n, cs.dy, ref));
    float *yc = lm_case_cpu_logits(&cs, p, with_bias);

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
        const double e = id_gap(r, n_valid, ids[i]);
        worst = e > worst ? e : worst;
    }
    record(p, "linear_argmax id vs cpu max", worst, what);
    record_exact(p, "linear_argmax NaN row / tie", want_ok, what);

    /* recorded with the ids only (keep_y false), replayed twice: same ids */
    record_exact(p, "linear_argmax ids-only replays",
                 ids_replays_match(g, m, cs.dx, xs, &cs.w.g, bias, n_valid, cs.dy, cs.dids, ids,
                                   rep),
                 what);
    lm_case_free(&cs, p);
    free(y);
    free(yc);
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

/* ---- linear_argmax's int8 path (cuda_lm_int8.cu, cuda_lm_int8_wide.cu) ----
 * ids-only calls at 1-64 rows with >= 32,768 columns (f16; bf16 where k % 256 == 0) run through an
 * int8 shadow of the weight and rescore in the act dtype what its bound cannot rule out: the ids
 * must equal those of the logits path
 * (linear + the argmax kernels) exactly. The shadow's first use must take device memory (n * k
 * bytes: the path ran). Cases: random rows; a cluster of rows near the top (many columns to
 * rescore); two identical top rows (the lower column wins); a NaN in x (every logit NaN: column
 * 0); a NaN weight (that column's logits NaN: it wins); every logit far below zero (kind 5); a
 * cluster of 1,500 rows (kind 6: more candidates than pass 2 lists in one chunk);
 * pad columns past n_valid with a +80 bias (never read); and a recorded graph replayed twice. */
static void run_lm_int8(const pair *p, int m, int k, int n, int n_valid, int x_extra, int kind)
{
    backend *g = p->g;
    lm_case cs;
    lm_case_inputs(&cs, p, m, k, n, n_valid, x_extra);
    const int xs = cs.xs;
    float *x = cs.x, *wv = cs.wv, *bv = cs.bv;
    int t0 = n_valid / 3, t1 = n_valid - 1, c0 = n_valid / 2;
    if (kind == 1 || kind == 6) /* a cluster of 200 (1,500: more than pass 2's candidate list
                                 * of a chunk) rows around one, all with the largest bias */
        for (int r = c0; r < c0 + (kind == 6 ? 1500 : 200) && r < n_valid; r++) {
            for (int j = 0; j < k; j++)
                wv[(size_t)r * k + j] = wv[(size_t)c0 * k + j] + 0.05f * rng_f();
            bv[r] = 60.0f; /* above any other column of any row: the cluster wins */
        }
    if (kind == 2) lm_case_tie(&cs, t0, t1); /* two identical rows on top */
    if (kind == 3 && m > 1) x[(size_t)xs + (size_t)k / 3] = NAN; /* row 1 */
    if (kind == 4) wv[(size_t)c0 * k + (size_t)k / 2] = NAN; /* column c0's logits: all NaN */
    if (kind == 5) /* every logit far below zero: under the half range in bf16 (the int8 logits
                    * pass 1 stores as halves must still bound their columns), at its edge in f16 */
        for (int col = 0; col < n_valid; col++)
            bv[col] = p->act == GL_DTYPE_BF16 ? -1e5f : -65000.0f;
    lm_case_upload(&cs, p, p->act);
    void *dx = cs.dx, *dy = cs.dy;
    int32_t *dids = cs.dids, *ids = cs.ids, *ref = ids + m, *rep = ids + 2 * m;
    const gl_weight *w = &cs.w.g, *bias = &cs.bias.g;
    /* the logits path */
    g->ops->linear_argmax(g, m, dx, xs, w, bias, n_valid, dy, true, dids);
    CHECK_OK(g->ops->download(g, ref, dids, (size_t)m * sizeof *ref));
    /* the int8 path, unrecorded (builds the shadow) */
    size_t free0 = 0, free1 = 0, total = 0;
    CHECK_OK(g->ops->mem_info(g, &free0, &total));
    for (int i = 0; i < m; i++)
        ids[i] = -7;
    CHECK_OK(g->ops->upload(g, dids, ids, (size_t)m * sizeof *ids));
    bool ran = g->ops->linear_argmax(g, m, dx, xs, w, bias, n_valid, dy, false, dids);
    CHECK_OK(g->ops->download(g, ids, dids, (size_t)m * sizeof *ids));
    CHECK_OK(g->ops->mem_info(g, &free1, &total));
    char what[160];
    snprintf(what, sizeof what, "lm int8 m=%d k=%d n=%d valid=%d xs=%d kind=%d", m, k, n, n_valid,
             xs, kind);
    CHECK_MSG(ran, "%s: declined", what);
    /* f16 at 1-8 rows, and where k % 256 == 0 (l8_wide: 9-64 rows, and bf16 at every row count;
     * else the fused kernel or linear + argmax) */
    if ((p->act == GL_DTYPE_F16 && m <= 8) || k % 256 == 0)
        record_exact(p, "lm int8: shadow built", free1 + (size_t)n * k <= free0, what);
    int same = memcmp(ids, ref, (size_t)m * sizeof *ids) == 0;
    for (int i = 0; i < m && !same; i++)
        if (ids[i] != ref[i]) fprintf(stderr, "  %s row %d: int8 %d logits %d\n", what, i, ids[i], ref[i]);
    record_exact(p, "lm int8: ids = logits path", same, what);
    /* against the CPU's logits: the id's logit within tolerance of the row's max */
    float *yc = lm_case_cpu_logits(&cs, p, true);
    double worst = 0;
    int want_ok = 1;
    for (int i = 0; i < m; i++) {
        const float *r = yc + (size_t)i * n;
        if (kind == 3 && i == 1) {
            want_ok &= ids[i] == 0;
            continue;
        }
        if (kind == 2) want_ok &= ids[i] == t0;
        if (kind == 4) want_ok &= ids[i] == c0;
        if (kind == 1) want_ok &= ids[i] >= c0 && ids[i] < c0 + 200;
        const double e = id_gap(r, n_valid, ids[i]);
        worst = e > worst ? e : worst;
    }
    record(p, "lm int8: id vs cpu max", worst, what);
    record_exact(p, "lm int8: cluster / tie / NaN row", want_ok, what);
    /* recorded with the shadow in place, replayed twice */
    record_exact(p, "lm int8: replays = logits path",
                 ids_replays_match(g, m, dx, xs, w, bias, n_valid, dy, dids, ref, rep),
                 what);
    lm_case_free(&cs, p);
    free(yc);
}

static void test_lm_int8(const pair *p)
{
    if (!p->g->ops->linear_argmax) return;
    run_lm_int8(p, 1, 1024, 40000, 39997, 0, 0);
    run_lm_int8(p, 8, 1024, 40000, 39997, 8, 0);
    run_lm_int8(p, 3, 192, 33000, 33000, 0, 0); /* 3 chunks: most warps idle */
    run_lm_int8(p, 2, 1024, 40000, 39993, 0, 1);
    run_lm_int8(p, 4, 1024, 40000, 39997, 0, 2);
    run_lm_int8(p, 5, 1024, 40000, 39997, 0, 3);
    run_lm_int8(p, 3, 1024, 40000, 39997, 0, 4); /* added without a GPU run (stop 19) */
    /* 9-64 rows (cuda_lm_int8_wide.cu): each token-tile count, the cases above */
    run_lm_int8(p, 9, 1024, 40000, 39997, 0, 0);
    run_lm_int8(p, 16, 1024, 40000, 39997, 8, 3);
    run_lm_int8(p, 27, 1024, 40000, 39993, 0, 1);
    run_lm_int8(p, 48, 1024, 40000, 39997, 0, 2);
    run_lm_int8(p, 64, 1024, 40000, 39997, 8, 0);
    run_lm_int8(p, 64, 1024, 40000, 39997, 0, 3);
    run_lm_int8(p, 33, 1024, 40000, 39997, 0, 4); /* added without a GPU run (stop 19) */
    run_lm_int8(p, 40, 1024, 40000, 39997, 0, 1); /* pass 2 from the tile maxima (33-64) */
    run_lm_int8(p, 64, 1024, 40000, 39997, 0, 6);
    run_lm_int8(p, 4, 1024, 40000, 39997, 0, 6);
    run_lm_int8(p, 64, 1024, 40000, 39997, 0, 5);
    run_lm_int8(p, 12, 192, 33000, 33000, 0, 0); /* k % 256: the fused kernel instead */
    run_lm_int8(p, 2, 1024, 40000, 39997, 0, 5);
    run_lm_int8(p, 20, 1024, 40000, 39997, 8, 5);
}

/* ---- timing (GLOSSA_TEST_TIME_LINEAR=1) ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The 50 calls of op (0: linear with act, 1: linear_argmax, 2: linear_argmax for the ids only)
 * recorded into one graph: us per call, median of 9 replays. */
static double time_graph(backend *g, int op, int m, const void *x, int k, const gl_weight *w,
                         const gl_weight *b, gl_act act, int n_valid, void *y, int32_t *ids)
{
    void *graph = NULL;
    for (int r = 0; r < 2; r++) { /* the first call outside the recording grows scratch */
        if (r == 1) CHECK_OK(g->ops->graph_begin(g));
        for (int i = 0; i < (r ? 50 : 1); i++) {
            if (op)
                g->ops->linear_argmax(g, m, x, k, w, b, n_valid, y, op == 1, ids);
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

/* A random F16 weight (n, k) and bias on g, as the timings use them (bias_column: shaped (n, 1),
 * as a model's final_logits_bias, else (1, n)). */
static void time_weights(backend *g, int n, int k, bool bias_column, gl_weight *w, gl_weight *b)
{
    float *wv = rand_buf((size_t)n * k, -0.05f, 0.05f), *bv = rand_buf((size_t)n, -1, 1);
    void *wh = to_dtype(wv, (size_t)n * k, GL_DTYPE_F16),
         *bh = to_dtype(bv, (size_t)n, GL_DTYPE_F16);
    CHECK_OK(g->ops->weight_from_host(g, wh, GL_DTYPE_F16, n, k, w));
    CHECK_OK(
        g->ops->weight_from_host(g, bh, GL_DTYPE_F16, bias_column ? n : 1, bias_column ? 1 : n, b));
    free(wv);
    free(wh);
    free(bv);
    free(bh);
}

/* mbart-large-50's lm_head (250,054 rows, stored 250,056, k = 1,024): the linear op alone, and
 * linear_argmax with the logits and for the ids only (at rows outside GLOSSA_CUDA_LM_ARGMAX_MIN /
 * _MAX: the linear op + the argmax kernels). */
static void time_lm_head(backend *g)
{
    const int n = 250056, k = 1024, nv = 250054;
    gl_weight w, b;
    time_weights(g, n, k, true, &w, &b);
    float *xv = rand_buf((size_t)64 * k, -1, 1);
    void *x = dev_f32(g, xv, (size_t)64 * k), *y = dev_alloc(g, (size_t)64 * n * 2);
    int32_t *ids = dev_alloc(g, 64 * sizeof(int32_t));
    static const int ms[] = {1, 8, 16, 32, 48, 64};
    for (int mi = 0; mi < 6; mi++) {
        int m = ms[mi];
        double tl = time_graph(g, 0, m, x, k, &w, &b, GL_ACT_NONE, nv, y, ids);
        double ta = 0, to = 0; /* linear_argmax with the logits, with the ids only */
        if (g->ops->linear_argmax) {
            ta = time_graph(g, 1, m, x, k, &w, &b, GL_ACT_NONE, nv, y, ids);
            to = time_graph(g, 2, m, x, k, &w, &b, GL_ACT_NONE, nv, y, ids);
        }
        printf("time lm_head m=%d: linear %.2f us (%.0f GB/s), linear_argmax %.2f us, ids only "
               "%.2f us\n",
               m, tl, (double)n * k * 2 / tl * 1e-3, ta, to);
    }
    g->ops->free(g, ids);
    g->ops->free(g, y);
    g->ops->free(g, x);
    g->ops->weight_free(g, &w);
    g->ops->weight_free(g, &b);
    free(xv);
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
        gl_weight w, b;
        time_weights(g, n, k, false, &w, &b);
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
    }
    time_lm_head(g);
    backend_destroy(g);
}

static void run_all(backend *cpu, gl_dtype act)
{
    pair p = {NULL, cpu, act, act == GL_DTYPE_F16 ? 1e-2 : 2e-2, gl_dtype_name(act)};
    CHECK_OK(backend_cuda_create(0, act, &p.g));
    if (!p.g) return;
    test_linear(&p, false);
    test_linear_cluster(&p);
    test_linear_repeat(&p, 33, 1000);
    test_linear_repeat(&p, 64, 1024); /* the cluster GEMM: its sums in a fixed order */
    test_linear_repeat(&p, 9, 1024);
    test_linear_repeat(&p, 1, 4096);
    test_linear_argmax(&p);
    test_lm_int8(&p);
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

    /* 33-64 rows through cuBLASLt (the cluster GEMM off) */
    if (!variant_begin(&p, tag, sizeof tag, "no-cluster", "GLOSSA_CUDA_CLUSTER", "0")) return;
    test_linear_cluster(&p);
    backend_destroy(p.g);

    /* the fused lm_head + argmax kernel from one row on (its 8-token tile) */
    if (!variant_begin(&p, tag, sizeof tag, "lm-argmax-1", "GLOSSA_CUDA_LM_ARGMAX_MIN", "1"))
        return;
    run_linear_argmax(&p, 1, 1024, 40000, 39997, 0, true, false, GL_DTYPE_F16);
    run_linear_argmax(&p, 5, 1024, 1000, 1000, 8, true, true, GL_DTYPE_BF16);
    backend_destroy(p.g);

    /* the int8 path's pass 1 on mma.sync (l8_wide) where the default is wgmma (l8_ws) */
    if (!variant_begin(&p, tag, sizeof tag, "lm-int8-mma", "GLOSSA_CUDA_LM_INT8_WG", "0")) return;
    test_lm_int8(&p);
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
    pair_run_both(run_all);
    TEST_MAIN_END();
}
