/* chrF as sacreBLEU 2.x's CHRF class with its defaults: character n-grams of orders 1..6 over the
 * text with whitespace removed, no word n-grams, beta 2, effective-order averaging (orders with no
 * hypothesis or no reference n-grams are left out; eps_smoothing off). With several references a
 * segment keeps the statistics of the reference whose segment-level score is highest (the first
 * on a tie). */
#ifndef GLOSSA_EVAL_CHRF_H
#define GLOSSA_EVAL_CHRF_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "eval/eval.h"
#include "eval/ngram_map.h"

#define CHRF_BETA 2

typedef struct chrf_ws {
    ngram_map hyp, ref;
    strbuf hs, rs;       /* UTF-8 without whitespace */
    size_t *hoff, *roff; /* byte offset of each character, plus the end */
    size_t hoff_cap, roff_cap;
} chrf_ws;

void chrf_ws_free(chrf_ws *ws);

/* Add one segment's best statistics to stats (per order n: [3(n-1)] hypothesis n-grams, [+1]
 * reference n-grams, [+2] matches). hyp and refs are code points (already lowercased if wanted). */
glossa_status chrf_add_segment(int64_t stats[3 * EVAL_CHRF_ORDER], const int32_t *hyp, size_t hyp_n,
                               const int32_t *const *refs, const size_t *ref_ns, size_t n_refs,
                               chrf_ws *ws);

/* The chrF score, 0..100, of statistics (CHRF._compute_f_score without eps smoothing). */
double chrf_score(const int64_t stats[3 * EVAL_CHRF_ORDER]);

#endif
