/* CUDA attention ops against their CPU twins (backend-consistency, DESIGN.md): attention over
 * packed sequences (the tensor-core kernel for head_dim 32/64/80/96/128, the row kernel for other
 * head dims and unaligned rows) and attention_paged (decode with and without split-K, several and
 * many queries per sequence, cross-attention), for F16 and BF16 CUDA backends. Inputs are rounded
 * to the act dtype on the host, so both backends see the same values; the CPU runs in fp32.
 * Error: max|gpu - cpu| / max|cpu| per case, at most 1e-2 (F16) / 2e-2 (BF16); every output is
 * poisoned with NaN before the op (unwritten elements fail), and each CUDA op runs twice and must
 * give the same bits (a difference means a race). Prints one line per case, then a few timings
 * (skipped when GLOSSA_TEST_NO_TIMING is set; GLOSSA_TEST_FILTER=text runs only the cases whose
 * name contains text).
 * Exits 77 (skipped) without a CUDA device. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "core/half.h"
#include "test.h"
#include "gpu/gpu_test_util.h"

typedef struct pair {
    backend *gpu, *cpu;
    gl_dtype t;
    double tol;
    const char *tname;
} pair;

/* n floats to a new buffer of backend b in its act dtype (device memory for CUDA). */
static void *put_f32(backend *b, const float *v, size_t n)
{
    void *p = NULL;
    CHECK_OK(b->ops->alloc(b, (n ? n : 1) * gl_dtype_size(b->act_dtype), &p));
    if (p && n) CHECK_OK(b->ops->upload_f32(b, p, v, n));
    return p;
}

static int32_t *put_i32(backend *b, const int32_t *v, size_t n)
{
    void *p = NULL;
    CHECK_OK(b->ops->alloc(b, (n ? n : 1) * sizeof(int32_t), &p));
    if (p && n) CHECK_OK(b->ops->upload(b, p, v, n * sizeof(int32_t)));
    return p;
}

/* n activations of b filled with all-ones bytes: NaN in F16, BF16 and F32 */
static void *put_poison(backend *b, size_t n)
{
    size_t bytes = (n ? n : 1) * gl_dtype_size(b->act_dtype);
    unsigned char *h = malloc(bytes);
    memset(h, 0xff, bytes);
    void *p = NULL;
    CHECK_OK(b->ops->alloc(b, bytes, &p));
    if (p) CHECK_OK(b->ops->upload(b, p, h, bytes));
    free(h);
    return p;
}

/* Compare got (GPU) with want (CPU): rows of width H * hd, q_off for naming the worst element. */
static void compare(const pair *pr, const char *what, const float *got, const float *again,
                    const float *want, int n_seqs, const int32_t *q_off, int H, int hd)
{
    size_t n = (size_t)q_off[n_seqs] * H * hd, bad = 0, worst = 0, differ = 0;
    double maxd = 0, maxb = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(want[i]) > maxb) maxb = fabs(want[i]);
        if (!isfinite(got[i])) {
            if (!bad++) worst = i;
            continue;
        }
        double d = fabs((double)got[i] - want[i]);
        if (d > maxd && !bad) {
            maxd = d;
            worst = i;
        }
        if (memcmp(&got[i], &again[i], sizeof(float)) != 0) differ++;
    }
    double rel = maxb > 0 ? maxd / maxb : maxd;
    int ok = bad == 0 && differ == 0 && rel <= pr->tol;
    size_t row = n ? worst / ((size_t)H * hd) : 0;
    int s = 0;
    while (s + 1 < n_seqs && (size_t)q_off[s + 1] <= row) s++;
    printf("%s %-4s %-58s rel %.2e  max|ref| %.3g  worst: seq %d query %d head %d dim %d "
           "(gpu %.5g cpu %.5g)",
           ok ? "ok  " : "FAIL", pr->tname, what, rel, maxb, s, (int)row - q_off[s],
           (int)(worst % ((size_t)H * hd) / hd), (int)(worst % hd), n ? got[worst] : 0.0,
           n ? want[worst] : 0.0);
    if (bad) printf("  %zu NaN/inf/unwritten", bad);
    if (differ) printf("  %zu differ between two runs (race?)", differ);
    printf("\n");
    fflush(stdout);
    CHECK_MSG(ok, "%s %s", pr->tname, what);
}

/* GLOSSA_TEST_FILTER=text runs only the cases whose "op name" (e.g. "paged decode L7") contains
 * text */
