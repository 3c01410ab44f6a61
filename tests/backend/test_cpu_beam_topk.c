/* The CPU backend's beam_topk against a plain reference: every row through
 * runtime/decode_logits.c's decode_log_softmax (the host path of beam search), the bans and the
 * forced token applied as decode_process_logits does, plus the beam score, then the whole group
 * sorted in the op's total order (NaN first, then larger, then lower beam * n + token). The op
 * must give exactly the reference's first k: same tokens, beams and score bits. Also: argument
 * checks, rows outside any group left unread, and several groups of different shapes in one
 * call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu_test_util.h"
#include "core/status.h"
#include "runtime/decode.h"
#include "test.h"

typedef struct ref_cand {
    float v;
    int32_t flat;
} ref_cand;

static int ref_cmp(const void *pa, const void *pb)
{
    const ref_cand *a = pa, *b = pb;
    const bool an = isnan(a->v), bn = isnan(b->v);
    if (an != bn) return an ? -1 : 1;
    if (!an && a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->flat > b->flat) - (a->flat < b->flat);
}

/* the reference result of one group (x: the whole (m, n) matrix) */
static void reference(const float *x, int32_t n, const gl_beam_group *g, gl_beam_cand *out)
{
    const size_t total = (size_t)g->n_beams * (size_t)n;
    ref_cand *all = malloc(total * sizeof *all);
    float *row = malloc((size_t)n * sizeof *row);
    for (int32_t b = 0; b < g->n_beams; b++) {
        memcpy(row, x + (size_t)(g->row0 + b) * (size_t)n, (size_t)n * sizeof *row);
        decode_log_softmax(row, n);
        for (int32_t i = 0; i < g->n_ban; i++)
            if (g->ban[i] >= 0 && g->ban[i] < n) row[g->ban[i]] = -INFINITY;
        if (g->forced >= 0 && g->forced < n)
            for (int32_t t = 0; t < n; t++)
                row[t] = t == g->forced ? 0.0f : -INFINITY;
        for (int32_t t = 0; t < n; t++) {
            all[(size_t)b * n + t].v = row[t] + g->scores[b];
            all[(size_t)b * n + t].flat = b * n + t;
        }
    }
    qsort(all, total, sizeof *all, ref_cmp);
    for (int32_t j = 0; j < g->k; j++) {
        out[j].score = all[j].v;
        out[j].beam = all[j].flat / n;
        out[j].token = all[j].flat % n;
    }
    free(all);
    free(row);
}

static bool same_cand(const gl_beam_cand *a, const gl_beam_cand *b)
{
    const bool sv =
        memcmp(&a->score, &b->score, sizeof a->score) == 0 || (isnan(a->score) && isnan(b->score));
    return sv && a->token == b->token && a->beam == b->beam;
}

/* style: 0 random, 1 quantised (ties), 2 with -inf entries, 3 one all -inf row and a NaN row,
 * 4 beams past the first at -1e9 (HF's first step), 5 forced tokens, 6 bans. pad > 0: the op
 * reads rows ld = n + pad apart whose pad columns hold +inf (a row would turn NaN if read). */
static void run_case_ld(backend *cpu, int32_t n, int32_t n_groups, const int32_t *beams,
                        int32_t kmul, int style, int32_t pad)
{
    int32_t rows = 1;
    for (int32_t g = 0; g < n_groups; g++)
        rows += beams[g] + 1; /* a free row between groups */
    float *x = rand_buf((size_t)rows * (size_t)n, -8.0f, 8.0f);
    for (size_t i = 0; i < (size_t)rows * (size_t)n; i++) {
        if (style == 1) x[i] = floorf(x[i] * 2.0f) * 0.5f;
        if (style == 2 && rng_int(9) == 0) x[i] = -INFINITY;
    }
    gl_beam_group *gs = calloc((size_t)n_groups, sizeof *gs);
    gl_beam_cand *got = calloc((size_t)n_groups * GL_BEAM_MAX_K, sizeof *got);
    gl_beam_cand *want = calloc(GL_BEAM_MAX_K, sizeof *want);
    float *scores = calloc((size_t)rows, sizeof *scores);
    int32_t ban[5] = {0, 3, n - 1, n + 7, -2};
    int32_t row = 1;
    for (int32_t g = 0; g < n_groups; g++) {
        gl_beam_group *q = &gs[g];
        q->row0 = row;
        q->n_beams = beams[g];
        q->k = kmul * beams[g] < GL_BEAM_MAX_K ? kmul * beams[g] : GL_BEAM_MAX_K;
        if (q->k > beams[g] * n) q->k = beams[g] * n;
        q->forced = style == 5 && g % 2 == 0 ? rng_int(n) : -1;
        q->n_ban = style == 6 || g % 3 == 2 ? 5 : 0;
        q->ban = ban;
        q->scores = scores + row;
        q->out = got + (size_t)g * GL_BEAM_MAX_K;
        for (int32_t b = 0; b < beams[g]; b++)
            scores[row + b] = style == 4 && b > 0 ? -1e9f : -20.0f * (rng_f() + 1.0f) * 0.5f;
        if (style == 3) {
            for (int32_t t = 0; t < n; t++)
                x[(size_t)row * n + t] = -INFINITY;
            if (beams[g] > 1) x[(size_t)(row + 1) * n + (size_t)rng_int(n)] = NAN;
        }
        row += beams[g] + 1;
    }
    const int32_t ld = n + pad;
    float *xs = pad > 0 ? pad_rows(x, rows, n, ld, INFINITY) : x;
    CHECK_OK(cpu->ops->beam_topk(cpu, rows, n, ld, xs, n_groups, gs));
    if (xs != x) free(xs);
    int bad = 0;
    for (int32_t g = 0; g < n_groups; g++) {
        reference(x, n, &gs[g], want);
        for (int32_t j = 0; j < gs[g].k; j++)
            if (!same_cand(&gs[g].out[j], &want[j])) {
                if (bad++ < 3)
                    fprintf(stderr,
                            "n %d style %d group %d (beams %d, k %d) #%d: got %.9g t%d b%d, "
                            "want %.9g t%d b%d\n",
                            n, style, g, gs[g].n_beams, gs[g].k, j, gs[g].out[j].score,
                            gs[g].out[j].token, gs[g].out[j].beam, want[j].score, want[j].token,
                            want[j].beam);
            }
    }
    CHECK_MSG(bad == 0, "n %d ld %d style %d: %d candidates differ from the reference", n, ld,
              style, bad);
    free(x);
    free(gs);
    free(got);
    free(want);
    free(scores);
}

