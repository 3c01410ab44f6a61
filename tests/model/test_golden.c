/* Golden parity with Hugging Face transformers: for every directory of tests/fixtures/golden/
 * (tiny random checkpoints that transformers itself built and saved, tests/golden/make_golden.py;
 * the format is in tests/golden/README.md), glossa loads the directory and must compute what
 * transformers computed from it on the CPU in fp32:
 *
 *   - teacher-forced logits of every decoder position (max |a - b| / max |b| per row <= 1e-4);
 *   - the tokenizer path: the recorded texts with their languages encode to the recorded ids, and
 *     the target language gives the recorded forced BOS id (not for bart: no BART tokenizer yet);
 *   - greedy and beam search, all inputs of a case in one glossa_model_run batch (mixed target
 *     languages): identical token ids, beam scores (HF sequences_scores) within 1e-4; the greedy
 *     batch again from text (glossa_request_create) where the tokenizer is real; and every case's
 *     requests together in one batch;
 *   - sampling (no HF reference): the same seed twice gives the same output, another seed differs.
 */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "glossa.h"
#include "test.h"

#define GOLD_DIR GLOSSA_FIXTURES "/golden/"
#define TF_TOL 1e-4
#define SCORE_TOL 1e-4

/* The configurations make_golden.py writes (a directory that is missing is reported, not failed:
 * see tests/golden/README.md for what is generated); any other directory with a golden.json is
 * checked too. */
static const char *const CONFIGS[] = {"bart",   "mbart50", "mbart_cc25", "m2m100",
                                      "nllb",   "marian",  "marian_sep"};

typedef struct golden {
    const char *name;
    char dir[512];
    json_t *root;
    json_t *inputs;
    size_t n_inputs;
    bool tokenizer_checked;
    bool check_text; /* compare result text with HF's decode */
} golden;

typedef struct ids_buf {
    int32_t *v;
    size_t n;
} ids_buf;

static ids_buf ids_from_json(json_t *arr)
{
    ids_buf b = {0};
    b.n = json_array_size(arr);
    b.v = malloc((b.n ? b.n : 1) * sizeof *b.v);
    if (!b.v) {
        b.n = 0;
        return b;
    }
    for (size_t i = 0; i < b.n; i++) b.v[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return b;
}

static void print_ids(const char *label, const int32_t *v, size_t n)
{
    fprintf(stderr, "    %s [", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? "," : "", v[i]);
    fprintf(stderr, "] (%zu)\n", n);
}

/* Index of the first difference, or SIZE_MAX when equal. */
static size_t first_diff(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return i;
    return na == nb ? SIZE_MAX : n;
}

static const char *str_or_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *input_at(const golden *g, size_t i) { return json_array_get(g->inputs, i); }

static int32_t forced_bos_of(const golden *g, size_t i)
{
    return (int32_t)json_integer_value(json_object_get(input_at(g, i), "forced_bos_token_id"));
}

/* ---- teacher forcing ------------------------------------------------------------------- */

static float *read_f32(const char *path, size_t *n_out)
{
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *v = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz > 0 && fseek(f, 0, SEEK_SET) == 0) {
            v = malloc((size_t)sz);
            if (v && fread(v, 1, (size_t)sz, f) == (size_t)sz) {
                *n_out = (size_t)sz / sizeof(float);
            } else {
                free(v);
                v = NULL;
            }
        }
    }
    fclose(f);
    return v; /* little-endian float32 on the hosts glossa supports */
}

