/* Model-core properties on tiny random checkpoints of every architecture (no reference needed):
 * incremental decoding with the paged KV cache equals full recomputation (teacher forcing), a
 * request's output does not depend on the batch it runs in (mixed lengths, target languages,
 * greedy / beam / sampling together), beam search of width 1 is greedy, sampling is
 * deterministic per seed; and malformed checkpoints fail cleanly with a message naming the
 * tensor. Numerical parity with HF transformers is tests/model/test_golden.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/model_internal.h"
#include "glossa.h"
#include "test.h"
#include "test_results.h"
#include "tiny_model.h"

static char g_tmp[256];
static bool g_scores = true; /* make_req: output_scores (off: greedy can skip the logits rows) */

static const tiny_spec SPECS[] = {
    {"bart", 32, 4, 48, 2, 2, 97, 64, "gelu", 1, NULL, NULL, 0},
    {"mbart", 32, 4, 48, 2, 3, 97, 64, "gelu", 0, NULL, NULL, 0},
    {"m2m_100", 24, 2, 40, 1, 2, 89, 64, "relu", 1, NULL, NULL, 0},
    {"marian", 16, 2, 32, 2, 2, 83, 64, "swish", 1, NULL, NULL, 0},
};

static glossa_model *load(const char *dir)
{
    glossa_model_params mp = glossa_model_default_params();
    mp.n_threads = 2;
    glossa_model *m = NULL;
    CHECK_OK(glossa_model_load(dir, &mp, &m));
    return m;
}

static int argmax(const float *r, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (r[i] > r[b]) b = i;
    return b;
}

/* Greedy output (ignore_eos) equals the argmax chain of teacher forcing over it, and causal
 * masking: the logits of a prefix equal the first rows of the longer pass. */
static void check_incremental(glossa_model *m, const char *name)
{
    int32_t src[] = {5, 9, 14, 3, 22, 7, 2};
    glossa_decode_params p = glossa_model_decode_params(m);
    p.num_beams = 1;
    p.max_new_tokens = 10;
    p.ignore_eos = true;
    glossa_request *r = NULL;
    CHECK_OK(glossa_request_create_ids(m, src, 7, -1, &p, &r));
    if (!r) return;
    CHECK_OK(glossa_model_run(m, &r, 1));
    const int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(glossa_request_result(r, 0, &ids, &n, NULL));
    CHECK_MSG(n == 10, "%s: %zu tokens generated, want 10", name, n);
    int V = glossa_model_vocab_size(m);
    int32_t dec[16];
    dec[0] = strcmp(name, "marian") ? 2 : V - 1;
    for (size_t i = 0; i < n; i++) dec[i + 1] = ids[i];
    float *full = malloc(sizeof(float) * (size_t)V * 11);
    float *pre = malloc(sizeof(float) * (size_t)V * 4);
    CHECK_OK(glossa_model_teacher_forced(m, src, 7, dec, n, full));
    /* the last step may be forced to EOS (BartConfig / MBartConfig / MarianConfig default
     * forced_eos_token_id, as transformers has it): compare the steps before it */
    int bad = 0, first = -1;
    for (size_t i = 0; i + 1 < n; i++)
        if (argmax(full + i * (size_t)V, V) != ids[i]) {
            bad++;
            if (first < 0) first = (int)i;
        }
    CHECK_MSG(bad == 0, "%s: %d of %zu greedy tokens differ from the teacher-forced argmax, first "
              "at %d (greedy %d, argmax %d)", name, bad, n, first, first >= 0 ? ids[first] : -1,
              first >= 0 ? argmax(full + (size_t)first * (size_t)V, V) : -1);
    CHECK_OK(glossa_model_teacher_forced(m, src, 7, dec, 4, pre));
    double worst = 0;
    for (size_t i = 0; i < (size_t)V * 4; i++) {
        double e = fabs((double)pre[i] - full[i]);
        if (e > worst) worst = e;
    }
    CHECK_MSG(worst < 1e-4, "%s: prefix logits differ by %g", name, worst);
    free(full);
    free(pre);
    glossa_request_free(r);
}

typedef struct req_spec {
    int len, forced, beams, sample;
} req_spec;

static glossa_request *make_req(glossa_model *m, const req_spec *s, int k)
{
    int32_t src[40];
    int V = glossa_model_vocab_size(m);
    for (int i = 0; i < s->len; i++) src[i] = 3 + (i * 7 + k * 13) % (V - 4);
    src[s->len - 1] = 2 % V;
    glossa_decode_params p = glossa_model_decode_params(m);
    p.num_beams = s->beams;
    p.num_return_sequences = s->beams > 1 ? 2 : 1;
    p.max_new_tokens = 9;
    p.do_sample = s->sample;
    p.seed = 1234 + (uint64_t)k;
    p.top_k = 20;
    p.temperature = 0.9f;
    p.output_scores = g_scores;
    glossa_request *r = NULL;
    CHECK_OK(glossa_request_create_ids(m, src, (size_t)s->len, s->forced, &p, &r));
    return r;
}