static void run_case(backend *cpu, int32_t n, int32_t n_groups, const int32_t *beams, int32_t kmul,
                     int style)
{
    run_case_ld(cpu, n, n_groups, beams, kmul, style, 0);
}

static void test_args(backend *cpu)
{
    float x[12] = {0};
    float sc[3] = {0};
    gl_beam_cand out[8];
    gl_beam_group g = {0, 2, 4, -1, 0, NULL, sc, out};
    CHECK_OK(cpu->ops->beam_topk(cpu, 2, 6, 6, x, 1, &g));
    CHECK_OK(cpu->ops->beam_topk(cpu, 2, 6, 6, x, 0, NULL));
    gl_beam_group b = g;
    b.k = 0;
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 6, 6, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    b = g;
    b.k = 13; /* more than 2 beams x 6 */
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 6, 6, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    b = g;
    b.k = GL_BEAM_MAX_K + 1;
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 300, 300, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    b = g;
    b.row0 = 1; /* rows 1..2 of 2 */
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 6, 6, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    b = g;
    b.n_ban = GL_BEAM_MAX_BAN + 1;
    b.ban = (const int32_t *)x;
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 6, 6, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    b = g;
    b.out = NULL;
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 6, 6, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    b = g;
    b.n_beams = 0;
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 6, 6, x, 1, &b), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 0, 0, x, 1, &g), GLOSSA_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(cpu->ops->beam_topk(cpu, 2, 6, 5, x, 1, &g), GLOSSA_STATUS_INVALID_ARGUMENT);
}

/* a forced row: the forced token with the beam score, then the lowest flat indices at -inf */
static void test_forced_exact(backend *cpu)
{
    enum { N = 10 };
    float x[2 * N];
    for (int i = 0; i < 2 * N; i++)
        x[i] = (float)i;
    float sc[2] = {-1.5f, -1e9f};
    gl_beam_cand out[4];
    gl_beam_group g = {0, 2, 4, 1, 0, NULL, sc, out};
    CHECK_OK(cpu->ops->beam_topk(cpu, 2, N, N, x, 1, &g));
    CHECK(out[0].token == 1 && out[0].beam == 0 && out[0].score == -1.5f);
    CHECK(out[1].token == 1 && out[1].beam == 1 && out[1].score == -1e9f);
    CHECK(out[2].token == 0 && out[2].beam == 0 && isinf(out[2].score) && out[2].score < 0);
    CHECK(out[3].token == 2 && out[3].beam == 0 && isinf(out[3].score));
}

int main(void)
{
    backend *cpu = NULL;
    CHECK_OK(backend_cpu_create(0, &cpu));
    if (!cpu) TEST_MAIN_END();
    test_args(cpu);
    test_forced_exact(cpu);
    static const int32_t mixed[] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const int32_t vocabs[] = {1, 2, 7, 33, 4095, 4097, 9001};
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++)
        for (int style = 0; style < 7; style++) {
            run_case(cpu, vocabs[v], 8, mixed, 2, style);
            run_case(cpu, vocabs[v], 3, mixed + 3, 5, style);
        }
    static const int32_t four[] = {4, 4};
    for (int style = 0; style < 7; style++)
        run_case(cpu, 250054, 2, four, 2, style);
    for (int style = 0; style < 7; style++) /* rows ld > n apart (the model's padded logits) */
        run_case_ld(cpu, 250054, 2, four, 2, style, 2);
    run_case_ld(cpu, 33, 3, mixed + 3, 5, 0, 7);
    static const int32_t big[] = {8, 14};
    run_case(cpu, 3001, 2, big, 9, 0); /* k up to GL_BEAM_MAX_K */
    TEST_MAIN_END();
}
