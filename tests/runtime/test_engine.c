/* The in-flight engine (glossa_engine_*) on tiny random checkpoints: every request's results equal
 * glossa_model_run of that request alone, whatever else runs beside it, however its input is
 * chunked, and whether it was preempted and recomputed; the per-iteration token budget holds;
 * the KV policies (guaranteed-no-evict never preempts, max-utilization does with a small pool);
 * cancellation frees every block; BUSY and BAD_INPUT at submit; first-come-first-served admission
 * without starvation; streamed tokens concatenate to the result; submissions from several
 * threads while the loop steps. */
#include <math.h>
#include <pthread.h>
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
#include "runtime/kv_cache.h"
#include "backend/backend.h"

static char g_tmp[256];

typedef struct req_spec {
    int len;       /* input tokens */
    int forced;    /* forced BOS id, -1: none */
    int beams;     /* 1: greedy or sampling */
    int sample;
    int ignore_eos;
    int max_new;
} req_spec;

typedef struct rec {
    glossa_request *r;
    uint64_t id;
    int ended;     /* 0: not yet, 1: DONE, 2: ERROR */
    glossa_status status;
    int32_t stream[512];
    int n_stream, n_token_events, bad_events;
    int first_seq; /* order of its first TOKEN event among all requests' */
    glossa_event last;
} rec;

static int g_end_order, g_token_seq;

static void on_event(const glossa_event *ev, void *user)
{
    rec *c = user;
    if (ev->request != c->r || (c->id && ev->request_id != c->id) || c->ended) c->bad_events++;
    if (ev->kind == GLOSSA_EVENT_TOKEN) {
        c->n_token_events++;
        if (!c->first_seq) c->first_seq = ++g_token_seq;
        for (size_t i = 0; i < ev->n_ids && c->n_stream < 512; i++) c->stream[c->n_stream++] = ev->ids[i];
        return;
    }
    c->ended = ev->kind == GLOSSA_EVENT_DONE ? 1 : 2;
    c->status = ev->status;
    c->last = *ev;
    g_end_order++;
}

static glossa_model *load(const char *dir)
{
    glossa_model_params mp = glossa_model_default_params();
    mp.n_threads = 2;
    glossa_model *m = NULL;
    CHECK_OK(glossa_model_load(dir, &mp, &m));
    return m;
}

static glossa_request *make_req(glossa_model *m, const req_spec *s, int k)
{
    int32_t src[256];
    int V = glossa_model_vocab_size(m);
    for (int i = 0; i < s->len; i++) src[i] = 3 + (i * 7 + k * 13 + (i * i) % 11) % (V - 4);
    src[s->len - 1] = 2 % V;
    glossa_decode_params p = glossa_model_decode_params(m);
    p.num_beams = s->beams;
    p.num_return_sequences = s->beams > 1 ? 2 : 1;
    p.max_new_tokens = s->max_new;
    p.do_sample = s->sample;
    p.seed = 99 + (uint64_t)k;
    p.top_k = 20;
    p.temperature = 0.9f;
    p.ignore_eos = s->ignore_eos;
    p.output_scores = true;
    glossa_request *r = NULL;
    CHECK_OK(glossa_request_create_ids(m, src, (size_t)s->len, s->forced, &p, &r));
    return r;
}

static int same_results(const glossa_request *a, const glossa_request *b)
{
    return test_same_results(a, b, 1e-3f);
}

/* The mix: lengths 1..120, greedy / beams 2-4 / sampling, forced BOS ids, some ignore_eos. */
static req_spec mix_spec(int k, int max_len)
{
    req_spec s;
    s.len = 1 + (k * 37 + 11) % max_len;
    if (k % 9 == 0) s.len = max_len;
    if (k % 13 == 7) s.len = 1;
    s.forced = k % 5 == 4 ? -1 : 10 + k % 4;
    int kind = k % 6;
    s.beams = kind == 2 ? 2 : kind == 4 ? 3 + (k / 6) % 2 : 1;
    s.sample = kind == 3 || kind == 5;
    s.ignore_eos = k % 4 == 1;
    s.max_new = 4 + (k * 5) % 17;
    return s;
}

