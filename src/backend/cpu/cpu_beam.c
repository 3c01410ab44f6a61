/* beam_topk on the CPU (contract: backend.h, gl_beam_group).
 *
 * Bit-identical to the host path of beam search (runtime/decode_logits.c decode_log_softmax and
 * decode_process_logits, then beam_search.c's top_continuations): the same float operations in
 * the same order — the row maximum by `>` from the first entry, the sum of expf(x - max) in a
 * double, lse = (float)log(sum), lp = (x - max) - lse, acc = lp + score — and the same total
 * order of candidates. A row is never materialised: the processors only lower entries to -inf,
 * so a banned token is looked at only when its unbanned acc would enter the list (its banned acc
 * ranks no higher), and a forced row is -inf + score everywhere but the forced token.
 *
 * Rows run in parallel on the pool (each keeps its own best k, sorted); then each group merges
 * its beams' lists. The per-row lists live in a scratch buffer grown on demand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"
#include "core/status.h"

/* (a, fa) ranks above (b, fb): NaN above numbers (all NaNs equal), then the larger value, then
 * the lower flat index. */
static inline bool cand_before(float a, int32_t fa, float b, int32_t fb)
{
    const bool an = a != a, bn = b != b;
    if (an || bn) return an && (!bn || fa < fb);
    if (a != b) return a > b;
    return fa < fb;
}

/* The list (score, flat) of at most k entries, sorted: would (v, f) enter it? */
static inline bool cand_enters(const float *cs, const int32_t *cf, int32_t count, int32_t k,
                               float v, int32_t f)
{
    return count < k || cand_before(v, f, cs[k - 1], cf[k - 1]);
}

static inline void cand_insert(float *cs, int32_t *cf, int32_t *count, int32_t k, float v,
                               int32_t f)
{
    int32_t pos = *count < k ? (*count)++ : k - 1;
    while (pos > 0 && cand_before(v, f, cs[pos - 1], cf[pos - 1])) {
        cs[pos] = cs[pos - 1];
        cf[pos] = cf[pos - 1];
        pos--;
    }
    cs[pos] = v;
    cf[pos] = f;
}

static bool is_banned(const gl_beam_group *g, int32_t t)
{
    for (int32_t i = 0; i < g->n_ban; i++)
        if (g->ban[i] == t) return true;
    return false;
}

typedef struct beam_row {
    int32_t group, beam;
} beam_row;

typedef struct beam_job {
    const float *x;
    int32_t n, ld, kmax; /* rows ld elements apart */
    const gl_beam_group *groups;
    const beam_row *rows; /* (R) */
    float *cs;            /* (R, kmax) */
    int32_t *cf;          /* (R, kmax) */
    int32_t *cnt;         /* (R) */
} beam_job;

/* The best k of one row (group g, beam b). */
static void row_topk(const beam_job *j, int64_t i)
{
    const gl_beam_group *g = &j->groups[j->rows[i].group];
    const int32_t b = j->rows[i].beam, n = j->n, k = g->k;
    const float *row = j->x + (size_t)(g->row0 + b) * (size_t)j->ld;
    const float s = g->scores[b];
    const int32_t base = b * n;
    float *cs = j->cs + (size_t)i * (size_t)j->kmax;
    int32_t *cf = j->cf + (size_t)i * (size_t)j->kmax;
    int32_t count = 0;
    if (g->forced >= 0 && g->forced < n) {
        const float other = -INFINITY + s, hit = 0.0f + s;
        for (int32_t t = 0; t < n; t++) {
            const float v = t == g->forced ? hit : other;
            if (cand_enters(cs, cf, count, k, v, base + t))
                cand_insert(cs, cf, &count, k, v, base + t);
        }
        j->cnt[i] = count;
        return;
    }
    /* decode_log_softmax */
    float m = row[0];
    for (int32_t t = 1; t < n; t++)
        if (row[t] > m) m = row[t];
    const bool nan_row = isinf(m) && m < 0;
    float lse = 0.0f;
    if (!nan_row) {
        double sum = 0.0;
        for (int32_t t = 0; t < n; t++)
            sum += expf(row[t] - m);
        lse = (float)log(sum);
    }
    for (int32_t t = 0; t < n; t++) {
        const float lp = nan_row ? NAN : (row[t] - m) - lse;
        float v = lp + s;
        if (!cand_enters(cs, cf, count, k, v, base + t)) continue;
        if (g->n_ban > 0 && is_banned(g, t)) {
            v = -INFINITY + s;
            if (!cand_enters(cs, cf, count, k, v, base + t)) continue;
        }
        cand_insert(cs, cf, &count, k, v, base + t);
    }
    j->cnt[i] = count;
}

