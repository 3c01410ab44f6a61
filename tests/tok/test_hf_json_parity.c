/* tokenizer.json parity of the hf_tokenizer layer with the Hugging Face tokenizers library
 * (0.23.2), on the fixtures of tests/fixtures/hf_tok (made by its gen.py): for every line of
 * corpus.jsonl, the ids of encode(add_special_tokens=True / False) and the text of
 * decode(skip_special_tokens=False / True) must equal the library's (golden.jsonl: one JSON array
 * a line, [ids, ids without specials or null when equal, decode, decode skipping specials]; a null
 * decode is where the library panics).
 *
 * Also on the vocabulary-family fixtures of tests/fixtures/hf/<family>/ (hf/tokenizer.json and
 * golden.json written by transformers 5.17, texts in ../lines.json): ids_nospecial must equal
 * encode(add_special_tokens=False); where the row's source language is the one in the file's
 * template, ids and both decodes must match too.
 *
 * Usage: test_hf_json_parity [FIXTURE_DIR...]   (default: every directory of hf_tok and hf) */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "io/file.h"
#include "test.h"
#include "tok/hf_tokenizer.h"

#define MAX_SHOWN 5

static json_t *g_corpus; /* array of strings */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static json_t *read_jsonl(const char *path)
{
    char *data;
    size_t size;
    if (file_read_all(path, (size_t)1 << 30, &data, &size) != GLOSSA_STATUS_OK) return NULL;
    json_t *arr = json_array();
    char *p = data, *end = data + size;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len) {
            json_error_t err;
            json_t *v = json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
            if (!v) {
                fprintf(stderr, "%s: %s\n", path, err.text);
                json_decref(arr);
                free(data);
                return NULL;
            }
            json_array_append_new(arr, v);
        }
        p += len + 1;
    }
    free(data);
    return arr;
}

static bool ids_equal(const idvec *got, const json_t *want)
{
    if (!json_is_array(want) || json_array_size(want) != got->len) return false;
    for (size_t i = 0; i < got->len; i++)
        if (json_integer_value(json_array_get(want, i)) != got->data[i]) return false;
    return true;
}

static void show_ids(const char *label, const idvec *v)
{
    fprintf(stderr, "    %s:", label);
    for (size_t i = 0; i < v->len && i < 60; i++) fprintf(stderr, " %d", v->data[i]);
    fprintf(stderr, "\n");
}

static bool text_equal(const strbuf *got, const json_t *want)
{
    return json_is_string(want) && got->len == json_string_length(want) &&
           memcmp(got->data, json_string_value(want), got->len) == 0;
}

/* One tokenizer.json + golden.jsonl directory. */
static void run_jsonl(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    hf_tokenizer *t = NULL;
    double t0 = now();
    glossa_status st = hf_tokenizer_load_file(path, &t);
    double t1 = now();
    CHECK_MSG(st == GLOSSA_STATUS_OK, "%s: %s", path, glossa_last_error());
    if (st != GLOSSA_STATUS_OK) return;
    snprintf(path, sizeof path, "%s/golden.jsonl", dir);
    json_t *gold = read_jsonl(path);
    size_t n = json_array_size(g_corpus);
    CHECK_MSG(gold && json_array_size(gold) == n, "%s: unreadable or of the wrong length", path);
    if (!gold || json_array_size(gold) != n) {
        json_decref(gold);
        hf_tokenizer_free(t);
        return;
    }
    tok_ws *ws = tok_ws_new();
    idvec ids = {0}, ids2 = {0};
    strbuf text = {0};
    int bad_enc = 0, bad_dec = 0, shown = 0;
    double te = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *line = json_array_get(g_corpus, i);
        const char *s = json_string_value(line);
        size_t len = json_string_length(line);
        const json_t *row = json_array_get(gold, i);
        double a = now();
        st = hf_tokenizer_encode(t, s, len, true, ws, &ids);
        te += now() - a;
        glossa_status st2 = hf_tokenizer_encode(t, s, len, false, ws, &ids2);
        const json_t *want_ns = json_array_get(row, 1);
        bool ok = st == GLOSSA_STATUS_OK && st2 == GLOSSA_STATUS_OK &&
                  ids_equal(&ids, json_array_get(row, 0)) &&
                  ids_equal(&ids2, json_is_null(want_ns) ? json_array_get(row, 0) : want_ns);
        if (!ok) {
            bad_enc++;
            if (shown++ < MAX_SHOWN) {
                fprintf(stderr, "  %s line %zu encode mismatch (%s) for \"%s\"\n", dir, i + 1,
                        st == GLOSSA_STATUS_OK ? "ids" : glossa_last_error(), s);
                show_ids("got ", &ids);
                char *w = json_dumps(json_array_get(row, 0), JSON_COMPACT);
                fprintf(stderr, "    want: %.400s\n", w);
                free(w);
            }
            continue;
        }
        for (int skip = 0; skip < 2; skip++) {
            const json_t *want = json_array_get(row, 2 + skip);
            if (json_is_null(want)) continue; /* the library panics on this one */
            st = hf_tokenizer_decode(t, ids.data, ids.len, skip, &text);
            if (st != GLOSSA_STATUS_OK || !text_equal(&text, want)) {
                bad_dec++;
                if (shown++ < MAX_SHOWN)
                    fprintf(stderr, "  %s line %zu decode(skip=%d) mismatch:\n    got  \"%s\"\n    want \"%s\"\n",
                            dir, i + 1, skip, st == GLOSSA_STATUS_OK ? text.data : glossa_last_error(),
                            json_string_value(want));
            }
        }
    }
    printf("%-44s load %6.1f ms, encode %5.1f us/line, %zu lines: %d encode / %d decode mismatches\n",
           dir, (t1 - t0) * 1e3, te / (double)n * 1e6, n, bad_enc, bad_dec);
    CHECK_MSG(bad_enc == 0 && bad_dec == 0, "%s: %d encode and %d decode mismatches", dir, bad_enc,
              bad_dec);
    idvec_free(&ids);
    idvec_free(&ids2);
    strbuf_free(&text);
    tok_ws_free(ws);
    json_decref(gold);
    hf_tokenizer_free(t);
}

