/* The inference loop thread over the engine or the static-batching baseline (see sched.h).
 *
 * Streamed tokens are coalesced here. The engine reports every running request's new token at
 * every iteration; the server turns each report into a wake-up of the request's HTTP thread
 * (which re-reads and re-detokenizes the whole output). With hundreds of streams and iterations
 * of a millisecond or two that is 10^5 wake-ups a second: measured on a 2-core CPU with the tiny
 * model, 20-30 us of the loop thread per token (lock hand-offs with the woken threads) and as much
 * again in the HTTP threads and the clients, which made in-flight batching slower than the static
 * baseline (which streams nothing until the end; docs/PERF.md). So a stream's first tokens go out
 * at once (time to first token is unchanged), later ones at most once per interval of
 * SCHED_STREAM_US per open stream (at most SCHED_STREAM_MAX_MS): about 10^6 / SCHED_STREAM_US
 * wake-ups a second for all streams together. One stream waits at most 1 ms (a model whose step
 * takes longer streams every token as before); the held tokens of a request always go out before
 * its end event. */
#include "sched.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

#define SCHED_STREAM_US 1000    /* interval per open stream */
#define SCHED_STREAM_MAX_MS 100 /* the interval at most */

struct srv_sched {
    glossa_engine *engine;  /* in-flight batching, or */
    static_sched *st;       /* the static-batching baseline */
    srv_metrics *metrics;   /* batch sizes; may be NULL */
    pthread_t thread;
    bool running;
    atomic_bool stop;
    int32_t n_streams;      /* requests that streamed a token and did not end (loop thread) */
};

/* One engine submission: its callback, and the tokens not yet passed on. */
typedef struct sched_stream {
    srv_sched *s;
    glossa_event_callback cb;
    void *user;
    int32_t *ids;
    size_t n_ids, cap_ids;
    double t_sent;          /* ms of the last TOKEN event passed on; 0: none yet */
    bool tokens;            /* pass TOKEN events on (false: a whole-reply waiter, DONE only) */
    bool started;
} sched_stream;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void stream_flush(sched_stream *st, const glossa_event *ev, double now)
{
    if (st->n_ids == 0) return;
    glossa_event out = *ev;
    out.kind = GLOSSA_EVENT_TOKEN;
    out.ids = st->ids;
    out.n_ids = st->n_ids;
    out.status = GLOSSA_STATUS_OK;
    st->n_ids = 0;
    st->t_sent = now;
    st->cb(&out, st->user);
}

/* Hold n more tokens of a stream; false when there is no room (nothing held changes). */
static bool stream_hold(sched_stream *st, const int32_t *ids, size_t n)
{
    if (st->n_ids + n > st->cap_ids) {
        size_t cap = st->cap_ids ? st->cap_ids * 2 : 64;
        while (cap < st->n_ids + n) cap *= 2;
        int32_t *p = realloc(st->ids, cap * sizeof *p);
        if (!p) return false;
        st->ids = p;
        st->cap_ids = cap;
    }
    if (n) memcpy(st->ids + st->n_ids, ids, n * sizeof *ids);
    st->n_ids += n;
    return true;
}

/* On the loop thread (events run there). Tokens are copied here only when they are held: an
 * event that goes out at once with nothing held before it is passed on as it is (the job's
 * callback makes the one copy the HTTP thread needs). */
static void stream_event(const glossa_event *ev, void *user)
{
    sched_stream *st = user;
    srv_sched *s = st->s;
    if (ev->kind == GLOSSA_EVENT_TOKEN) {
        if (!st->tokens) return; /* nothing held, not counted among the open streams */
        if (!st->started) {
            st->started = true;
            s->n_streams++;
        }
        double now = now_ms(), interval = (double)s->n_streams * SCHED_STREAM_US * 1e-3;
        if (interval > SCHED_STREAM_MAX_MS) interval = SCHED_STREAM_MAX_MS;
        bool due = st->t_sent == 0 || now - st->t_sent >= interval;
        if (due && st->n_ids == 0) {
            st->t_sent = now;
            st->cb(ev, st->user);
        } else if (!stream_hold(st, ev->ids, ev->n_ids)) {
            /* no room to hold them: pass on what is held, then this one as it is */
            stream_flush(st, ev, now);
            st->cb(ev, st->user);
        } else if (due) {
            stream_flush(st, ev, now);
        }
        return;
    }
    /* DONE / ERROR: the held tokens first */
    stream_flush(st, ev, now_ms());
    if (st->started) s->n_streams--;
    glossa_event_callback cb = st->cb;
    void *u = st->user;
    free(st->ids);
    free(st);
    cb(ev, u);
}

