/* The CUDA backend's beam_topk against the CPU twin (which is bit-identical to the host path of
 * beam search: tests/backend/test_cpu_beam_topk.c, tests/runtime/test_beam_device.c), for F16
 * and BF16 logits, on random inputs: vocabularies 1, 2, 7, 4095, 4096, 4097, 50265, 128112,
 * 250054 (odd sizes and the chunk edges), groups of 1..8 beams side by side with rows between them
 * that belong to no group, beams_to_keep = 2, 3 and 9 x beams and up to GL_BEAM_MAX_K, and these
 * row styles: random; quantised (exact ties); -inf entries; an all -inf row and a row with a NaN
 * or +inf (NaN log-probs); HF's first step (beams past the first at -1e9); forced tokens; bans;
 * huge magnitudes.
 *
 * Both sides get identical inputs (values rounded to the act dtype on the host, uploaded with
 * upload_f32). What is allowed to differ (backend.h): the CUDA lse may round to the neighbouring
 * float for some rows, which moves that row's scores by about an ulp. So a group passes when
 *   - it is exactly the CPU's result (tokens, beams, score bits), or
 *   - position by position the scores agree within tol(s) = 1e-5 + 1e-6 |s|, the CUDA list is
 *     sorted and free of duplicates, every CUDA candidate's score is within tol of its own
 *     reference value (the CPU's log-softmax of that entry plus the beam score), and any
 *     candidate in one list but not the other has a reference value within tol of the CPU's k-th
 *     score (a near-tie at the cut).
 * Groups with a forced token must be exact, and so must NaN candidates (NaN log-probs do not
 * depend on lse). At least 95% of all
 * groups must come out in exactly the CPU's order (tokens and beams; score bits are only
 * counted: an ulp of lse changes them). Also prints the time of one call at the shape
 * (16 requests x 4 beams x 250054, F16) and at 32 x 8 beams, beside copying those rows to the
 * host (skipped when GLOSSA_TEST_NO_TIMING is set).
 * Exits 77 (skipped) without a CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cpu_test_util.h"
#include "core/half.h"
#include "core/status.h"
#include "runtime/decode.h"
#include "test.h"
#include "gpu/gpu_test_util.h"

static struct {
    int groups, exact, same_order, tolerated;
    double worst_ulps; /* largest score difference of matched candidates, in ulps */
} g_st;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *dev_upload(backend *b, const float *h, size_t n)
{
    void *d = NULL;
    CHECK_OK(b->ops->alloc(b, n * gl_dtype_size(b->act_dtype), &d));
    if (d) CHECK_OK(b->ops->upload_f32(b, d, h, n));
    return d;
}

static double tol(float s)
{
    return 1e-5 + 1e-6 * fabs((double)s);
}

static bool close_scores(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (a == b) return true;
    return fabs((double)a - (double)b) <= tol(b);
}

static bool same_cand(const gl_beam_cand *a, const gl_beam_cand *b)
{
    const bool sv =
        memcmp(&a->score, &b->score, sizeof a->score) == 0 || (isnan(a->score) && isnan(b->score));
    return sv && a->token == b->token && a->beam == b->beam;
}

static bool in_list(const gl_beam_cand *l, int32_t k, const gl_beam_cand *c)
{
    for (int32_t j = 0; j < k; j++)
        if (l[j].token == c->token && l[j].beam == c->beam) return true;
    return false;
}

/* ranks-before in the op's order, by score only (NaN first) */
static bool not_after(float a, float b)
{
    if (isnan(a)) return true;
    if (isnan(b)) return false;
    return a >= b;
}

/* One group: cuda (got) against cpu (want). lp: the group's rows through decode_log_softmax +
 * bans + forcing (the CPU's values), (n_beams, n). */
