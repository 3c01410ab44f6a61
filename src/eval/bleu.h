/* Corpus BLEU from tokenised segments, as sacreBLEU 2.x's BLEU class: per segment the hypothesis
 * n-grams (n = 1..4) are clipped by the maximum count over the references, the reference length is
 * the closest one (the shorter on a tie); the corpus score uses smoothing "exp" and the brevity
 * penalty, without effective order. */
#ifndef GLOSSA_EVAL_BLEU_H
#define GLOSSA_EVAL_BLEU_H

#include <stddef.h>

#include "eval/eval.h"
#include "eval/ngram_map.h"

typedef struct bleu_ws {
    ngram_map ref, one, hyp;
    size_t *tok_start, *tok_end; /* (tok_cap) token byte ranges of the string being counted */
    size_t tok_cap;
} bleu_ws;

void bleu_ws_free(bleu_ws *ws);

/* Add one segment's statistics to b (counts, totals, sys_len, ref_len). hyp and refs[i] are
 * tokenised text: tokens separated by spaces. */
glossa_status bleu_add_segment(eval_bleu *b, const char *hyp, size_t hyp_len,
                               const char *const *refs, const size_t *ref_lens, size_t n_refs,
                               bleu_ws *ws);

/* Score, precisions, brevity penalty and ratio from b's statistics (BLEU.compute_bleu). */
void bleu_finish(eval_bleu *b);

#endif
