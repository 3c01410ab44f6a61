/* The engine's lifecycle, queues, admission and KV policies, and the iteration (see engine.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "runtime/engine_internal.h"

double engine_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void gen_request_clear_results(gen_request *r)
{
    for (int32_t i = 0; i < r->n_results; i++) free(r->results[i].ids);
    free(r->results);
    r->results = NULL;
    r->n_results = 0;
}

void engine_init(engine *e, bart_model *m, bart_ws *ws, threadpool *pool, const engine_config *cfg,
                 const engine_events *ev)
{
    memset(e, 0, sizeof *e);
    e->model = m;
    e->ws = ws;
    /* logits stay on the device except on the CPU backend (where the copy is free); tests force
     * the device path on the CPU with GLOSSA_DEVICE_LOGITS=1 */
    const char *force = getenv("GLOSSA_DEVICE_LOGITS");
    e->device_logits = strcmp(m->be->ops->name, "cpu") != 0 || (force && !strcmp(force, "1"));
    /* GLOSSA_IDS_ONLY=0: passes always keep their logits (A/B of bart_dec_batch.ids_only) */
    const char *ids_only = getenv("GLOSSA_IDS_ONLY");
    e->ids_only_off = ids_only && ids_only[0] == '0';
    const char *pipe = getenv("GLOSSA_PIPELINE");
    e->pipeline_off = pipe && *pipe ? pipe[0] == '0' : !cfg->pipeline;
    e->pool = pool;
    e->cfg = *cfg;
    if (ev) e->ev = *ev;
    const model_config *c = &m->cfg;
    kv_pool_init(&e->self, m->be, c->decoder_layers, c->d_model, ENGINE_BLOCK_SIZE);
    kv_pool_init(&e->cross, m->be, c->decoder_layers, c->d_model, ENGINE_BLOCK_SIZE);
    e->units_per_token = 2 * (int64_t)(c->encoder_layers > 0 ? c->encoder_layers : 1);
    const char *trace = getenv("GLOSSA_ENGINE_TRACE");
    if (trace && *trace && strcmp(trace, "0") != 0) {
        e->trace = !strcmp(trace, "1") ? stderr : fopen(trace, "a");
        if (e->trace && e->trace != stderr) setvbuf(e->trace, NULL, _IOLBF, 0);
    }
}

/* ---- lists (by seq_no) ---- */

static void list_unlink(engine_job **head, engine_job **tail, engine_job *j)
{
    if (j->prev) j->prev->next = j->next;
    else *head = j->next;
    if (j->next) j->next->prev = j->prev;
    else *tail = j->prev;
    j->prev = j->next = NULL;
}

/* Insert keeping seq_no order (from the tail: new arrivals go last in O(1)). */
static void list_insert(engine_job **head, engine_job **tail, engine_job *j)
{
    engine_job *after = *tail;
    while (after && after->seq_no > j->seq_no) after = after->prev;
    j->prev = after;
    j->next = after ? after->next : *head;
    if (j->next) j->next->prev = j;
    else *tail = j;
    if (after) after->next = j;
    else *head = j;
}

static void unlink_job(engine *e, engine_job *j)
{
    if (j->phase == ENGINE_JOB_WAITING) {
        list_unlink(&e->wait_head, &e->wait_tail, j);
        e->n_waiting--;
    } else if (j->phase == ENGINE_JOB_ENCODING || j->phase == ENGINE_JOB_RUNNING) {
        list_unlink(&e->act_head, &e->act_tail, j);
        e->n_active--;
        e->rows_admitted -= j->n_beams;
        e->reserved_self -= j->reserved_self;
        j->reserved_self = 0;
    }
}

void engine_free(engine *e)
{
    if (!e || !e->model) return;
    while (e->wait_head) {
        engine_job *j = e->wait_head;
        unlink_job(e, j);
        engine_job_state_free(e, j);
    }
    while (e->act_head) {
        engine_job *j = e->act_head;
        unlink_job(e, j);
        engine_job_state_free(e, j);
    }
    free(e->ahead);
    kv_pool_free(&e->self);
    kv_pool_free(&e->cross);
    kv_copies_free(&e->cow);
    free(e->logits);
    free(e->argmax);
    engine_bufs *b = &e->b;
    int32_t *arrs[] = {b->ids, b->off, b->pos, b->slots, b->lens, b->xlens, b->tab, b->xtab,
                       b->enc_ids, b->enc_off, b->enc_slots};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) free(arrs[i]);
    free(b->jobs);
    if (e->trace && e->trace != stderr) fclose(e->trace);
    memset(e, 0, sizeof *e);
}

