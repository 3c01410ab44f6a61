/* Hugging Face parity: every line of tests/fixtures/hf/lines.json through each fixture family
 * (gen_hf_fixtures.py wrote transformers 5.17's ids and texts into <family>/golden.json), loaded
 * both from the sentencepiece-file directory (<family>/spm) and from the directory transformers
 * saved (<family>/hf, through tokenizer.json; mBART-50 and NLLB): source ids (src_lang), target
 * ids (text_target, tgt_lang), ids without special tokens, and decode with and without
 * skip_special_tokens. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "glossa.h"
#include "test.h"

#define FIX GLOSSA_FIXTURES "/hf/"

typedef struct counts {
    int rows, ids, tgt_ids, nospecial, dec, tgt_dec, dec_keep;
} counts;

static int same_ids(json_t *want, const glossa_tokens *got)
{
    if (!json_is_array(want) || json_array_size(want) != got->n) return 0;
    for (size_t i = 0; i < got->n; i++)
        if (json_integer_value(json_array_get(want, i)) != got->ids[i]) return 0;
    return 1;
}

static void show_ids(const char *what, const char *fam, size_t row, json_t *want, const glossa_tokens *got)
{
    char *w = json_dumps(want, JSON_COMPACT);
    fprintf(stderr, "%s line %zu %s:\n  want %s\n  got  [", fam, row, what, w ? w : "?");
    for (size_t i = 0; i < got->n; i++) fprintf(stderr, "%s%d", i ? "," : "", got->ids[i]);
    fprintf(stderr, "]\n");
    free(w);
}

/* 1 when the decode of ids equals want (a JSON string; absent: not checked, counts as equal). */
static int check_decode(const glossa_tokenizer *tok, json_t *want, json_t *ids, bool skip,
                        const char *what, const char *fam, size_t row, int *shown)
{
    if (!json_is_string(want)) return 1;
    size_t n = json_array_size(ids);
    int32_t *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (int32_t)json_integer_value(json_array_get(ids, i));
    glossa_text text = {0};
    glossa_status st = glossa_tokenizer_decode(tok, v, n, skip, &text);
    int ok = st == GLOSSA_STATUS_OK && text.len == json_string_length(want) &&
             !memcmp(text.data, json_string_value(want), text.len);
    if (!ok && (*shown)++ < 3)
        fprintf(stderr, "%s line %zu %s: want \"%s\" got \"%s\" (%s)\n", fam, row, what, json_string_value(want),
                st == GLOSSA_STATUS_OK ? text.data : "", st == GLOSSA_STATUS_OK ? "" : glossa_last_error());
    glossa_text_free(&text);
    free(v);
    return ok;
}

static counts run_rows(const glossa_tokenizer *tok, const char *fam, json_t *lines, json_t *rows)
{
    counts c = {0};
    glossa_tokens t = {0};
    int shown = 0, dshown = 0;
    for (size_t r = 0; r < json_array_size(rows); r++) {
        json_t *row = json_array_get(rows, r);
        json_t *line = json_array_get(lines, (size_t)json_integer_value(json_object_get(row, "i")));
        const char *text = json_string_value(json_object_get(line, "text"));
        size_t len = json_string_length(json_object_get(line, "text"));
        glossa_encode_params p = glossa_encode_default_params();
        p.src_lang = json_string_value(json_object_get(row, "src_lang"));
        p.tgt_lang = json_string_value(json_object_get(row, "tgt_lang"));
        c.rows++;
        json_t *want = json_object_get(row, "ids");
        if (glossa_tokenizer_encode(tok, text, len, &p, &t) == GLOSSA_STATUS_OK && same_ids(want, &t)) c.ids++;
        else if (shown++ < 3) show_ids("ids", fam, r, want, &t);
        want = json_object_get(row, "tgt_ids");
        if (glossa_tokenizer_encode_target(tok, text, len, &p, &t) == GLOSSA_STATUS_OK && same_ids(want, &t)) c.tgt_ids++;
        else if (shown++ < 3) show_ids("tgt_ids", fam, r, want, &t);
        want = json_object_get(row, "ids_nospecial");
        p.add_special_tokens = false;
        if (!want) c.nospecial++;
        else if (glossa_tokenizer_encode(tok, text, len, &p, &t) == GLOSSA_STATUS_OK && same_ids(want, &t)) c.nospecial++;
        else if (shown++ < 3) show_ids("ids_nospecial", fam, r, want, &t);
        c.dec += check_decode(tok, json_object_get(row, "dec"), json_object_get(row, "ids"), true, "dec", fam, r, &dshown);
        c.tgt_dec += check_decode(tok, json_object_get(row, "tgt_dec"), json_object_get(row, "tgt_ids"), true,
                                  "tgt_dec", fam, r, &dshown);
        c.dec_keep += check_decode(tok, json_object_get(row, "dec_keep"), json_object_get(row, "ids"), false,
                                   "dec_keep", fam, r, &dshown);
    }
    glossa_tokens_free(&t);
    return c;
}

