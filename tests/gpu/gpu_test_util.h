/* Shared helpers of the CUDA backend tests (tests/gpu): values rounded to the act dtype, random
 * act-dtype buffers, device buffers read back as floats, and the max-relative-error check. The
 * RNG is tests/backend/cpu_test_util.h's. Include after test.h. */
#ifndef GLOSSA_TESTS_GPU_GPU_TEST_UTIL_H
#define GLOSSA_TESTS_GPU_GPU_TEST_UTIL_H

#include <math.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/cpu_test_util.h"
#include "core/half.h"
#include "test.h"

/* v as dtype t holds it (F32: unchanged) */
static inline float round_act(float v, gl_dtype t)
{
    if (t == GL_DTYPE_F16) return half_f16_to_f32(half_f32_to_f16(v));
    if (t == GL_DTYPE_BF16) return half_bf16_to_f32(half_f32_to_bf16(v));
    return v;
}

/* n values uniform in [center - mag, center + mag), rounded to what dtype t holds */
static inline float *rand_act(size_t n, float center, float mag, gl_dtype t)
{
    float *p = rand_buf(n, center - mag, center + mag);
    for (size_t i = 0; i < n; i++) p[i] = round_act(p[i], t);
    return p;
}

/* n activations of device buffer p as floats (malloc'd) */
static inline float *get_f32(backend *b, const void *p, size_t n)
{
    float *h = calloc(n ? n : 1, sizeof *h);
    CHECK_OK(b->ops->download_f32(b, h, p, n));
    return h;
}

/* max |got - want| / max |want| (1 when want is all zero); NaN where the other has none:
 * infinite; NaN in both: skipped */
static inline double rel_err(const float *got, const float *want, size_t n)
{
    double maxd = 0, maxb = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(want[i])) {
            if (isnan(got[i]) != isnan(want[i])) return INFINITY;
            continue;
        }
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= maxd)) maxd = d;
        if (fabs((double)want[i]) > maxb) maxb = fabs((double)want[i]);
    }
    return maxd / (maxb > 0 ? maxb : 1.0);
}

#endif
