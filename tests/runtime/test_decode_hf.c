/* HF parity of runtime/decode.h, from fixtures written by hf_decode_cases.py with transformers
 * 5.17 on CUDA:
 * - data/decode_hf_cases.txt: generate() (greedy and beam search, with the logits processors) on
 *   synthetic table models. The fixture holds every logits row HF asked for, keyed by decoder
 *   prefix, and HF's outputs; glossa's decoding gets the same rows (log_softmax then processors
 *   for beam search, processors then argmax for greedy) and must produce the same sequences, with
 *   sequences_scores within 1e-5. A prefix HF never asked for means the searches diverged.
 *   Beam cases run twice: on the host path, and on the device path where a step allows it
 *   (beam_search_device_group + the CPU backend's beam_topk on the raw rows), which must match
 *   HF too and give bit-identical scores.
 * - data/sample_hf_cases.txt: the sampling warpers (temperature, top-k, top-p) on random rows;
 *   decode_sample leaves the warped row in place, which must match HF's: the same entries
 *   removed (up to which of equal raw values, where torch's unstable sort decides) and the same
 *   kept values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "runtime/decode.h"
#include "test.h"

#define MAX_V    32
#define MAX_ROWS 512
#define MAX_LEN  32
#define MAX_HYPS 8

typedef struct table_row {
    int32_t len;
    int32_t tok[MAX_LEN];
    float v[MAX_V];
} table_row;

typedef struct hf_case {
    int id;
    decode_params p;
    int32_t vocab;
    int32_t n_rows;
    table_row rows[MAX_ROWS];
    int32_t n_hyps;
    int32_t hyp_len[MAX_HYPS];
    int32_t hyp[MAX_HYPS][MAX_LEN];
    float hyp_score[MAX_HYPS];
} hf_case;

static bool expect_word(FILE *f, const char *w)
{
    char buf[64];
    return fscanf(f, "%63s", buf) == 1 && strcmp(buf, w) == 0;
}

static bool read_int(FILE *f, const char *name, int32_t *out)
{
    return expect_word(f, name) && fscanf(f, "%d", out) == 1;
}

static bool read_ids(FILE *f, const char *name, int32_t *ids, int32_t *n, int32_t cap)
{
    if (!read_int(f, name, n) || *n < 0 || *n > cap) return false;
    for (int32_t i = 0; i < *n; i++)
        if (fscanf(f, "%d", &ids[i]) != 1) return false;
    return true;
}

static bool read_seq(FILE *f, int32_t *len, int32_t *tok)
{
    if (fscanf(f, "%d", len) != 1 || *len < 0 || *len > MAX_LEN) return false;
    for (int32_t i = 0; i < *len; i++)
        if (fscanf(f, "%d", &tok[i]) != 1) return false;
    return true;
}

/* After "case": the settings line. */
static bool read_settings(FILE *f, hf_case *c)
{
    decode_params *p = &c->p;
    memset(p, 0, sizeof *p);
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    if (fscanf(f, "%d", &c->id) != 1) return false;
    bool ok = read_int(f, "vocab", &c->vocab) && read_int(f, "beams", &p->num_beams) &&
              read_int(f, "nret", &p->num_return_sequences) &&
              read_int(f, "maxlen", &p->max_length) && expect_word(f, "lp") &&
              fscanf(f, "%f", &p->length_penalty) == 1 && read_int(f, "es", &p->early_stopping) &&
              expect_word(f, "rep") && fscanf(f, "%f", &p->repetition_penalty) == 1 &&
              read_int(f, "ngram", &p->no_repeat_ngram_size) &&
              read_int(f, "minlen", &p->min_length) && read_int(f, "minnew", &p->min_new_tokens) &&
              read_int(f, "fbos", &p->forced_bos_token_id) &&
              read_int(f, "feos", &p->forced_eos_token_id) &&
              read_ids(f, "eos", p->eos_ids, &p->n_eos, DECODE_MAX_EOS) &&
              read_ids(f, "bad", p->bad_words, &p->n_bad_words, DECODE_MAX_BAD_WORDS);
    return ok && c->vocab > 0 && c->vocab <= MAX_V;
}