static int same_results(const glossa_request *a, const glossa_request *b)
{
    return test_same_results(a, b, 1e-4f);
}

static void check_batch_invariance(glossa_model *m, const char *name)
{
    const req_spec specs[] = {{7, 10, 1, 0}, {1, 11, 1, 0}, {23, -1, 3, 0}, {12, 12, 2, 0},
                              {5, 10, 1, 1}, {31, 13, 4, 0}, {9, -1, 1, 0}};
    enum { N = sizeof specs / sizeof specs[0] };
    glossa_request *batch[N], *alone[N];
    for (int i = 0; i < N; i++) {
        batch[i] = make_req(m, &specs[i], i);
        alone[i] = make_req(m, &specs[i], i);
    }
    CHECK_OK(glossa_model_run(m, batch, N));
    for (int i = 0; i < N; i++) {
        CHECK_OK(glossa_model_run(m, &alone[i], 1));
        CHECK_MSG(same_results(batch[i], alone[i]), "%s: request %d differs in a batch", name, i);
    }
    /* forced BOS is the first token */
    const int32_t *ids;
    size_t n;
    glossa_request_result(batch[0], 0, &ids, &n, NULL);
    CHECK_MSG(n > 0 && ids[0] == 10, "%s: forced BOS not first", name);
    /* beam search of width 1 is greedy */
    req_spec g = {7, 10, 1, 0};
    glossa_request *a = make_req(m, &g, 0);
    CHECK_OK(glossa_model_run(m, &a, 1));
    CHECK(same_results(a, batch[0]));
    /* sampling: same seed same output */
    glossa_request *s2 = make_req(m, &specs[4], 4);
    CHECK_OK(glossa_model_run(m, &s2, 1));
    CHECK_MSG(same_results(s2, batch[4]), "%s: sampling not deterministic", name);
    glossa_request_free(a);
    glossa_request_free(s2);
    for (int i = 0; i < N; i++) {
        glossa_request_free(batch[i]);
        glossa_request_free(alone[i]);
    }
}

/* The device-logits path (greedy tokens from the device argmax, only the other rows copied;
 * what the CUDA backend uses) gives the same results as copying every row. */
static void check_device_logits(const char *dir, const char *name)
{
    glossa_model *host = load(dir);
    setenv("GLOSSA_DEVICE_LOGITS", "1", 1);
    glossa_model *dev = load(dir);
    unsetenv("GLOSSA_DEVICE_LOGITS");
    if (!host || !dev) {
        glossa_model_free(host);
        glossa_model_free(dev);
        return;
    }
    const req_spec specs[] = {{7, 10, 1, 0}, {1, -1, 1, 0}, {23, 12, 3, 0}, {5, 10, 1, 1},
                              {31, 13, 1, 0}, {9, -1, 2, 0}};
    enum { N = sizeof specs / sizeof specs[0] };
    glossa_request *a[N + 2], *b[N + 2];
    g_scores = false;
    for (int i = 0; i < N; i++) {
        a[i] = make_req(host, &specs[i], i);
        b[i] = make_req(dev, &specs[i], i);
    }
    g_scores = true;
    /* min_length (EOS banned early) and a repetition penalty (needs the row) */
    for (int k = 0; k < 2; k++) {
        int32_t src[6] = {5, 9, 14, 3, 22, 2};
        glossa_decode_params p = glossa_model_decode_params(host);
        p.num_beams = 1;
        p.max_new_tokens = 9;
        if (k == 0) p.min_length = 8;
        else p.repetition_penalty = 1.5f;
        a[N + k] = b[N + k] = NULL;
        CHECK_OK(glossa_request_create_ids(host, src, 6, 11, &p, &a[N + k]));
        CHECK_OK(glossa_request_create_ids(dev, src, 6, 11, &p, &b[N + k]));
    }
    CHECK_OK(glossa_model_run(host, a, N + 2));
    CHECK_OK(glossa_model_run(dev, b, N + 2));
    for (int i = 0; i < N + 2; i++) {
        CHECK_MSG(a[i] && b[i] && same_results(a[i], b[i]), "%s: request %d differs with device logits",
                  name, i);
        glossa_request_free(a[i]);
        glossa_request_free(b[i]);
    }
    /* plain greedy requests alone, EOS ignored (benchmarks): every step needs no logits row, so
     * the passes keep only their argmax (bart_dec_batch.ids_only) */
    glossa_request *ga[3], *gb[3];
    for (int i = 0; i < 3; i++) {
        int32_t src[5] = {4 + i, 9, 14 + i, 3, 2};
        glossa_decode_params p = glossa_model_decode_params(host);
        p.num_beams = 1;
        p.max_new_tokens = 6 + i;
        p.min_length = 0;
        p.repetition_penalty = 1.0f;
        p.no_repeat_ngram_size = 0;
        p.ignore_eos = true;
        ga[i] = gb[i] = NULL;
        CHECK_OK(glossa_request_create_ids(host, src, 5, -1, &p, &ga[i]));
        CHECK_OK(glossa_request_create_ids(dev, src, 5, -1, &p, &gb[i]));
    }
    CHECK_OK(glossa_model_run(host, ga, 3));
    CHECK_OK(glossa_model_run(dev, gb, 3));
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(ga[i] && gb[i] && same_results(ga[i], gb[i]),
                  "%s: greedy request %d differs with the argmax-only passes", name, i);
        glossa_request_free(ga[i]);
        glossa_request_free(gb[i]);
    }
    glossa_model_free(host);
    glossa_model_free(dev);
}

