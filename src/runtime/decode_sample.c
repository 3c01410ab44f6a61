/* Sampling: HF's warpers (transformers 5.x generation/logits_process.py), appended by
 * _get_logits_processor after the processors when do_sample, in this order:
 *   TemperatureLogitsWarper  (temperature != 1.0): scores / temperature
 *   TopKLogitsWarper         (top_k != 0): k = max(top_k, min_tokens_to_keep), capped at vocab;
 *                            removes scores < topk(scores, k).values[-1], so ties with the k-th
 *                            value survive
 *   TopPLogitsWarper         (top_p < 1.0): sort ascending, cumsum(softmax(sorted)); remove
 *                            cumsum <= 1 - top_p; the last min_tokens_to_keep always stay
 * min_tokens_to_keep is 1 for num_beams == 1 (n_eos + 1, at least 2, for beam sampling).
 * Then _sample draws from softmax(scores) (torch.multinomial). The draw here uses the request's
 * xoshiro256** stream, so it is deterministic per seed but not torch's random stream.
 *
 * Float details: temperature divides like torch on CUDA with a Python scalar (multiply by
 * (float)(1.0 / t), the reciprocal taken in double from the decimal t). `1 - top_p` is computed by
 * Python in double from the user's decimal top_p; decode_params holds a float, so the decimal is
 * recovered (shortest repr that round-trips) before the subtraction, and the threshold is rounded
 * to float like torch's comparison with a float32 tensor. Top-p walks the tokens in descending
 * order with a heap (ties: higher index first, i.e. a stable ascending sort read from the end) and
 * uses the equivalent test total - (mass above the token) <= 1 - top_p, so only the kept head of
 * the order is sorted.
 */
