/* y(m, n) = x(m, k) W(n, k)^T for small m (decode steps), straight from W with AVX2/FMA.
 *
 * OpenBLAS packs W on every call; for small m that packing, not the arithmetic, is the cost
 * (measured, one thread, k = 1024: m = 4 2.4x, m = 16 1.6x, m = 32 1.2x faster here; m = 64 on a
 * par, so larger m stays with OpenBLAS). Blocks of 4 x rows by 3 W rows keep 12 accumulators in
 * registers; x stays in cache while W streams once.
 *
 * Every y element is computed the same way whichever kernel (4x3, 1x3, 4x1, 1x1) or tile it falls
 * in: 8 lane sums over k in order (fused multiply-add), the tail through a masked load, then one
 * fixed horizontal sum. So a row's result depends neither on m nor on the other rows: a sequence
 * decodes to the same bits whatever else is in the batch (for m <= CPU_GEMM_SMALL_MAX_M).
 *
 * Built only for x86-64 with GCC or clang (target attributes, checked at run time); elsewhere
 * cpu_gemm_small_supported() is false and linear uses OpenBLAS. */
#include "backend/cpu/cpu_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))

bool cpu_gemm_small_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

TARGET static inline float hsum(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

/* The k loop shared by all kernels: body(c, LOAD) runs for every 8-float chunk, LOAD being the
 * plain or the masked load. */
#define K_LOOP(BODY)                                                                               \
    do {                                                                                           \
        int64_t c = 0;                                                                             \
        for (; c + 8 <= k; c += 8) {                                                               \
            BODY(c, _mm256_loadu_ps);                                                              \
        }                                                                                          \
        if (c < k) {                                                                               \
            BODY(c, MASKED);                                                                       \
        }                                                                                          \
    } while (0)
#define MASKED(p) _mm256_maskload_ps((p), mask)

TARGET static void kern_4x3(int64_t k, const float *x, int64_t xs, const float *w, float *y,
                            int64_t ldy, __m256i mask)
{
    const float *x0 = x, *x1 = x + xs, *x2 = x + 2 * xs, *x3 = x + 3 * xs;
    const float *w0 = w, *w1 = w + k, *w2 = w + 2 * k;
    __m256 z = _mm256_setzero_ps();
    __m256 a00 = z, a01 = z, a02 = z, a10 = z, a11 = z, a12 = z;
    __m256 a20 = z, a21 = z, a22 = z, a30 = z, a31 = z, a32 = z;
#define BODY_4X3(c, LD)                                                                            \
    __m256 b0 = LD(w0 + c), b1 = LD(w1 + c), b2 = LD(w2 + c), v = LD(x0 + c);                     \
    a00 = _mm256_fmadd_ps(v, b0, a00);                                                             \
    a01 = _mm256_fmadd_ps(v, b1, a01);                                                             \
    a02 = _mm256_fmadd_ps(v, b2, a02);                                                             \
    v = LD(x1 + c);                                                                                \
    a10 = _mm256_fmadd_ps(v, b0, a10);                                                             \
    a11 = _mm256_fmadd_ps(v, b1, a11);                                                             \
    a12 = _mm256_fmadd_ps(v, b2, a12);                                                             \
    v = LD(x2 + c);                                                                                \
    a20 = _mm256_fmadd_ps(v, b0, a20);                                                             \
    a21 = _mm256_fmadd_ps(v, b1, a21);                                                             \
    a22 = _mm256_fmadd_ps(v, b2, a22);                                                             \
    v = LD(x3 + c);                                                                                \
    a30 = _mm256_fmadd_ps(v, b0, a30);                                                             \
    a31 = _mm256_fmadd_ps(v, b1, a31);                                                             \
    a32 = _mm256_fmadd_ps(v, b2, a32)
    K_LOOP(BODY_4X3);
    y[0] = hsum(a00), y[1] = hsum(a01), y[2] = hsum(a02);
    y += ldy;
    y[0] = hsum(a10), y[1] = hsum(a11), y[2] = hsum(a12);
    y += ldy;
    y[0] = hsum(a20), y[1] = hsum(a21), y[2] = hsum(a22);
    y += ldy;
    y[0] = hsum(a30), y[1] = hsum(a31), y[2] = hsum(a32);
}

TARGET static void kern_1x3(int64_t k, const float *x, const float *w, float *y, __m256i mask)
{
    const float *w0 = w, *w1 = w + k, *w2 = w + 2 * k;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0;
#define BODY_1X3(c, LD)                                                                            \
    __m256 v = LD(x + c);                                                                          \
    a0 = _mm256_fmadd_ps(v, LD(w0 + c), a0);                                                       \
    a1 = _mm256_fmadd_ps(v, LD(w1 + c), a1);                                                       \
    a2 = _mm256_fmadd_ps(v, LD(w2 + c), a2)
    K_LOOP(BODY_1X3);
    y[0] = hsum(a0), y[1] = hsum(a1), y[2] = hsum(a2);
}

TARGET static void kern_4x1(int64_t k, const float *x, int64_t xs, const float *w, float *y,
                            int64_t ldy, __m256i mask)
{
    const float *x0 = x, *x1 = x + xs, *x2 = x + 2 * xs, *x3 = x + 3 * xs;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#define BODY_4X1(c, LD)                                                                            \
    __m256 b = LD(w + c);                                                                          \
    a0 = _mm256_fmadd_ps(LD(x0 + c), b, a0);                                                       \
    a1 = _mm256_fmadd_ps(LD(x1 + c), b, a1);                                                       \
    a2 = _mm256_fmadd_ps(LD(x2 + c), b, a2);                                                       \
    a3 = _mm256_fmadd_ps(LD(x3 + c), b, a3)
    K_LOOP(BODY_4X1);
    y[0] = hsum(a0), y[ldy] = hsum(a1), y[2 * ldy] = hsum(a2), y[3 * ldy] = hsum(a3);
}

TARGET static void kern_1x1(int64_t k, const float *x, const float *w, float *y, __m256i mask)
{
    __m256 a = _mm256_setzero_ps();
#define BODY_1X1(c, LD) a = _mm256_fmadd_ps(LD(x + c), LD(w + c), a)
    K_LOOP(BODY_1X1);
    y[0] = hsum(a);
}

TARGET void cpu_gemm_small(int64_t m, int64_t n, int64_t k, const float *x, int64_t xs,
                           const float *w, float *y, int64_t ldy)
{
    __m256i mask = _mm256_loadu_si256((const __m256i *)(mask_table + 8 - (k & 7)));
    int64_t j = 0;
    for (; j + 3 <= n; j += 3) {
        const float *wj = w + j * k;
        int64_t i = 0;
        for (; i + 4 <= m; i += 4) kern_4x3(k, x + i * xs, xs, wj, y + i * ldy + j, ldy, mask);
        for (; i < m; i++) kern_1x3(k, x + i * xs, wj, y + i * ldy + j, mask);
    }
    for (; j < n; j++) {
        const float *wj = w + j * k;
        int64_t i = 0;
        for (; i + 4 <= m; i += 4) kern_4x1(k, x + i * xs, xs, wj, y + i * ldy + j, ldy, mask);
        for (; i < m; i++) kern_1x1(k, x + i * xs, wj, y + i * ldy + j, mask);
    }
}

#else

bool cpu_gemm_small_supported(void)
{
    return false;
}

void cpu_gemm_small(int64_t m, int64_t n, int64_t k, const float *x, int64_t xs, const float *w,
                    float *y, int64_t ldy)
{
    (void)m, (void)n, (void)k, (void)x, (void)xs, (void)w, (void)y, (void)ldy;
}

#endif
