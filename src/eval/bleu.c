#include "eval/bleu.h"

#include <math.h>
#include <stdlib.h>

#include "core/status.h"

void bleu_ws_free(bleu_ws *ws)
{
    ngram_map_free(&ws->ref);
    ngram_map_free(&ws->one);
    ngram_map_free(&ws->hyp);
    free(ws->tok_start);
    free(ws->tok_end);
    ws->tok_start = ws->tok_end = NULL;
    ws->tok_cap = 0;
}

/* Split s on spaces into ws's token ranges (str.split() of tokenised text); the token count. */
static glossa_status split_tokens(const char *s, size_t n, bleu_ws *ws, size_t *count)
{
    size_t k = 0, i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        if (i == n) break;
        if (k == ws->tok_cap) {
            size_t nc = ws->tok_cap ? ws->tok_cap * 2 : 256;
            size_t *a = realloc(ws->tok_start, nc * sizeof *a);
            if (!a) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "token list of %zu", nc);
            ws->tok_start = a;
            size_t *b = realloc(ws->tok_end, nc * sizeof *b);
            if (!b) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "token list of %zu", nc);
            ws->tok_end = b;
            ws->tok_cap = nc;
        }
        ws->tok_start[k] = i;
        while (i < n && s[i] != ' ')
            i++;
        ws->tok_end[k++] = i;
    }
    *count = k;
    return GLOSSA_STATUS_OK;
}

/* Count the 1..4-grams of s (split into ws's tokens) into m (cleared first). */
static glossa_status count_ngrams(const char *s, size_t n, bleu_ws *ws, ngram_map *m,
                                  size_t *n_tokens)
{
    size_t t;
    GLOSSA_TRY(split_tokens(s, n, ws, &t));
    ngram_map_clear(m);
    for (size_t order = 1; order <= EVAL_BLEU_ORDER; order++)
        for (size_t i = 0; i + order <= t; i++) {
            size_t b = ws->tok_start[i], e = ws->tok_end[i + order - 1];
            GLOSSA_TRY(ngram_map_add(m, s + b, e - b, (uint32_t)order, 1));
        }
    *n_tokens = t;
    return GLOSSA_STATUS_OK;
}

glossa_status bleu_add_segment(eval_bleu *b, const char *hyp, size_t hyp_len,
                               const char *const *refs, const size_t *ref_lens, size_t n_refs,
                               bleu_ws *ws)
{
    /* references: n-gram counts maxed over them, and the closest length */
    ngram_map_clear(&ws->ref);
    size_t hyp_tokens;
    GLOSSA_TRY(split_tokens(hyp, hyp_len, ws, &hyp_tokens));
    int64_t closest_diff = -1, closest_len = -1;
    for (size_t r = 0; r < n_refs; r++) {
        size_t ref_tokens;
        GLOSSA_TRY(count_ngrams(refs[r], ref_lens[r], ws, &ws->one, &ref_tokens));
        for (size_t k = 0; k < ws->one.n; k++) {
            const ngram_entry *e = &ws->one.entries[k];
            GLOSSA_TRY(ngram_map_max(&ws->ref, e->key, e->len, e->order, e->count));
        }
        int64_t len = (int64_t)ref_tokens, diff = llabs((int64_t)hyp_tokens - len);
        if (closest_diff == -1 || diff < closest_diff) {
            closest_diff = diff;
            closest_len = len;
        } else if (diff == closest_diff && len < closest_len) {
            closest_len = len;
        }
    }
    GLOSSA_TRY(count_ngrams(hyp, hyp_len, ws, &ws->hyp, &hyp_tokens));
    for (size_t k = 0; k < ws->hyp.n; k++) {
        const ngram_entry *e = &ws->hyp.entries[k];
        int64_t in_ref = ngram_map_get(&ws->ref, e->key, e->len);
        b->totals[e->order - 1] += e->count;
        b->counts[e->order - 1] += e->count < in_ref ? e->count : in_ref;
    }
    b->sys_len += (int64_t)hyp_tokens;
    if (closest_len >= 0) b->ref_len += closest_len;
    return GLOSSA_STATUS_OK;
}

/* sacreBLEU's my_log: log, with log(0) = -9999999999. */
static double my_log(double x)
{
    return x == 0.0 ? -9999999999.0 : log(x);
}

void bleu_finish(eval_bleu *b)
{
    /* the operations and their order are sacreBLEU's, so that the doubles agree */
    if (b->sys_len < b->ref_len)
        b->bp = b->sys_len > 0 ? exp(1.0 - (double)b->ref_len / (double)b->sys_len) : 0.0;
    else
        b->bp = 1.0;
    b->ratio = b->ref_len ? (double)b->sys_len / (double)b->ref_len : 0.0;
    bool any = false;
    for (int n = 0; n < EVAL_BLEU_ORDER; n++) {
        b->precisions[n] = 0.0;
        any |= b->counts[n] != 0;
    }
    if (!any) {
        b->score = 0.0;
        return;
    }
    double smooth = 1.0;
    for (int n = 0; n < EVAL_BLEU_ORDER; n++) {
        if (b->totals[n] == 0) break;
        if (b->counts[n] == 0) {
            smooth *= 2.0;
            b->precisions[n] = 100.0 / (smooth * (double)b->totals[n]);
        } else {
            b->precisions[n] = 100.0 * (double)b->counts[n] / (double)b->totals[n];
        }
    }
    double sum = 0.0;
    for (int n = 0; n < EVAL_BLEU_ORDER; n++)
        sum += my_log(b->precisions[n]);
    b->score = b->bp * exp(sum / EVAL_BLEU_ORDER);
}
