/* glossa eval: corpus BLEU and chrF2 of a hypothesis file against one or more reference files,
 * as sacreBLEU 2.x computes them by default (src/eval/eval.h says what exactly). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"
#include "glossa.h"

typedef struct eval_opts {
    const char *hyp;
    const char *refs[EVAL_MAX_REFS];
    size_t n_refs;
    eval_params params;
    bool json;
} eval_opts;

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: glossa eval --hyp FILE --ref FILE [--ref FILE2 ...] [--tokenize "
            "13a|zh|intl|char|none]\n"
            "                   [--lowercase] [--json]\n"
            "  Corpus BLEU and chrF2 as sacreBLEU 2.x computes them by default (BLEU: 13a\n"
            "  tokenisation, exp smoothing, 4-grams; chrF2: character 6-grams, beta 2, whitespace\n"
            "  removed). Files are UTF-8, one segment a line, with equal line counts.\n"
            "  --hyp FILE        system output\n"
            "  --ref FILE        a reference; repeat for several (up to %d)\n"
            "  --tokenize NAME   BLEU's tokeniser: 13a (default), zh, intl, char, none\n"
            "  --lowercase, -lc  lowercase both sides first (both metrics, as sacrebleu -lc\n"
            "                    --chrf-lowercase)\n"
            "  --json            one JSON object: score, counts, totals, precisions, bp, ratio,\n"
            "                    sys_len, ref_len, chrf, ...\n",
            EVAL_MAX_REFS);
}

static int parse_args(int argc, char **argv, eval_opts *o)
{
    memset(o, 0, sizeof *o);
    o->params = eval_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--hyp") && has_val) {
            o->hyp = argv[++i];
        } else if (!strcmp(a, "--ref") && has_val) {
            if (o->n_refs == EVAL_MAX_REFS) {
                fprintf(stderr, "glossa eval: at most %d references\n", EVAL_MAX_REFS);
                return 2;
            }
            o->refs[o->n_refs++] = argv[++i];
        } else if (!strcmp(a, "--tokenize") && has_val) {
            if (eval_tokenizer_parse(argv[++i], &o->params.tokenize) != GLOSSA_STATUS_OK) {
                fprintf(stderr, "glossa eval: %s\n", glossa_last_error());
                return 2;
            }
        } else if (!strcmp(a, "--lowercase") || !strcmp(a, "-lc")) {
            o->params.lowercase = true;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            eval_usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "glossa eval: unknown or incomplete option '%s'\n", a);
            eval_usage(stderr);
            return 2;
        }
    }
    if (!o->hyp || o->n_refs == 0) {
        fprintf(stderr, "glossa eval: give --hyp FILE and at least one --ref FILE\n");
        eval_usage(stderr);
        return 2;
    }
    return 0;
}

/* The shortest decimal that reads back as x (as Python's repr), for JSON. */
static void put_double(FILE *f, double x)
{
    char buf[32];
    if (!isfinite(x)) {
        fputs("null", f);
        return;
    }
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    const char *e = strchr(buf, 'e');
    if (e && fabs(x) >= 1e-4 && fabs(x) < 1e16) { /* positional, as repr: 100, not 1e+02 */
        int decimals = prec - 1 - atoi(e + 1);
        snprintf(buf, sizeof buf, "%.*f", decimals > 0 ? decimals : 0, x);
    }
    fputs(buf, f);
}

static void put_array(FILE *f, const char *key, const int64_t *v, const double *d, int n)
{
    fprintf(f, ", \"%s\": [", key);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        if (v)
            fprintf(f, "%lld", (long long)v[i]);
        else
            put_double(f, d[i]);
    }
    fputc(']', f);
}

static void print_json(const eval_opts *o, const eval_result *r)
{
    const eval_bleu *b = &r->bleu;
    FILE *f = stdout;
    fputs("{\"score\": ", f);
    put_double(f, b->score);
    put_array(f, "counts", b->counts, NULL, EVAL_BLEU_ORDER);
    put_array(f, "totals", b->totals, NULL, EVAL_BLEU_ORDER);
    put_array(f, "precisions", NULL, b->precisions, EVAL_BLEU_ORDER);
    fputs(", \"bp\": ", f);
    put_double(f, b->bp);
    fputs(", \"ratio\": ", f);
    put_double(f, b->ratio);
    fprintf(f, ", \"sys_len\": %lld, \"ref_len\": %lld, \"chrf\": ", (long long)b->sys_len,
            (long long)b->ref_len);
    put_double(f, r->chrf);
    fprintf(f, ", \"tokenize\": \"%s\", \"lowercase\": %s, \"n_refs\": %zu, \"n_lines\": %zu}\n",
            eval_tokenizer_name(o->params.tokenize), o->params.lowercase ? "true" : "false",
            r->n_refs, r->n_lines);
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    eval_result r;
    if (eval_corpus_files(&o.params, o.hyp, o.refs, o.n_refs, &r) != GLOSSA_STATUS_OK) {
        fprintf(stderr, "glossa eval: %s\n", glossa_last_error());
        return 1;
    }
    if (o.json) {
        print_json(&o, &r);
    } else {
        char line[256];
        eval_format_bleu(&r.bleu, line, sizeof line);
        printf("%s\n", line);
        eval_format_chrf(r.chrf, line, sizeof line);
        printf("%s\n", line);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