glossa_status engine_reserve_pools(engine *e, int32_t self_blocks, int32_t cross_blocks)
{
    if (e->n_active > 0)
        return glossa_error(GLOSSA_STATUS_INTERNAL, "kv pools resized while %d jobs run", e->n_active);
    if (self_blocks != e->self.n_blocks) GLOSSA_TRY(kv_pool_resize(&e->self, self_blocks));
    if (cross_blocks != e->cross.n_blocks) GLOSSA_TRY(kv_pool_resize(&e->cross, cross_blocks));
    return GLOSSA_STATUS_OK;
}

void engine_job_blocks(const engine *e, const gen_request *r, int32_t *self, int32_t *cross)
{
    int32_t beams = r->p.num_beams > 1 ? r->p.num_beams : 1;
    int64_t s = (int64_t)beams * kv_blocks_for(&e->self, r->p.max_length);
    *self = s > INT32_MAX ? INT32_MAX : (int32_t)s;
    *cross = kv_blocks_for(&e->cross, r->n_src);
}

/* Sequences admitted at once: max_batch_size, and never more than a step's token budget. */
static int64_t batch_limit(const engine *e)
{
    int64_t b = e->cfg.max_batch_size > 0 ? e->cfg.max_batch_size : INT32_MAX;
    if (e->cfg.max_num_tokens > 0 && e->cfg.max_num_tokens < b) b = e->cfg.max_num_tokens;
    return b;
}

glossa_status engine_check(const engine *e, const gen_request *r)
{
    int32_t beams = r->p.num_beams > 1 ? r->p.num_beams : 1, self, cross;
    if (beams > batch_limit(e))
        return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                            "num_beams %d exceeds the engine's batch of %lld sequences "
                            "(max_batch_size, max_num_tokens)", beams, (long long)batch_limit(e));
    engine_job_blocks(e, r, &self, &cross);
    if (self > e->self.n_blocks)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                            "the request needs %d KV blocks of %d tokens (num_beams %d x max length "
                            "%d) and the cache has %d: lower max_new_tokens or num_beams, or raise "
                            "kv_cache_bytes", self, e->self.block_size, beams, r->p.max_length,
                            e->self.n_blocks);
    if (cross > e->cross.n_blocks)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT,
                            "an input of %d tokens needs %d cross-attention KV blocks and the cache "
                            "has %d: raise kv_cache_bytes", r->n_src, cross, e->cross.n_blocks);
    return GLOSSA_STATUS_OK;
}

void engine_submit(engine *e, engine_job *j)
{
    gen_request_clear_results(j->r);
    j->phase = ENGINE_JOB_WAITING;
    j->seq_no = e->next_seq++;
    if (j->t_submit == 0) j->t_submit = engine_now_ms();
    list_insert(&e->wait_head, &e->wait_tail, j);
    e->n_waiting++;
}

void engine_job_end(engine *e, engine_job *j, glossa_status status)
{
    if (j->phase == ENGINE_JOB_DONE) return;
    unlink_job(e, j);
    engine_job_state_free(e, j);
    j->phase = ENGINE_JOB_DONE;
    if (status != GLOSSA_STATUS_OK) gen_request_clear_results(j->r);
    if (e->ev.end) e->ev.end(e->ev.ctx, j, status);
}

void engine_cancel(engine *e, engine_job *j, glossa_status status)
{
    engine_job_end(e, j, status);
}

void engine_cancel_all(engine *e, glossa_status status)
{
    while (e->act_head) engine_job_end(e, e->act_head, status);
    while (e->wait_head) engine_job_end(e, e->wait_head, status);
}

int32_t engine_pending(const engine *e)
{
    return e->n_waiting + e->n_active;
}

int32_t engine_kv_blocks_used(const engine *e)
{
    return (e->self.n_blocks - e->self.n_free) + (e->cross.n_blocks - e->cross.n_free);
}

/* MAX_UTIL: free every block of j and put it back in the queue, in arrival order (it is older
 * than every waiting job, so it goes first), to be recomputed from scratch. */
static void preempt(engine *e, engine_job *j)
{
    unlink_job(e, j);
    engine_job_state_free(e, j);
    j->phase = ENGINE_JOB_WAITING;
    j->prepaid = j->in_step = false;
    j->preemptions++;
    e->c.preemptions++;
    list_insert(&e->wait_head, &e->wait_tail, j);
    e->n_waiting++;
}

/* ---- admission ---- */

/* MAX_UTIL: self blocks the next step of every admitted job takes (encoding jobs: one a beam). */
static int64_t pending_step_blocks(const engine *e)
{
    int64_t n = 0;
    for (const engine_job *j = e->act_head; j; j = j->next)
        n += j->phase == ENGINE_JOB_RUNNING ? engine_job_step_blocks(e, j) : j->n_beams;
    return n;
}