static bool skip_case(const char *op, const char *name)
{
    const char *f = getenv("GLOSSA_TEST_FILTER");
    char full[128];
    snprintf(full, sizeof full, "%s %s", op, name);
    return f && *f && !strstr(full, f);
}

/* ---- packed sequences ---- */

typedef struct packed_case {
    const char *name;
    int H, hd;
    int n_seqs;
    const int *nq;  /* queries per sequence */
    const int *nk;  /* keys per sequence; NULL: self-attention over one (T, 3d) qkv buffer */
    bool causal;
    float qmag;
    int pad;        /* added to the row strides (breaks 16-byte alignment when odd) */
} packed_case;

static void run_packed(const pair *pr, const packed_case *c)
{
    const int S = c->n_seqs, d = c->H * c->hd;
    int32_t *q_off = malloc((S + 1) * sizeof *q_off), *k_off = malloc((S + 1) * sizeof *k_off);
    q_off[0] = k_off[0] = 0;
    for (int s = 0; s < S; s++) {
        q_off[s + 1] = q_off[s] + c->nq[s];
        k_off[s + 1] = k_off[s] + (c->nk ? c->nk[s] : c->nq[s]);
    }
    const int TQ = q_off[S], TK = k_off[S];
    /* self: q, k, v interleaved in one (T, 3d) buffer, as the encoder; else q (TQ, d) and an
     * interleaved kv (TK, 2d) buffer */
    const int q_stride = (c->nk ? d : 3 * d) + c->pad, kv_stride = (c->nk ? 2 * d : 3 * d) + c->pad;
    float *qh = rand_act((size_t)TQ * q_stride, 0.0f, c->qmag, pr->t);
    float *kvh = c->nk ? rand_act((size_t)TK * kv_stride, 0.0f, 1.0f, pr->t) : qh;
    for (size_t i = 0; c->nk == NULL && i < (size_t)TQ * q_stride; i++)
        if (i % q_stride >= (size_t)d) qh[i] = round_act(qh[i] / c->qmag, pr->t); /* k, v: [-1, 1) */
    const size_t kofs = c->nk ? 0 : (size_t)d, vofs = c->nk ? (size_t)d : 2 * (size_t)d;
    const float scale = 1.0f / sqrtf((float)c->hd);
    const size_t n_out = (size_t)TQ * d;
    float *res[3];
    for (int which = 0; which < 3; which++) { /* CPU, GPU, GPU again */
        backend *b = which == 0 ? pr->cpu : pr->gpu;
        size_t es = gl_dtype_size(b->act_dtype);
        char *q = put_f32(b, qh, (size_t)TQ * q_stride);
        char *kv = c->nk ? put_f32(b, kvh, (size_t)TK * kv_stride) : q;
        int32_t *qo = put_i32(b, q_off, S + 1), *ko = put_i32(b, k_off, S + 1);
        void *out = put_poison(b, n_out);
        b->ops->attention(b, S, c->H, c->hd, q, q_stride, kv + kofs * es, kv + vofs * es,
                          kv_stride, qo, ko, c->causal, scale, out);
        res[which] = get_f32(b, out, n_out);
        b->ops->free(b, out);
        b->ops->free(b, qo);
        b->ops->free(b, ko);
        if (kv != q) b->ops->free(b, kv);
        b->ops->free(b, q);
    }
    char what[160];
    snprintf(what, sizeof what, "attention %s H=%d hd=%d causal=%d seqs=%d q=%d k=%d", c->name,
             c->H, c->hd, c->causal, S, TQ, TK);
    compare(pr, what, res[1], res[2], res[0], S, q_off, c->H, c->hd);
    for (int i = 0; i < 3; i++) free(res[i]);
    if (kvh != qh) free(kvh);
    free(qh);
    free(q_off);
    free(k_off);
}

static const int L7[] = {1, 3, 17, 64, 65, 200, 1000};
static const int L6[] = {1, 3, 17, 64, 65, 200};
static const int L6_KV[] = {1, 10, 117, 64, 365, 213}; /* L6 plus a cached prefix */
static const int LZ_Q[] = {5, 40, 0, 100, 7};          /* nq > nk: leading queries see nothing */
static const int LZ_K[] = {2, 10, 3, 100, 0};
static const int LX_Q[] = {1, 17, 65, 3};
static const int LX_K[] = {1000, 3, 64, 0};
static int L64[64]; /* an encoder batch: 64 sequences of 20..64 tokens */