static void check_teacher_forced(glossa_model *m, const golden *g)
{
    json_t *tf = json_object_get(g->root, "teacher_forced");
    size_t V = (size_t)json_integer_value(json_object_get(tf, "row_length"));
    CHECK_MSG(V > 0 && (int32_t)V == glossa_model_vocab_size(m), "%s: golden rows of %zu, model vocab %d",
              g->name, V, glossa_model_vocab_size(m));
    if (V == 0 || (int32_t)V != glossa_model_vocab_size(m)) return;
    char path[600];
    snprintf(path, sizeof path, "%s/%s", g->dir, json_string_value(json_object_get(tf, "file")));
    size_t n_floats = 0;
    float *want = read_f32(path, &n_floats);
    CHECK_MSG(want != NULL, "%s: cannot read %s", g->name, path);
    if (!want) return;
    double worst = 0;
    size_t worst_row = 0, worst_input = 0, rows_checked = 0;
    size_t idx;
    json_t *c;
    json_array_foreach(json_object_get(tf, "cases"), idx, c) {
        size_t in = (size_t)json_integer_value(json_object_get(c, "input"));
        size_t off = (size_t)json_integer_value(json_object_get(c, "row_offset"));
        ids_buf src = ids_from_json(json_object_get(input_at(g, in), "ids"));
        ids_buf dec = ids_from_json(json_object_get(c, "decoder_input_ids"));
        CHECK_MSG((off + dec.n) * V <= n_floats, "%s: %s too short", g->name, path);
        float *got = malloc((dec.n ? dec.n : 1) * V * sizeof *got);
        if (got && (off + dec.n) * V <= n_floats) {
            glossa_status st = glossa_model_teacher_forced(m, src.v, src.n, dec.v, dec.n, got);
            CHECK_MSG(st == GLOSSA_STATUS_OK, "%s: teacher_forced(input %zu): %s: %s", g->name, in,
                      glossa_status_name(st), glossa_last_error());
            for (size_t r = 0; st == GLOSSA_STATUS_OK && r < dec.n; r++) {
                const float *w = want + (off + r) * V, *a = got + r * V;
                double maxd = 0, maxw = 0;
                size_t at = 0;
                for (size_t j = 0; j < V; j++) {
                    double d = fabs((double)a[j] - (double)w[j]);
                    if (!(d <= maxd)) { /* NaN counts as the worst */
                        maxd = isnan(d) ? INFINITY : d;
                        at = j;
                    }
                    if (fabs((double)w[j]) > maxw) maxw = fabs((double)w[j]);
                }
                double rel = maxw > 0 ? maxd / maxw : maxd;
                rows_checked++;
                if (rel > worst || rows_checked == 1) {
                    worst = rel;
                    worst_row = r;
                    worst_input = in;
                }
                CHECK_MSG(rel <= TF_TOL,
                          "%s: teacher-forced input %zu position %zu (decoder token %d): max |diff| "
                          "%.3g at id %zu (got %.6g, want %.6g), max |want| %.3g, rel %.3g",
                          g->name, in, r, dec.v[r], maxd, at, (double)a[at], (double)w[at], maxw, rel);
            }
        }
        free(got);
        free(src.v);
        free(dec.v);
    }
    printf("%s: teacher-forced logits: %zu rows of %zu, worst max|diff|/max|want| %.3g (input %zu, "
           "position %zu)\n",
           g->name, rows_checked, V, worst, worst_input, worst_row);
    free(want);
}

/* ---- tokenizer --------------------------------------------------------------------------- */

static bool encode_matches(const glossa_tokenizer *tok, const golden *g, size_t i, const char *text,
                           const char *src, const char *tgt, const ids_buf *want, const char *what)
{
    glossa_tokens t = {0};
    glossa_encode_params p = glossa_encode_default_params();
    p.src_lang = src;
    p.tgt_lang = tgt;
    glossa_status st = glossa_tokenizer_encode(tok, text, strlen(text), &p, &t);
    bool ok = st == GLOSSA_STATUS_OK && first_diff(t.ids, t.n, want->v, want->n) == SIZE_MAX;
    if (!ok) {
        fprintf(stderr, "%s: tokenizer input %zu (%s) \"%s\" src %s tgt %s: %s\n", g->name, i, what,
                text, src ? src : "-", tgt ? tgt : "-",
                st == GLOSSA_STATUS_OK ? "ids differ" : glossa_last_error());
        print_ids("want", want->v, want->n);
        if (st == GLOSSA_STATUS_OK) print_ids("got ", t.ids, t.n);
    }
    glossa_tokens_free(&t);
    return ok;
}