glossa_status sched_create(glossa_model *m, const glossa_engine_params *p, bool static_batching,
                           srv_metrics *metrics, srv_sched **out)
{
    *out = NULL;
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return GLOSSA_STATUS_OUT_OF_MEMORY;
    s->metrics = metrics;
    glossa_status st = static_batching ? static_sched_create(m, p, &s->st)
                                       : glossa_engine_create(m, p, &s->engine);
    if (st != GLOSSA_STATUS_OK) {
        free(s);
        return st;
    }
    *out = s;
    return GLOSSA_STATUS_OK;
}

void sched_free(srv_sched *s)
{
    if (!s) return;
    sched_stop(s);
    if (s->engine) glossa_engine_free(s->engine);
    if (s->st) static_sched_free(s->st);
    free(s);
}

static void *loop_main(void *arg)
{
    srv_sched *s = arg;
    int fails = 0;
    while (!atomic_load(&s->stop)) {
        if (s->st) {
            int32_t batch = 0;
            bool waiting = false;
            static_sched_step(s->st, 100, &batch, &waiting);
            metrics_observe_batch(s->metrics, batch, waiting);
            continue;
        }
        int32_t active = 0;
        glossa_status st = glossa_engine_step(s->engine, &active);
        glossa_engine_step_info info;
        glossa_engine_last_step(s->engine, &info);
        metrics_observe_batch(s->metrics, info.decode_rows, info.waiting > 0);
        if (st != GLOSSA_STATUS_OK) {
            /* the engine reports a failed iteration through the requests' ERROR events; do not
             * spin on a persistent failure */
            if (fails++ < 10)
                fprintf(stderr, "glossa serve: engine step: %s: %s\n", glossa_status_name(st),
                        glossa_last_error());
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        fails = 0;
        if (active == 0) glossa_engine_wait(s->engine, 100);
    }
    return NULL;
}

glossa_status sched_start(srv_sched *s)
{
    atomic_store(&s->stop, false);
    if (pthread_create(&s->thread, NULL, loop_main, s)) return GLOSSA_STATUS_INTERNAL;
    s->running = true;
    return GLOSSA_STATUS_OK;
}

void sched_stop(srv_sched *s)
{
    if (!s->running) return;
    atomic_store(&s->stop, true);
    if (s->engine) glossa_engine_wake(s->engine);
    else static_sched_wake(s->st);
    pthread_join(s->thread, NULL);
    s->running = false;
}

glossa_status sched_submit(srv_sched *s, glossa_request *r, int32_t prompt_tokens, bool tokens,
                           glossa_event_callback cb, void *user, uint64_t *id_out)
{
    if (s->st) return static_sched_submit(s->st, r, prompt_tokens, cb, user, id_out);
    if (!cb) return glossa_engine_submit(s->engine, r, cb, user, id_out);
    sched_stream *st = calloc(1, sizeof *st);
    if (!st) return GLOSSA_STATUS_OUT_OF_MEMORY;
    st->tokens = tokens;
    st->s = s;
    st->cb = cb;
    st->user = user;
    glossa_status rc = glossa_engine_submit(s->engine, r, stream_event, st, id_out);
    if (rc != GLOSSA_STATUS_OK) free(st); /* else st belongs to its events (it may be gone now) */
    return rc;
}

glossa_status sched_cancel(srv_sched *s, uint64_t id)
{
    if (s->st) return static_sched_cancel(s->st, id);
    return glossa_engine_cancel(s->engine, id);
}

void sched_get_metrics(srv_sched *s, glossa_engine_metrics *out)
{
    if (s->st) static_sched_get_metrics(s->st, out);
    else glossa_engine_get_metrics(s->engine, out);
}
