/* The static-batching baseline (glossa serve --static-batching): the loop takes the waiting
 * requests first-come-first-served, up to --max-batch-size requests and --max-num-tokens encoder
 * tokens, and runs that batch to completion with glossa_model_run(); requests that arrive in the
 * meantime wait for the next batch. The comparison point for in-flight batching. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched.h"

typedef struct st_item {
    glossa_request *r;
    uint64_t id;
    glossa_event_callback cb;
    void *user;
    int32_t prompt_tokens;
    double t_submit;
    bool cancelled;
    struct st_item *next;
} st_item;

struct static_sched {
    glossa_model *m;
    glossa_engine_params p;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    st_item *head, *tail;  /* waiting, FIFO */
    int32_t n_waiting;
    st_item *running;      /* the batch being run (a list) */
    int32_t n_running;
    uint64_t next_id;
    bool woken;
    int64_t prompt_tokens, generated_tokens, iterations;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

glossa_status static_sched_create(glossa_model *m, const glossa_engine_params *p,
                                  static_sched **out)
{
    static_sched *s = calloc(1, sizeof *s);
    if (!s) return GLOSSA_STATUS_OUT_OF_MEMORY;
    s->m = m;
    s->p = *p;
    if (s->p.max_batch_size < 1) s->p.max_batch_size = 1;
    if (s->p.max_num_tokens < 1) s->p.max_num_tokens = 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->next_id = 1;
    *out = s;
    return GLOSSA_STATUS_OK;
}

static void deliver_error(st_item *it, glossa_status status)
{
    glossa_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = GLOSSA_EVENT_ERROR;
    ev.request_id = it->id;
    ev.request = it->r;
    ev.status = status;
    ev.total_ms = (now_s() - it->t_submit) * 1e3;
    ev.prompt_tokens = it->prompt_tokens;
    it->cb(&ev, it->user);
}

