/* Branch-free float exp / GELU / SiLU that GCC and clang vectorise (libm's expf/erff/tanhf are
 * opaque calls; glibc erff costs ~30 ns, which made the GELU epilogue as slow as the GEMM).
 *
 * cpu_expf: Cody-Waite reduction by ln 2 and the Cephes minimax polynomial, ~1 ulp on
 *   [-87, 88]; inputs are clamped to that range (so exp(-inf) is 1.6e-38, not 0) and NaN comes out
 *   finite: callers multiply by x, which carries a NaN through.
 * cpu_gelu: x * Phi(x) with Phi from erfc (Numerical Recipes' erfcc, fractional error < 1.2e-7
 *   over the whole range), so it is accurate in the negative tail too, where 1 + erf(x) cancels
 *   (measured: < 1e-6 relative on [-12, 12] against double).
 * cpu_gelu_tanh: 0.5 x (1 + tanh(u)) written as x / (1 + exp(-2u)), the same function without
 *   the cancellation near u = 0. */
#ifndef GLOSSA_BACKEND_CPU_MATH_H
#define GLOSSA_BACKEND_CPU_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/erfcc.h"

/* exp(hi + lo) for |lo| << |hi| (lo of magnitude ~1 at most): the reduction subtracts n ln2 from
 * hi exactly (Cody-Waite) before lo is added, so an argument carried as two floats keeps its
 * precision. */
static inline float cpu_exp_hilo(float hi, float lo)
{
    hi = hi > -87.0f ? hi : -87.0f;
    hi = hi < 88.0f ? hi : 88.0f;
    float n = (hi + lo) * 1.44269504088896341f + 12582912.0f; /* round: 1.5 * 2^23 */
    n -= 12582912.0f;
    n = n > -126.0f ? n : -126.0f; /* keep 2^n a normal float when lo pushes past the clamp */
    n = n < 127.0f ? n : 127.0f;
    float r = hi - n * 0.693359375f; /* n ln2_hi is exact: 9 bits times |n| <= 128 */
    r = r - n * -2.12194440e-4f;
    r = r + lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

static inline float cpu_expf(float x)
{
    return cpu_exp_hilo(x, 0.0f);
}

/* P(N > a) = 0.5 erfc(a / sqrt 2) for a >= 0. exp's argument p - a^2 / 2 is carried as hi + lo
 * from a itself (not from a rounded a / sqrt 2, whose rounding alone costs a^2 * 6e-8): a = ah + al
 * with ah holding 12 significant bits, so ah^2 is exact and a^2 = ah^2 + al (a + ah). */
static inline float cpu_normal_tail(float a)
{
    float t = 1.0f / (1.0f + 0.5f * 0.70710678118654752440f * a);
    float p = GL_ERFCC_TOP;
#define CPU_ERFCC_STEP(c) p = p * t + (c);
    GL_ERFCC_STEPS(CPU_ERFCC_STEP)
#undef CPU_ERFCC_STEP
    uint32_t ab;
    memcpy(&ab, &a, sizeof ab);
    ab &= 0xfffff000u;
    float ah;
    memcpy(&ah, &ab, sizeof ah);
    float al = a - ah;
    return 0.5f * t * cpu_exp_hilo(-0.5f * (ah * ah), p - 0.5f * (al * (a + ah)));
}

static inline float cpu_gelu(float x)
{
    float q = cpu_normal_tail(fabsf(x));
    float p = 1.0f - q; /* both arms computed first: selects if-convert under -ftrapping-math */
    return x * (x < 0.0f ? q : p);
}

static inline float cpu_gelu_tanh(float x)
{
    float u = 0.79788456080286535588f * (x + 0.044715f * (x * x * x)); /* sqrt(2/pi) (...) */
    return x / (1.0f + cpu_expf(-2.0f * u));
}

static inline float cpu_silu(float x)
{
    return x / (1.0f + cpu_expf(-x));
}

#endif