static void family(const char *fam, json_t *lines, bool has_hf_dir, glossa_tokenizer_family want_family)
{
    char path[512];
    snprintf(path, sizeof path, FIX "%s/golden.json", fam);
    json_error_t err;
    json_t *g = json_load_file(path, 0, &err);
    CHECK_MSG(g != NULL, "%s: %s", path, err.text);
    if (!g) return;
    for (int load = 0; load < 2; load++) {
        if (load == 1 && !has_hf_dir) break;
        snprintf(path, sizeof path, FIX "%s/%s", fam, load ? "hf" : "spm");
        glossa_tokenizer *tok = NULL;
        CHECK_OK(glossa_tokenizer_load_dir(path, &tok));
        if (!tok) continue;
        CHECK(glossa_tokenizer_get_family(tok) == want_family);
        json_t *rows = json_object_get(g, load && json_is_array(json_object_get(g, "hf")) ? "hf" : "spm");
        counts c = run_rows(tok, path, lines, rows);
        printf("%-28s rows %d: ids %d, target ids %d, no-special ids %d, decode %d, target decode %d, "
               "decode keeping specials %d\n",
               path + strlen(FIX), c.rows, c.ids, c.tgt_ids, c.nospecial, c.dec, c.tgt_dec, c.dec_keep);
        CHECK_MSG(c.ids == c.rows, "%s: source ids differ on %d lines", path, c.rows - c.ids);
        CHECK_MSG(c.tgt_ids == c.rows, "%s: target ids differ on %d lines", path, c.rows - c.tgt_ids);
        CHECK_MSG(c.nospecial == c.rows, "%s: ids without specials differ on %d lines", path, c.rows - c.nospecial);
        CHECK_MSG(c.dec == c.rows, "%s: decode differs on %d lines", path, c.rows - c.dec);
        CHECK_MSG(c.tgt_dec == c.rows, "%s: target decode differs on %d lines", path, c.rows - c.tgt_dec);
        CHECK_MSG(c.dec_keep == c.rows, "%s: decode keeping specials differs on %d lines", path, c.rows - c.dec_keep);
        glossa_tokenizer_free(tok);
    }
    json_decref(g);
}

int main(void)
{
    json_error_t err;
    json_t *lines = json_load_file(FIX "lines.json", 0, &err);
    CHECK_MSG(lines && json_array_size(lines) >= 300, "lines.json: %s", err.text);
    if (!lines) TEST_MAIN_END();
    family("mbart50", lines, true, GLOSSA_FAMILY_MBART50);
    family("nllb", lines, true, GLOSSA_FAMILY_NLLB);
    family("nllb_legacy", lines, false, GLOSSA_FAMILY_NLLB);
    family("m2m100", lines, false, GLOSSA_FAMILY_M2M100);
    family("marian", lines, false, GLOSSA_FAMILY_MARIAN);
    family("marian_sep", lines, false, GLOSSA_FAMILY_MARIAN);
    json_decref(lines);
    TEST_MAIN_END();
}
