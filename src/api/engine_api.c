/* Public engine API (include/glossa.h): the thread-safe shell around the engine core
 * (runtime/engine.h). Any thread submits, cancels, reads metrics and wakes the loop; one thread
 * (the inference loop) steps. Submissions and cancellations are posted under a mutex and taken
 * into the core at the start of the next step, so the core itself is touched by the loop thread
 * only. Events run on the loop thread without the mutex held (a callback may submit). */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "core/log.h"
#include "core/status.h"

#define ENGINE_DEFAULT_KV_BYTES ((int64_t)1 << 30)

typedef struct eng_sub eng_sub;

struct eng_sub {
    engine_job job;
    glossa_request *req;
    glossa_event_callback cb;
    void *user;
    uint64_t id;
    bool cancel, cancel_taken;     /* under mu */
    eng_sub *live_prev, *live_next; /* every submitted, not ended sub (under mu) */
    eng_sub *in_next;               /* the incoming queue (under mu), then the step's list */
    eng_sub *cancel_next;           /* the step's cancellations */
};

struct glossa_engine {
    glossa_model *m;
    glossa_engine_params p;
    engine core;                /* the loop thread's */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    eng_sub *live;
    eng_sub *in_head, *in_tail;
    int32_t n_in, n_cancel;
    uint64_t next_id;
    bool woken, stepping;
    glossa_engine_metrics snap; /* the core after the last step (waiting without n_in) */
    bool last_step_ran;         /* the loop thread's: the last step did work (core.it is its) */
    engine_counters counters;
};

glossa_engine_params glossa_engine_default_params(void)
{
    glossa_engine_params p = {4096, 256, GLOSSA_POLICY_GUARANTEED_NO_EVICT, 1024, 0, 0.9f, 0, 0.0f};
    return p;
}

static eng_sub *sub_of(engine_job *j)
{
    return (eng_sub *)((char *)j - offsetof(eng_sub, job));
}

static void live_unlink(glossa_engine *e, eng_sub *s)
{
    if (s->live_prev) s->live_prev->live_next = s->live_next;
    else e->live = s->live_next;
    if (s->live_next) s->live_next->live_prev = s->live_prev;
    s->live_prev = s->live_next = NULL;
}

static void on_token(void *ctx, engine_job *j, const int32_t *ids, int32_t n)
{
    (void)ctx;
    eng_sub *s = sub_of(j);
    glossa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = GLOSSA_EVENT_TOKEN;
    ev.request_id = s->id;
    ev.request = s->req;
    ev.ids = ids;
    ev.n_ids = (size_t)n;
    ev.status = GLOSSA_STATUS_OK;
    if (s->cb) s->cb(&ev, s->user);
}

static void on_end(void *ctx, engine_job *j, glossa_status st)
{
    glossa_engine *e = ctx;
    eng_sub *s = sub_of(j);
    double now = engine_now_ms();
    glossa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = st == GLOSSA_STATUS_OK ? GLOSSA_EVENT_DONE : GLOSSA_EVENT_ERROR;
    ev.request_id = s->id;
    ev.request = s->req;
    ev.status = st;
    ev.queue_ms = (j->t_admit > 0 ? j->t_admit : now) - j->t_submit;
    ev.first_token_ms = j->t_first > 0 ? j->t_first - j->t_submit : 0;
    ev.total_ms = now - j->t_submit;
    ev.prompt_tokens = j->r->n_src;
    ev.generated_tokens = j->steps;
    pthread_mutex_lock(&e->mu);
    live_unlink(e, s);
    s->req->in_engine = false;
    pthread_mutex_unlock(&e->mu);
    if (s->cb) s->cb(&ev, s->user);
    free(s);
}

/* Without kv_cache_bytes on a device that can say how much memory is free (CUDA): that fraction
 * of what is free once the model is loaded, as TensorRT-LLM's free_gpu_memory_fraction (the rest
 * stays for activations, logits and library workspaces, which grow on demand); else 1 GiB. */