typedef struct batch {
    int n;
    req_spec *spec;
    glossa_request **req, **ref;
    rec *rec;
} batch;

/* max_new_cap > 0: at most that many new tokens; < 0: exactly -max_new_cap - (k % 8), EOS
 * ignored (long outputs). */
static void batch_make(batch *b, glossa_model *m, int n, int max_len, int max_new_cap)
{
    b->n = n;
    b->spec = calloc((size_t)n, sizeof *b->spec);
    b->req = calloc((size_t)n, sizeof *b->req);
    b->ref = calloc((size_t)n, sizeof *b->ref);
    b->rec = calloc((size_t)n, sizeof *b->rec);
    for (int i = 0; i < n; i++) {
        b->spec[i] = mix_spec(i, max_len);
        if (max_new_cap > 0 && b->spec[i].max_new > max_new_cap) b->spec[i].max_new = max_new_cap;
        if (max_new_cap < 0) {
            b->spec[i].max_new = -max_new_cap - i % 8;
            b->spec[i].ignore_eos = 1;
        }
        b->req[i] = make_req(m, &b->spec[i], i);
        b->ref[i] = make_req(m, &b->spec[i], i);
        b->rec[i].r = b->req[i];
        CHECK_OK(glossa_model_run(m, &b->ref[i], 1));
    }
}

static void batch_free(batch *b)
{
    for (int i = 0; i < b->n; i++) {
        glossa_request_free(b->req[i]);
        glossa_request_free(b->ref[i]);
    }
    free(b->spec);
    free(b->req);
    free(b->ref);
    free(b->rec);
}

/* Results equal the reference; greedy / sampling streams concatenate to the result. */
static void batch_check(const batch *b, const char *what)
{
    int bad = 0, bad_stream = 0;
    for (int i = 0; i < b->n; i++) {
        const rec *c = &b->rec[i];
        CHECK_MSG(c->ended == 1 && c->bad_events == 0, "%s: request %d ended %d (%s), %d bad events",
                  what, i, c->ended, glossa_status_name(c->status), c->bad_events);
        if (c->ended != 1) continue;
        if (!same_results(b->req[i], b->ref[i])) {
            if (bad++ < 3) fprintf(stderr, "%s: request %d (len %d beams %d sample %d) differs\n",
                                   what, i, b->spec[i].len, b->spec[i].beams, b->spec[i].sample);
        }
        const int32_t *ids;
        size_t n;
        glossa_request_result(b->req[i], 0, &ids, &n, NULL);
        if (b->spec[i].beams > 1) {
            if (c->n_token_events) bad_stream++;
        } else if ((size_t)c->n_stream != n || memcmp(ids, c->stream, n * sizeof *ids)) {
            bad_stream++;
        }
        CHECK(c->last.prompt_tokens == b->spec[i].len);
        CHECK(c->last.total_ms >= c->last.queue_ms && c->last.queue_ms >= 0);
        CHECK(c->last.first_token_ms > 0 && c->last.first_token_ms <= c->last.total_ms);
    }
    CHECK_MSG(bad == 0, "%s: %d of %d requests differ from glossa_model_run alone", what, bad, b->n);
    CHECK_MSG(bad_stream == 0, "%s: %d streams differ from their results", what, bad_stream);
}

static glossa_engine *make_engine(glossa_model *m, int max_tokens, int max_batch,
                                  glossa_policy policy, int64_t kv_bytes, int max_queue)
{
    glossa_engine_params ep = glossa_engine_default_params();
    ep.max_num_tokens = max_tokens;
    ep.max_batch_size = max_batch;
    ep.policy = policy;
    ep.kv_cache_bytes = kv_bytes;
    ep.max_queue = max_queue;
    glossa_engine *e = NULL;
    CHECK_OK(glossa_engine_create(m, &ep, &e));
    return e;
}