static bool check_group(const gl_beam_group *g, int32_t n, const float *lp, const gl_beam_cand *got,
                        const gl_beam_cand *want, const char *what)
{
    const int32_t k = g->k;
    bool exact = true, order = true;
    for (int32_t j = 0; j < k; j++) {
        exact = exact && same_cand(&got[j], &want[j]);
        order = order && got[j].token == want[j].token && got[j].beam == want[j].beam;
        if (got[j].token == want[j].token && got[j].beam == want[j].beam && !isnan(want[j].score) &&
            !isinf(want[j].score) && got[j].score != want[j].score) {
            float sp = nextafterf(fabsf(want[j].score), INFINITY) - fabsf(want[j].score);
            double u = fabs((double)got[j].score - want[j].score) / sp;
            if (u > g_st.worst_ulps) g_st.worst_ulps = u;
        }
    }
    g_st.groups++;
    g_st.exact += exact;
    g_st.same_order += order;
    if (exact) return true;
    const char *why = g->forced >= 0 && g->forced < n ? "a forced group must be exact" : NULL;
    for (int32_t j = 0; !why && j < k; j++) {
        const gl_beam_cand *c = &got[j];
        if (isnan(want[j].score) && !(c->token == want[j].token && c->beam == want[j].beam)) {
            why = "NaN candidates differ (they do not depend on lse)";
            break;
        }
        if (c->beam < 0 || c->beam >= g->n_beams || c->token < 0 || c->token >= n) {
            why = "candidate out of range";
            break;
        }
        for (int32_t i = 0; i < j && !why; i++)
            if (got[i].token == c->token && got[i].beam == c->beam) why = "duplicate candidate";
        if (j > 0 && !not_after(got[j - 1].score, c->score)) why = "not sorted";
        if (!close_scores(c->score, want[j].score)) why = "scores differ beyond tol";
        const float ref = lp[(size_t)c->beam * n + c->token] + g->scores[c->beam];
        if (!close_scores(c->score, ref)) why = "score differs from its reference value";
        if (!in_list(want, k, c) && !close_scores(ref, want[k - 1].score))
            why = "a candidate the CPU did not pick, not at a near-tie";
        if (!in_list(got, k, &want[j]) && !close_scores(want[j].score, want[k - 1].score))
            why = "misses a CPU candidate that is not at a near-tie";
    }
    if (why) {
        fprintf(stderr, "%s: group (beams %d, k %d, forced %d, bans %d): %s\n", what, g->n_beams, k,
                g->forced, g->n_ban, why);
        for (int32_t j = 0; j < k && j < 12; j++)
            fprintf(stderr, "  #%d cuda %.9g t%d b%d | cpu %.9g t%d b%d\n", j, got[j].score,
                    got[j].token, got[j].beam, want[j].score, want[j].token, want[j].beam);
        return false;
    }
    g_st.tolerated++;
    return true;
}

/* styles: 0 random, 1 quantised, 2 -inf entries, 3 NaN rows (all -inf; a NaN; a +inf),
 * 4 first step (-1e9), 5 forced, 6 bans, 7 huge magnitudes */