/* Reads the next case; false at "end" or on a format error (*bad set). */
static bool read_case(FILE *f, hf_case *c, bool *bad)
{
    char word[64];
    *bad = true;
    for (;;) {
        if (fscanf(f, "%63s", word) != 1) return false;
        if (strcmp(word, "end") == 0) {
            *bad = false;
            return false;
        }
        if (word[0] == '#') { /* comment to end of line */
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {
            }
            continue;
        }
        if (strcmp(word, "case") == 0) break;
        return false;
    }
    if (!read_settings(f, c) || !read_int(f, "rows", &c->n_rows) || c->n_rows < 0 ||
        c->n_rows > MAX_ROWS)
        return false;
    for (int32_t r = 0; r < c->n_rows; r++) {
        table_row *t = &c->rows[r];
        if (!read_seq(f, &t->len, t->tok)) return false;
        for (int32_t i = 0; i < c->vocab; i++)
            if (fscanf(f, "%f", &t->v[i]) != 1) return false;
    }
    if (!read_int(f, "hyps", &c->n_hyps) || c->n_hyps < 1 || c->n_hyps > MAX_HYPS) return false;
    for (int32_t h = 0; h < c->n_hyps; h++)
        if (!read_seq(f, &c->hyp_len[h], c->hyp[h]) || fscanf(f, "%f", &c->hyp_score[h]) != 1)
            return false;
    *bad = false;
    return true;
}

static const float *lookup(const hf_case *c, const int32_t *seq, int32_t len)
{
    for (int32_t r = 0; r < c->n_rows; r++)
        if (c->rows[r].len == len && memcmp(c->rows[r].tok, seq, (size_t)len * sizeof *seq) == 0)
            return c->rows[r].v;
    return NULL;
}

static bool run_greedy(const hf_case *c)
{
    int32_t seq[MAX_LEN] = {0};
    int32_t len = 1;
    float row[MAX_V];
    while (len < c->p.max_length && len < MAX_LEN) {
        const float *r = lookup(c, seq, len);
        if (!r) return false;
        memcpy(row, r, sizeof(float) * (size_t)c->vocab);
        decode_process_logits(row, c->vocab, seq, len, &c->p);
        const int32_t t = decode_argmax(row, c->vocab);
        seq[len++] = t;
        bool eos = false;
        for (int32_t i = 0; i < c->p.n_eos; i++)
            eos = eos || t == c->p.eos_ids[i];
        if (eos) break;
    }
    return len == c->hyp_len[0] && memcmp(seq, c->hyp[0], (size_t)len * sizeof *seq) == 0;
}

/* dev: the CPU backend for the device path where a step allows it (NULL: host path only);
 * scores: the hypotheses' scores (c->n_hyps); dev_steps: steps that took the device path */
static bool run_beam(const hf_case *c, backend *dev, float *scores, int *dev_steps)
{
    beam_search *bs = NULL;
    if (beam_search_new(&c->p, c->vocab, 0, &bs) != GLOSSA_STATUS_OK) return false;
    const int32_t nb = c->p.num_beams;
    float rows[8 * MAX_V];
    int32_t parent[8], token[8];
    bool ok = nb <= 8;
    while (ok && !beam_search_done(bs)) {
        gl_beam_group g;
        const bool on_dev = dev && beam_search_device_group(bs, &g);
        for (int32_t b = 0; b < nb && ok; b++) {
            int32_t len;
            const int32_t *s = beam_search_seq(bs, b, &len);
            const float *r = lookup(c, s, len);
            ok = r != NULL;
            if (!ok) break;
            float *row = rows + (size_t)b * (size_t)c->vocab;
            memcpy(row, r, sizeof(float) * (size_t)c->vocab);
            if (on_dev) continue; /* the op takes the raw logits */
            decode_log_softmax(row, c->vocab);
            decode_process_logits(row, c->vocab, s, len, &c->p);
        }
        if (ok && on_dev) {
            g.row0 = 0;
            ok =
                dev->ops->beam_topk(dev, nb, c->vocab, c->vocab, rows, 1, &g) == GLOSSA_STATUS_OK &&
                beam_search_step_device(bs, parent, token) == GLOSSA_STATUS_OK;
            (*dev_steps)++;
        } else if (ok) {
            ok = beam_search_step(bs, rows, parent, token) == GLOSSA_STATUS_OK;
        }
    }
    for (int32_t k = 0; ok && k < c->n_hyps; k++) {
        const int32_t *s;
        int32_t len;
        float score;
        ok = beam_search_result(bs, k, &s, &len, &score) == GLOSSA_STATUS_OK;
        ok = ok && len == c->hyp_len[k] && memcmp(s, c->hyp[k], (size_t)len * sizeof *s) == 0;
        ok = ok && fabsf(score - c->hyp_score[k]) <= 1e-5f * fmaxf(1.0f, fabsf(c->hyp_score[k]));
        if (ok) scores[k] = score;
    }
    beam_search_free(bs);
    return ok;
}

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The kept raw values of both rows, as sorted lists, are equal: the rows removed the same values
 * (possibly different members of a tie). */