static void check_idle(glossa_engine *e, const char *what)
{
    glossa_engine_metrics mt;
    glossa_engine_get_metrics(e, &mt);
    CHECK_MSG(mt.kv_blocks_used == 0 && mt.running == 0 && mt.waiting == 0,
              "%s: idle engine holds %d blocks, %d running, %d waiting", what, mt.kv_blocks_used,
              mt.running, mt.waiting);
}

/* Submit request i at step stagger * i; step until all ended; the budget checked each step. */
static int64_t run_staggered(glossa_engine *e, batch *b, int stagger, int max_tokens, const char *what)
{
    int64_t U = 0, over = 0, worst = 0;
    engine_counters ec;
    int next = 0, ended = 0;
    for (int step = 0; step < 100000 && ended < b->n; step++) {
        while (next < b->n && next * stagger <= step) {
            CHECK_OK(glossa_engine_submit(e, b->req[next], on_event, &b->rec[next], &b->rec[next].id));
            next++;
        }
        CHECK_OK(glossa_engine_step(e, NULL));
        glossa_engine_debug_counters(e, &ec, &U);
        if (ec.last_iter_units > (int64_t)max_tokens * U) over++;
        if (ec.last_iter_units > worst) worst = ec.last_iter_units;
        ended = 0;
        for (int i = 0; i < b->n; i++) ended += b->rec[i].ended != 0;
    }
    CHECK_MSG(over == 0, "%s: %lld iterations over the budget of %d tokens (worst %.2f tokens)", what,
              (long long)over, max_tokens, (double)worst / (double)U);
    CHECK_MSG(ec.max_iter_units <= (int64_t)max_tokens * U, "%s: max iteration %lld units", what,
              (long long)ec.max_iter_units);
    printf("%s: %lld iterations, largest %.2f of %d tokens, %lld inputs chunked (%lld parts), "
           "%lld preemptions\n", what, (long long)ec.iterations, (double)ec.max_iter_units / (double)U,
           max_tokens, (long long)ec.chunked_jobs, (long long)ec.chunk_parts,
           (long long)ec.preemptions);
    return ec.chunked_jobs;
}

/* (a) (b) (g): the mix at staggered steps under a small budget. */
static void check_mix(glossa_model *m, const char *name, int n)
{
    batch b;
    batch_make(&b, m, n, 120, 24);
    glossa_engine *e = make_engine(m, 64, 8, GLOSSA_POLICY_GUARANTEED_NO_EVICT, 4 << 20, 1024);
    if (!e) return;
    int64_t chunked = run_staggered(e, &b, 2, 64, name);
    CHECK_MSG(chunked > 0, "%s: no input was chunked", name);
    batch_check(&b, name);
    glossa_engine_metrics mt;
    glossa_engine_get_metrics(e, &mt);
    CHECK(mt.preemptions == 0);
    CHECK(mt.generated_tokens > 0 && mt.prompt_tokens > 0 && mt.iterations > 0);
    check_idle(e, name);
    glossa_engine_free(e);
    batch_free(&b);
}

/* The scheduler delay (vLLM's --scheduler-delay-factor): with a factor far above any wait,
 * requests arriving while others run are held until nothing runs, then admitted together: every
 * result still equals glossa_model_run's, and at most half as many iterations admit as requests
 * arrive one a step (undelayed, each arrival's next iteration admits it). */
