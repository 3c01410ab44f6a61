/* embed, gather_rows, argmax (and linear_argmax, the linear op then argmax): row-parallel over the
 * pool. Index arrays are host memory. */
#include "backend/cpu/cpu_vec.h"

#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "core/status.h"

typedef struct embed_job {
    const int32_t *ids, *positions;
    const float *tok, *pos;
    float scale;
    int64_t d;
    float *y;
} embed_job;

static void embed_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    const embed_job *j = ctx;
    int64_t d = j->d;
    float s = j->scale;
    for (int64_t i = begin; i < end; i++) {
        const float *t = j->tok + (int64_t)j->ids[i] * d;
        float *y = j->y + i * d;
        if (j->pos) {
            const float *p = j->pos + (int64_t)j->positions[i] * d;
            for (int64_t c = 0; c < d; c++) y[c] = t[c] * s + p[c];
        } else if (s != 1.0f) {
            for (int64_t c = 0; c < d; c++) y[c] = t[c] * s;
        } else {
            memcpy(y, t, (size_t)d * sizeof(float));
        }
    }
}

void cpu_embed(backend *b, int32_t m, const int32_t *ids, const int32_t *positions,
               const gl_weight *tok, const gl_weight *pos, float scale, void *y)
{
    if (m <= 0) return;
    embed_job j = {ids, positions, tok->data, pos ? (const float *)pos->data : NULL, scale,
                   tok->cols, y};
    int64_t grain = (1 << 14) / j.d;
    threadpool_parallel_for(cpu_of(b)->pool, m, grain < 1 ? 1 : grain, embed_rows, &j);
}

typedef struct gather_job {
    const float *x;
    const int32_t *rows;
    int64_t d;
    float *y;
} gather_job;

static void gather_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const gather_job *j = ctx;
    for (int64_t i = begin; i < end; i++)
        memcpy(j->y + i * j->d, j->x + (int64_t)j->rows[i] * j->d, (size_t)j->d * sizeof(float));
}

void cpu_gather_rows(backend *b, int32_t m, int32_t d, const void *x, const int32_t *rows, void *y)
{
    if (m <= 0 || d <= 0) return;
    gather_job j = {x, rows, d, y};
    int64_t grain = (1 << 15) / d;
    threadpool_parallel_for(cpu_of(b)->pool, m, grain < 1 ? 1 : grain, gather_range, &j);
}

typedef struct argmax_job {
    const float *x;
    int64_t n, ld;
    int32_t *out;
} argmax_job;

/* torch.argmax: NaN counts as the maximum; ties go to the lowest index. */
static int32_t argmax_row(const float *x, int64_t n)
{
    int64_t best = 0;
    float bv = x[0];
    if (isnan(bv)) return 0;
    for (int64_t c = 1; c < n; c++) {
        if (x[c] > bv) {
            bv = x[c];
            best = c;
        } else if (x[c] != x[c]) {
            return (int32_t)c;
        }
    }
    return (int32_t)best;
}

static void argmax_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    const argmax_job *j = ctx;
    for (int64_t i = begin; i < end; i++)
        j->out[i] = argmax_row(j->x + i * j->ld, j->n);
}

glossa_status cpu_argmax(backend *b, int32_t m, int32_t n, int32_t ld, const void *x, int32_t *out)
{
    if (m <= 0 || n <= 0) return GLOSSA_STATUS_OK;
    if (ld < n)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "argmax: row stride %d < %d columns",
                            ld, n);
    argmax_job j = {x, n, ld, out};
    int64_t grain = (1 << 15) / n;
    threadpool_parallel_for(cpu_of(b)->pool, m, grain < 1 ? 1 : grain, argmax_rows, &j);
    return GLOSSA_STATUS_OK;
}

bool cpu_linear_argmax(backend *b, int32_t m, const void *x, int32_t x_stride, const gl_weight *w,
                       const gl_weight *bias, int32_t n_valid, void *y, bool keep_y, int32_t *ids)
{
    (void)keep_y; /* the row is computed for the argmax anyway */
    if (n_valid < 1 || n_valid > w->rows) return false; /* (the contract's precondition) */
    cpu_linear(b, m, x, x_stride, w, bias, GL_ACT_NONE, NULL, y);
    return cpu_argmax(b, m, n_valid, w->rows, y, ids) == GLOSSA_STATUS_OK; /* ld >= n: always */
}
