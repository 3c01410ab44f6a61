/* Pipelined greedy decoding (src/runtime/engine_pipeline.c) on tiny random checkpoints, on the CPU
 * with the device-logits path forced (GLOSSA_DEVICE_LOGITS=1, as on a GPU): every result equals
 * the one without pipelining (GLOSSA_PIPELINE=0), for greedy requests with EOS ignored (each step
 * after the forced first token queues the next pass: the count is checked), requests that end on
 * an EOS id picked from their own output (rows of a queued pass left unused), greedy mixed with
 * beam search and sampling, and through the engine API a request cancelled while a pass is queued
 * for it and one submitted meanwhile; no block stays in use. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "api/model_internal.h"
#include "glossa.h"
#include "test.h"
#include "test_results.h"
#include "model/tiny_model.h"

static char g_tmp[256];

static glossa_model *load(const char *dir, bool pipeline)
{
    setenv("GLOSSA_DEVICE_LOGITS", "1", 1);
    setenv("GLOSSA_PIPELINE", pipeline ? "1" : "0", 1);
    glossa_model_params mp = glossa_model_default_params();
    mp.n_threads = 2;
    glossa_model *m = NULL;
    CHECK_OK(glossa_model_load(dir, &mp, &m));
    unsetenv("GLOSSA_DEVICE_LOGITS");
    unsetenv("GLOSSA_PIPELINE");
    return m;
}

typedef struct spec {
    int len, forced, beams, sample, ignore_eos, max_new;
    int eos; /* >= 0: the only EOS id */
} spec;

static glossa_request *make_req(glossa_model *m, const spec *s, int k)
{
    int32_t src[64];
    int V = glossa_model_vocab_size(m);
    for (int i = 0; i < s->len; i++)
        src[i] = 3 + (i * 5 + k * 17 + (i * i) % 7) % (V - 4);
    src[s->len - 1] = 2 % V;
    glossa_decode_params p = glossa_model_decode_params(m);
    p.num_beams = s->beams;
    p.num_return_sequences = 1;
    p.max_new_tokens = s->max_new;
    p.do_sample = s->sample;
    p.seed = 7 + (uint64_t)k;
    p.top_k = 20;
    p.min_length = 0;
    p.repetition_penalty = 1.0f;
    p.no_repeat_ngram_size = 0;
    p.ignore_eos = s->ignore_eos;
    glossa_request *r = NULL;
    CHECK_OK(glossa_request_create_ids(m, src, (size_t)s->len, s->forced, &p, &r));
    if (r && s->eos >= 0) {
        r->g.p.eos_ids[0] = s->eos;
        r->g.p.n_eos = 1;
    }
    return r;
}

static int same_results(const glossa_request *a, const glossa_request *b)
{
    return test_same_results(a, b, 1e-3f);
}

/* Run the specs on both models in one batch each; results must match. */
static void run_pair(glossa_model *off, glossa_model *on, const spec *s, int n, const char *what)
{
    glossa_request *a[16], *b[16];
    for (int i = 0; i < n; i++) {
        a[i] = make_req(off, &s[i], i);
        b[i] = make_req(on, &s[i], i);
    }
    CHECK_OK(glossa_model_run(off, a, n));
    CHECK_OK(glossa_model_run(on, b, n));
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += !(a[i] && b[i] && same_results(a[i], b[i]));
    CHECK_MSG(bad == 0, "%s: %d of %d requests differ with pipelining", what, bad, n);
    CHECK_MSG(off->eng.core.c.passes_ahead == 0, "%s: passes queued ahead with GLOSSA_PIPELINE=0",
              what);
    for (int i = 0; i < n; i++) {
        glossa_request_free(a[i]);
        glossa_request_free(b[i]);
    }
}

/* The i-th token of request k's output alone (for an EOS id it reaches early). */
static int token_at(glossa_model *m, const spec *s, int k, size_t i)
{
    glossa_request *r = make_req(m, s, k);
    CHECK_OK(glossa_model_run(m, &r, 1));
    const int32_t *ids;
    size_t n = 0;
    glossa_request_result(r, 0, &ids, &n, NULL);
    int t = n > i ? ids[i] : -1;
    glossa_request_free(r);
    return t;
}