static void check_delay(glossa_model *m)
{
    batch b;
    batch_make(&b, m, 12, 40, 12);
    glossa_engine_params ep = glossa_engine_default_params();
    ep.scheduler_delay_factor = 1000.0f;
    glossa_engine *e = NULL;
    CHECK_OK(glossa_engine_create(m, &ep, &e));
    int64_t admits = 0, U = 0;
    if (e) {
        run_staggered(e, &b, 1, ep.max_num_tokens, "delay factor 1000");
        engine_counters ec;
        glossa_engine_debug_counters(e, &ec, &U);
        admits = ec.admit_iterations;
        batch_check(&b, "delay factor 1000");
        check_idle(e, "delay factor 1000");
        glossa_engine_free(e);
    }
    CHECK_MSG(admits * 2 <= b.n, "delay factor 1000: %lld admitting iterations for %d requests "
              "arriving one a step", (long long)admits, b.n);
    batch_free(&b);
    glossa_engine_params bad = glossa_engine_default_params();
    bad.scheduler_delay_factor = -1.0f;
    CHECK_STATUS(glossa_engine_create(m, &bad, &e), GLOSSA_STATUS_INVALID_ARGUMENT);
}

/* (c): a pool of 24 blocks of 16 tokens (18 self, 6 cross), inputs of at most 16 tokens. */
static void check_policies(glossa_model *m)
{
    int64_t block_bytes = 0;
    {
        glossa_run_stats rs;
        glossa_model_last_run_stats(m, &rs);
        block_bytes = (int64_t)rs.kv_bytes_per_token * 16;
    }
    for (int pol = 0; pol < 2; pol++) {
        const char *what = pol ? "max-utilization" : "guaranteed-no-evict";
        batch b;
        batch_make(&b, m, 24, 16, -44);
        glossa_engine *e = make_engine(m, 64, 16, pol ? GLOSSA_POLICY_MAX_UTILIZATION
                                                      : GLOSSA_POLICY_GUARANTEED_NO_EVICT,
                                       24 * block_bytes, 1024);
        if (!e) return;
        run_staggered(e, &b, 1, 64, what);
        batch_check(&b, what);
        glossa_engine_metrics mt;
        glossa_engine_get_metrics(e, &mt);
        CHECK_MSG(mt.kv_blocks_total == 24, "%s: %d blocks", what, mt.kv_blocks_total);
        if (pol) CHECK_MSG(mt.preemptions > 0, "%s: no preemption with a small pool", what);
        else CHECK_MSG(mt.preemptions == 0, "%s: %lld preemptions", what, (long long)mt.preemptions);
        check_idle(e, what);
        glossa_engine_free(e);
        batch_free(&b);
    }
}

static int step_until(glossa_engine *e, rec *c, int n, int max_steps)
{
    for (int s = 0; s < max_steps; s++) {
        int open = 0;
        for (int i = 0; i < n; i++) open += c[i].ended == 0;
        if (!open) return s;
        CHECK_OK(glossa_engine_step(e, NULL));
    }
    return -1;
}