static bool can_admit(const engine *e, const engine_job *j, int64_t pending_self)
{
    int32_t beams = j->r->p.num_beams > 1 ? j->r->p.num_beams : 1, self, cross;
    if (e->rows_admitted + beams > batch_limit(e)) return false;
    engine_job_blocks(e, j->r, &self, &cross);
    if (cross > e->cross.n_free) return false;
    if (e->cfg.policy == ENGINE_POLICY_NO_EVICT) return e->reserved_self + self <= e->self.n_blocks;
    return e->self.n_free - pending_self >= beams;
}

/* Admit the queue's head: decoding state, cross blocks, the reservation. */
static glossa_status admit(engine *e, engine_job *j)
{
    list_unlink(&e->wait_head, &e->wait_tail, j);
    e->n_waiting--;
    j->phase = ENGINE_JOB_ENCODING;
    list_insert(&e->act_head, &e->act_tail, j);
    e->n_active++;
    j->n_beams = j->r->p.num_beams > 1 ? j->r->p.num_beams : 1;
    e->rows_admitted += j->n_beams;
    j->prepaid = j->in_step = false;
    GLOSSA_TRY(engine_job_state_init(e, j));
    GLOSSA_TRY(kv_seq_append(&e->cross, &j->cross, j->r->n_src, j->xslots, NULL));
    if (e->cfg.policy == ENGINE_POLICY_NO_EVICT) {
        int32_t self, cross;
        engine_job_blocks(e, j->r, &self, &cross);
        j->reserved_self = self;
        e->reserved_self += self;
    }
    if (j->t_admit == 0) j->t_admit = engine_now_ms();
    return GLOSSA_STATUS_OK;
}

static glossa_status reserve_jobs(engine *e, int32_t n)
{
    if (n <= e->b.cap_jobs) return GLOSSA_STATUS_OK;
    int32_t cap = e->b.cap_jobs ? e->b.cap_jobs : 64;
    while (cap < n) cap *= 2;
    engine_job **p = realloc(e->b.jobs, (size_t)cap * sizeof *p);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "job list");
    e->b.jobs = p;
    e->b.cap_jobs = cap;
    return GLOSSA_STATUS_OK;
}

/* A job whose chunked encoder just finished takes its first step's rows from the budget; when
 * they do not fit, nothing newer is admitted in this iteration (it decodes first, next time). */
static void charge_first_step(engine *e, engine_job *j, int64_t *left)
{
    if (j->phase != ENGINE_JOB_RUNNING || j->in_step || j->prepaid) return;
    int64_t rows = (int64_t)j->n_beams * e->units_per_token;
    if (*left >= rows) {
        *left -= rows;
        j->prepaid = true;
    } else {
        *left = 0;
    }
}

/* Admissions, first come first served, while the budget, the batch and the KV policy allow: a
 * job whose input and first step fit the budget left joins the whole group (one packed encoder
 * pass), else its encoder starts chunked with what is left. Returns the whole group's size. */
static int32_t admit_waiting(engine *e, int64_t *left, int64_t *used)
{
    int64_t U = e->units_per_token;
    int64_t pending = e->cfg.policy == ENGINE_POLICY_MAX_UTIL ? pending_step_blocks(e) : 0;
    int32_t n_whole = 0;
    while (e->wait_head && *left > 0 && can_admit(e, e->wait_head, pending)) {
        engine_job *j = e->wait_head;
        glossa_status s = admit(e, j);
        e->it.admitted++;
        if (s != GLOSSA_STATUS_OK) {
            engine_job_end(e, j, s);
            continue;
        }
        pending += j->n_beams;
        int64_t cost = ((int64_t)j->r->n_src + j->n_beams) * U;
        if (cost <= *left) {
            e->b.jobs[n_whole++] = j;
            j->prepaid = true;
            *left -= cost;
            *used += (int64_t)j->r->n_src * U;
            continue;
        }
        int64_t before = *left;
        s = engine_encode_chunk(e, j, left);
        *used += before - *left;
        if (s != GLOSSA_STATUS_OK) engine_job_end(e, j, s);
        else charge_first_step(e, j, left);
    }
    return n_whole;
}

/* Whether this iteration admits (vLLM's scheduler delay): always with no delay factor or nothing
 * running; else once the oldest waiting request has waited delay_factor times the last admitting
 * iteration's time, so that arrivals gather into fewer encoder passes between decode steps. */
static bool admit_due(const engine *e, double now)
{
    if (!(e->cfg.delay_factor > 0.0f) || e->n_active == 0 || !e->wait_head) return true;
    return now - e->wait_head->t_submit >= (double)e->cfg.delay_factor * e->last_admit_ms;
}

/* ---- the iteration ---- */

/* The decode set, in arrival order: jobs running since an earlier iteration, and those whose
 * encoder finished in this one with their first step paid for (the others decode next time). */
