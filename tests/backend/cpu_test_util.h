/* Shared helpers of the CPU backend tests: a deterministic RNG, random buffers, weights in any
 * checkpoint dtype, and the closeness check against double-precision references. Include after
 * test.h. */
#ifndef GLOSSA_TESTS_BACKEND_CPU_TEST_UTIL_H
#define GLOSSA_TESTS_BACKEND_CPU_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/half.h"
#include "test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint32_t rng_u32(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return (uint32_t)(x >> 32);
}

static inline float rng_f(void) /* uniform in [-1, 1) */
{
    return (float)rng_u32() / 2147483648.0f - 1.0f;
}

static inline int rng_int(int n)
{
    return (int)(rng_u32() % (uint32_t)n);
}

static inline float *rand_buf(size_t n, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * (rng_f() + 1.0f) * 0.5f;
    return p;
}

/* A malloc'd copy of x (rows, n) with rows ld >= n apart, the pad columns set to fill (e.g. values
 * that would win if an op read past n). */
static inline float *pad_rows(const float *x, int32_t rows, int32_t n, int32_t ld, float fill)
{
    const size_t total = (size_t)rows * (size_t)ld;
    float *p = malloc((total ? total : 1) * sizeof *p);
    for (int32_t r = 0; r < rows; r++)
        for (int32_t t = 0; t < ld; t++)
            p[(size_t)r * ld + t] = t < n ? x[(size_t)r * n + t] : fill;
    return p;
}

/* Round values to what dtype holds (the reference then sees exactly the weight the backend got)
 * and build the host tensor in that dtype; returns a malloc'd buffer. */
static inline void *to_dtype(float *v, size_t n, gl_dtype t)
{
    if (t == GL_DTYPE_F32) {
        float *p = malloc(n * 4);
        memcpy(p, v, n * 4);
        return p;
    }
    uint16_t *h = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        if (t == GL_DTYPE_F16) {
            h[i] = half_f32_to_f16(v[i]);
            v[i] = half_f16_to_f32(h[i]);
        } else {
            h[i] = half_f32_to_bf16(v[i]);
            v[i] = half_bf16_to_f32(h[i]);
        }
    }
    return h;
}

static inline gl_weight make_weight(backend *b, float *v, int rows, int cols, gl_dtype t)
{
    void *h = to_dtype(v, (size_t)rows * cols, t);
    gl_weight w;
    CHECK_OK(b->ops->weight_from_host(b, h, t, rows, cols, &w));
    free(h);
    return w;
}

/* max over i of |got - want| / (|want| + rms(want)); reported when above tol */
static inline int check_close(const char *what, const float *got, const double *want, size_t n, double tol)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += want[i] * want[i];
    double rms = n ? sqrt(ss / (double)n) : 0;
    if (rms < 1e-30) rms = 1e-30;
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (fabs(want[i]) + rms);
        if (!(e <= worst)) {
            worst = e;
            wi = i;
        }
    }
    int ok = worst <= tol;
    CHECK_MSG(ok, "%s: error %.3g at %zu (got %.9g want %.9g)", what, worst, wi,
              n ? (double)got[wi] : 0.0, n ? want[wi] : 0.0);
    return ok;
}

/* the i-th of F32, F16, BF16 (cycling) */
#define TEST_DTYPE(i) ((gl_dtype)((i) % 3))

#endif