/* (d): cancel queued, encoding (mid-chunk) and running requests. */
static void check_cancel(glossa_model *m)
{
    enum { N = 6 };
    req_spec specs[N] = {{8, 10, 1, 0, 1, 20}, {9, 11, 3, 0, 1, 20}, {120, 12, 1, 0, 1, 20},
                         {7, -1, 1, 1, 1, 20}, {5, 10, 2, 0, 1, 20}, {6, 10, 1, 0, 1, 20}};
    glossa_request *r[N];
    rec c[N];
    memset(c, 0, sizeof c);
    glossa_engine *e = make_engine(m, 24, 6, GLOSSA_POLICY_GUARANTEED_NO_EVICT, 1 << 20, 64);
    if (!e) return;
    for (int i = 0; i < N; i++) {
        r[i] = make_req(m, &specs[i], i);
        c[i].r = r[i];
        CHECK_OK(glossa_engine_submit(e, r[i], on_event, &c[i], &c[i].id));
    }
    CHECK_OK(glossa_engine_step(e, NULL));
    CHECK_OK(glossa_engine_step(e, NULL));
    glossa_engine_metrics mt;
    glossa_engine_get_metrics(e, &mt);
    /* budget 24 = 96 units: 0 (8 + 1 tokens) and 1 (9 + 3) whole, 2 chunked with the rest */
    CHECK_MSG(mt.running == 3 && mt.waiting == 3, "running %d waiting %d", mt.running, mt.waiting);
    CHECK_MSG(c[0].n_stream > 0 && c[2].n_stream == 0, "request 0 is not running or 2 is");
    engine_counters ec;
    glossa_engine_debug_counters(e, &ec, NULL);
    CHECK_MSG(ec.chunked_jobs == 1, "%lld chunked inputs", (long long)ec.chunked_jobs);
    /* 0 and 1 run, 2 is mid-chunk (120 tokens under a budget of 24), 5 waits */
    CHECK_OK(glossa_engine_cancel(e, c[0].id));
    CHECK_OK(glossa_engine_cancel(e, c[1].id));
    CHECK_OK(glossa_engine_cancel(e, c[2].id));
    CHECK_OK(glossa_engine_cancel(e, c[5].id));
    CHECK_OK(glossa_engine_cancel(e, c[5].id)); /* twice: still pending */
    CHECK_STATUS(glossa_engine_cancel(e, 987654), GLOSSA_STATUS_NOT_FOUND);
    CHECK_OK(glossa_engine_step(e, NULL));
    int cancelled[] = {0, 1, 2, 5};
    for (int k = 0; k < 4; k++) {
        rec *x = &c[cancelled[k]];
        CHECK_MSG(x->ended == 2 && x->status == GLOSSA_STATUS_CANCELLED && x->bad_events == 0,
                  "request %d: ended %d status %s", cancelled[k], x->ended, glossa_status_name(x->status));
        CHECK(glossa_request_result_count(r[cancelled[k]]) == 0);
        CHECK_STATUS(glossa_engine_cancel(e, x->id), GLOSSA_STATUS_NOT_FOUND);
    }
    CHECK(step_until(e, c, N, 1000) >= 0);
    CHECK(c[3].ended == 1 && c[4].ended == 1);
    CHECK_STATUS(glossa_engine_cancel(e, c[3].id), GLOSSA_STATUS_NOT_FOUND);
    check_idle(e, "cancel");
    /* cancel everything while running, then idle */
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        c[i].r = r[i];
        CHECK_OK(glossa_engine_submit(e, r[i], on_event, &c[i], &c[i].id));
    }
    CHECK_OK(glossa_engine_step(e, NULL));
    CHECK_OK(glossa_engine_step(e, NULL));
    for (int i = 0; i < N; i++) CHECK_OK(glossa_engine_cancel(e, c[i].id));
    CHECK_OK(glossa_engine_step(e, NULL));
    for (int i = 0; i < N; i++) CHECK(c[i].ended == 2 && c[i].status == GLOSSA_STATUS_CANCELLED);
    check_idle(e, "cancel all");
    glossa_engine_free(e);
    for (int i = 0; i < N; i++) glossa_request_free(r[i]);
}

/* (e): BUSY when the queue is full, BAD_INPUT for what can never fit, and glossa_engine_free
 * cancels what is left. */