void static_sched_free(static_sched *s)
{
    if (!s) return;
    for (st_item *it = s->head, *next; it; it = next) {
        next = it->next;
        deliver_error(it, GLOSSA_STATUS_CANCELLED);
        free(it);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

glossa_status static_sched_submit(static_sched *s, glossa_request *r, int32_t prompt_tokens,
                                  glossa_event_callback cb, void *user, uint64_t *id_out)
{
    if (!r || !cb) return GLOSSA_STATUS_INVALID_ARGUMENT;
    st_item *it = calloc(1, sizeof *it);
    if (!it) return GLOSSA_STATUS_OUT_OF_MEMORY;
    it->r = r;
    it->cb = cb;
    it->user = user;
    it->prompt_tokens = prompt_tokens;
    it->t_submit = now_s();
    pthread_mutex_lock(&s->mu);
    if (s->n_waiting >= s->p.max_queue) {
        pthread_mutex_unlock(&s->mu);
        free(it);
        return GLOSSA_STATUS_BUSY;
    }
    it->id = s->next_id++;
    if (s->tail) s->tail->next = it;
    else s->head = it;
    s->tail = it;
    s->n_waiting++;
    if (id_out) *id_out = it->id;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return GLOSSA_STATUS_OK;
}

glossa_status static_sched_cancel(static_sched *s, uint64_t id)
{
    glossa_status st = GLOSSA_STATUS_NOT_FOUND;
    pthread_mutex_lock(&s->mu);
    for (st_item *it = s->head; it; it = it->next)
        if (it->id == id && !it->cancelled) it->cancelled = true, st = GLOSSA_STATUS_OK;
    for (st_item *it = s->running; it; it = it->next)
        if (it->id == id && !it->cancelled) it->cancelled = true, st = GLOSSA_STATUS_OK;
    s->woken = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return st;
}

void static_sched_get_metrics(static_sched *s, glossa_engine_metrics *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    out->running = s->n_running;
    out->waiting = s->n_waiting;
    out->prompt_tokens = s->prompt_tokens;
    out->generated_tokens = s->generated_tokens;
    out->iterations = s->iterations;
    pthread_mutex_unlock(&s->mu);
}

void static_sched_wake(static_sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->woken = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Under the lock: unlink the cancelled waiting items into *dead, then move the next batch from
 * the queue to s->running. */
static void take_batch(static_sched *s, st_item **dead)
{
    st_item **pp = &s->head, *last = NULL;
    while (*pp) {
        st_item *it = *pp;
        if (it->cancelled) {
            *pp = it->next;
            it->next = *dead;
            *dead = it;
            s->n_waiting--;
        } else {
            last = it;
            pp = &it->next;
        }
    }
    s->tail = last;
    int64_t tokens = 0;
    st_item **rt = &s->running;
    while (s->head && s->n_running < s->p.max_batch_size) {
        st_item *it = s->head;
        if (s->n_running > 0 && tokens + it->prompt_tokens > s->p.max_num_tokens) break;
        tokens += it->prompt_tokens;
        s->head = it->next;
        if (!s->head) s->tail = NULL;
        it->next = NULL;
        *rt = it;
        rt = &it->next;
        s->n_waiting--;
        s->n_running++;
    }
}

static void finish_batch(static_sched *s, st_item *batch, glossa_status run_status, double t_start)
{
    glossa_run_stats stats;
    memset(&stats, 0, sizeof stats);
    if (run_status == GLOSSA_STATUS_OK) glossa_model_last_run_stats(s->m, &stats);
    double t_end = now_s();
    int64_t generated = 0, prompt = 0;
    for (st_item *it = batch, *next; it; it = next) {
        next = it->next;
        pthread_mutex_lock(&s->mu);
        bool cancelled = it->cancelled;
        pthread_mutex_unlock(&s->mu);
        if (run_status != GLOSSA_STATUS_OK || cancelled) {
            deliver_error(it, cancelled ? GLOSSA_STATUS_CANCELLED : run_status);
            free(it);
            continue;
        }
        size_t n = 0;
        glossa_request_result(it->r, 0, NULL, &n, NULL);
        glossa_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = GLOSSA_EVENT_DONE;
        ev.request_id = it->id;
        ev.request = it->r;
        ev.queue_ms = (t_start - it->t_submit) * 1e3;
        ev.first_token_ms = ev.queue_ms + stats.first_token_ms;
        ev.total_ms = (t_end - it->t_submit) * 1e3;
        ev.prompt_tokens = it->prompt_tokens;
        ev.generated_tokens = (int32_t)n;
        generated += (int64_t)n;
        prompt += it->prompt_tokens;
        it->cb(&ev, it->user);
        free(it);
    }
    pthread_mutex_lock(&s->mu);
    s->generated_tokens += generated;
    s->prompt_tokens += prompt;
    s->iterations++;
    pthread_mutex_unlock(&s->mu);
}

void static_sched_step(static_sched *s, int32_t timeout_ms, int32_t *batch_out, bool *left_waiting)
{
    *batch_out = 0;
    *left_waiting = false;
    pthread_mutex_lock(&s->mu);
    if (!s->head && !s->woken) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)timeout_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    s->woken = false;
    st_item *dead = NULL;
    take_batch(s, &dead);
    st_item *batch = s->running;
    int32_t n = s->n_running;
    *batch_out = n;
    *left_waiting = s->n_waiting > 0;
    pthread_mutex_unlock(&s->mu);
    for (st_item *it = dead, *next; it; it = next) {
        next = it->next;
        deliver_error(it, GLOSSA_STATUS_CANCELLED);
        free(it);
    }
    if (!n) return;
    glossa_request **reqs = malloc((size_t)n * sizeof *reqs);
    int32_t k = 0;
    for (st_item *it = batch; reqs && it; it = it->next) reqs[k++] = it->r;
    double t_start = now_s();
    glossa_status st = reqs ? glossa_model_run(s->m, reqs, (size_t)k) : GLOSSA_STATUS_OUT_OF_MEMORY;
    free(reqs);
    pthread_mutex_lock(&s->mu);
    s->running = NULL;
    s->n_running = 0;
    pthread_mutex_unlock(&s->mu);
    finish_batch(s, batch, st, t_start);
}