static void check_tokenizer(glossa_model *m, const golden *g)
{
    if (!g->tokenizer_checked) return;
    const glossa_tokenizer *tok = glossa_model_tokenizer(m);
    CHECK_MSG(tok != NULL, "%s: the model has no tokenizer", g->name);
    if (!tok) return;
    int ok_n = 0, total = 0;
    for (size_t i = 0; i < g->n_inputs; i++) {
        json_t *in = input_at(g, i);
        const char *text = str_or_null(in, "text");
        const char *text_hf = str_or_null(in, "text_hf");
        const char *src = str_or_null(in, "src_lang"), *tgt = str_or_null(in, "tgt_lang");
        ids_buf want = ids_from_json(json_object_get(in, "ids"));
        /* the text and its languages, as a request from text gives them */
        bool ok = encode_matches(tok, g, i, text, src, tgt, &want, "text + languages");
        CHECK_MSG(ok, "%s: tokenizer input %zu", g->name, i);
        ok_n += ok;
        total++;
        /* the exact string HF tokenized (Marian: ">>fra<< " + text) */
        if (text_hf && strcmp(text_hf, text) != 0) {
            ok = encode_matches(tok, g, i, text_hf, src, NULL, &want, "HF's text");
            CHECK_MSG(ok, "%s: tokenizer input %zu (HF's text)", g->name, i);
            ok_n += ok;
            total++;
        }
        int32_t fb = forced_bos_of(g, i);
        int32_t got = -2;
        glossa_status st = glossa_tokenizer_forced_bos_id(tok, tgt, &got);
        CHECK_MSG(st == GLOSSA_STATUS_OK && got == fb, "%s: input %zu forced BOS for %s: got %d (%s), want %d",
                  g->name, i, tgt ? tgt : "(default)", got,
                  st == GLOSSA_STATUS_OK ? "ok" : glossa_last_error(), fb);
        free(want.v);
    }
    printf("%s: tokenizer: %d/%d encodings equal HF's\n", g->name, ok_n, total);
}

/* ---- generation ------------------------------------------------------------------------- */

/* Decode params for a case: the model's defaults (its generation_config) with the case's generate()
 * kwargs over them. false (and a message) for a kwarg this test does not know. */
static bool apply_kwargs(glossa_decode_params *dp, json_t *kw, const golden *g, const char *cname)
{
    const char *key;
    json_t *v;
    json_object_foreach(kw, key, v) {
        if (!strcmp(key, "max_new_tokens")) dp->max_new_tokens = (int32_t)json_integer_value(v);
        else if (!strcmp(key, "num_beams")) dp->num_beams = (int32_t)json_integer_value(v);
        else if (!strcmp(key, "num_return_sequences")) dp->num_return_sequences = (int32_t)json_integer_value(v);
        else if (!strcmp(key, "no_repeat_ngram_size")) dp->no_repeat_ngram_size = (int32_t)json_integer_value(v);
        else if (!strcmp(key, "min_length")) {
            if (!json_is_null(v)) dp->min_length = (int32_t)json_integer_value(v);
        } else if (!strcmp(key, "length_penalty")) dp->length_penalty = (float)json_number_value(v);
        else if (!strcmp(key, "repetition_penalty")) dp->repetition_penalty = (float)json_number_value(v);
        else if (!strcmp(key, "do_sample")) dp->do_sample = json_is_true(v);
        else if (!strcmp(key, "early_stopping")) {
            if (json_is_string(v) && !strcmp(json_string_value(v), "never")) dp->early_stopping = 2;
            else dp->early_stopping = json_is_true(v) ? 1 : 0;
        } else {
            CHECK_MSG(0, "%s/%s: generate() kwarg %s has no glossa_decode_params field here", g->name,
                      cname, key);
            return false;
        }
    }
    return true;
}

/* Requests of one case, one per input; NULL entries where creation failed (reported). */
static glossa_request **make_requests(glossa_model *m, const golden *g, json_t *kw, const char *cname,
                                      bool from_text)
{
    glossa_request **reqs = calloc(g->n_inputs, sizeof *reqs);
    if (!reqs) return NULL;
    for (size_t i = 0; i < g->n_inputs; i++) {
        glossa_decode_params dp = glossa_model_decode_params(m);
        if (!apply_kwargs(&dp, kw, g, cname)) break;
        json_t *in = input_at(g, i);
        glossa_status st;
        if (from_text) {
            const char *text = str_or_null(in, "text");
            st = glossa_request_create(m, text, strlen(text), str_or_null(in, "src_lang"),
                                       str_or_null(in, "tgt_lang"), &dp, &reqs[i]);
        } else {
            ids_buf ids = ids_from_json(json_object_get(in, "ids"));
            st = glossa_request_create_ids(m, ids.v, ids.n, forced_bos_of(g, i), &dp, &reqs[i]);
            free(ids.v);
        }
        CHECK_MSG(st == GLOSSA_STATUS_OK, "%s/%s: request %zu%s: %s: %s", g->name, cname, i,
                  from_text ? " (text)" : "", glossa_status_name(st), glossa_last_error());
    }
    return reqs;
}

static bool all_created(glossa_request **reqs, size_t n)
{
    if (!reqs) return false;
    for (size_t i = 0; i < n; i++)
        if (!reqs[i]) return false;
    return true;
}

