/* The corpus driver: lines of the hypothesis and reference texts, per-segment preprocessing as
 * sacreBLEU's command line does it, and the two metrics. */
#include "eval/eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "eval/bleu.h"
#include "eval/chrf.h"
#include "eval/eval_text.h"
#include "eval/eval_tok.h"
#include "io/file.h"

#define EVAL_MAX_FILE ((size_t)1 << 30)

static const char *const tokenizer_names[] = {"13a", "zh", "intl", "char", "none"};

glossa_status eval_tokenizer_parse(const char *name, eval_tokenizer *out)
{
    for (size_t i = 0; i < sizeof tokenizer_names / sizeof tokenizer_names[0]; i++)
        if (name && !strcmp(name, tokenizer_names[i])) {
            *out = (eval_tokenizer)i;
            return GLOSSA_STATUS_OK;
        }
    return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                        "unknown tokenizer '%s' (13a, zh, intl, char, none)",
                        name ? name : "(null)");
}

const char *eval_tokenizer_name(eval_tokenizer t)
{
    return (unsigned)t < sizeof tokenizer_names / sizeof tokenizer_names[0] ? tokenizer_names[t]
                                                                            : "?";
}

eval_params eval_default_params(void)
{
    eval_params p = {.tokenize = EVAL_TOKENIZER_13A, .lowercase = false};
    return p;
}

/* Lines as Python's text files give them with newline="\n": split on '\n' only; a last line
 * without '\n' counts, an empty tail after the final '\n' does not. */
static size_t count_lines(const eval_text *t)
{
    size_t k = 0;
    const char *p = t->data, *end = t->data + t->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        k++;
        p = nl ? nl + 1 : end;
    }
    return k;
}

static void next_line(const eval_text *t, size_t *pos, const char **line, size_t *len)
{
    const char *p = t->data + *pos, *end = t->data + t->len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    *line = p;
    *len = (size_t)((nl ? nl : end) - p);
    *pos += *len + (nl ? 1 : 0);
}

typedef struct eval_ws {
    idvec raw;
    idvec cps[1 + EVAL_MAX_REFS]; /* hypothesis, references: right-stripped, lowercased */
    strbuf tok[1 + EVAL_MAX_REFS];
    const char *tok_ptr[EVAL_MAX_REFS];
    size_t tok_len[EVAL_MAX_REFS];
    const int32_t *cp_ptr[EVAL_MAX_REFS];
    size_t cp_len[EVAL_MAX_REFS];
    eval_tok_ws tws;
    bleu_ws bws;
    chrf_ws cws;
} eval_ws;

static void eval_ws_free(eval_ws *w)
{
    idvec_free(&w->raw);
    for (size_t i = 0; i < 1 + EVAL_MAX_REFS; i++) {
        idvec_free(&w->cps[i]);
        strbuf_free(&w->tok[i]);
    }
    eval_tok_ws_free(&w->tws);
    bleu_ws_free(&w->bws);
    chrf_ws_free(&w->cws);
    free(w);
}

/* One line of one text: decode, rstrip, lowercase, tokenise into w->cps[j] and w->tok[j]. */
static glossa_status prepare(const eval_params *p, const char *line, size_t len, eval_ws *w,
                             size_t j)
{
    GLOSSA_TRY(eval_decode(line, len, &w->raw));
    size_t n = eval_rstrip_len(w->raw.data, w->raw.len);
    idvec *c = &w->cps[j];
    if (p->lowercase) {
        GLOSSA_TRY(eval_lower(w->raw.data, n, c));
    } else {
        c->len = 0;
        GLOSSA_TRY(idvec_reserve(c, n));
        if (n) memcpy(c->data, w->raw.data, n * sizeof *c->data);
        c->len = n;
    }
    return eval_tokenize(p->tokenize, c->data, c->len, &w->tws, &w->tok[j]);
}

static const char *text_name(const eval_text *t, const char *fallback)
{
    return t->name ? t->name : fallback;
}

static glossa_status check_inputs(const eval_params *p, const eval_text *hyp, const eval_text *refs,
                                  size_t n_refs, size_t *n_lines)
{
    if (!p || !hyp || !refs || n_refs == 0 || n_refs > EVAL_MAX_REFS)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "eval: 1 to %d references",
                            EVAL_MAX_REFS);
    if ((unsigned)p->tokenize > EVAL_TOKENIZER_NONE)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "eval: unknown tokenizer");
    size_t n = count_lines(hyp);
    if (n == 0)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "%s: no lines", text_name(hyp, "hypothesis"));
    for (size_t r = 0; r < n_refs; r++) {
        size_t m = count_lines(&refs[r]);
        if (m != n)
            return glossa_error(GLOSSA_STATUS_BAD_INPUT, "%s has %zu lines but %s has %zu",
                                text_name(hyp, "the hypothesis"), n,
                                text_name(&refs[r], "a reference"), m);
    }
    *n_lines = n;
    return GLOSSA_STATUS_OK;
}