static void check_bad(const tiny_spec *base, const char *skip, const char *bad_shape, int i32,
                      const char *want_in_msg)
{
    tiny_spec s = *base;
    s.skip = skip;
    s.bad_shape = bad_shape;
    s.i32_dtype = i32;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/bad", g_tmp);
    CHECK(tiny_model_write(dir, &s, 7) == 0);
    glossa_model *m = NULL;
    glossa_status st = glossa_model_load(dir, NULL, &m);
    CHECK_MSG(st == GLOSSA_STATUS_BAD_MODEL, "%s/%s: got %s", skip ? skip : "", bad_shape ? bad_shape : "",
              glossa_status_name(st));
    CHECK_MSG(strstr(glossa_last_error(), want_in_msg) != NULL, "message '%s' lacks '%s'",
              glossa_last_error(), want_in_msg);
    CHECK(m == NULL);
    glossa_model_free(m);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void check_malformed(void)
{
    const tiny_spec *mb = &SPECS[1];
    check_bad(mb, "model.decoder.layers.1.fc2.weight", NULL, 0, "decoder.layers.1.fc2.weight");
    check_bad(mb, "lm_head.weight", NULL, 0, "lm_head.weight");
    check_bad(mb, NULL, "model.encoder.layers.0.self_attn.k_proj.weight", 0, "k_proj.weight");
    check_bad(mb, NULL, "model.decoder.layer_norm.bias", 0, "decoder.layer_norm.bias");
    check_bad(mb, NULL, "model.shared.weight", 1, "dtype");
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/bad", g_tmp);
    /* truncated weights */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(tiny_model_write(dir, mb, 7) == 0);
    CHECK(truncate(path, 5000) == 0);
    glossa_model *m = NULL;
    CHECK_STATUS(glossa_model_load(dir, NULL, &m), GLOSSA_STATUS_BAD_MODEL);
    /* only pytorch_model.bin */
    unlink(path);
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    write_file(path, "not really a pickle");
    CHECK_STATUS(glossa_model_load(dir, NULL, &m), GLOSSA_STATUS_UNSUPPORTED);
    CHECK_MSG(strstr(glossa_last_error(), "safetensors") != NULL, "%s", glossa_last_error());
    unlink(path);
    /* config with a wrong type */
    CHECK(tiny_model_write(dir, mb, 7) == 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, "{\"model_type\": \"mbart\", \"d_model\": \"wide\"}");
    CHECK_STATUS(glossa_model_load(dir, NULL, &m), GLOSSA_STATUS_BAD_MODEL);
    CHECK(m == NULL);
    /* bad request input */
    CHECK(tiny_model_write(dir, mb, 7) == 0);
    m = load(dir);
    if (m) {
        int32_t ids[3] = {5, 99999, 2};
        glossa_request *r = NULL;
        CHECK_STATUS(glossa_request_create_ids(m, ids, 3, -1, NULL, &r), GLOSSA_STATUS_BAD_INPUT);
        CHECK_STATUS(glossa_request_create_ids(m, ids, 0, -1, NULL, &r), GLOSSA_STATUS_BAD_INPUT);
        int32_t *longer = calloc(100, sizeof *longer);
        CHECK_STATUS(glossa_request_create_ids(m, longer, 100, -1, NULL, &r), GLOSSA_STATUS_BAD_INPUT);
        free(longer);
        CHECK_STATUS(glossa_request_create(m, "hi", 2, "en", "de", NULL, &r), GLOSSA_STATUS_UNSUPPORTED);
        glossa_model_free(m);
    }
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/glossa-model-core-XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    for (size_t i = 0; i < sizeof SPECS / sizeof SPECS[0]; i++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/%s", g_tmp, SPECS[i].model_type);
        CHECK(tiny_model_write(dir, &SPECS[i], i + 1) == 0);
        glossa_model *m = load(dir);
        if (!m) continue;
        check_incremental(m, SPECS[i].model_type);
        check_batch_invariance(m, SPECS[i].model_type);
        glossa_model_free(m);
        check_device_logits(dir, SPECS[i].model_type);
    }
    check_malformed();
    test_rm_tree(g_tmp);
    TEST_MAIN_END();
}
