/* eval against sacreBLEU itself: tests/fixtures/eval/sacrebleu.json, written by
 * tests/eval/make_fixtures.py (step "scores", on a machine with sacrebleu installed), holds
 * sacreBLEU's BLEU and chrF2 for every case over the fixture texts, and its tokenizers' output and
 * str.lower() for a list of strings. Counts, totals and lengths must agree exactly, scores,
 * precisions and the brevity penalty to 1e-6 (so to 2 decimals), the text lines to the letter.
 * Exits 77 (skipped) while the JSON is absent. GLOSSA_EVAL_SCORES=PATH reads another JSON. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "core/status.h"
#include "eval/eval.h"
#include "eval/eval_text.h"
#include "eval/eval_tok.h"
#include "test.h"

#define DIR GLOSSA_FIXTURES "/eval/"

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-6;
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void check_case(const json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const json_t *jb = json_object_get(c, "bleu"), *jc = json_object_get(c, "chrf");
    const json_t *jrefs = json_object_get(c, "refs");
    eval_params p = eval_default_params();
    if (!name || !jb || !jc || !json_is_array(jrefs) || json_array_size(jrefs) == 0 ||
        json_array_size(jrefs) > 8 ||
        eval_tokenizer_parse(json_string_value(json_object_get(c, "tokenize")), &p.tokenize) !=
            GLOSSA_STATUS_OK) {
        CHECK_MSG(0, "malformed case %s", name ? name : "?");
        return;
    }
    p.lowercase = json_is_true(json_object_get(c, "lowercase"));
    char hyp[512], refbuf[8][512];
    const char *refs[8];
    snprintf(hyp, sizeof hyp, DIR "%s", json_string_value(json_object_get(c, "hyp")));
    for (size_t i = 0; i < json_array_size(jrefs); i++) {
        snprintf(refbuf[i], sizeof refbuf[i], DIR "%s",
                 json_string_value(json_array_get(jrefs, i)));
        refs[i] = refbuf[i];
    }
    eval_result r;
    glossa_status st = eval_corpus_files(&p, hyp, refs, json_array_size(jrefs), &r);
    CHECK_MSG(st == GLOSSA_STATUS_OK, "%s: %s", name, glossa_last_error());
    if (st != GLOSSA_STATUS_OK) return;
    const eval_bleu *b = &r.bleu;
    for (int n = 0; n < EVAL_BLEU_ORDER; n++) {
        CHECK_MSG(b->counts[n] ==
                      json_integer_value(json_array_get(json_object_get(jb, "counts"), n)),
                  "%s: counts[%d] %lld", name, n, (long long)b->counts[n]);
        CHECK_MSG(b->totals[n] ==
                      json_integer_value(json_array_get(json_object_get(jb, "totals"), n)),
                  "%s: totals[%d] %lld", name, n, (long long)b->totals[n]);
        double want = json_number_value(json_array_get(json_object_get(jb, "precisions"), n));
        CHECK_MSG(near(b->precisions[n], want), "%s: precision %d %.17g want %.17g", name, n,
                  b->precisions[n], want);
    }
    CHECK_MSG(b->sys_len == (int64_t)num(jb, "sys_len") &&
                  b->ref_len == (int64_t)num(jb, "ref_len"),
              "%s: lengths %lld/%lld", name, (long long)b->sys_len, (long long)b->ref_len);
    CHECK_MSG(near(b->score, num(jb, "score")), "%s: BLEU %.17g want %.17g", name, b->score,
              num(jb, "score"));
    CHECK_MSG(near(b->bp, num(jb, "bp")), "%s: bp %.17g want %.17g", name, b->bp, num(jb, "bp"));
    CHECK_MSG(near(r.chrf, num(jc, "score")), "%s: chrF %.17g want %.17g", name, r.chrf,
              num(jc, "score"));
    char line[256];
    eval_format_bleu(b, line, sizeof line);
    CHECK_MSG(!strcmp(line, json_string_value(json_object_get(jb, "text"))), "%s: '%s'", name,
              line);
    eval_format_chrf(r.chrf, line, sizeof line);
    CHECK_MSG(!strcmp(line, json_string_value(json_object_get(jc, "text"))), "%s: '%s'", name,
              line);
}

static void check_tokenize(const json_t *e, eval_tok_ws *ws, strbuf *out, idvec *cp, idvec *lo)
{
    const char *in = json_string_value(json_object_get(e, "input"));
    if (!in || eval_decode(in, strlen(in), cp) != GLOSSA_STATUS_OK) {
        CHECK_MSG(0, "bad tokenize input");
        return;
    }
    for (int t = EVAL_TOKENIZER_13A; t <= EVAL_TOKENIZER_NONE; t++) {
        const char *want = json_string_value(json_object_get(e, eval_tokenizer_name(t)));
        CHECK_OK(eval_tokenize((eval_tokenizer)t, cp->data, cp->len, ws, out));
        CHECK_MSG(want && out->data && !strcmp(out->data, want), "%s(\"%s\") = \"%s\", want \"%s\"",
                  eval_tokenizer_name(t), in, out->data ? out->data : "", want ? want : "?");
    }
    const char *want = json_string_value(json_object_get(e, "lower"));
    strbuf_clear(out);
    CHECK_OK(eval_lower(cp->data, cp->len, lo));
    CHECK_OK(eval_append_utf8(out, lo->data, lo->len));
    CHECK_MSG(want && !strcmp(out->data, want), "lower(\"%s\") = \"%s\", want \"%s\"", in,
              out->data, want ? want : "?");
}

int main(void)
{
    const char *path = getenv("GLOSSA_EVAL_SCORES");
    if (!path || !*path) path = DIR "sacrebleu.json";
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("skipped: %s is absent (run tests/eval/make_fixtures.py scores where sacrebleu is "
               "installed)\n",
               path);
        return 77;
    }
    fclose(f);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    CHECK_MSG(root != NULL, "%s:%d: %s", path, err.line, err.text);
    if (!root) TEST_MAIN_END();
    printf("sacreBLEU %s\n", json_string_value(json_object_get(root, "sacrebleu_version")));
    const json_t *cases = json_object_get(root, "cases"), *toks = json_object_get(root, "tokenize");
    CHECK(json_array_size(cases) > 0 && json_array_size(toks) > 0);
    for (size_t i = 0; i < json_array_size(cases); i++)
        check_case(json_array_get(cases, i));
    eval_tok_ws ws = {0};
    strbuf out = {0};
    idvec cp = {0}, lo = {0};
    for (size_t i = 0; i < json_array_size(toks); i++)
        check_tokenize(json_array_get(toks, i), &ws, &out, &cp, &lo);
    printf("%zu cases, %zu tokenizer inputs\n", json_array_size(cases), json_array_size(toks));
    eval_tok_ws_free(&ws);
    strbuf_free(&out);
    idvec_free(&cp);
    idvec_free(&lo);
    json_decref(root);
    TEST_MAIN_END();
}
