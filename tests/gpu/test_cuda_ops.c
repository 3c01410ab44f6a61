/* The CUDA backend against its CPU twin: every op except attention (test_cuda_attention.c), the
 * linear ops (test_cuda_linear.c) and beam_topk (test_cuda_beam_topk.c), on fresh random inputs,
 * for F16 and BF16 activations.
 *
 * Both backends see identical inputs: random values are rounded to the activation dtype on the
 * host (core/half.h, round-to-nearest-even as the device) and uploaded through upload_f32; a
 * weight goes to the GPU in its checkpoint dtype (F32 / F16 / BF16) and to the CPU as the F32
 * values the GPU holds after its own conversion. Outputs on the GPU are poisoned (all-ones bytes:
 * NaN in every dtype) before each op, so an element never written fails the comparison
 * (cuda_pair_util.h).
 *
 * Float ops: max |gpu - cpu| / max |cpu| <= 1e-2 (F16) or 2e-2 (BF16). Copies (gather_rows,
 * kv_write, kv_copy_blocks), argmax, the conversions and round trips: exact. The worst error per
 * op and dtype is printed at the end. Exits 77 (skipped) without a CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu_test_util.h"
#include "core/half.h"
#include "core/status.h"
#include "test.h"
#include "gpu/gpu_test_util.h"
#include "gpu/cuda_pair_util.h"

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

static void run_all(backend *cpu, gl_dtype act)
{
    pair p = {NULL, cpu, act, act == GL_DTYPE_F16 ? 1e-2 : 2e-2, gl_dtype_name(act)};
    CHECK_OK(backend_cuda_create(0, act, &p.g));
    if (!p.g) return;
    CHECK(p.g->act_dtype == act && p.g->ops->name && strcmp(p.g->ops->name, "cuda") == 0);
    test_memory(&p);
    test_weights(&p);
    test_layernorm(&p);
    test_add(&p);
    test_embed(&p);
    test_gather(&p);
    test_argmax(&p);
    test_kv(&p);
    test_linear_kv(&p);
    p.g->ops->sync(p.g);
    backend_destroy(p.g);
}

int main(void)
{
    if (backend_cuda_device_count() == 0) {
        printf("no CUDA device: skipped\n");
        return 77;
    }
    test_create_errors();
    pair_run_both(run_all);
    TEST_MAIN_END();
}