static int32_t decode_set(engine *e)
{
    int32_t n = 0;
    for (engine_job *j = e->act_head; j; j = j->next) {
        if (j->phase != ENGINE_JOB_RUNNING || (!j->in_step && !j->prepaid)) continue;
        j->in_step = true;
        j->prepaid = false;
        e->b.jobs[n++] = j;
    }
    return n;
}

/* MAX_UTIL: preempt the newest jobs of the step until its self blocks fit. */
static int32_t make_room(engine *e, int32_t n)
{
    int64_t need = 0;
    for (int32_t i = 0; i < n; i++) need += engine_job_step_blocks(e, e->b.jobs[i]);
    while (n > 1 && need > e->self.n_free) {
        engine_job *victim = e->b.jobs[--n];
        need -= engine_job_step_blocks(e, victim);
        preempt(e, victim);
    }
    return n;
}

static void trace_iter(engine *e, double t0)
{
    engine_iter_stats *it = &e->it;
    double t1 = engine_now_ms();
    it->step_ms = t1 - t0;
    it->gap_ms = e->trace_prev_end > 0 ? t0 - e->trace_prev_end : 0;
    e->trace_prev_end = t1;
    if (!e->trace) return;
    fprintf(e->trace,
            "glossa-iter t=%.3f it=%lld wait=%d act=%d adm=%d enc_jobs=%d enc_tok=%d chunk=%lld "
            "dec_jobs=%d rows=%d maxlen=%d enc_ms=%.3f fwd_ms=%.3f sel_ms=%.3f post_ms=%.3f "
            "step_ms=%.3f gap_ms=%.3f\n",
            t1, (long long)e->c.iterations, it->waiting, it->active, it->admitted, it->whole_jobs,
            it->whole_tokens, (long long)it->chunk_units, it->dec_jobs, it->dec_rows,
            it->max_self_len, it->enc_ms, it->fwd_ms, it->sel_ms, it->post_ms, it->step_ms,
            it->gap_ms);
}

glossa_status engine_step(engine *e)
{
    if (!e->act_head && !e->wait_head) return GLOSSA_STATUS_OK;
    double t0 = engine_now_ms();
    memset(&e->it, 0, sizeof e->it);
    e->it.waiting = e->n_waiting;
    e->it.active = e->n_active;
    glossa_status ret = reserve_jobs(e, e->n_active + e->n_waiting);
    if (ret != GLOSSA_STATUS_OK) return ret;
    int64_t U = e->units_per_token;
    int64_t left = e->cfg.max_num_tokens > 0 ? e->cfg.max_num_tokens * U : INT64_MAX / 4;
    int64_t used = 0;
    /* 1. rows of jobs running since an earlier iteration */
    for (engine_job *j = e->act_head; j; j = j->next) {
        j->in_step = j->phase == ENGINE_JOB_RUNNING;
        if (j->in_step) left -= (int64_t)j->n_beams * U;
    }
    /* 2. chunked encoders admitted earlier, oldest first */
    for (engine_job *j = e->act_head, *next; j && left > 0; j = next) {
        next = j->next;
        if (j->phase != ENGINE_JOB_ENCODING) continue;
        int64_t before = left;
        glossa_status s = engine_encode_chunk(e, j, &left);
        used += before - left;
        if (s != GLOSSA_STATUS_OK) {
            engine_job_end(e, j, s);
            ret = s;
        } else {
            charge_first_step(e, j, &left);
        }
    }
    /* 3. admissions, the whole group's encoder pass */
    /* (not while a pass is queued ahead: a new job would not be in it; the step that uses it
     * queues no other while jobs wait, so the wait is one step) */
    int32_t n_whole = e->n_ahead == 0 && admit_due(e, t0) ? admit_waiting(e, &left, &used) : 0;
    if (n_whole > 0) {
        glossa_status s = engine_encode_whole(e, e->b.jobs, n_whole);
        if (s != GLOSSA_STATUS_OK) {
            for (int32_t i = 0; i < n_whole; i++) engine_job_end(e, e->b.jobs[i], s);
            ret = s;
        }
    }
    /* 4. the decode step */
    int32_t n = decode_set(e);
    if (e->cfg.policy == ENGINE_POLICY_MAX_UTIL) n = make_room(e, n);
    for (int32_t i = 0; i < n; i++) used += (int64_t)e->b.jobs[i]->n_beams * U;
    if (n > 0) {
        glossa_status s = engine_decode_step(e, e->b.jobs, n);
        if (s != GLOSSA_STATUS_OK) ret = s;
    }
    if (used > 0) e->c.iterations++;
    e->c.last_iter_units = used;
    if (used > e->c.max_iter_units) e->c.max_iter_units = used;
    trace_iter(e, t0); /* sets it.step_ms */
    if (e->it.admitted > 0) {
        e->last_admit_ms = e->it.step_ms;
        e->c.admit_iterations++;
    }
    return ret;
}