static void check_limits(glossa_model *m)
{
    glossa_run_stats rs;
    glossa_model_last_run_stats(m, &rs);
    int64_t block_bytes = (int64_t)rs.kv_bytes_per_token * 16;
    glossa_engine *e = make_engine(m, 32, 4, GLOSSA_POLICY_GUARANTEED_NO_EVICT, 16 * block_bytes, 3);
    if (!e) return;
    req_spec ok = {5, 10, 1, 0, 0, 8};
    glossa_request *r[4];
    rec c[4];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 4; i++) {
        r[i] = make_req(m, &ok, i);
        c[i].r = r[i];
    }
    for (int i = 0; i < 3; i++) CHECK_OK(glossa_engine_submit(e, r[i], on_event, &c[i], &c[i].id));
    CHECK_STATUS(glossa_engine_submit(e, r[3], on_event, &c[3], NULL), GLOSSA_STATUS_BUSY);
    CHECK_STATUS(glossa_engine_submit(e, r[0], on_event, &c[0], NULL), GLOSSA_STATUS_INVALID_ARGUMENT);
    glossa_engine_metrics mt;
    glossa_engine_get_metrics(e, &mt);
    CHECK(mt.waiting == 3);
    /* self: 4 beams x 5 blocks > 12; cross: 80 tokens > 4 blocks; beams > the batch */
    req_spec big_out = {5, 10, 4, 0, 1, 70}, big_in = {80, 10, 1, 0, 0, 4}, wide = {5, 10, 5, 0, 0, 4};
    glossa_request *b1 = make_req(m, &big_out, 0), *b2 = make_req(m, &big_in, 0), *b3 = make_req(m, &wide, 0);
    CHECK_STATUS(glossa_engine_submit(e, b1, on_event, NULL, NULL), GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(glossa_engine_submit(e, b2, on_event, NULL, NULL), GLOSSA_STATUS_BAD_INPUT);
    CHECK_STATUS(glossa_engine_submit(e, b3, on_event, NULL, NULL), GLOSSA_STATUS_BAD_INPUT);
    glossa_request_free(b1);
    glossa_request_free(b2);
    glossa_request_free(b3);
    CHECK_OK(glossa_engine_step(e, NULL));
    glossa_engine_free(e); /* two steps short of done: all cancelled */
    for (int i = 0; i < 3; i++)
        CHECK_MSG(c[i].ended == 2 && c[i].status == GLOSSA_STATUS_CANCELLED, "request %d: %d %s", i,
                  c[i].ended, glossa_status_name(c[i].status));
    for (int i = 0; i < 4; i++) glossa_request_free(r[i]);
    glossa_engine_params bad = glossa_engine_default_params();
    bad.max_num_tokens = 0;
    CHECK_STATUS(glossa_engine_create(m, &bad, &e), GLOSSA_STATUS_INVALID_ARGUMENT);
    bad = glossa_engine_default_params();
    bad.kv_cache_bytes = 100;
    CHECK_STATUS(glossa_engine_create(m, &bad, &e), GLOSSA_STATUS_BAD_INPUT);
    /* kv_min_length: the 1 GiB default grows so that max_batch_size sequences of that length fit
     * the self-attention pool (3/4 of the blocks), and never shrinks */
    glossa_engine_params kp = glossa_engine_default_params();
    CHECK_OK(glossa_engine_create(m, &kp, &e));
    glossa_engine_get_metrics(e, &mt);
    int32_t dflt_blocks = mt.kv_blocks_total;
    glossa_engine_free(e);
    kp.kv_min_length = 129;
    CHECK_OK(glossa_engine_create(m, &kp, &e));
    glossa_engine_get_metrics(e, &mt);
    CHECK_MSG(mt.kv_blocks_total == dflt_blocks, "small need: %d blocks, not %d", mt.kv_blocks_total,
              dflt_blocks);
    glossa_engine_free(e);
    kp.max_batch_size = 4096;
    kp.kv_min_length = 1024;
    int64_t self = 4096LL * 64, need = self + (self + 2) / 3;
    CHECK_OK(glossa_engine_create(m, &kp, &e));
    glossa_engine_get_metrics(e, &mt);
    CHECK_MSG(need > dflt_blocks && mt.kv_blocks_total == need, "grown: %d blocks, want %lld",
              mt.kv_blocks_total, (long long)need);
    glossa_engine_free(e);
    kp.kv_cache_bytes = 1 << 20; /* explicit: no growth */
    CHECK_OK(glossa_engine_create(m, &kp, &e));
    glossa_engine_get_metrics(e, &mt);
    CHECK_MSG(mt.kv_blocks_total < dflt_blocks, "explicit size grew: %d", mt.kv_blocks_total);
    glossa_engine_free(e);
}

/* (f): a long request submitted first finishes while short ones keep arriving at every step,
 * and none of those gets a token before it (first come, first served). */