static void check_runs(glossa_model *off, glossa_model *on, const char *name)
{
    char what[96];
    /* (a) greedy, EOS ignored, one length: steps 2 .. max_new - 1 queue the next pass (step 1's
     * token is forced, the last step's ends every job) */
    enum { N = 5, NEW = 12 };
    spec g[N];
    for (int i = 0; i < N; i++)
        g[i] = (spec){3 + 2 * i, 10 + i % 3, 1, 0, 1, NEW, -1};
    snprintf(what, sizeof what, "%s greedy", name);
    run_pair(off, on, g, N, what);
    CHECK_MSG(on->eng.core.c.passes_ahead == NEW - 2 && on->eng.core.c.passes_dropped == 0,
              "%s: %lld passes queued ahead and used (want %d), %lld dropped", what,
              (long long)on->eng.core.c.passes_ahead, NEW - 2,
              (long long)on->eng.core.c.passes_dropped);
    /* (b) lengths apart and no forced token: a job ending on max_length stops the queuing for
     * that step only */
    for (int i = 0; i < N; i++)
        g[i] = (spec){4 + i, -1, 1, 0, 1, 6 + 3 * i, -1};
    snprintf(what, sizeof what, "%s greedy, lengths apart", name);
    run_pair(off, on, g, N, what);
    CHECK_MSG(on->eng.core.c.passes_ahead >= 6 && on->eng.core.c.passes_dropped == 0,
              "%s: %lld passes ahead, %lld dropped", what, (long long)on->eng.core.c.passes_ahead,
              (long long)on->eng.core.c.passes_dropped);
    /* (c) each ends early on an EOS id taken from its own output (its row of the pass queued
     * then is unused; the others' rows are not) */
    for (int i = 0; i < N; i++) {
        g[i] = (spec){3 + i, 10, 1, 0, 0, 20, -1};
        g[i].eos = token_at(off, &g[i], i, (size_t)(2 + 2 * i));
    }
    snprintf(what, sizeof what, "%s greedy, EOS", name);
    run_pair(off, on, g, N, what);
    CHECK_MSG(on->eng.core.c.passes_ahead > 0 && on->eng.core.c.passes_dropped == 0,
              "%s: %lld passes ahead, %lld dropped", what, (long long)on->eng.core.c.passes_ahead,
              (long long)on->eng.core.c.passes_dropped);
    /* (d) greedy beside beam search and sampling */
    spec mix[6] = {{5, 10, 1, 0, 1, 9, -1},  {6, 11, 3, 0, 0, 5, -1}, {7, -1, 1, 1, 1, 7, -1},
                   {4, 10, 1, 0, 0, 14, -1}, {8, 12, 2, 0, 1, 4, -1}, {3, -1, 1, 0, 1, 16, -1}};
    snprintf(what, sizeof what, "%s mixed", name);
    run_pair(off, on, mix, 6, what);
}

static int step_until(glossa_engine *e, const int *ended, int n, int max_steps)
{
    for (int s = 0; s < max_steps; s++) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += !ended[i];
        if (!left) return s;
        CHECK_OK(glossa_engine_step(e, NULL));
    }
    return -1;
}

static int g_ended[8];

static void on_event(const glossa_event *ev, void *user)
{
    int i = (int)(intptr_t)user;
    if (ev->kind == GLOSSA_EVENT_TOKEN) return;
    g_ended[i] = ev->kind == GLOSSA_EVENT_DONE ? 1 : 2;
}

/* Through the engine API (GLOSSA_PIPELINE=1: off by default there): request 1 cancelled while
 * the pass queued for it runs, request 4 submitted meanwhile (admitted after one step), and later
 * a glossa_model_run on the same model (its passes use the shared workspace: the queued pass is
 * dropped, not used); the others' results as alone without pipelining; the engine idle after. */