static void run_case_ld(backend *gpu, backend *cpu, int32_t n, int32_t n_groups,
                        const int32_t *beams, int32_t kmul, int style, int32_t pad)
{
    const gl_dtype act = gpu->act_dtype;
    int32_t m = 1, max_nb = 1;
    for (int32_t g = 0; g < n_groups; g++) {
        m += beams[g] + 1;
        if (beams[g] > max_nb) max_nb = beams[g];
    }
    const size_t total = (size_t)m * (size_t)n;
    const float span = style == 7 ? (act == GL_DTYPE_F16 ? 30000.0f : 1e30f) : 9.0f;
    float *x = rand_buf(total, -span, span);
    for (size_t i = 0; i < total; i++) {
        if (style == 1) x[i] = floorf(x[i] * 2.0f) * 0.5f;
        if (style == 2 && rng_int(8) == 0) x[i] = -INFINITY;
        x[i] = round_act(x[i], act);
    }
    gl_beam_group *gg = calloc((size_t)n_groups, sizeof *gg),
                  *gc = calloc((size_t)n_groups, sizeof *gc);
    gl_beam_cand *og = calloc((size_t)n_groups * GL_BEAM_MAX_K, sizeof *og);
    gl_beam_cand *oc = calloc((size_t)n_groups * GL_BEAM_MAX_K, sizeof *oc);
    float *scores = calloc((size_t)m, sizeof *scores);
    int32_t ban[6] = {0, 3, n - 1, n + 5, -1, n / 2};
    int32_t row = 1;
    for (int32_t g = 0; g < n_groups; g++) {
        gl_beam_group *q = &gc[g];
        q->row0 = row;
        q->n_beams = beams[g];
        q->k = kmul * beams[g] < GL_BEAM_MAX_K ? kmul * beams[g] : GL_BEAM_MAX_K;
        if (q->k > beams[g] * n) q->k = beams[g] * n;
        q->forced = style == 5 && g % 2 == 0 ? rng_int(n) : -1;
        q->n_ban = style == 6 || g % 4 == 3 ? 6 : 0;
        q->ban = ban;
        q->scores = scores + row;
        for (int32_t b = 0; b < beams[g]; b++)
            scores[row + b] = style == 4 && b > 0 ? -1e9f : -25.0f * (rng_f() + 1.0f) * 0.5f;
        if (style == 3 && g % 2 == 0) {
            for (int32_t t = 0; t < n; t++)
                x[(size_t)row * n + t] = -INFINITY;
            if (beams[g] > 1) x[(size_t)(row + 1) * n + (size_t)rng_int(n)] = NAN;
            if (beams[g] > 2) x[(size_t)(row + 2) * n + (size_t)rng_int(n)] = INFINITY;
        }
        gg[g] = *q;
        q->out = oc + (size_t)g * GL_BEAM_MAX_K;
        gg[g].out = og + (size_t)g * GL_BEAM_MAX_K;
        for (int32_t j = 0; j < q->k; j++) {
            gg[g].out[j].score = 12345.0f; /* poison */
            gg[g].out[j].token = gg[g].out[j].beam = -77;
        }
        row += beams[g] + 1;
    }
    /* pad > 0: the GPU reads rows ld = n + pad apart whose pad columns hold +inf */
    const int32_t ld = n + pad;
    float *xs = pad > 0 ? pad_rows(x, m, n, ld, INFINITY) : x;
    void *xg = dev_upload(gpu, xs, (size_t)m * (size_t)ld), *xc = dev_upload(cpu, x, total);
    if (xs != x) free(xs);
    if (xg && xc) {
        CHECK_OK(gpu->ops->beam_topk(gpu, m, n, ld, xg, n_groups, gg));
        CHECK_OK(cpu->ops->beam_topk(cpu, m, n, n, xc, n_groups, gc));
    }
    char what[96];
    snprintf(what, sizeof what, "%s n=%d ld=%d style %d k=%dx", gl_dtype_name(act), n, ld, style,
             kmul);
    float *lp = malloc((size_t)max_nb * (size_t)n * sizeof *lp);
    for (int32_t g = 0; g < n_groups && xg && xc; g++) {
        const gl_beam_group *q = &gc[g];
        for (int32_t b = 0; b < q->n_beams; b++) {
            float *r = lp + (size_t)b * n;
            memcpy(r, x + (size_t)(q->row0 + b) * n, (size_t)n * sizeof *r);
            decode_log_softmax(r, n);
            for (int32_t i = 0; i < q->n_ban; i++)
                if (q->ban[i] >= 0 && q->ban[i] < n) r[q->ban[i]] = -INFINITY;
            if (q->forced >= 0)
                for (int32_t t = 0; t < n; t++)
                    r[t] = t == q->forced ? 0.0f : -INFINITY;
        }
        CHECK_MSG(check_group(q, n, lp, gg[g].out, q->out, what), "%s: group %d", what, g);
    }
    free(lp);
    if (xg) gpu->ops->free(gpu, xg);
    if (xc) cpu->ops->free(cpu, xc);
    free(x);
    free(gg);
    free(gc);
    free(og);
    free(oc);
    free(scores);
}

static void run_case(backend *gpu, backend *cpu, int32_t n, int32_t n_groups, const int32_t *beams,
                     int32_t kmul, int style)
{
    run_case_ld(gpu, cpu, n, n_groups, beams, kmul, style, 0);
}