static void test_packed(const pair *pr)
{
    const packed_case cases[] = {
        {"L7", 16, 64, 7, L7, NULL, false, 2.0f, 0},
        {"L7", 16, 64, 7, L7, NULL, true, 2.0f, 0},
        {"L7", 3, 128, 7, L7, NULL, false, 4.0f, 0},
        {"L7", 3, 128, 7, L7, NULL, true, 1.0f, 0},
        {"L7", 5, 32, 7, L7, NULL, true, 4.0f, 0},
        {"L6", 2, 80, 6, L6, NULL, false, 2.0f, 0},
        {"L6", 2, 96, 6, L6, NULL, true, 2.0f, 0},
        {"enc64", 16, 64, 64, L64, NULL, false, 2.0f, 0},
        {"L7 unaligned", 4, 64, 7, L7, NULL, true, 2.0f, 1},
        {"L6 rowkernel", 4, 4, 6, L6, NULL, false, 2.0f, 0},
        {"L6 rowkernel", 3, 8, 6, L6, NULL, true, 2.0f, 0},
        {"L6 rowkernel", 2, 16, 6, L6, NULL, true, 2.0f, 0},
        {"L6 rowkernel", 3, 24, 6, L6, NULL, false, 2.0f, 0},
        {"L6 rowkernel", 2, 256, 6, L6, NULL, true, 1.0f, 0},
        {"prefix kv", 8, 64, 6, L6, L6_KV, true, 2.0f, 0},
        {"prefix kv", 8, 16, 6, L6, L6_KV, true, 2.0f, 0},
        {"nq>nk", 4, 64, 5, LZ_Q, LZ_K, true, 2.0f, 0},
        {"nq>nk", 4, 16, 5, LZ_Q, LZ_K, true, 2.0f, 0},
        {"cross", 4, 128, 4, LX_Q, LX_K, false, 2.0f, 0},
        {"cross", 4, 8, 4, LX_Q, LX_K, false, 2.0f, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!skip_case("attention", cases[i].name)) run_packed(pr, &cases[i]);
}

/* ---- paged K/V ---- */

typedef struct paged_case {
    const char *name;
    int H, hd;
    int n_seqs;
    const int *lens; /* kv_lens; NULL: random in [1, 200] */
    int nq_mode;     /* > 0: that many queries; 0: kv_len (prefill); -1: random 2..8; -2: kv_len + 3 */
    bool causal;
    bool self;       /* q inside a (T, 3d) qkv buffer (self-attention), else (T, d) (cross) */
    int pad;         /* added to q_stride */
} paged_case;

static void run_paged(const pair *pr, const paged_case *c)
{
    const int S = c->n_seqs, d = c->H * c->hd, bs = 16;
    int32_t *lens = malloc(S * sizeof *lens), *q_off = malloc((S + 1) * sizeof *q_off);
    int mbps = 1, used = 0;
    q_off[0] = 0;
    for (int s = 0; s < S; s++) {
        lens[s] = c->lens ? c->lens[s] : 1 + rng_int(200);
        int nq = c->nq_mode > 0 ? c->nq_mode : c->nq_mode == 0 ? lens[s]
                 : c->nq_mode == -1 ? 2 + rng_int(7) : lens[s] + 3;
        q_off[s + 1] = q_off[s] + nq;
        int nb = (lens[s] + bs - 1) / bs;
        if (nb > mbps) mbps = nb;
        used += nb;
    }
    mbps += 2; /* slack: table entries past a sequence's blocks are -1 and never read */
    const int n_blocks = used + 5;
    int32_t *perm = malloc(n_blocks * sizeof *perm), *tables = malloc((size_t)S * mbps * sizeof *tables);
    for (int i = 0; i < n_blocks; i++) perm[i] = i;
    for (int i = n_blocks - 1; i > 0; i--) {
        int j = rng_int(i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int s = 0, next = 0; s < S; s++)
        for (int i = 0; i < mbps; i++)
            tables[(size_t)s * mbps + i] = i < (lens[s] + bs - 1) / bs ? perm[next++] : -1;
    const size_t pool = (size_t)n_blocks * bs * d; /* every slot random, used or not */
    float *kh = rand_act(pool, 0.0f, 1.0f, pr->t), *vh = rand_act(pool, 0.0f, 1.0f, pr->t);
    const int TQ = q_off[S], q_stride = (c->self ? 3 * d : d) + c->pad;
    float *qh = rand_act((size_t)TQ * q_stride, 0.0f, 2.0f, pr->t);
    const float scale = 1.0f / sqrtf((float)c->hd);
    const size_t n_out = (size_t)TQ * d;
    float *res[3];
    for (int which = 0; which < 3; which++) {
        backend *b = which == 0 ? pr->cpu : pr->gpu;
        void *k = put_f32(b, kh, pool), *v = put_f32(b, vh, pool), *q = put_f32(b, qh, (size_t)TQ * q_stride);
        int32_t *tb = put_i32(b, tables, (size_t)S * mbps), *ln = put_i32(b, lens, S);
        int32_t *qo = put_i32(b, q_off, S + 1);
        void *out = put_poison(b, n_out);
        /* the second GPU run marks the K/V prior (true: uploaded before the call), so the two
         * runs compare the early-fetch path with the plain one bit for bit */
        gl_kv_view kv = {k, v, tb, mbps, bs, c->H, c->hd, which == 2};
        b->ops->attention_paged(b, S, q, q_stride, qo, &kv, ln, c->causal, scale, out);
        res[which] = get_f32(b, out, n_out);
        b->ops->free(b, out);
        b->ops->free(b, qo);
        b->ops->free(b, ln);
        b->ops->free(b, tb);
        b->ops->free(b, q);
        b->ops->free(b, v);
        b->ops->free(b, k);
    }
    char what[160];
    snprintf(what, sizeof what, "paged %s H=%d hd=%d causal=%d seqs=%d q=%d mbps=%d", c->name, c->H,
             c->hd, c->causal, S, TQ, mbps);
    compare(pr, what, res[1], res[2], res[0], S, q_off, c->H, c->hd);
    for (int i = 0; i < 3; i++) free(res[i]);
    if (c->self && c->causal) {
        /* attention_paged_kv: the new tokens' K/V (columns d and 2 d of the qkv rows) written by
         * the attention itself: bit for bit kv_write then attention_paged, output and cache */
        int32_t *slots = malloc((size_t)(TQ ? TQ : 1) * sizeof *slots);
        for (int sq = 0; sq < S; sq++)
            for (int i = q_off[sq]; i < q_off[sq + 1]; i++) {
                const int jpos = lens[sq] - (q_off[sq + 1] - q_off[sq]) + (i - q_off[sq]);
                slots[i] = jpos < 0 ? -1 : tables[(size_t)sq * mbps + jpos / bs] * bs + jpos % bs;
            }
        backend *b = pr->gpu;
        const size_t es = gl_dtype_size(b->act_dtype);
        float *o2[2], *k2[2], *v2[2];
        bool fused = false;
        for (int run = 0; run < 2; run++) {
            void *k = put_f32(b, kh, pool), *v = put_f32(b, vh, pool);
            char *q = put_f32(b, qh, (size_t)TQ * q_stride);
            int32_t *tb = put_i32(b, tables, (size_t)S * mbps), *ln = put_i32(b, lens, S);
            int32_t *qo = put_i32(b, q_off, S + 1), *sl = put_i32(b, slots, TQ);
            void *out = put_poison(b, n_out);
            gl_kv_view kv = {k, v, tb, mbps, bs, c->H, c->hd, true};
            const char *kn = q + (size_t)d * es, *vn = q + (size_t)2 * d * es;
            if (run == 1 && b->ops->attention_paged_kv)
                fused = b->ops->attention_paged_kv(b, S, q, q_stride, qo, kn, vn, q_stride, sl,
                                                   &kv, ln, scale, out);
            if (run == 0 || !fused) {
                b->ops->kv_write(b, TQ, kn, vn, q_stride, sl, &kv);
                b->ops->attention_paged(b, S, q, q_stride, qo, &kv, ln, true, scale, out);
            }
            o2[run] = get_f32(b, out, n_out);
            k2[run] = get_f32(b, k, pool);
            v2[run] = get_f32(b, v, pool);
            void *bufs[] = {out, sl, qo, ln, tb, q, v, k};
            for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) b->ops->free(b, bufs[i]);
        }
        const bool same = memcmp(o2[0], o2[1], n_out * sizeof(float)) == 0 &&
                          memcmp(k2[0], k2[1], pool * sizeof(float)) == 0 &&
                          memcmp(v2[0], v2[1], pool * sizeof(float)) == 0;
        printf("%s %-4s %-58s fused %d, output and cache = kv_write + attention_paged\n",
               same && fused ? "ok  " : "FAIL", pr->tname, what, (int)fused);
        CHECK_MSG(same && fused, "%s attention_paged_kv %s", pr->tname, what);
        for (int i = 0; i < 2; i++) {
            free(o2[i]);
            free(k2[i]);
            free(v2[i]);
        }
        free(slots);
    }
    free(qh);
    free(kh);
    free(vh);
    free(perm);
    free(tables);
    free(lens);
    free(q_off);
}

static const int P1000[] = {1000};
static const int P7Z[] = {1, 3, 17, 0, 64, 65, 200, 1000};

static void test_paged(const pair *pr)
{
    const paged_case cases[] = {
        {"decode L7", 16, 64, 7, L7, 1, true, true, 0},
        {"decode b64", 16, 64, 64, NULL, 1, true, true, 0},
        {"decode long", 1, 128, 1, P1000, 1, true, true, 0},
        {"decode long", 16, 64, 1, P1000, 1, true, true, 0},
        {"decode L7", 2, 32, 7, L7, 1, true, true, 0},
        {"decode L7", 4, 128, 7, L7, 1, true, true, 0},
        {"cross L7+0", 16, 64, 8, P7Z, 1, false, false, 0},
        {"cross b64", 16, 64, 64, NULL, 1, false, false, 0},
        {"multi 2..8", 4, 64, 7, L7, -1, true, true, 0},
        {"cross multi", 4, 64, 8, P7Z, -1, false, false, 0},
        {"prefill", 4, 64, 6, L6, 0, true, true, 0},
        {"prefill", 2, 128, 6, L6, 0, true, true, 0},
        {"nq=len+3", 4, 64, 6, L6, -2, true, true, 0},
        {"unaligned q", 4, 64, 7, L7, 1, true, true, 1},
        {"unaligned multi", 4, 64, 6, L6, -1, true, true, 1},
        {"tiny", 4, 4, 7, L7, 1, true, true, 0},
        {"tiny", 3, 8, 7, L7, -1, true, true, 0},
        {"tiny", 2, 16, 6, L6, 0, true, true, 0},
        {"tiny cross", 3, 24, 8, P7Z, 1, false, false, 0},
        {"hd80", 2, 80, 7, L7, 1, true, true, 0},
        {"hd96", 2, 96, 7, L7, -1, false, false, 0},
        {"hd256", 2, 256, 7, L7, 1, true, true, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!skip_case("paged", cases[i].name)) run_paged(pr, &cases[i]);
}

/* ---- timings (informative, not checked) ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct timed_call {
    backend *b;
    int32_t n_seqs, H, hd, q_stride, kv_stride;
    const void *q, *k, *v;
    const int32_t *q_off, *k_off, *kv_lens;
    const gl_kv_view *kv; /* paged when not NULL */
    bool causal;
    void *out;
} timed_call;

static void timed_run(const timed_call *c)
{
    backend *b = c->b;
    if (c->kv)
        b->ops->attention_paged(b, c->n_seqs, c->q, c->q_stride, c->q_off, c->kv, c->kv_lens,
                                c->causal, 0.125f, c->out);
    else
        b->ops->attention(b, c->n_seqs, c->H, c->hd, c->q, c->q_stride, c->k, c->v, c->kv_stride,
                          c->q_off, c->k_off, c->causal, 0.125f, c->out);
}

/* Median over 9 groups of 20 calls after a warm-up: microseconds per call. */
static double time_us(const timed_call *c)
{
    double t[9];
    for (int w = 0; w < 5; w++) timed_run(c);
    c->b->ops->sync(c->b);
    for (int r = 0; r < 9; r++) {
        double t0 = now_s();
        for (int i = 0; i < 20; i++) timed_run(c);
        c->b->ops->sync(c->b);
        t[r] = (now_s() - t0) / 20 * 1e6;
    }
    for (int a = 0; a < 9; a++)
        for (int x = a + 1; x < 9; x++)
            if (t[x] < t[a]) {
                double y = t[a];
                t[a] = t[x];
                t[x] = y;
            }
    return t[4];
}

static void time_packed(const pair *pr, int S, int len, int H, int hd, bool causal)
{
    backend *b = pr->gpu;
    const int d = H * hd, T = S * len;
    int32_t *off = malloc((S + 1) * sizeof *off);
    for (int s = 0; s <= S; s++) off[s] = s * len;
    float *h = rand_act((size_t)T * 3 * d, 0.0f, 1.0f, pr->t);
    char *qkv = put_f32(b, h, (size_t)T * 3 * d);
    int32_t *o = put_i32(b, off, S + 1);
    void *out = put_poison(b, (size_t)T * d);
    size_t es = gl_dtype_size(b->act_dtype);
    timed_call tc = {b, S, H, hd, 3 * d, 3 * d, qkv, qkv + d * es, qkv + 2 * d * es, o, o, NULL,
                     NULL, causal, out};
    double us = time_us(&tc);
    double flops = 4.0 * S * (double)len * len * d * (causal ? 0.5 : 1.0);
    printf("time %s attention %d x %d tokens, %d heads, hd %d, causal %d: %.1f us, %.1f TFLOP/s\n",
           pr->tname, S, len, H, hd, causal, us, flops / us * 1e-6);
    b->ops->free(b, out);
    b->ops->free(b, o);
    b->ops->free(b, qkv);
    free(h);
    free(off);
}

static void time_paged(const pair *pr, int S, int len, int H, int hd)
{
    backend *b = pr->gpu;
    const int d = H * hd, bs = 16, mbps = (len + bs - 1) / bs;
    int32_t *tables = malloc((size_t)S * mbps * sizeof *tables), *lens = malloc(S * sizeof *lens);
    int32_t *off = malloc((S + 1) * sizeof *off);
    for (int i = 0; i < S * mbps; i++) tables[i] = i;
    for (int s = 0; s < S; s++) lens[s] = len;
    for (int s = 0; s <= S; s++) off[s] = s;
    size_t pool = (size_t)S * mbps * bs * d;
    float *h = rand_act(pool, 0.0f, 1.0f, pr->t);
    void *k = put_f32(b, h, pool), *v = put_f32(b, h, pool), *q = put_f32(b, h, (size_t)S * d);
    int32_t *tb = put_i32(b, tables, (size_t)S * mbps), *ln = put_i32(b, lens, S);
    int32_t *qo = put_i32(b, off, S + 1);
    void *out = put_poison(b, (size_t)S * d);
    gl_kv_view kv = {k, v, tb, mbps, bs, H, hd, true};
    timed_call tc = {b, S, H, hd, d, 0, q, NULL, NULL, qo, NULL, ln, &kv, true, out};
    double us = time_us(&tc);
    double bytes = 2.0 * S * (double)len * d * gl_dtype_size(b->act_dtype);
    printf("time %s paged decode batch %d, kv %d, %d heads, hd %d: %.1f us, %.0f GB/s of K/V\n",
           pr->tname, S, len, H, hd, us, bytes / us * 1e-3);
    b->ops->free(b, out);
    b->ops->free(b, qo);
    b->ops->free(b, ln);
    b->ops->free(b, tb);
    b->ops->free(b, q);
    b->ops->free(b, v);
    b->ops->free(b, k);
    free(h);
    free(tables);
    free(lens);
    free(off);
}

static void time_all(const pair *pr)
{
    time_packed(pr, 64, 64, 16, 64, false);
    time_packed(pr, 1, 1000, 16, 64, false);
    time_packed(pr, 8, 1024, 16, 64, true);
    time_packed(pr, 8, 1024, 8, 128, false);
    time_paged(pr, 1, 64, 16, 64);
    time_paged(pr, 64, 64, 16, 64);
    time_paged(pr, 64, 128, 16, 64);
    time_paged(pr, 1, 4096, 16, 64);
}

int main(void)
{
    if (backend_cuda_device_count() == 0) {
        printf("no CUDA device: skipped\n");
        return 77;
    }
    for (int i = 0; i < 64; i++) L64[i] = 20 + rng_int(45);
    backend *cpu = NULL;
    CHECK_OK(backend_cpu_create(0, &cpu));
    if (!cpu) TEST_MAIN_END();
    const gl_dtype types[2] = {GL_DTYPE_F16, GL_DTYPE_BF16};
    for (int ti = 0; ti < 2; ti++) {
        pair pr = {NULL, cpu, types[ti], ti == 0 ? 1e-2 : 2e-2, ti == 0 ? "f16" : "bf16"};
        CHECK_OK(backend_cuda_create(0, types[ti], &pr.gpu));
        if (!pr.gpu) continue;
        test_packed(&pr);
        test_paged(&pr);
        if (!getenv("GLOSSA_TEST_NO_TIMING")) time_all(&pr); /* e.g. under compute-sanitizer */
        backend_destroy(pr.gpu);
    }
    backend_destroy(cpu);
    TEST_MAIN_END();
}