static bool same_kept_values(const float *raw, const float *a, const float *b, int32_t v)
{
    float ka[256], kb[256];
    int32_t na = 0, nb = 0;
    for (int32_t i = 0; i < v; i++) {
        if (!isinf(a[i])) ka[na++] = raw[i];
        if (!isinf(b[i])) kb[nb++] = raw[i];
    }
    qsort(ka, (size_t)na, sizeof *ka, cmp_float);
    qsort(kb, (size_t)nb, sizeof *kb, cmp_float);
    return na == nb && memcmp(ka, kb, (size_t)na * sizeof *ka) == 0;
}

static bool read_floats(FILE *f, float *x, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (fscanf(f, "%f", &x[i]) != 1) return false;
    return true;
}

/* Returns the number of cases replayed, -1 on a format error. */
static int replay_warpers(const char *path)
{
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return -1;
    char word[64];
    int n = 0;
    float raw[256], want[256], got[256];
    decode_rng rng;
    decode_rng_seed(&rng, 1);
    while (fscanf(f, "%63s", word) == 1 && strcmp(word, "end") != 0) {
        if (word[0] == '#') {
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {
            }
            continue;
        }
        decode_params p;
        memset(&p, 0, sizeof p);
        p.num_beams = 1;
        p.do_sample = true;
        int id;
        int32_t v;
        if (strcmp(word, "warp") != 0 || fscanf(f, "%d", &id) != 1 || !read_int(f, "vocab", &v) ||
            v <= 0 || v > 256 || !expect_word(f, "temp") || fscanf(f, "%f", &p.temperature) != 1 ||
            !read_int(f, "topk", &p.top_k) || !expect_word(f, "topp") ||
            fscanf(f, "%f", &p.top_p) != 1 || !read_floats(f, raw, v) || !read_floats(f, want, v)) {
            fclose(f);
            return -1;
        }
        memcpy(got, raw, sizeof(float) * (size_t)v);
        const int32_t t = decode_sample(got, v, &p, &rng);
        bool same_mask = true, same_vals = true;
        for (int32_t i = 0; i < v; i++) {
            same_mask = same_mask && isinf(got[i]) == isinf(want[i]);
            if (!isinf(got[i]) && !isinf(want[i]))
                same_vals =
                    same_vals && fabsf(got[i] - want[i]) <= 1e-6f * fmaxf(1.0f, fabsf(want[i]));
        }
        CHECK_MSG(same_vals, "warp %d: kept values differ from HF", id);
        CHECK_MSG(same_mask || same_kept_values(raw, got, want, v), "warp %d: removes other tokens",
                  id);
        CHECK_MSG(t >= 0 && t < v && !isinf(got[t]), "warp %d: drew a removed token %d", id, t);
        n++;
    }
    fclose(f);
    return n;
}

int main(void)
{
    const int n_warp = replay_warpers(GLOSSA_FIXTURES "/../runtime/data/sample_hf_cases.txt");
    CHECK_MSG(n_warp >= 60, "%d warper cases", n_warp);
    const char *path = GLOSSA_FIXTURES "/../runtime/data/decode_hf_cases.txt";
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) TEST_MAIN_END();
    hf_case *c = malloc(sizeof *c);
    backend *cpu = NULL;
    CHECK_OK(backend_cpu_create(1, &cpu));
    int n_greedy = 0, n_beam = 0, dev_steps = 0;
    bool bad = false;
    while (c && cpu && read_case(f, c, &bad)) {
        const bool beam = c->p.num_beams > 1;
        float sh[MAX_HYPS], sd[MAX_HYPS];
        const bool ok = beam ? run_beam(c, NULL, sh, &dev_steps) : run_greedy(c);
        CHECK_MSG(ok, "case %d (%s) differs from HF", c->id, beam ? "beam" : "greedy");
        if (beam) {
            const bool okd = run_beam(c, cpu, sd, &dev_steps);
            CHECK_MSG(okd, "case %d (beam, device path) differs from HF", c->id);
            CHECK_MSG(!ok || !okd || memcmp(sh, sd, (size_t)c->n_hyps * sizeof *sh) == 0,
                      "case %d: device path scores not bit-identical to the host path's", c->id);
        }
        n_beam += beam;
        n_greedy += !beam;
    }
    backend_destroy(cpu);
    printf("%d beam steps on the device path\n", dev_steps);
    CHECK_MSG(!bad, "%s: format error", path);
    CHECK(n_beam >= 20 && n_greedy >= 5);
    printf("%d beam, %d greedy and %d warper cases replayed\n", n_beam, n_greedy, n_warp);
    free(c);
    fclose(f);
    TEST_MAIN_END();
}