static void rows_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    for (int64_t i = begin; i < end; i++)
        row_topk(ctx, i);
}

/* Group g's k best from its beams' sorted lists (rows r0 .. r0 + n_beams - 1 of the job); pos:
 * (n_beams) scratch read positions. */
static void merge_group(const beam_job *j, const gl_beam_group *g, int64_t r0, int32_t *pos)
{
    const int32_t nb = g->n_beams, n = j->n;
    memset(pos, 0, (size_t)nb * sizeof *pos);
    for (int32_t out = 0; out < g->k; out++) {
        int32_t best = -1, bf = 0;
        float bv = 0.0f;
        for (int32_t b = 0; b < nb; b++) {
            const size_t i = (size_t)(r0 + b);
            if (pos[b] >= j->cnt[i]) continue;
            const float v = j->cs[i * (size_t)j->kmax + (size_t)pos[b]];
            const int32_t f = j->cf[i * (size_t)j->kmax + (size_t)pos[b]];
            if (best < 0 || cand_before(v, f, bv, bf)) {
                best = b;
                bv = v;
                bf = f;
            }
        }
        gl_beam_cand *c = &g->out[out];
        if (best < 0) { /* unreachable: k <= n_beams * n */
            c->score = -INFINITY;
            c->token = -1;
            c->beam = -1;
            continue;
        }
        pos[best]++;
        c->score = bv;
        c->beam = bf / n;
        c->token = bf - c->beam * n;
    }
}

glossa_status cpu_beam_topk(backend *b, int32_t m, int32_t n, int32_t ld, const void *x,
                            int32_t n_groups, const gl_beam_group *groups)
{
    GLOSSA_TRY(gl_beam_groups_check(m, n, ld, n_groups, groups));
    if (n_groups == 0) return GLOSSA_STATUS_OK;
    cpu_state *st = cpu_of(b);
    int64_t R = 0;
    int32_t kmax = 1;
    for (int32_t g = 0; g < n_groups; g++) {
        R += groups[g].n_beams;
        if (groups[g].k > kmax) kmax = groups[g].k;
    }
    const size_t per_row =
        sizeof(beam_row) + (size_t)kmax * (sizeof(float) + sizeof(int32_t)) + 2 * sizeof(int32_t);
    const size_t bytes = (size_t)R * per_row;
    if (bytes > st->beam_scratch_bytes) {
        void *q = realloc(st->beam_scratch, bytes);
        if (!q) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "cpu beam_topk: %zu bytes", bytes);
        st->beam_scratch = q;
        st->beam_scratch_bytes = bytes;
    }
    /* scratch: cs (R, kmax) floats, cf (R, kmax), cnt (R), pos (R), rows (R): 4-byte fields */
    float *cs = st->beam_scratch;
    int32_t *cf = (int32_t *)(cs + (size_t)R * (size_t)kmax);
    int32_t *cnt = cf + (size_t)R * (size_t)kmax;
    int32_t *pos = cnt + R;
    beam_row *rows = (beam_row *)(pos + R);
    int64_t r = 0;
    for (int32_t g = 0; g < n_groups; g++)
        for (int32_t bm = 0; bm < groups[g].n_beams; bm++, r++) {
            rows[r].group = g;
            rows[r].beam = bm;
        }
    beam_job j = {x, n, ld, kmax, groups, rows, cs, cf, cnt};
    threadpool_parallel_for(st->pool, R, 1, rows_range, &j);
    r = 0;
    for (int32_t g = 0; g < n_groups; g++) {
        merge_group(&j, &groups[g], r, pos + r);
        r += groups[g].n_beams;
    }
    return GLOSSA_STATUS_OK;
}