static void free_requests(glossa_request **reqs, size_t n)
{
    if (!reqs) return;
    for (size_t i = 0; i < n; i++) glossa_request_free(reqs[i]);
    free(reqs);
}

/* Compare finished requests with the case's golden results. Returns the number of inputs whose
 * every hypothesis matched. */
static size_t compare_case(const golden *g, json_t *gcase, glossa_request **reqs, const char *how)
{
    const char *cname = json_string_value(json_object_get(gcase, "name"));
    json_t *results = json_object_get(gcase, "results");
    size_t matched = 0;
    for (size_t i = 0; i < g->n_inputs; i++) {
        json_t *res = json_array_get(results, i);
        json_t *want_all = json_object_get(res, "ids");
        json_t *scores = json_object_get(res, "scores");
        size_t want_n = json_array_size(want_all);
        size_t got_n = glossa_request_result_count(reqs[i]);
        bool ok = got_n == want_n;
        CHECK_MSG(got_n == want_n, "%s/%s%s input %zu: %zu results, want %zu", g->name, cname, how, i,
                  got_n, want_n);
        for (size_t k = 0; k < want_n && k < got_n; k++) {
            const int32_t *ids = NULL;
            size_t n = 0;
            float score = 0;
            glossa_status st = glossa_request_result(reqs[i], k, &ids, &n, &score);
            CHECK_OK(st);
            if (st != GLOSSA_STATUS_OK) {
                ok = false;
                continue;
            }
            ids_buf want = ids_from_json(json_array_get(want_all, k));
            size_t at = first_diff(ids, n, want.v, want.n);
            if (at != SIZE_MAX) {
                ok = false;
                CHECK_MSG(0, "%s/%s%s input %zu hypothesis %zu (tgt %s): first difference at position %zu",
                          g->name, cname, how, i, k,
                          str_or_null(input_at(g, i), "tgt_lang") ? str_or_null(input_at(g, i), "tgt_lang") : "-",
                          at);
                print_ids("want", want.v, want.n);
                print_ids("got ", ids, n);
            } else if (json_is_array(scores)) {
                double w = json_number_value(json_array_get(scores, k));
                double tol = SCORE_TOL * (fabs(w) > 1 ? fabs(w) : 1);
                if (!(fabs((double)score - w) <= tol)) {
                    ok = false;
                    CHECK_MSG(0, "%s/%s%s input %zu hypothesis %zu: score %.7g, want %.7g (diff %.3g)",
                              g->name, cname, how, i, k, (double)score, w, fabs((double)score - w));
                }
            }
            json_t *texts = json_object_get(res, "hf_text");
            if (at == SIZE_MAX && g->check_text && k == 0 && json_is_string(json_array_get(texts, 0))) {
                const char *wt = json_string_value(json_array_get(texts, 0));
                glossa_text t = {0};
                glossa_status ts = glossa_request_result_text(reqs[i], 0, &t);
                bool tok_ok = ts == GLOSSA_STATUS_OK && t.data && strcmp(t.data, wt) == 0;
                CHECK_MSG(tok_ok, "%s/%s%s input %zu: text \"%s\", HF's \"%s\" (%s)", g->name, cname, how, i,
                          ts == GLOSSA_STATUS_OK && t.data ? t.data : "", wt,
                          ts == GLOSSA_STATUS_OK ? "ok" : glossa_last_error());
                ok = ok && tok_ok;
                glossa_text_free(&t);
            }
            free(want.v);
        }
        matched += ok;
    }
    return matched;
}

/* One case, all inputs in one batch. */
static void check_case(glossa_model *m, const golden *g, json_t *gcase, bool from_text)
{
    const char *cname = json_string_value(json_object_get(gcase, "name"));
    const char *how = from_text ? " (from text)" : "";
    glossa_request **reqs = make_requests(m, g, json_object_get(gcase, "kwargs"), cname, from_text);
    if (all_created(reqs, g->n_inputs)) {
        glossa_status st = glossa_model_run(m, reqs, g->n_inputs);
        CHECK_MSG(st == GLOSSA_STATUS_OK, "%s/%s%s: run: %s: %s", g->name, cname, how,
                  glossa_status_name(st), glossa_last_error());
        if (st == GLOSSA_STATUS_OK) {
            size_t ok = compare_case(g, gcase, reqs, how);
            printf("%s: %s%s: %zu/%zu inputs identical to HF\n", g->name, cname, how, ok, g->n_inputs);
        }
    }
    free_requests(reqs, g->n_inputs);
}