static void test_args(backend *gpu)
{
    float sc[2] = {0, 0};
    gl_beam_cand out[4];
    gl_beam_group g = {0, 2, 4, -1, 0, NULL, sc, out};
    void *x = dev_upload(gpu, (const float[12]){0}, 12);
    gl_beam_group b = g;
    b.k = 13;
    CHECK_STATUS(gpu->ops->beam_topk(gpu, 2, 6, 6, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    b = g;
    b.row0 = 1;
    CHECK_STATUS(gpu->ops->beam_topk(gpu, 2, 6, 6, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_OK(gpu->ops->beam_topk(gpu, 2, 6, 6, x, 0, NULL));
    CHECK_STATUS(gpu->ops->beam_topk(gpu, 2, 6, 5, x, 1, &g), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_OK(gpu->ops->beam_topk(gpu, 2, 6, 6, x, 1, &g)); /* all equal: ties by flat index */
    CHECK(out[0].beam == 0 && out[0].token == 0 && out[1].beam == 0 && out[1].token == 1);
    CHECK(out[3].beam == 0 && out[3].token == 3);
    gpu->ops->free(gpu, x);
}

/* G requests x NB beams, vocabulary 250054, k = 2 NB (the shape: 16 x 4). */
static void bench(backend *gpu, int G, int NB)
{
    enum { N = 250054, ITERS = 50 };
    const size_t total = (size_t)G * NB * N;
    float *x = rand_buf(total, -9.0f, 9.0f);
    void *d = dev_upload(gpu, x, total);
    float *scores = calloc((size_t)G * NB, sizeof *scores);
    gl_beam_cand *out = calloc((size_t)G * 2 * NB, sizeof *out);
    gl_beam_group *gs = calloc((size_t)G, sizeof *gs);
    for (int g = 0; g < G; g++) {
        gl_beam_group q = {g * NB, NB, 2 * NB, -1, 0, NULL, scores + g * NB, out + g * 2 * NB};
        gs[g] = q;
        for (int b = 0; b < NB; b++)
            scores[g * NB + b] = -3.0f * b;
    }
    if (d) {
        CHECK_OK(gpu->ops->beam_topk(gpu, G * NB, N, N, d, G, gs)); /* warm-up, scratch growth */
        double t0 = now_ms();
        for (int i = 0; i < ITERS; i++)
            CHECK_OK(gpu->ops->beam_topk(gpu, G * NB, N, N, d, G, gs));
        double t1 = now_ms();
        CHECK_OK(gpu->ops->download_f32(gpu, x, d, total));
        double t2 = now_ms();
        for (int i = 0; i < 5; i++)
            CHECK_OK(gpu->ops->download_f32(gpu, x, d, total));
        double t3 = now_ms();
        printf("beam_topk %s, %d x %d beams x %d: %.1f us per call; copying the rows to the host "
               "instead: %.1f us\n",
               gl_dtype_name(gpu->act_dtype), G, NB, N, (t1 - t0) * 1e3 / ITERS,
               (t3 - t2) * 1e3 / 5);
        gpu->ops->free(gpu, d);
    }
    free(x);
    free(scores);
    free(out);
    free(gs);
}

static void run_all(backend *cpu, gl_dtype act)
{
    backend *gpu = NULL;
    CHECK_OK(backend_cuda_create(0, act, &gpu));
    if (!gpu) return;
    test_args(gpu);
    static const int32_t mixed[] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const int32_t vocabs[] = {1, 2, 7, 4095, 4096, 4097, 50265, 128112, 250054};
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++)
        for (int style = 0; style < 8; style++) {
            run_case(gpu, cpu, vocabs[v], 8, mixed, 2, style);
            if (vocabs[v] < 100000 || style % 3 == 0) {
                run_case(gpu, cpu, vocabs[v], 3, mixed + 2, 3, style);
                run_case(gpu, cpu, vocabs[v], 2, mixed + 5, 9, style);
            }
        }
    for (int style = 0; style < 8; style++) { /* rows ld > n apart (the model's padded logits) */
        run_case_ld(gpu, cpu, 250054, 8, mixed, 2, style, 2);
        run_case_ld(gpu, cpu, 4097, 3, mixed + 2, 3, style, 7);
    }
    static const int32_t wide[] = {8, 14, 1};
    run_case(gpu, cpu, 32001, 3, wide, 9, 0); /* k up to GL_BEAM_MAX_K */
    run_case(gpu, cpu, 32001, 3, wide, 9, 6);
    if (act == GL_DTYPE_F16 && !getenv("GLOSSA_TEST_NO_TIMING")) { /* e.g. under memcheck */
        bench(gpu, 16, 4);
        bench(gpu, 32, 8);
    }
    backend_destroy(gpu);
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
    run_all(cpu, GL_DTYPE_F16);
    run_all(cpu, GL_DTYPE_BF16);
    backend_destroy(cpu);
    printf("%d groups: %d exact, %d in the CPU's order (score bits aside), %d within tolerance; "
           "worst score difference of a matched candidate %.1f ulp\n",
           g_st.groups, g_st.exact, g_st.same_order, g_st.tolerated, g_st.worst_ulps);
    CHECK_MSG(g_st.same_order >= 0.95 * g_st.groups, "only %d of %d groups in the CPU's order",
              g_st.same_order, g_st.groups);
    TEST_MAIN_END();
}
