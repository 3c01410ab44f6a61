/* Corpus BLEU and chrF2 as sacreBLEU 2.x computes them by default (what `glossa eval` prints).
 *
 * BLEU: tokenisation 13a (or zh, intl, char, none), smoothing "exp", brevity penalty, n-gram order
 * 4, no effective order at corpus level; multiple references take the per-segment maximum n-gram
 * counts and the closest reference length (the shorter on a tie). chrF2: character 6-grams, no word
 * n-grams, beta 2, whitespace removed, effective-order averaging (eps_smoothing off); with several
 * references each segment keeps the statistics of its best-scoring reference.
 *
 * Lines are read as sacreBLEU's command line reads them: split on '\n' only, strict UTF-8, each
 * line right-stripped of Python whitespace. --lowercase is Python's str.lower() and applies to both
 * metrics (sacrebleu -lc --chrf-lowercase).
 *
 * This header needs only glossa.h, so the glossa command can include it. Thread safety: every call
 * works on its own arguments; nothing is shared. */
#ifndef GLOSSA_EVAL_EVAL_H
#define GLOSSA_EVAL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

#define EVAL_BLEU_ORDER 4
#define EVAL_CHRF_ORDER 6
#define EVAL_MAX_REFS   64

typedef enum eval_tokenizer {
    EVAL_TOKENIZER_13A = 0, /* mteval-v13a (sacreBLEU's default) */
    EVAL_TOKENIZER_ZH,      /* CJK characters split, then 13a's regular expressions */
    EVAL_TOKENIZER_INTL,    /* mteval-v14 international: Unicode punctuation and symbols */
    EVAL_TOKENIZER_CHAR,    /* every character a token */
    EVAL_TOKENIZER_NONE,    /* whitespace only */
} eval_tokenizer;

/* "13a", "zh", "intl", "char", "none" -> *out; BAD_INPUT for any other name. */
glossa_status eval_tokenizer_parse(const char *name, eval_tokenizer *out);
const char *eval_tokenizer_name(eval_tokenizer t);

typedef struct eval_params {
    eval_tokenizer tokenize; /* BLEU's tokeniser (chrF has none) */
    bool lowercase;          /* str.lower() before both metrics */
} eval_params;

eval_params eval_default_params(void);

/* BLEU with its sufficient statistics, as sacreBLEU's BLEUScore holds them. */
typedef struct eval_bleu {
    double score;                       /* 0..100 */
    double precisions[EVAL_BLEU_ORDER]; /* 0..100, smoothed */
    double bp;                          /* brevity penalty */
    double ratio;                       /* sys_len / ref_len, 0 when ref_len is 0 */
    int64_t counts[EVAL_BLEU_ORDER];    /* clipped n-gram matches */
    int64_t totals[EVAL_BLEU_ORDER];    /* hypothesis n-grams */
    int64_t sys_len, ref_len;           /* tokens; ref_len sums the closest reference lengths */
} eval_bleu;

typedef struct eval_result {
    eval_bleu bleu;
    double chrf; /* chrF2, 0..100 */
    int64_t
        chrf_stats[3 * EVAL_CHRF_ORDER]; /* per order: hypothesis, reference, matching n-grams */
    size_t n_lines;
    size_t n_refs;
} eval_result;

/* One text: a whole file's bytes; name is used in messages ("hyp.txt:12: ..."), may be NULL. */
typedef struct eval_text {
    const char *data;
    size_t len;
    const char *name;
} eval_text;

/* Score hyp against n_refs (1..EVAL_MAX_REFS) references. BAD_INPUT with a message naming the text
 * and line for invalid UTF-8, differing line counts or an empty hypothesis; OUT_OF_MEMORY. */
glossa_status eval_corpus(const eval_params *p, const eval_text *hyp, const eval_text *refs,
                          size_t n_refs, eval_result *out);

/* The same over files (IO_ERROR for a file that cannot be read). */
glossa_status eval_corpus_files(const eval_params *p, const char *hyp_path,
                                const char *const *ref_paths, size_t n_refs, eval_result *out);

/* sacreBLEU's text lines: "BLEU = 34.12 65.3/41.2/28.0/19.5 (BP = 0.987 ratio = 0.987 hyp_len = 9
 * ref_len = 9)" and "chrF2 = 58.21". Return snprintf's count. */
int eval_format_bleu(const eval_bleu *b, char *buf, size_t cap);
int eval_format_chrf(double chrf, char *buf, size_t cap);

#endif