/* Every case's requests in one batch (greedy and beam searches of different widths together). */
static void check_all_cases_one_batch(glossa_model *m, const golden *g)
{
    json_t *cases = json_object_get(g->root, "cases");
    size_t nc = json_array_size(cases), total = nc * g->n_inputs;
    glossa_request **all = calloc(total ? total : 1, sizeof *all);
    bool ok = all != NULL;
    for (size_t c = 0; ok && c < nc; c++) {
        json_t *gc = json_array_get(cases, c);
        glossa_request **reqs = make_requests(m, g, json_object_get(gc, "kwargs"),
                                              json_string_value(json_object_get(gc, "name")), false);
        ok = all_created(reqs, g->n_inputs);
        for (size_t i = 0; reqs && i < g->n_inputs; i++) all[c * g->n_inputs + i] = reqs[i];
        free(reqs);
    }
    if (ok) {
        glossa_status st = glossa_model_run(m, all, total);
        CHECK_MSG(st == GLOSSA_STATUS_OK, "%s: one batch of all cases: %s: %s", g->name,
                  glossa_status_name(st), glossa_last_error());
        size_t matched = 0;
        for (size_t c = 0; st == GLOSSA_STATUS_OK && c < nc; c++)
            matched += compare_case(g, json_array_get(cases, c), all + c * g->n_inputs, " (all cases in one batch)");
        if (st == GLOSSA_STATUS_OK)
            printf("%s: all %zu cases in one batch of %zu requests: %zu/%zu identical\n", g->name, nc,
                   total, matched, total);
    }
    free_requests(all, total);
}

/* ---- sampling ---------------------------------------------------------------------------- */

/* Sampled outputs of every input (one batch), concatenated with -1 separators; NULL on failure. */
static int32_t *sample_all(glossa_model *m, const golden *g, uint64_t seed, size_t *n_out)
{
    *n_out = 0;
    json_t *kw = json_pack("{s:i}", "max_new_tokens", 16);
    glossa_request **reqs = calloc(g->n_inputs, sizeof *reqs);
    int32_t *out = NULL;
    bool ok = reqs != NULL;
    for (size_t i = 0; ok && i < g->n_inputs; i++) {
        glossa_decode_params dp = glossa_model_decode_params(m);
        apply_kwargs(&dp, kw, g, "sampling");
        dp.num_beams = 1;
        dp.num_return_sequences = 1;
        dp.do_sample = true;
        dp.temperature = 1.5f;
        dp.top_k = 0;
        dp.top_p = 1.0f;
        dp.seed = seed;
        ids_buf ids = ids_from_json(json_object_get(input_at(g, i), "ids"));
        glossa_status st = glossa_request_create_ids(m, ids.v, ids.n, forced_bos_of(g, i), &dp, &reqs[i]);
        CHECK_MSG(st == GLOSSA_STATUS_OK, "%s/sampling: request %zu: %s", g->name, i, glossa_last_error());
        ok = st == GLOSSA_STATUS_OK;
        free(ids.v);
    }
    if (ok) {
        glossa_status st = glossa_model_run(m, reqs, g->n_inputs);
        CHECK_MSG(st == GLOSSA_STATUS_OK, "%s/sampling: run: %s", g->name, glossa_last_error());
        ok = st == GLOSSA_STATUS_OK;
    }
    size_t cap = 0, n = 0;
    for (size_t i = 0; ok && i < g->n_inputs; i++) {
        const int32_t *ids = NULL;
        size_t k = 0;
        float score;
        if (glossa_request_result(reqs[i], 0, &ids, &k, &score) != GLOSSA_STATUS_OK) {
            ok = false;
            break;
        }
        if (n + k + 1 > cap) {
            cap = 2 * (n + k + 1);
            int32_t *p = realloc(out, cap * sizeof *out);
            if (!p) {
                ok = false;
                break;
            }
            out = p;
        }
        memcpy(out + n, ids, k * sizeof *ids);
        n += k;
        out[n++] = -1;
    }
    free_requests(reqs, g->n_inputs);
    json_decref(kw);
    if (!ok) {
        free(out);
        return NULL;
    }
    *n_out = n;
    return out;
}

