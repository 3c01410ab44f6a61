/* The inference loop thread over the engine or the static-batching baseline (see sched.h). */
#include "sched.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct srv_sched {
    glossa_engine *engine;  /* in-flight batching, or */
    static_sched *st;       /* the static-batching baseline */
    pthread_t thread;
    bool running;
    atomic_bool stop;
};

glossa_status sched_create(glossa_model *m, const glossa_engine_params *p, bool static_batching,
                           srv_sched **out)
{
    *out = NULL;
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return GLOSSA_STATUS_OUT_OF_MEMORY;
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
            static_sched_step(s->st, 100);
            continue;
        }
        int32_t active = 0;
        glossa_status st = glossa_engine_step(s->engine, &active);
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

glossa_status sched_submit(srv_sched *s, glossa_request *r, int32_t prompt_tokens,
                           glossa_event_callback cb, void *user, uint64_t *id_out)
{
    if (s->st) return static_sched_submit(s->st, r, prompt_tokens, cb, user, id_out);
    return glossa_engine_submit(s->engine, r, cb, user, id_out);
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
