/* The CUDA decoder_stack op (backend.h: every pre-LN decoder layer of a one-token, one-sequence
 * pass in one kernel) against the same layers run op by op (layernorm, linear, kv_write,
 * attention_paged, as bart_decode.c calls them), on the CPU backend (fp32) and on the CUDA backend,
 * for F16 and BF16 CUDA backends. Inputs (weights, cached K/V, x) are rounded to the act dtype on
 * the host, so every backend sees the same values. Per case:
 *   - the stack takes the call (returns true) for these shapes;
 *   - its x vs the CPU's and vs the CUDA op path's: max|diff| / max|ref| at most 1e-2 (F16) /
 *     2e-2 (BF16);
 *   - the new token's K/V in every layer's self cache at slots[0] vs the CPU's, same tolerance,
 *     and every other slot of the self pools untouched;
 *   - a second run from the same inputs gives the same values up to rounding (within 2e-3 of the
 *     max: the kernel sums the heads' O projections in fp32 atomics, so an activation may round
 *     one act-dtype ulp the other way; anything more means a race);
 *   - three launches back to back (the kernel resets its own phase counters) equal three
 *     applications of the CUDA op path.
 * The scratch rows (qkv, attn, q, h; the stack uses all but attn) are filled with NaN before each stack call. Prints one line
 * per case; GLOSSA_TEST_FILTER=text runs only the cases whose "stack name" contains text.
 * Exits 77 (skipped) without a CUDA device. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/half.h"
#include "test.h"
#include "gpu/gpu_test_util.h"

#define MAXL 4
#define HD 64

typedef struct pair {
    backend *gpu, *cpu;
    gl_dtype t;
    double tol;
    const char *tname;
} pair;

typedef struct stack_case {
    const char *name;
    int d, ffn, n_layers, bs, slen, xlen;
    gl_act act;
    bool no_beta; /* every layer norm without beta */
    int no_bias;  /* index (0..5) of the linear without bias; -1: none */
} stack_case;

/* The host values of a case, rounded to the act dtype. */
typedef struct host_model {
    const stack_case *c;
    int mbps, xmbps;       /* block-table widths (one slack entry, -1) */
    size_t spool, xpool;   /* elements of one self / cross pool */
    int32_t *tab, *xtab;
    int32_t idx[5];        /* slot, len, xlen, q_off {0, 1} */
    float *w[MAXL][6], *bias[MAXL][6], *g[MAXL][3], *beta[MAXL][3];
    float *sk[MAXL], *sv[MAXL], *xk[MAXL], *xv[MAXL];
    float *x, *nan;
} host_model;

/* The same on one backend. */
typedef struct dev_model {
    backend *b;
    const host_model *hm;
    gl_weight w[MAXL][6], bias[MAXL][6], g[MAXL][3], beta[MAXL][3];
    void *sk[MAXL], *sv[MAXL], *xk[MAXL], *xv[MAXL];
    void *x, *y, *qkv, *attn, *q, *h;
    int32_t *tab, *xtab, *idx;
    gl_dec_layer layers[MAXL];
} dev_model;

/* A block table of `len` positions: nb blocks drawn in shuffled order from a pool of 2 nb, then
 * -1 up to width nb + 1. Returns the pool's element count (n_blocks * bs * d). */