static int64_t free_fraction_bytes(const glossa_engine *e)
{
    backend *be = e->core.model->be;
    float f = e->p.kv_cache_free_fraction;
    size_t free_b = 0, total_b = 0;
    if (!be->ops->mem_info || !(f > 0.0f && f <= 1.0f) ||
        be->ops->mem_info(be, &free_b, &total_b) != GLOSSA_STATUS_OK)
        return ENGINE_DEFAULT_KV_BYTES;
    int64_t bytes = (int64_t)((double)free_b * f);
    GLOSSA_LOG_INFO("K/V cache: %.2f of %lld MiB free (of %lld MiB) = %lld MiB", f,
                    (long long)(free_b >> 20), (long long)(total_b >> 20), (long long)(bytes >> 20));
    return bytes;
}

/* The pools: kv_cache_bytes, else free_fraction_bytes(), grown for kv_min_length. Why grow: guaranteed-no-evict
 * reserves num_beams x blocks(max_length) self blocks per request at admission, so the pool, not
 * max_batch_size, caps the batch when it is small. Measured (2026-11-26): mbart-large-50 in fp16
 * takes 48 KiB of K/V a token, so 1 GiB is 1365 blocks of 16 tokens, 1023 of them self: 113
 * requests of 128 new tokens (9 blocks each) under no-evict, about 130 under max-utilization
 * (the 342 cross blocks run out) — the 111 / 133 decode rows an H200 ran at saturation with
 * --max-batch-size 256. */
static glossa_status size_pools(glossa_engine *e)
{
    int64_t block_bytes = (int64_t)kv_pool_bytes_per_token(&e->core.self) * ENGINE_BLOCK_SIZE;
    int64_t bytes = e->p.kv_cache_bytes > 0 ? e->p.kv_cache_bytes : free_fraction_bytes(e);
    bool fallback = e->p.kv_cache_bytes <= 0 && bytes != ENGINE_DEFAULT_KV_BYTES;
    if (e->p.kv_cache_bytes <= 0 && e->p.kv_min_length > 0) {
        int64_t self = (int64_t)e->p.max_batch_size * kv_blocks_for(&e->core.self, e->p.kv_min_length);
        int64_t need = (self + (self + 2) / 3) * block_bytes; /* self is 3/4 of the blocks */
        if (need > bytes) bytes = need, fallback = true;
    }
    for (;;) {
        int64_t blocks = bytes / block_bytes;
        if (blocks > INT32_MAX / ENGINE_BLOCK_SIZE) blocks = INT32_MAX / ENGINE_BLOCK_SIZE;
        /* self-attention 3/4: num_beams x output length usually outweighs the input */
        int64_t self = blocks * 3 / 4, cross = blocks - self;
        if (self < 1 || cross < 1)
            return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                                "kv_cache_bytes %lld holds %lld blocks of %d tokens (%lld bytes "
                                "each); at least 2 are needed", (long long)bytes, (long long)blocks,
                                ENGINE_BLOCK_SIZE, (long long)block_bytes);
        glossa_status st = engine_reserve_pools(&e->core, (int32_t)self, (int32_t)cross);
        if (st != GLOSSA_STATUS_OUT_OF_MEMORY || !fallback) return st;
        GLOSSA_LOG_WARN("a K/V cache of %lld MiB cannot be allocated; 1 GiB instead",
                        (long long)(bytes >> 20));
        engine_reserve_pools(&e->core, 0, 0);
        bytes = ENGINE_DEFAULT_KV_BYTES;
        fallback = false;
    }
}

static glossa_status check_params(const glossa_engine_params *p)
{
    if (p->max_num_tokens < 1)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "max_num_tokens %d < 1", p->max_num_tokens);
    if (p->max_batch_size < 1)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "max_batch_size %d < 1", p->max_batch_size);
    if (p->max_queue < 1)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "max_queue %d < 1", p->max_queue);
    if (!(p->scheduler_delay_factor >= 0.0f && p->scheduler_delay_factor <= 1000.0f))
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "scheduler_delay_factor %g outside [0, 1000]",
                            (double)p->scheduler_delay_factor);
    if (p->policy != GLOSSA_POLICY_GUARANTEED_NO_EVICT && p->policy != GLOSSA_POLICY_MAX_UTILIZATION)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "unknown policy %d", (int)p->policy);
    return GLOSSA_STATUS_OK;
}