static void check_fcfs(glossa_model *m)
{
    glossa_engine *e = make_engine(m, 16, 4, GLOSSA_POLICY_GUARANTEED_NO_EVICT, 1 << 20, 4096);
    if (!e) return;
    enum { MAXS = 300 };
    req_spec lspec = {120, 10, 1, 0, 1, 12}, sspec = {3, 11, 1, 0, 1, 2};
    glossa_request *lr = make_req(m, &lspec, 1);
    rec lc;
    memset(&lc, 0, sizeof lc);
    lc.r = lr;
    glossa_request **sr = calloc(MAXS + 8, sizeof *sr);
    rec *sc = calloc(MAXS + 8, sizeof *sc);
    int ns = 0, steps = 0;
    for (; ns < 3; ns++) {
        sr[ns] = make_req(m, &sspec, ns);
        sc[ns].r = sr[ns];
        CHECK_OK(glossa_engine_submit(e, sr[ns], on_event, &sc[ns], &sc[ns].id));
    }
    CHECK_OK(glossa_engine_submit(e, lr, on_event, &lc, &lc.id));
    int after_long = ns;
    for (; steps < MAXS && !lc.ended; steps++) {
        sr[ns] = make_req(m, &sspec, ns);
        sc[ns].r = sr[ns];
        CHECK_OK(glossa_engine_submit(e, sr[ns], on_event, &sc[ns], &sc[ns].id));
        ns++;
        CHECK_OK(glossa_engine_step(e, NULL));
    }
    CHECK_MSG(lc.ended == 1, "the long request did not finish in %d steps", steps);
    int overtook = 0, served_before = 0;
    for (int i = 0; i < ns; i++) {
        if (i < after_long) served_before += sc[i].first_seq > 0 && sc[i].first_seq < lc.first_seq;
        else overtook += sc[i].first_seq > 0 && sc[i].first_seq < lc.first_seq;
    }
    CHECK_MSG(overtook == 0, "%d later requests got a token before the long one", overtook);
    CHECK(served_before == after_long);
    glossa_engine_free(e); /* the rest cancelled */
    glossa_request_free(lr);
    for (int i = 0; i < ns; i++) glossa_request_free(sr[i]);
    free(sr);
    free(sc);
}

/* (h): submissions from several threads while this thread steps. */
typedef struct submitter {
    glossa_engine *e;
    batch *b;
    int first, count;
} submitter;

static void *submit_thread(void *arg)
{
    submitter *s = arg;
    for (int i = s->first; i < s->first + s->count; i++) {
        glossa_status st;
        while ((st = glossa_engine_submit(s->e, s->b->req[i], on_event, &s->b->rec[i], NULL)) ==
               GLOSSA_STATUS_BUSY)
            usleep(200);
        if (st != GLOSSA_STATUS_OK) s->b->rec[i].ended = 3;
        usleep(300 + 200 * (unsigned)(i % 3));
    }
    return NULL;
}

static void check_threads(glossa_model *m)
{
    enum { T = 4, PER = 8 };
    batch b;
    batch_make(&b, m, T * PER, 100, 16);
    glossa_engine *e = make_engine(m, 48, 8, GLOSSA_POLICY_MAX_UTILIZATION, 2 << 20, 6);
    if (!e) return;
    pthread_t th[T];
    submitter sub[T];
    for (int t = 0; t < T; t++) {
        sub[t] = (submitter){e, &b, t * PER, PER};
        pthread_create(&th[t], NULL, submit_thread, &sub[t]);
    }
    for (int guard = 0; guard < 200000; guard++) {
        int ended = 0;
        for (int i = 0; i < b.n; i++) ended += b.rec[i].ended != 0;
        if (ended == b.n) break;
        int32_t active = 0;
        CHECK_OK(glossa_engine_step(e, &active));
        if (!active) glossa_engine_wait(e, 5);
    }
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    batch_check(&b, "threads");
    check_idle(e, "threads");
    glossa_engine_free(e);
    batch_free(&b);
}