static size_t make_table(int len, int bs, int d, int32_t **tab, int *width)
{
    const int nb = (len + bs - 1) / bs, n_blocks = 2 * nb;
    int32_t *perm = malloc((size_t)n_blocks * sizeof *perm);
    for (int i = 0; i < n_blocks; i++) perm[i] = i;
    for (int i = n_blocks - 1; i > 0; i--) {
        int j = rng_int(i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    *width = nb + 1;
    *tab = malloc((size_t)(nb + 1) * sizeof **tab);
    for (int i = 0; i <= nb; i++) (*tab)[i] = i < nb ? perm[i] : -1;
    free(perm);
    return (size_t)n_blocks * bs * d;
}

static void host_make(const stack_case *c, gl_dtype t, host_model *hm)
{
    memset(hm, 0, sizeof *hm);
    hm->c = c;
    const int d = c->d, f = c->ffn;
    hm->spool = make_table(c->slen, c->bs, d, &hm->tab, &hm->mbps);
    hm->xpool = make_table(c->xlen, c->bs, d, &hm->xtab, &hm->xmbps);
    const int last = c->slen - 1;
    hm->idx[0] = hm->tab[last / c->bs] * c->bs + last % c->bs;
    hm->idx[1] = c->slen;
    hm->idx[2] = c->xlen;
    hm->idx[3] = 0;
    hm->idx[4] = 1;
    const int rows[6] = {3 * d, d, d, d, f, d}, cols[6] = {d, d, d, d, d, f};
    for (int l = 0; l < c->n_layers; l++) {
        for (int i = 0; i < 6; i++) {
            const float mag = 2.0f / sqrtf((float)cols[i]);
            hm->w[l][i] = rand_act((size_t)rows[i] * cols[i], 0.0f, mag, t);
            hm->bias[l][i] = i == c->no_bias ? NULL : rand_act((size_t)rows[i], 0.0f, 0.1f, t);
        }
        for (int i = 0; i < 3; i++) {
            hm->g[l][i] = rand_act((size_t)d, 1.0f, 0.2f, t);
            hm->beta[l][i] = c->no_beta ? NULL : rand_act((size_t)d, 0.0f, 0.1f, t);
        }
        hm->sk[l] = rand_act(hm->spool, 0.0f, 1.0f, t);
        hm->sv[l] = rand_act(hm->spool, 0.0f, 1.0f, t);
        hm->xk[l] = rand_act(hm->xpool, 0.0f, 1.0f, t);
        hm->xv[l] = rand_act(hm->xpool, 0.0f, 1.0f, t);
    }
    hm->x = rand_act((size_t)d, 0.0f, 1.0f, t);
    const size_t n_nan = (size_t)(3 * d > f ? 3 * d : f);
    hm->nan = malloc(n_nan * sizeof *hm->nan);
    for (size_t i = 0; i < n_nan; i++) hm->nan[i] = NAN;
}

static void host_free(host_model *hm)
{
    for (int l = 0; l < hm->c->n_layers; l++) {
        for (int i = 0; i < 6; i++) free(hm->w[l][i]), free(hm->bias[l][i]);
        for (int i = 0; i < 3; i++) free(hm->g[l][i]), free(hm->beta[l][i]);
        free(hm->sk[l]), free(hm->sv[l]), free(hm->xk[l]), free(hm->xv[l]);
    }
    free(hm->tab), free(hm->xtab), free(hm->x), free(hm->nan);
}

static void *dalloc(backend *b, size_t bytes)
{
    void *p = NULL;
    CHECK_OK(b->ops->alloc(b, bytes ? bytes : 1, &p));
    return p;
}

static void put_w(backend *b, const float *h, int rows, int cols, gl_weight *w)
{
    memset(w, 0, sizeof *w);
    if (h) CHECK_OK(b->ops->weight_from_host(b, h, GL_DTYPE_F32, rows, cols, w));
}

/* x and the self pools back to the host values; NaN in the scratch rows. */
static void dev_reset(dev_model *dm)
{
    backend *b = dm->b;
    const host_model *hm = dm->hm;
    const int d = hm->c->d;
    CHECK_OK(b->ops->upload_f32(b, dm->x, hm->x, (size_t)d));
    for (int l = 0; l < hm->c->n_layers; l++) {
        CHECK_OK(b->ops->upload_f32(b, dm->sk[l], hm->sk[l], hm->spool));
        CHECK_OK(b->ops->upload_f32(b, dm->sv[l], hm->sv[l], hm->spool));
    }
    CHECK_OK(b->ops->upload_f32(b, dm->qkv, hm->nan, (size_t)3 * d));
    CHECK_OK(b->ops->upload_f32(b, dm->attn, hm->nan, (size_t)d));
    CHECK_OK(b->ops->upload_f32(b, dm->q, hm->nan, (size_t)d));
    CHECK_OK(b->ops->upload_f32(b, dm->h, hm->nan, (size_t)hm->c->ffn));
}

static void dev_make(backend *b, const host_model *hm, dev_model *dm)
{
    memset(dm, 0, sizeof *dm);
    dm->b = b;
    dm->hm = hm;
    const stack_case *c = hm->c;
    const int d = c->d, f = c->ffn, H = d / HD;
    const size_t es = gl_dtype_size(b->act_dtype);
    const int rows[6] = {3 * d, d, d, d, f, d}, cols[6] = {d, d, d, d, d, f};
    dm->tab = dalloc(b, (size_t)hm->mbps * sizeof(int32_t));
    dm->xtab = dalloc(b, (size_t)hm->xmbps * sizeof(int32_t));
    dm->idx = dalloc(b, sizeof hm->idx);
    CHECK_OK(b->ops->upload(b, dm->tab, hm->tab, (size_t)hm->mbps * sizeof(int32_t)));
    CHECK_OK(b->ops->upload(b, dm->xtab, hm->xtab, (size_t)hm->xmbps * sizeof(int32_t)));
    CHECK_OK(b->ops->upload(b, dm->idx, hm->idx, sizeof hm->idx));
    for (int l = 0; l < c->n_layers; l++) {
        gl_dec_layer *L = &dm->layers[l];
        for (int i = 0; i < 6; i++) {
            put_w(b, hm->w[l][i], rows[i], cols[i], &dm->w[l][i]);
            put_w(b, hm->bias[l][i], 1, rows[i], &dm->bias[l][i]);
            L->w[i] = &dm->w[l][i];
            L->bias[i] = hm->bias[l][i] ? &dm->bias[l][i] : NULL;
        }
        for (int i = 0; i < 3; i++) {
            put_w(b, hm->g[l][i], 1, d, &dm->g[l][i]);
            put_w(b, hm->beta[l][i], 1, d, &dm->beta[l][i]);
            L->ln_g[i] = &dm->g[l][i];
            L->ln_b[i] = hm->beta[l][i] ? &dm->beta[l][i] : NULL;
        }
        dm->sk[l] = dalloc(b, hm->spool * es);
        dm->sv[l] = dalloc(b, hm->spool * es);
        dm->xk[l] = dalloc(b, hm->xpool * es);
        dm->xv[l] = dalloc(b, hm->xpool * es);
        CHECK_OK(b->ops->upload_f32(b, dm->xk[l], hm->xk[l], hm->xpool));
        CHECK_OK(b->ops->upload_f32(b, dm->xv[l], hm->xv[l], hm->xpool));
        /* prior, as bart_decode.c: every cached position is uploaded before the pass */
        L->self = (gl_kv_view){dm->sk[l], dm->sv[l], dm->tab, hm->mbps, c->bs, H, HD, true};
        L->cross = (gl_kv_view){dm->xk[l], dm->xv[l], dm->xtab, hm->xmbps, c->bs, H, HD, true};
    }
    dm->x = dalloc(b, (size_t)d * es);
    dm->y = dalloc(b, (size_t)d * es);
    dm->qkv = dalloc(b, (size_t)3 * d * es);
    dm->attn = dalloc(b, (size_t)d * es);
    dm->q = dalloc(b, (size_t)d * es);
    dm->h = dalloc(b, (size_t)f * es);
    dev_reset(dm);
}

static void dev_free(dev_model *dm)
{
    backend *b = dm->b;
    for (int l = 0; l < dm->hm->c->n_layers; l++) {
        gl_weight *ws[18];
        for (int i = 0; i < 6; i++) ws[i] = &dm->w[l][i], ws[6 + i] = &dm->bias[l][i];
        for (int i = 0; i < 3; i++) ws[12 + i] = &dm->g[l][i], ws[15 + i] = &dm->beta[l][i];
        for (int i = 0; i < 18; i++)
            if (ws[i]->data) b->ops->weight_free(b, ws[i]);
        void *pools[] = {dm->sk[l], dm->sv[l], dm->xk[l], dm->xv[l]};
        for (int i = 0; i < 4; i++) b->ops->free(b, pools[i]);
    }
    void *bufs[] = {dm->x, dm->y, dm->qkv, dm->attn, dm->q, dm->h, dm->tab, dm->xtab, dm->idx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) b->ops->free(b, bufs[i]);
}

/* The layers op by op, as bart_decode.c's pre-LN decoder_attn_blocks and decoder_ffn. */
static void run_ops(dev_model *dm)
{
    backend *b = dm->b;
    const stack_case *c = dm->hm->c;
    const int d = c->d;
    const float eps = 1e-5f, scale = 1.0f / sqrtf((float)HD);
    const size_t es = gl_dtype_size(b->act_dtype);
    const int32_t *slots = dm->idx, *lens = dm->idx + 1, *xlens = dm->idx + 2, *q_off = dm->idx + 3;
    const char *qkv = dm->qkv;
    for (int l = 0; l < c->n_layers; l++) {
        const gl_dec_layer *L = &dm->layers[l];
        b->ops->layernorm(b, 1, dm->x, NULL, L->ln_g[0], L->ln_b[0], eps, dm->y);
        b->ops->linear(b, 1, dm->y, d, L->w[0], L->bias[0], GL_ACT_NONE, NULL, dm->qkv);
        b->ops->kv_write(b, 1, qkv + (size_t)d * es, qkv + (size_t)2 * d * es, 3 * d, slots,
                         &L->self);
        b->ops->attention_paged(b, 1, dm->qkv, 3 * d, q_off, &L->self, lens, true, scale, dm->attn);
        b->ops->linear(b, 1, dm->attn, d, L->w[1], L->bias[1], GL_ACT_NONE, dm->x, dm->x);
        b->ops->layernorm(b, 1, dm->x, NULL, L->ln_g[1], L->ln_b[1], eps, dm->y);
        b->ops->linear(b, 1, dm->y, d, L->w[2], L->bias[2], GL_ACT_NONE, NULL, dm->q);
        b->ops->attention_paged(b, 1, dm->q, d, q_off, &L->cross, xlens, false, scale, dm->attn);
        b->ops->linear(b, 1, dm->attn, d, L->w[3], L->bias[3], GL_ACT_NONE, dm->x, dm->x);
        b->ops->layernorm(b, 1, dm->x, NULL, L->ln_g[2], L->ln_b[2], eps, dm->y);
        b->ops->linear(b, 1, dm->y, d, L->w[4], L->bias[4], c->act, NULL, dm->h);
        b->ops->linear(b, 1, dm->h, c->ffn, L->w[5], L->bias[5], GL_ACT_NONE, dm->x, dm->x);
    }
}

static bool run_stack(dev_model *dm)
{
    backend *b = dm->b;
    const gl_dec_stack st = {dm->hm->c->n_layers, dm->layers, dm->hm->c->act, 1e-5f,
                             1.0f / sqrtf((float)HD), dm->x, dm->qkv, dm->q, dm->h,
                             dm->idx, dm->idx + 1, dm->idx + 2};
    return b->ops->decoder_stack && b->ops->decoder_stack(b, &st);
}

/* Every layer's self K and V rows at slots[0]: (n_layers, 2, d). */
static float *get_kv_rows(dev_model *dm)
{
    const host_model *hm = dm->hm;
    const int d = hm->c->d, L = hm->c->n_layers;
    const size_t off = (size_t)hm->idx[0] * d * gl_dtype_size(dm->b->act_dtype);
    float *r = calloc((size_t)L * 2 * d, sizeof *r);
    backend *b = dm->b;
    for (int l = 0; l < L; l++) {
        CHECK_OK(b->ops->download_f32(b, r + (size_t)2 * l * d, (char *)dm->sk[l] + off, d));
        CHECK_OK(b->ops->download_f32(b, r + (size_t)(2 * l + 1) * d, (char *)dm->sv[l] + off, d));
    }
    return r;
}

/* Slots of the self pools other than slots[0] that differ from the host values. */
static size_t count_stray_writes(dev_model *dm)
{
    const host_model *hm = dm->hm;
    const size_t d = (size_t)hm->c->d, s0 = (size_t)hm->idx[0];
    size_t stray = 0;
    for (int l = 0; l < hm->c->n_layers; l++)
        for (int kv = 0; kv < 2; kv++) {
            float *got = get_f32(dm->b, kv ? dm->sv[l] : dm->sk[l], hm->spool);
            const float *want = kv ? hm->sv[l] : hm->sk[l];
            for (size_t s = 0; s < hm->spool / d; s++)
                if (s != s0 && memcmp(got + s * d, want + s * d, d * sizeof(float)) != 0) stray++;
            free(got);
        }
    return stray;
}

static bool skip_case(const char *op, const char *name)
{
    const char *f = getenv("GLOSSA_TEST_FILTER");
    char full[128];
    snprintf(full, sizeof full, "%s %s", op, name);
    return f && *f && !strstr(full, f);
}

static void run_case(const pair *pr, const stack_case *c)
{
    const int d = c->d, L = c->n_layers;
    const size_t nkv = (size_t)L * 2 * d;
    host_model hm;
    host_make(c, pr->t, &hm);
    char what[160];
    snprintf(what, sizeof what, "stack %s: d=%d ffn=%d layers=%d bs=%d self %d cross %d", c->name,
             d, c->ffn, L, c->bs, c->slen, c->xlen);

    /* (a) CPU op by op: the reference */
    dev_model cm;
    dev_make(pr->cpu, &hm, &cm);
    run_ops(&cm);
    float *x_cpu = get_f32(pr->cpu, cm.x, d), *kv_cpu = get_kv_rows(&cm);
    dev_free(&cm);

    /* (b) CUDA op by op */
    dev_model gm;
    dev_make(pr->gpu, &hm, &gm);
    run_ops(&gm);
    float *x_ops = get_f32(pr->gpu, gm.x, d);

    /* (c) the CUDA stack */
    dev_reset(&gm);
    const bool ran = run_stack(&gm);
    CHECK_MSG(ran, "%s %s: decoder_stack declined the call", pr->tname, what);
    if (!ran) {
        printf("FAIL %-4s %s: decoder_stack returned false\n", pr->tname, what);
        free(x_cpu), free(kv_cpu), free(x_ops);
        dev_free(&gm);
        host_free(&hm);
        return;
    }
    float *x_st = get_f32(pr->gpu, gm.x, d), *kv_st = get_kv_rows(&gm);
    const size_t stray = count_stray_writes(&gm);

    /* (v) again from the same inputs: the same bits */
    dev_reset(&gm);
    const bool ran2 = run_stack(&gm);
    float *x_st2 = get_f32(pr->gpu, gm.x, d), *kv_st2 = get_kv_rows(&gm);
    /* the O projections' per-head sums are fp32 atomics in no fixed order: a rerun may round a
     * value one act-dtype ulp the other way, nothing more */
    const bool same = ran2 && fmax(rel_err(x_st2, x_st, d), rel_err(kv_st2, kv_st, nkv)) <= 2e-3;

    /* (vi) three launches back to back (x and the slot's K/V carried over) vs the op path thrice */
    dev_reset(&gm);
    bool ran3 = true;
    for (int i = 0; i < 3; i++) ran3 = run_stack(&gm) && ran3;
    float *x_st3 = get_f32(pr->gpu, gm.x, d), *kv_st3 = get_kv_rows(&gm);
    dev_reset(&gm);
    for (int i = 0; i < 3; i++) run_ops(&gm);
    float *x_ops3 = get_f32(pr->gpu, gm.x, d), *kv_ops3 = get_kv_rows(&gm);
    dev_free(&gm);

    const double e_cpu = rel_err(x_st, x_cpu, d), e_ops = rel_err(x_st, x_ops, d);
    const double e_opc = rel_err(x_ops, x_cpu, d), e_kv = rel_err(kv_st, kv_cpu, nkv);
    const double e_3 = fmax(rel_err(x_st3, x_ops3, d), rel_err(kv_st3, kv_ops3, nkv));
    const bool ok = e_cpu <= pr->tol && e_ops <= pr->tol && e_kv <= pr->tol && stray == 0 &&
                    same && ran3 && e_3 <= pr->tol;
    printf("%s %-4s %s %s: x vs cpu %.2e, vs cuda ops %.2e (ops vs cpu %.2e), new K/V %.2e, "
           "x3 %.2e%s%s, %zu stray K/V rows\n",
           ok ? "ok  " : "FAIL", pr->tname, what, c->act == GL_ACT_RELU ? "relu" : "gelu", e_cpu,
           e_ops, e_opc, e_kv, e_3, same ? "" : ", second run differs (race?)",
           ran3 ? "" : ", declined in the x3 run", stray);
    fflush(stdout);
    CHECK_MSG(e_cpu <= pr->tol, "%s %s: x vs cpu %.3e", pr->tname, what, e_cpu);
    CHECK_MSG(e_ops <= pr->tol, "%s %s: x vs cuda ops %.3e", pr->tname, what, e_ops);
    CHECK_MSG(e_kv <= pr->tol, "%s %s: new K/V vs cpu %.3e", pr->tname, what, e_kv);
    CHECK_MSG(stray == 0, "%s %s: %zu stray K/V rows", pr->tname, what, stray);
    CHECK_MSG(same, "%s %s: two runs differ", pr->tname, what);
    CHECK_MSG(ran3 && e_3 <= pr->tol, "%s %s: three launches %.3e", pr->tname, what, e_3);

    float *bufs[] = {x_cpu, kv_cpu, x_ops, x_st, kv_st, x_st2, kv_st2, x_st3, kv_st3, x_ops3,
                     kv_ops3};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    host_free(&hm);
}

int main(void)
{
    if (backend_cuda_device_count() == 0) {
        printf("no CUDA device: skipped\n");
        return 77;
    }
    backend *cpu = NULL;
    CHECK_OK(backend_cpu_create(0, &cpu));
    if (!cpu) TEST_MAIN_END();
    const gl_dtype types[2] = {GL_DTYPE_F16, GL_DTYPE_BF16};
    backend *gpu[2] = {NULL, NULL};
    for (int ti = 0; ti < 2; ti++) {
        if (backend_cuda_create(0, types[ti], &gpu[ti]) != GLOSSA_STATUS_OK || !gpu[ti]) {
            printf("CUDA backend (%s) not created: %s: skipped\n", gl_dtype_name(types[ti]),
                   glossa_last_error());
            for (int i = 0; i < ti; i++) backend_destroy(gpu[i]);
            backend_destroy(cpu);
            return 77;
        }
    }
    const stack_case cases[] = {
        {"d256 gelu", 256, 1024, 2, 16, 37, 23, GL_ACT_GELU, false, -1},
        {"d1024 first step", 1024, 4096, 3, 16, 1, 64, GL_ACT_GELU, false, -1},
        {"d512 relu nulls", 512, 2048, 2, 32, 130, 7, GL_ACT_RELU, true, 4},
    };
    for (int ti = 0; ti < 2; ti++) {
        pair pr = {gpu[ti], cpu, types[ti], ti == 0 ? 1e-2 : 2e-2, ti == 0 ? "f16" : "bf16"};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            if (!skip_case("stack", cases[i].name)) run_case(&pr, &cases[i]);
        backend_destroy(gpu[ti]);
    }
    backend_destroy(cpu);
    TEST_MAIN_END();
}