static void snapshot(glossa_engine *e)
{
    const engine *c = &e->core;
    e->snap.running = c->n_active;
    e->snap.waiting = c->n_waiting;
    e->snap.kv_blocks_used = engine_kv_blocks_used(c);
    e->snap.kv_blocks_total = c->self.n_blocks + c->cross.n_blocks;
    e->snap.preemptions = c->c.preemptions;
    e->snap.prompt_tokens = c->c.prompt_tokens;
    e->snap.generated_tokens = c->c.generated_tokens;
    e->snap.iterations = c->c.iterations;
    e->counters = c->c;
}

glossa_status glossa_engine_create(glossa_model *m, const glossa_engine_params *params,
                                   glossa_engine **out)
{
    if (!m || !out) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    *out = NULL;
    glossa_engine_params dflt = glossa_engine_default_params();
    if (!params) params = &dflt;
    GLOSSA_TRY(check_params(params));
    glossa_engine *e = calloc(1, sizeof *e);
    if (!e) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "engine");
    e->m = m;
    e->p = *params;
    engine_config cfg = {params->max_num_tokens, params->max_batch_size,
                         params->policy == GLOSSA_POLICY_MAX_UTILIZATION ? ENGINE_POLICY_MAX_UTIL
                                                                         : ENGINE_POLICY_NO_EVICT,
                         params->scheduler_delay_factor,
                         /* not pipelined by default: with requests arriving all the time a queued
                          * pass delays admissions a step; H100 sweep at 512 req/s: p50 44 vs 42 ms
                          * (docs/PERF.md). GLOSSA_PIPELINE=1 turns it on. */
                         false};
    engine_events ev = {e, on_token, on_end};
    engine_init(&e->core, m->bart, m->eng.ws, m->eng.pool, &cfg, &ev);
    glossa_status s = size_pools(e);
    if (s == GLOSSA_STATUS_OK && pthread_mutex_init(&e->mu, NULL) != 0)
        s = glossa_error(GLOSSA_STATUS_INTERNAL, "engine mutex");
    if (s == GLOSSA_STATUS_OK && pthread_cond_init(&e->cv, NULL) != 0) {
        pthread_mutex_destroy(&e->mu);
        s = glossa_error(GLOSSA_STATUS_INTERNAL, "engine condition variable");
    }
    if (s != GLOSSA_STATUS_OK) {
        engine_free(&e->core);
        free(e);
        return s;
    }
    snapshot(e);
    *out = e;
    return GLOSSA_STATUS_OK;
}

/* Under mu: take the incoming queue (its subs join the core's waiting count at once, so BUSY
 * stays exact) and the cancellations not yet taken. */
static void take_posted(glossa_engine *e, eng_sub **incoming, eng_sub **cancels)
{
    *incoming = e->in_head;
    e->snap.waiting += e->n_in;
    e->in_head = e->in_tail = NULL;
    e->n_in = 0;
    *cancels = NULL;
    if (e->n_cancel == 0) return;
    for (eng_sub *s = e->live; s; s = s->live_next)
        if (s->cancel && !s->cancel_taken) {
            s->cancel_taken = true;
            s->cancel_next = *cancels;
            *cancels = s;
        }
    e->n_cancel = 0;
}

/* Loop thread: move posted work into the core. */
static void apply_posted(glossa_engine *e)
{
    eng_sub *incoming, *cancels;
    pthread_mutex_lock(&e->mu);
    take_posted(e, &incoming, &cancels);
    pthread_mutex_unlock(&e->mu);
    for (eng_sub *s = incoming, *next; s; s = next) {
        next = s->in_next;
        s->in_next = NULL;
        engine_submit(&e->core, &s->job);
    }
    for (eng_sub *s = cancels, *next; s; s = next) {
        next = s->cancel_next;
        engine_cancel(&e->core, &s->job, GLOSSA_STATUS_CANCELLED);
    }
}

