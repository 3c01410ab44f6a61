/* Batch generation to completion over the engine core (see generate.h). */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "runtime/generate.h"

glossa_status gen_engine_init(gen_engine *e, bart_model *m)
{
    memset(e, 0, sizeof *e);
    e->model = m;
    if (m->be->n_threads > 1) GLOSSA_TRY(threadpool_create(m->be->n_threads, &e->pool));
    GLOSSA_TRY(bart_ws_new(m, &e->ws));
    /* a batch run to completion: pipelined (its requests are all known at the start, so a queued
     * pass never delays an arrival) */
    engine_config cfg = {0, 0, ENGINE_POLICY_NO_EVICT, 0.0f, true};
    engine_init(&e->core, m, e->ws, e->pool, &cfg, NULL);
    return GLOSSA_STATUS_OK;
}

void gen_engine_free(gen_engine *e)
{
    if (!e) return;
    engine_free(&e->core);
    bart_ws_free(e->ws);
    threadpool_destroy(e->pool);
    memset(e, 0, sizeof *e);
}

/* Pools large enough for the whole run (grown only while idle, never shrunk). */
static glossa_status reserve_pools(gen_engine *e, gen_request *const *reqs, int32_t n)
{
    int64_t self = 0, cross = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t s, c;
        engine_job_blocks(&e->core, reqs[i], &s, &c);
        self += s;
        cross += c;
    }
    if (self > INT32_MAX / ENGINE_BLOCK_SIZE || cross > INT32_MAX / ENGINE_BLOCK_SIZE)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "batch too large for the kv cache");
    int32_t ns = e->core.self.n_blocks > self ? e->core.self.n_blocks : (int32_t)self;
    int32_t nc = e->core.cross.n_blocks > cross ? e->core.cross.n_blocks : (int32_t)cross;
    return engine_reserve_pools(&e->core, ns, nc);
}

typedef struct run_ctx {
    glossa_status first_failure;
} run_ctx;

static void on_end(void *ctx, engine_job *j, glossa_status st)
{
    (void)j;
    run_ctx *c = ctx;
    if (st != GLOSSA_STATUS_OK && c->first_failure == GLOSSA_STATUS_OK) c->first_failure = st;
}

static glossa_status run_steps(gen_engine *e, run_ctx *ctx, double t_start)
{
    engine *core = &e->core;
    while (engine_pending(core) > 0) {
        int64_t iterations = core->c.iterations;
        int32_t steps = core->c.decode_steps;
        glossa_status s = engine_step(core);
        if (steps == 0 && core->c.decode_steps > 0) e->stats.first_token_ms = engine_now_ms() - t_start;
        if (ctx->first_failure == GLOSSA_STATUS_OK && s != GLOSSA_STATUS_OK) ctx->first_failure = s;
        if (ctx->first_failure != GLOSSA_STATUS_OK) return ctx->first_failure;
        if (core->c.iterations == iterations && engine_pending(core) > 0)
            return glossa_error(GLOSSA_STATUS_INTERNAL, "the engine made no progress (%d jobs left)",
                                engine_pending(core));
    }
    return GLOSSA_STATUS_OK;
}

glossa_status gen_run(gen_engine *e, gen_request *const *reqs, int32_t n)
{
    if (n <= 0) return GLOSSA_STATUS_OK;
    for (int32_t i = 0; i < n; i++) gen_request_clear_results(reqs[i]);
    memset(&e->stats, 0, sizeof e->stats);
    engine *core = &e->core;
    GLOSSA_TRY(reserve_pools(e, reqs, n));
    engine_job *jobs = calloc((size_t)n, sizeof *jobs);
    if (!jobs) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "request states");
    run_ctx ctx = {GLOSSA_STATUS_OK};
    engine_events ev = {&ctx, NULL, on_end};
    core->ev = ev;
    memset(&core->c, 0, sizeof core->c);
    double t_start = engine_now_ms();
    for (int32_t i = 0; i < n; i++) {
        jobs[i].r = reqs[i];
        engine_submit(core, &jobs[i]);
    }
    glossa_status s = run_steps(e, &ctx, t_start);
    if (s != GLOSSA_STATUS_OK) engine_cancel_all(core, GLOSSA_STATUS_CANCELLED);
    e->stats.total_ms = engine_now_ms() - t_start;
    e->stats.encode_ms = core->c.encode_ms;
    e->stats.decode_ms = core->c.decode_ms;
    e->stats.decode_steps = core->c.decode_steps;
    e->stats.generated_tokens = core->c.generated_tokens;
    if (s != GLOSSA_STATUS_OK)
        for (int32_t i = 0; i < n; i++) gen_request_clear_results(reqs[i]);
    memset(&core->ev, 0, sizeof core->ev);
    free(jobs);
    return s;
}

glossa_status gen_teacher_forced(gen_engine *e, const int32_t *src, int32_t n_src,
                                 const int32_t *dec, int32_t n_dec, float *logits)
{
    if (n_src <= 0 || n_dec <= 0)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "empty source or decoder input");
    kv_pool *self_pool = &e->core.self, *cross_pool = &e->core.cross;
    kv_seq cross = {0}, self = {0};
    int32_t *slots = malloc((size_t)(n_src > n_dec ? n_src : n_dec) * sizeof *slots);
    int32_t *pos = malloc((size_t)n_dec * sizeof *pos);
    glossa_status s = slots && pos ? GLOSSA_STATUS_OK
                                   : glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "teacher forcing");
    int32_t need_self = kv_blocks_for(self_pool, n_dec), need_cross = kv_blocks_for(cross_pool, n_src);
    if (s == GLOSSA_STATUS_OK && (need_self > self_pool->n_blocks || need_cross > cross_pool->n_blocks))
        s = engine_reserve_pools(&e->core, need_self > self_pool->n_blocks ? need_self : self_pool->n_blocks,
                                 need_cross > cross_pool->n_blocks ? need_cross : cross_pool->n_blocks);
    /* after the resize: the pools' buffers */
    bart_kv kv = {self_pool->k, self_pool->v, cross_pool->k, cross_pool->v, ENGINE_BLOCK_SIZE,
                  kv_pool_epochs(self_pool, cross_pool)};
    if (s == GLOSSA_STATUS_OK) s = kv_seq_append(cross_pool, &cross, n_src, slots, NULL);
    if (s == GLOSSA_STATUS_OK) {
        int32_t off[2] = {0, n_src};
        bart_enc_batch b = {1, src, off, slots};
        s = bart_encode(e->model, e->ws, &kv, &b);
    }
    if (s == GLOSSA_STATUS_OK) s = kv_seq_append(self_pool, &self, n_dec, slots, NULL);
    if (s == GLOSSA_STATUS_OK) {
        for (int32_t i = 0; i < n_dec; i++) pos[i] = i;
        int32_t off[2] = {0, n_dec};
        bart_dec_batch b = {1, dec, off, pos, slots, self.blocks, &self.len, self.n_blocks,
                            cross.blocks, &cross.len, cross.n_blocks, true, false, false, false};
        s = bart_decode(e->model, e->ws, &kv, &b, logits);
    }
    kv_seq_free(self_pool, &self);
    kv_seq_free(cross_pool, &cross);
    free(slots);
    free(pos);
    return s;
}