static glossa_status run_corpus(const eval_params *p, const eval_text *hyp, const eval_text *refs,
                                size_t n_refs, size_t n_lines, eval_ws *w, eval_result *out)
{
    size_t pos[1 + EVAL_MAX_REFS] = {0};
    for (size_t i = 0; i < n_lines; i++) {
        for (size_t j = 0; j <= n_refs; j++) {
            const eval_text *t = j == 0 ? hyp : &refs[j - 1];
            const char *line;
            size_t len;
            next_line(t, &pos[j], &line, &len);
            glossa_status st = prepare(p, line, len, w, j);
            if (st != GLOSSA_STATUS_OK)
                return glossa_error_prefix(
                    st, "%s:%zu: ", text_name(t, j == 0 ? "hypothesis" : "reference"), i + 1);
        }
        for (size_t r = 0; r < n_refs; r++) {
            w->tok_ptr[r] = w->tok[r + 1].data;
            w->tok_len[r] = w->tok[r + 1].len;
            w->cp_ptr[r] = w->cps[r + 1].data;
            w->cp_len[r] = w->cps[r + 1].len;
        }
        GLOSSA_TRY(bleu_add_segment(&out->bleu, w->tok[0].data, w->tok[0].len, w->tok_ptr,
                                    w->tok_len, n_refs, &w->bws));
        GLOSSA_TRY(chrf_add_segment(out->chrf_stats, w->cps[0].data, w->cps[0].len, w->cp_ptr,
                                    w->cp_len, n_refs, &w->cws));
    }
    return GLOSSA_STATUS_OK;
}

glossa_status eval_corpus(const eval_params *p, const eval_text *hyp, const eval_text *refs,
                          size_t n_refs, eval_result *out)
{
    if (!out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "eval: no result");
    memset(out, 0, sizeof *out);
    size_t n_lines = 0;
    GLOSSA_TRY(check_inputs(p, hyp, refs, n_refs, &n_lines));
    eval_ws *w = calloc(1, sizeof *w);
    if (!w) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "eval workspace");
    glossa_status st = run_corpus(p, hyp, refs, n_refs, n_lines, w, out);
    eval_ws_free(w);
    if (st != GLOSSA_STATUS_OK) return st;
    bleu_finish(&out->bleu);
    out->chrf = chrf_score(out->chrf_stats);
    out->n_lines = n_lines;
    out->n_refs = n_refs;
    return GLOSSA_STATUS_OK;
}

glossa_status eval_corpus_files(const eval_params *p, const char *hyp_path,
                                const char *const *ref_paths, size_t n_refs, eval_result *out)
{
    if (!hyp_path || !ref_paths || n_refs == 0 || n_refs > EVAL_MAX_REFS)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "eval: 1 to %d reference files",
                            EVAL_MAX_REFS);
    eval_text texts[1 + EVAL_MAX_REFS];
    char *bufs[1 + EVAL_MAX_REFS] = {0};
    glossa_status st = GLOSSA_STATUS_OK;
    for (size_t j = 0; j <= n_refs && st == GLOSSA_STATUS_OK; j++) {
        const char *path = j == 0 ? hyp_path : ref_paths[j - 1];
        st = file_read_all(path, EVAL_MAX_FILE, &bufs[j], &texts[j].len);
        if (st == GLOSSA_STATUS_BAD_MODEL) st = GLOSSA_STATUS_BAD_INPUT; /* over the size cap */
        texts[j].data = bufs[j];
        texts[j].name = path;
    }
    if (st == GLOSSA_STATUS_OK) st = eval_corpus(p, &texts[0], &texts[1], n_refs, out);
    for (size_t j = 0; j <= n_refs; j++)
        free(bufs[j]);
    return st;
}

int eval_format_bleu(const eval_bleu *b, char *buf, size_t cap)
{
    return snprintf(buf, cap,
                    "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld "
                    "ref_len = %lld)",
                    b->score, b->precisions[0], b->precisions[1], b->precisions[2],
                    b->precisions[3], b->bp, b->ratio, (long long)b->sys_len,
                    (long long)b->ref_len);
}

int eval_format_chrf(double chrf, char *buf, size_t cap)
{
    return snprintf(buf, cap, "chrF%d = %.2f", CHRF_BETA, chrf);
}