void glossa_engine_free(glossa_engine *e)
{
    if (!e) return;
    apply_posted(e);
    engine_cancel_all(&e->core, GLOSSA_STATUS_CANCELLED);
    engine_free(&e->core);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

glossa_status glossa_engine_submit(glossa_engine *e, glossa_request *r, glossa_event_callback cb,
                                   void *user_data, uint64_t *id_out)
{
    if (!e || !r) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    if (r->model != e->m)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "the request belongs to another model");
    GLOSSA_TRY(engine_check(&e->core, &r->g));
    eng_sub *s = calloc(1, sizeof *s);
    if (!s) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "engine submission");
    s->req = r;
    s->cb = cb;
    s->user = user_data;
    s->job.r = &r->g;
    s->job.t_submit = engine_now_ms();
    glossa_status st = GLOSSA_STATUS_OK;
    pthread_mutex_lock(&e->mu);
    if (r->in_engine) {
        st = glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "the request is already in the engine");
    } else if (e->snap.waiting + e->n_in >= e->p.max_queue) {
        st = glossa_error(GLOSSA_STATUS_BUSY, "the engine's queue is full (%d waiting)",
                          e->snap.waiting + e->n_in);
    } else {
        s->id = ++e->next_id;
        r->in_engine = true;
        s->live_next = e->live;
        if (e->live) e->live->live_prev = s;
        e->live = s;
        if (e->in_tail) e->in_tail->in_next = s;
        else e->in_head = s;
        e->in_tail = s;
        e->n_in++;
        if (id_out) *id_out = s->id;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    if (st != GLOSSA_STATUS_OK) free(s);
    return st;
}

glossa_status glossa_engine_cancel(glossa_engine *e, uint64_t id)
{
    if (!e) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    glossa_status st = GLOSSA_STATUS_OK;
    pthread_mutex_lock(&e->mu);
    eng_sub *s = e->live;
    while (s && s->id != id) s = s->live_next;
    if (!s) {
        st = glossa_error(GLOSSA_STATUS_NOT_FOUND, "no request %llu in the engine",
                          (unsigned long long)id);
    } else if (!s->cancel) {
        s->cancel = true;
        e->n_cancel++;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return st;
}

glossa_status glossa_engine_step(glossa_engine *e, int32_t *active_out)
{
    if (!e) return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "NULL argument");
    pthread_mutex_lock(&e->mu);
    bool busy = e->stepping;
    e->stepping = true;
    pthread_mutex_unlock(&e->mu);
    if (busy)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT,
                            "glossa_engine_step called from two threads at once");
    apply_posted(e);
    int64_t iters = e->core.c.iterations;
    glossa_status st = engine_step(&e->core);
    e->last_step_ran = e->core.c.iterations != iters;
    pthread_mutex_lock(&e->mu);
    snapshot(e);
    e->stepping = false;
    int32_t active = engine_pending(&e->core) + e->n_in;
    pthread_mutex_unlock(&e->mu);
    if (active_out) *active_out = active;
    return st;
}

static bool has_work(const glossa_engine *e)
{
    return e->woken || e->n_in > 0 || e->n_cancel > 0 || e->snap.running > 0 || e->snap.waiting > 0;
}

void glossa_engine_wait(glossa_engine *e, int32_t timeout_ms)
{
    if (!e) return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&e->mu);
    while (!has_work(e) && timeout_ms > 0)
        if (pthread_cond_timedwait(&e->cv, &e->mu, &until) == ETIMEDOUT) break;
    e->woken = false;
    pthread_mutex_unlock(&e->mu);
}

void glossa_engine_wake(glossa_engine *e)
{
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->woken = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void glossa_engine_get_metrics(glossa_engine *e, glossa_engine_metrics *out)
{
    if (!e || !out) return;
    pthread_mutex_lock(&e->mu);
    *out = e->snap;
    out->waiting += e->n_in;
    pthread_mutex_unlock(&e->mu);
}

void glossa_engine_last_step(const glossa_engine *e, glossa_engine_step_info *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!e || !e->last_step_ran) return;
    const engine_iter_stats *it = &e->core.it;
    out->decode_rows = it->dec_rows;
    out->decode_requests = it->dec_jobs;
    out->admitted = it->admitted;
    out->encoder_tokens = it->whole_tokens;
    out->waiting = e->core.n_waiting;
}

void glossa_engine_debug_counters(glossa_engine *e, engine_counters *out, int64_t *units_per_token)
{
    pthread_mutex_lock(&e->mu);
    if (out) *out = e->counters;
    if (units_per_token) *units_per_token = e->core.units_per_token;
    pthread_mutex_unlock(&e->mu);
}