/* A row of a family's golden.json against the file's own template. */
static bool family_row(const hf_tokenizer *t, const json_t *row, const char *s, size_t len,
                       tok_ws *ws, idvec *ids, idvec *full, strbuf *text, bool *full_checked)
{
    *full_checked = false;
    if (hf_tokenizer_encode(t, s, len, false, ws, ids) != GLOSSA_STATUS_OK ||
        !ids_equal(ids, json_object_get(row, "ids_nospecial")))
        return false;
    const int32_t *pre, *suf;
    size_t npre, nsuf;
    hf_tokenizer_template(t, &pre, &npre, &suf, &nsuf);
    const char *lang = json_string_value(json_object_get(row, "src_lang"));
    int32_t lid = lang ? hf_tokenizer_token_to_id(t, lang, strlen(lang)) : -1;
    bool same_lang = false;
    for (size_t j = 0; j < npre; j++) same_lang |= pre[j] == lid;
    for (size_t j = 0; j < nsuf; j++) same_lang |= suf[j] == lid;
    if (!same_lang) return true;
    *full_checked = true;
    if (hf_tokenizer_encode(t, s, len, true, ws, full) != GLOSSA_STATUS_OK ||
        !ids_equal(full, json_object_get(row, "ids")))
        return false;
    const char *keys[] = {"dec_keep", "dec"};
    for (int skip = 0; skip < 2; skip++) {
        const json_t *want = json_object_get(row, keys[skip]);
        if (!json_is_string(want)) continue;
        if (hf_tokenizer_decode(t, full->data, full->len, skip, text) != GLOSSA_STATUS_OK ||
            !text_equal(text, want)) {
            fprintf(stderr, "    decode(skip=%d): got \"%s\" want \"%s\"\n", skip,
                    text->data ? text->data : "", json_string_value(want));
            return false;
        }
    }
    return true;
}

static void run_family(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/hf/tokenizer.json", dir);
    if (!file_exists(path)) return;
    hf_tokenizer *t = NULL;
    glossa_status st = hf_tokenizer_load_file(path, &t);
    CHECK_MSG(st == GLOSSA_STATUS_OK, "%s: %s", path, glossa_last_error());
    if (st != GLOSSA_STATUS_OK) return;
    json_error_t err;
    snprintf(path, sizeof path, "%s/golden.json", dir);
    json_t *gold = json_load_file(path, JSON_ALLOW_NUL, &err);
    snprintf(path, sizeof path, "%s/../lines.json", dir);
    json_t *lines = json_load_file(path, JSON_ALLOW_NUL, &err);
    CHECK_MSG(gold && lines, "%s: golden.json or ../lines.json unreadable", dir);
    tok_ws *ws = tok_ws_new();
    idvec ids = {0}, full = {0};
    strbuf text = {0};
    int rows = 0, bad = 0, full_rows = 0;
    const char *keys[] = {"spm", "hf"};
    for (int k = 0; k < 2 && gold && lines; k++) {
        size_t i;
        const json_t *row;
        json_array_foreach(json_object_get(gold, keys[k]), i, row) {
            long long li = json_integer_value(json_object_get(row, "i"));
            const json_t *line = json_object_get(json_array_get(lines, (size_t)li), "text");
            if (!json_is_string(line) || !json_object_get(row, "ids_nospecial")) continue;
            rows++;
            bool full_checked;
            bool ok = family_row(t, row, json_string_value(line), json_string_length(line), ws,
                                 &ids, &full, &text, &full_checked);
            full_rows += full_checked;
            if (!ok && bad++ < MAX_SHOWN) {
                fprintf(stderr, "  %s %s row %zu mismatch for \"%s\"\n", dir, keys[k], i,
                        json_string_value(line));
                show_ids("got (no specials)", &ids);
            }
        }
    }
    printf("%-44s %d rows (%d in the template's language): %d mismatches\n", dir, rows, full_rows, bad);
    CHECK_MSG(bad == 0, "%s: %d mismatches", dir, bad);
    idvec_free(&ids);
    idvec_free(&full);
    strbuf_free(&text);
    tok_ws_free(ws);
    json_decref(gold);
    json_decref(lines);
    hf_tokenizer_free(t);
}

static void run_dir(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/golden.jsonl", dir);
    if (file_exists(path)) run_jsonl(dir);
    run_family(dir);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_all(const char *root)
{
    DIR *d = opendir(root);
    if (!d) return;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        char dir[900];
        snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
        run_dir(dir);
        free(names[i]);
    }
}

int main(int argc, char **argv)
{
    g_corpus = read_jsonl(GLOSSA_FIXTURES "/hf_tok/corpus.jsonl");
    CHECK_MSG(g_corpus != NULL, "cannot read %s", GLOSSA_FIXTURES "/hf_tok/corpus.jsonl");
    if (!g_corpus) TEST_MAIN_END();
    if (argc > 1) {
        for (int i = 1; i < argc; i++) run_dir(argv[i]);
    } else {
        run_all(GLOSSA_FIXTURES "/hf_tok");
        run_all(GLOSSA_FIXTURES "/hf");
    }
    json_decref(g_corpus);
    TEST_MAIN_END();
}