static void check_engine(glossa_model *off, glossa_model *on)
{
    enum { N = 5 };
    spec s[N];
    for (int i = 0; i < N; i++)
        s[i] = (spec){4 + i, 10, 1, 0, 1, 16 + i, -1};
    glossa_request *r[N], *ref[N];
    for (int i = 0; i < N; i++) {
        r[i] = make_req(on, &s[i], i);
        ref[i] = make_req(off, &s[i], i);
        CHECK_OK(glossa_model_run(off, &ref[i], 1));
        g_ended[i] = 0;
    }
    glossa_engine_params ep = glossa_engine_default_params();
    glossa_engine *e = NULL;
    uint64_t id0 = 0;
    /* by default the in-flight engine does not pipeline */
    setenv("GLOSSA_DEVICE_LOGITS", "1", 1);
    CHECK_OK(glossa_engine_create(on, &ep, &e));
    unsetenv("GLOSSA_DEVICE_LOGITS");
    if (!e) return;
    CHECK_OK(glossa_engine_submit(e, r[0], on_event, (void *)(intptr_t)0, &id0));
    CHECK(step_until(e, g_ended, 1, 1000) >= 0);
    engine_counters ec;
    glossa_engine_debug_counters(e, &ec, NULL);
    CHECK_MSG(g_ended[0] == 1 && same_results(r[0], ref[0]) && ec.passes_ahead == 0,
              "engine (default): ended %d, %lld passes queued ahead", g_ended[0],
              (long long)ec.passes_ahead);
    glossa_engine_free(e);
    e = NULL;
    g_ended[0] = 0;
    /* read by the engine's core at creation; the in-flight engine pipelines only when asked */
    setenv("GLOSSA_DEVICE_LOGITS", "1", 1);
    setenv("GLOSSA_PIPELINE", "1", 1);
    CHECK_OK(glossa_engine_create(on, &ep, &e));
    unsetenv("GLOSSA_DEVICE_LOGITS");
    unsetenv("GLOSSA_PIPELINE");
    if (!e) return;
    uint64_t id[N];
    for (int i = 0; i < N - 1; i++)
        CHECK_OK(glossa_engine_submit(e, r[i], on_event, (void *)(intptr_t)i, &id[i]));
    for (int k = 0; k < 5; k++)
        CHECK_OK(glossa_engine_step(e, NULL));
    glossa_engine_debug_counters(e, &ec, NULL);
    CHECK_MSG(ec.passes_ahead >= 2, "engine: %lld passes queued ahead after 5 steps",
              (long long)ec.passes_ahead);
    CHECK_OK(glossa_engine_cancel(e, id[1]));
    CHECK_OK(glossa_engine_submit(e, r[4], on_event, (void *)(intptr_t)4, &id[4]));
    for (int k = 0; k < 6; k++)
        CHECK_OK(glossa_engine_step(e, NULL));
    glossa_engine_debug_counters(e, &ec, NULL);
    const int64_t ahead_before = ec.passes_ahead;
    spec xs = {6, 10, 1, 0, 1, 5, -1};
    glossa_request *x = make_req(on, &xs, 9), *xref = make_req(off, &xs, 9);
    CHECK_OK(glossa_model_run(on, &x, 1));
    CHECK_OK(glossa_model_run(off, &xref, 1));
    CHECK_MSG(same_results(x, xref), "engine: a run between the engine's steps differs");
    glossa_request_free(x);
    glossa_request_free(xref);
    CHECK(step_until(e, g_ended, N, 1000) >= 0);
    CHECK_MSG(g_ended[1] == 2, "engine: the cancelled request ended %d", g_ended[1]);
    for (int i = 0; i < N; i++) {
        if (i == 1) continue;
        CHECK_MSG(g_ended[i] == 1 && same_results(r[i], ref[i]),
                  "engine: request %d (ended %d) differs from its run alone", i, g_ended[i]);
    }
    glossa_engine_debug_counters(e, &ec, NULL);
    CHECK_MSG(ec.passes_dropped == 1 && ec.passes_ahead > ahead_before,
              "engine: %lld queued passes dropped (want 1: the run between steps), %lld used after "
              "it",
              (long long)ec.passes_dropped, (long long)(ec.passes_ahead - ahead_before));
    glossa_engine_metrics mt;
    glossa_engine_get_metrics(e, &mt);
    CHECK_MSG(mt.kv_blocks_used == 0 && mt.running == 0 && mt.waiting == 0,
              "engine: idle engine holds %d blocks, %d running, %d waiting", mt.kv_blocks_used,
              mt.running, mt.waiting);
    glossa_engine_free(e);
    for (int i = 0; i < N; i++) {
        glossa_request_free(r[i]);
        glossa_request_free(ref[i]);
    }
}

int main(void)
{
    static const tiny_spec specs[] = {
        {"mbart", 32, 4, 48, 2, 2, 97, 128, "gelu", 0, NULL, NULL, 0},
        {"marian", 16, 2, 32, 2, 1, 83, 128, "swish", 1, NULL, NULL, 0},
    };
    snprintf(g_tmp, sizeof g_tmp, "/tmp/glossa-pipeline-XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    for (int k = 0; k < 2; k++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/%s", g_tmp, specs[k].model_type);
        CHECK(tiny_model_write(dir, &specs[k], (uint64_t)k + 11) == 0);
        glossa_model *off = load(dir, false), *on = load(dir, true);
        if (off && on) {
            check_runs(off, on, specs[k].model_type);
            if (k == 0) check_engine(off, on);
        }
        glossa_model_free(off);
        glossa_model_free(on);
    }
    test_rm_tree(g_tmp);
    TEST_MAIN_END();
}