static void check_sampling(glossa_model *m, const golden *g)
{
    size_t na, nb, nc;
    int32_t *a = sample_all(m, g, 7, &na), *b = sample_all(m, g, 7, &nb), *c = sample_all(m, g, 8, &nc);
    if (a && b && c) {
        bool same = first_diff(a, na, b, nb) == SIZE_MAX;
        bool differs = first_diff(a, na, c, nc) != SIZE_MAX;
        CHECK_MSG(same, "%s: sampling with seed 7 twice gave different outputs", g->name);
        CHECK_MSG(differs, "%s: sampling with seeds 7 and 8 gave the same outputs", g->name);
        int32_t V = glossa_model_vocab_size(m);
        bool in_range = true;
        for (size_t i = 0; i < na; i++) in_range = in_range && a[i] >= -1 && a[i] < V;
        CHECK_MSG(in_range, "%s: sampled id out of range", g->name);
        printf("%s: sampling: same seed same output %s, other seed differs %s\n", g->name,
               same ? "yes" : "NO", differs ? "yes" : "NO");
    }
    free(a);
    free(b);
    free(c);
}

/* ---- one configuration ------------------------------------------------------------------- */

static void check_config(const char *name)
{
    golden g = {0};
    g.name = name;
    snprintf(g.dir, sizeof g.dir, "%s%s", GOLD_DIR, name);
    char path[600];
    snprintf(path, sizeof path, "%s/golden.json", g.dir);
    json_error_t err;
    g.root = json_load_file(path, 0, &err);
    CHECK_MSG(g.root != NULL, "%s: %s: %s (line %d)", name, path, err.text, err.line);
    if (!g.root) return;
    g.inputs = json_object_get(g.root, "inputs");
    g.n_inputs = json_array_size(g.inputs);
    g.tokenizer_checked = json_is_true(json_object_get(g.root, "tokenizer_checked"));
    /* HF's decode of the output: compared where the tokenizer is real and decodes target ids
     * (Marian with separate vocabularies: transformers decodes with the source vocabulary) */
    g.check_text = g.tokenizer_checked && strcmp(name, "marian_sep") != 0;
    CHECK_MSG(g.n_inputs > 0, "%s: no inputs", name);

    glossa_model *m = NULL;
    glossa_model_params mp = glossa_model_default_params();
    mp.device = GLOSSA_DEVICE_CPU;
    mp.n_threads = 2;
    glossa_status st = glossa_model_load(g.dir, &mp, &m);
    CHECK_MSG(st == GLOSSA_STATUS_OK, "%s: load %s: %s: %s", name, g.dir, glossa_status_name(st),
              glossa_last_error());
    if (st == GLOSSA_STATUS_OK) {
        check_teacher_forced(m, &g);
        check_tokenizer(m, &g);
        json_t *cases = json_object_get(g.root, "cases");
        size_t ci;
        json_t *gc;
        json_array_foreach(cases, ci, gc) {
            check_case(m, &g, gc, false);
            if (g.tokenizer_checked && !strcmp(json_string_value(json_object_get(gc, "name")), "greedy"))
                check_case(m, &g, gc, true);
        }
        check_all_cases_one_batch(m, &g);
        check_sampling(m, &g);
        glossa_model_free(m);
    }
    json_decref(g.root);
}

static bool has_golden(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s%s/golden.json", GOLD_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc > 1) { /* the configurations named */
        for (int i = 1; i < argc; i++) check_config(argv[i]);
        TEST_MAIN_END();
    }
    size_t n_known = sizeof CONFIGS / sizeof CONFIGS[0];
    int checked = 0;
    for (size_t i = 0; i < n_known; i++) {
        if (has_golden(CONFIGS[i])) {
            check_config(CONFIGS[i]);
            checked++;
        } else {
            printf("NOTE: %s: no fixture (tests/fixtures/golden/%s/golden.json); not checked\n",
                   CONFIGS[i], CONFIGS[i]);
        }
    }
    /* directories beyond the known ones, in name order */
    DIR *d = opendir(GOLD_DIR);
    char *extra[64];
    size_t n_extra = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n_extra < 64) {
        if (e->d_name[0] == '.') continue;
        bool known = false;
        for (size_t i = 0; i < n_known; i++) known = known || !strcmp(e->d_name, CONFIGS[i]);
        if (!known && has_golden(e->d_name)) extra[n_extra++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(extra, n_extra, sizeof *extra, cmp_str);
    for (size_t i = 0; i < n_extra; i++) {
        if (extra[i]) check_config(extra[i]);
        checked += extra[i] != NULL;
        free(extra[i]);
    }
    CHECK_MSG(checked > 0, "no golden fixtures under %s", GOLD_DIR);
    TEST_MAIN_END();
}