/* glossa_engine_wait returns on a submission from another thread and on wake. */
static void *wake_later(void *arg)
{
    usleep(20000);
    glossa_engine_wake(arg);
    return NULL;
}

static void check_wait(glossa_model *m)
{
    glossa_engine *e = make_engine(m, 64, 8, GLOSSA_POLICY_GUARANTEED_NO_EVICT, 1 << 20, 8);
    if (!e) return;
    pthread_t th;
    pthread_create(&th, NULL, wake_later, e);
    double t0 = engine_now_ms();
    glossa_engine_wait(e, 5000);
    double waited = engine_now_ms() - t0;
    pthread_join(th, NULL);
    CHECK_MSG(waited < 2000, "wait did not return on wake (%.0f ms)", waited);
    t0 = engine_now_ms();
    glossa_engine_wait(e, 30);
    waited = engine_now_ms() - t0;
    CHECK_MSG(waited >= 20 && waited < 2000, "wait(30) took %.0f ms", waited);
    glossa_engine_free(e);
}

/* A recorded decoder pass holds the K/V pools' addresses, so bart_kv.epoch (kv_pool_epochs) must
 * change whenever either pool is resized, even when the allocator hands back the same addresses
 * (CUDA graphs replayed stale cross-attention pools before this existed: docs/PERF.md). */
static void check_pool_epochs(void)
{
    backend *be = NULL;
    CHECK_OK(backend_cpu_create(1, &be));
    if (!be) return;
    kv_pool self, cross;
    kv_pool_init(&self, be, 2, 32, 16);
    kv_pool_init(&cross, be, 2, 32, 16);
    CHECK_OK(kv_pool_resize(&self, 8));
    CHECK_OK(kv_pool_resize(&cross, 4));
    uint64_t e0 = kv_pool_epochs(&self, &cross);
    CHECK_OK(kv_pool_resize(&cross, 4)); /* same size: new storage all the same */
    uint64_t e1 = kv_pool_epochs(&self, &cross);
    CHECK(e1 != e0);
    CHECK_OK(kv_pool_resize(&self, 8));
    uint64_t e2 = kv_pool_epochs(&self, &cross);
    CHECK(e2 != e1 && e2 != e0);
    CHECK(kv_pool_epochs(&self, &cross) == e2); /* stable while nothing moves */
    kv_pool_free(&self);
    kv_pool_free(&cross);
    backend_destroy(be);
}

static const tiny_spec MBART = {"mbart", 32, 4, 48, 2, 2, 97, 256, "gelu", 0, NULL, NULL, 0};
static const tiny_spec BART = {"bart", 32, 4, 48, 3, 2, 97, 256, "gelu", 1, NULL, NULL, 0};
static const tiny_spec MARIAN = {"marian", 16, 2, 32, 2, 1, 83, 256, "swish", 1, NULL, NULL, 0};

int main(void)
{
    check_pool_epochs();
    snprintf(g_tmp, sizeof g_tmp, "/tmp/glossa-engine-XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    const tiny_spec *specs[] = {&MBART, &BART, &MARIAN};
    for (int k = 0; k < 3; k++) {
        char dir[300];
        snprintf(dir, sizeof dir, "%s/%s", g_tmp, specs[k]->model_type);
        CHECK(tiny_model_write(dir, specs[k], (uint64_t)k + 3) == 0);
        glossa_model *m = load(dir);
        if (!m) continue;
        check_mix(m, specs[k]->model_type, k == 0 ? 40 : 16);
        if (k == 0) {
            check_policies(m);
            check_cancel(m);
            check_limits(m);
            check_fcfs(m);
            check_threads(m);
            check_wait(m);
            check_delay(m);
        }
        glossa_model_free(m);
    }
    test_rm_tree(g_tmp);
    TEST_MAIN_END();
}
