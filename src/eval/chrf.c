#include "eval/chrf.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/utf8.h"
#include "eval/eval_text.h"

void chrf_ws_free(chrf_ws *ws)
{
    ngram_map_free(&ws->hyp);
    ngram_map_free(&ws->ref);
    strbuf_free(&ws->hs);
    strbuf_free(&ws->rs);
    free(ws->hoff);
    free(ws->roff);
    memset(ws, 0, sizeof *ws);
}

/* ''.join(s.split()) into out as UTF-8, with (*off)[i] the byte offset of character i and
 * (*off)[count] the end; *count gets the number of characters. */
static glossa_status squeeze(const int32_t *cp, size_t n, strbuf *out, size_t **off,
                             size_t *off_cap, size_t *count)
{
    strbuf_clear(out);
    GLOSSA_TRY(strbuf_reserve(out, 4 * n + 1));
    if (*off_cap < n + 1) {
        size_t *p = realloc(*off, (n + 1) * sizeof *p);
        if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "chrF offsets for %zu chars", n);
        *off = p;
        *off_cap = n + 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (eval_isspace((uint32_t)cp[i])) continue;
        (*off)[k++] = out->len;
        out->len += utf8_encode((uint32_t)cp[i], out->data + out->len);
    }
    out->data[out->len] = '\0';
    (*off)[k] = out->len;
    *count = k;
    return GLOSSA_STATUS_OK;
}

/* All character n-grams of orders 1..6 of s into m (cleared first). */
static glossa_status count_chars(const strbuf *s, const size_t *off, size_t count, ngram_map *m)
{
    ngram_map_clear(m);
    for (size_t order = 1; order <= EVAL_CHRF_ORDER; order++)
        for (size_t i = 0; i + order <= count; i++)
            GLOSSA_TRY(
                ngram_map_add(m, s->data + off[i], off[i + order] - off[i], (uint32_t)order, 1));
    return GLOSSA_STATUS_OK;
}

glossa_status chrf_add_segment(int64_t stats[3 * EVAL_CHRF_ORDER], const int32_t *hyp, size_t hyp_n,
                               const int32_t *const *refs, const size_t *ref_ns, size_t n_refs,
                               chrf_ws *ws)
{
    size_t hc, rc;
    GLOSSA_TRY(squeeze(hyp, hyp_n, &ws->hs, &ws->hoff, &ws->hoff_cap, &hc));
    GLOSSA_TRY(count_chars(&ws->hs, ws->hoff, hc, &ws->hyp));
    int64_t best[3 * EVAL_CHRF_ORDER] = {0}, cur[3 * EVAL_CHRF_ORDER];
    double best_f = -1.0;
    for (size_t r = 0; r < n_refs; r++) {
        GLOSSA_TRY(squeeze(refs[r], ref_ns[r], &ws->rs, &ws->roff, &ws->roff_cap, &rc));
        GLOSSA_TRY(count_chars(&ws->rs, ws->roff, rc, &ws->ref));
        /* sacreBLEU counts no hypothesis n-grams of an order the reference has none of */
        for (size_t n = 1; n <= EVAL_CHRF_ORDER; n++) {
            int64_t h = hc >= n ? (int64_t)(hc - n + 1) : 0;
            int64_t rf = rc >= n ? (int64_t)(rc - n + 1) : 0;
            cur[3 * (n - 1) + 0] = rf > 0 ? h : 0;
            cur[3 * (n - 1) + 1] = rf;
            cur[3 * (n - 1) + 2] = 0;
        }
        for (size_t k = 0; k < ws->hyp.n; k++) {
            const ngram_entry *e = &ws->hyp.entries[k];
            int64_t in_ref = ngram_map_get(&ws->ref, e->key, e->len);
            cur[3 * (e->order - 1) + 2] += e->count < in_ref ? e->count : in_ref;
        }
        double f = chrf_score(cur);
        if (f > best_f) {
            best_f = f;
            memcpy(best, cur, sizeof best);
        }
    }
    for (size_t i = 0; i < 3 * EVAL_CHRF_ORDER; i++)
        stats[i] += best[i];
    return GLOSSA_STATUS_OK;
}

double chrf_score(const int64_t stats[3 * EVAL_CHRF_ORDER])
{
    /* the operations and their order are sacreBLEU's, so that the doubles agree */
    const double factor = (double)(CHRF_BETA * CHRF_BETA);
    double avg_prec = 0.0, avg_rec = 0.0;
    int effective = 0;
    for (int i = 0; i < EVAL_CHRF_ORDER; i++) {
        int64_t n_hyp = stats[3 * i], n_ref = stats[3 * i + 1], n_match = stats[3 * i + 2];
        if (n_hyp > 0 && n_ref > 0) {
            avg_prec += (double)n_match / (double)n_hyp;
            avg_rec += (double)n_match / (double)n_ref;
            effective++;
        }
    }
    if (effective == 0) return 0.0;
    avg_prec /= effective;
    avg_rec /= effective;
    if (avg_prec + avg_rec == 0.0) return 0.0;
    double score = (1.0 + factor) * avg_prec * avg_rec;
    score /= factor * avg_prec + avg_rec;
    return 100.0 * score;
}