#include "runtime/decode.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- RNG: xoshiro256** seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void decode_rng_seed(decode_rng *r, uint64_t seed)
{
    if (!r) return;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl64(uint64_t v, int k)
{
    return (v << k) | (v >> (64 - k));
}

static uint64_t rng_next(decode_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t out = rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* uniform in [0, 1) with 53 random bits */
static double rng_uniform(decode_rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- scratch: a few process-wide buffers, one per concurrent caller (generate.c selects tokens
 * of several requests in parallel), kept and grown across calls; with every slot busy a caller
 * gets a malloc'd buffer for that call ---- */

typedef struct scored {
    float v;
    int32_t i;
} scored;

#define SCRATCH_SLOTS 16
static scored *g_scratch[SCRATCH_SLOTS];
static size_t g_scratch_cap[SCRATCH_SLOTS];
static atomic_bool g_scratch_busy[SCRATCH_SLOTS];

/* *slot: the slot taken, -1 for a malloc'd buffer. NULL when out of memory. */
static scored *scratch_acquire(size_t n, int *slot)
{
    for (int s = 0; s < SCRATCH_SLOTS; s++) {
        if (atomic_exchange(&g_scratch_busy[s], true)) continue;
        if (g_scratch_cap[s] < n) {
            scored *b = realloc(g_scratch[s], n * sizeof *b);
            if (!b) {
                atomic_store(&g_scratch_busy[s], false);
                return NULL;
            }
            g_scratch[s] = b;
            g_scratch_cap[s] = n;
        }
        *slot = s;
        return g_scratch[s];
    }
    *slot = -1;
    return malloc(n * sizeof(scored));
}

static void scratch_release(scored *b, int slot)
{
    if (slot < 0)
        free(b);
    else
        atomic_store(&g_scratch_busy[slot], false);
}

/* ---- a max-heap of (value, index), larger value first, larger index first on ties ---- */

static bool heap_above(scored a, scored b)
{
    return a.v > b.v || (a.v == b.v && a.i > b.i);
}

static void heap_sift_down(scored *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < n && heap_above(h[l], h[best])) best = l;
        if (l + 1 < n && heap_above(h[l + 1], h[best])) best = l + 1;
        if (best == i) return;
        scored t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

/* Heap of the finite entries of row (removed ones carry no mass and stay removed); returns
 * their number. */
static size_t heap_build_finite(scored *h, const float *row, int32_t vocab)
{
    size_t n = 0;
    for (int32_t i = 0; i < vocab; i++)
        if (row[i] > -INFINITY) h[n++] = (scored){row[i], i};
    for (size_t i = n / 2; i-- > 0;)
        heap_sift_down(h, n, i);
    return n;
}

static scored heap_pop(scored *h, size_t *n)
{
    scored top = h[0];
    h[0] = h[--*n];
    heap_sift_down(h, *n, 0);
    return top;
}


static float row_max(const float *row, int32_t vocab)
{
    float m = row[0];
    for (int32_t i = 1; i < vocab; i++)
        if (row[i] > m) m = row[i];
    return m;
}

/* min-heap on values, for the k largest */
static void min_heap_sift_down(scored *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        if (l < n && h[l].v < h[best].v) best = l;
        if (l + 1 < n && h[l + 1].v < h[best].v) best = l + 1;
        if (best == i) return;
        scored t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

static void min_heap_sift_up(scored *h, size_t i)
{
    while (i > 0 && h[(i - 1) / 2].v > h[i].v) {
        scored t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* TopKLogitsWarper: remove scores < the k-th largest value (counting repeats), so ties with it
 * stay. The k largest are kept in a min-heap while streaming the row. */
static void top_k(float *row, int32_t vocab, int32_t k, scored *h)
{
    if (k >= vocab) return;
    size_t n = 0;
    for (int32_t i = 0; i < vocab; i++) {
        const float x = row[i];
        if (n < (size_t)k) {
            h[n].v = x;
            min_heap_sift_up(h, n++);
        } else if (x > h[0].v) {
            h[0].v = x;
            min_heap_sift_down(h, n, 0);
        }
    }
    const float kth = h[0].v;
    for (int32_t i = 0; i < vocab; i++)
        if (row[i] < kth) row[i] = -INFINITY;
}

/* TopPLogitsWarper, walked from the top: a token is removed when the ascending cumsum at it,
 * i.e. the total minus the mass above it, is <= 1 - top_p; the first min_keep always stay. */
static void top_p(float *row, int32_t vocab, float top_p_value, int32_t min_keep, scored *h)
{
    const float thr = (float)(1.0 - decode_float_decimal(top_p_value));
    const float m = row_max(row, vocab);
    if (!isfinite(m)) return;
    size_t n = heap_build_finite(h, row, vocab);
    double z = 0.0;
    for (size_t j = 0; j < n; j++)
        z += expf(h[j].v - m);
    double above = 0.0;
    for (int32_t j = 0; n > 0; j++) {
        const double cum = (z - above) / z;
        if (j >= min_keep && (float)cum <= thr) break;
        scored t = heap_pop(h, &n);
        above += expf(t.v - m);
    }
    for (size_t j = 0; j < n; j++)
        row[h[j].i] = -INFINITY;
}

static int32_t draw(const float *row, int32_t vocab, decode_rng *rng)
{
    const float m = row_max(row, vocab);
    if (!(m > -INFINITY) || isinf(m)) return decode_argmax(row, vocab);
    double total = 0.0;
    for (int32_t i = 0; i < vocab; i++)
        total += expf(row[i] - m);
    const double target = rng_uniform(rng) * total;
    double cum = 0.0;
    int32_t last = -1;
    for (int32_t i = 0; i < vocab; i++) {
        const double w = expf(row[i] - m);
        if (w <= 0.0) continue;
        cum += w;
        last = i;
        if (target < cum) return i;
    }
    return last >= 0 ? last : decode_argmax(row, vocab);
}

int32_t decode_sample(float *row, int32_t vocab, const decode_params *p, decode_rng *rng)
{
    if (!row || vocab <= 0 || !p || !rng) return -1;
    /* HF rejects temperature <= 0; the limit of temperature -> 0 is the argmax. */
    if (!(p->temperature > 0.0f)) return decode_argmax(row, vocab);
    if (p->temperature != 1.0f) {
        const float inv_t = (float)(1.0 / decode_float_decimal(p->temperature));
        for (int32_t i = 0; i < vocab; i++)
            row[i] *= inv_t;
    }
    int32_t min_keep = 1;
    if (p->num_beams > 1) min_keep = p->n_eos > 0 ? p->n_eos + 1 : 2;
    const bool do_top_k = p->top_k > 0;
    const bool do_top_p = p->top_p < 1.0f;
    if (do_top_k || do_top_p) {
        int slot = -1;
        scored *h = scratch_acquire((size_t)vocab, &slot);
        if (!h) return decode_argmax(row, vocab); /* out of memory: degrade to greedy */
        if (do_top_k) {
            int32_t k = p->top_k > min_keep ? p->top_k : min_keep;
            top_k(row, vocab, k, h);
        }
        if (do_top_p) top_p(row, vocab, p->top_p, min_keep, h);
        scratch_release(h, slot);
    }
    return draw(row, vocab, rng);
}
