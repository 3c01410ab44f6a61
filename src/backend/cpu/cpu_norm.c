/* layernorm (with the fused residual add) and add, split over the pool by rows / elements. Mean
 * and variance are two-pass sums in double, so they are exact to float rounding for any row
 * length and offset; the normalisation itself is a plain (vectorised) float loop. */
#include "backend/cpu/cpu_vec.h"

#include <math.h>

#include "backend/cpu/cpu_internal.h"

typedef struct ln_job {
    float *x;
    const float *r;
    const float *gamma;
    const float *beta;
    float *y;
    int64_t d;
    float eps;
} ln_job;

static double row_sum(const float *x, int64_t d)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t c = 0;
    for (; c + 4 <= d; c += 4) {
        s0 += x[c];
        s1 += x[c + 1];
        s2 += x[c + 2];
        s3 += x[c + 3];
    }
    for (; c < d; c++) s0 += x[c];
    return (s0 + s1) + (s2 + s3);
}

static double row_sq_dev(const float *x, int64_t d, double mean)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t c = 0;
    for (; c + 4 <= d; c += 4) {
        double a = x[c] - mean, b = x[c + 1] - mean, e = x[c + 2] - mean, f = x[c + 3] - mean;
        s0 += a * a;
        s1 += b * b;
        s2 += e * e;
        s3 += f * f;
    }
    for (; c < d; c++) {
        double a = x[c] - mean;
        s0 += a * a;
    }
    return (s0 + s1) + (s2 + s3);
}

static void ln_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    const ln_job *j = ctx;
    int64_t d = j->d;
    for (int64_t i = begin; i < end; i++) {
        float *x = j->x + i * d;
        float *y = j->y + i * d;
        if (j->r) {
            const float *r = j->r + i * d;
            for (int64_t c = 0; c < d; c++) x[c] += r[c];
        }
        double mean = row_sum(x, d) / (double)d;
        double var = row_sq_dev(x, d, mean) / (double)d;
        /* mean as hi + lo floats: x - hi is exact when x is near the mean, so a large common
         * offset costs no precision */
        float mh = (float)mean, ml = (float)(mean - (double)mh);
        float rstd = (float)(1.0 / sqrt(var + (double)j->eps));
        const float *g = j->gamma, *bt = j->beta;
        if (bt)
            for (int64_t c = 0; c < d; c++) y[c] = ((x[c] - mh) - ml) * rstd * g[c] + bt[c];
        else
            for (int64_t c = 0; c < d; c++) y[c] = ((x[c] - mh) - ml) * rstd * g[c];
    }
}

void cpu_layernorm(backend *b, int32_t m, void *x, const void *r, const gl_weight *gamma,
                   const gl_weight *beta, float eps, void *y)
{
    if (m <= 0) return;
    int64_t d = gamma->cols;
    ln_job j = {x, r, gamma->data, beta ? (const float *)beta->data : NULL, y, d, eps};
    int64_t grain = (1 << 14) / d;
    threadpool_parallel_for(cpu_of(b)->pool, m, grain < 1 ? 1 : grain, ln_rows, &j);
}

typedef struct add_job {
    const float *x, *r;
    float *y;
} add_job;

static void add_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const add_job *j = ctx;
    const float *x = j->x, *r = j->r;
    float *y = j->y;
    for (int64_t i = begin; i < end; i++) y[i] = x[i] + r[i];
}

void cpu_add(backend *b, int64_t n, const void *x, const void *r, void *y)
{
    add_job j = {x, r, y};
    threadpool_parallel_for(cpu_of(b)->pool, n, 1 << 15, add_range, &j);
}
