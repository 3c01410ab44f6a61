/* glossa serve: start-up, readiness, signals and draining (see server.h for the threads).
 * Order: listen first (/health answers 503 "loading" while the model loads), load the model,
 * create the scheduler and start the inference loop, then READY. SIGTERM / SIGINT: DRAINING (new
 * work and /health get 503), wait for the requests in flight to be answered, stop the daemon and
 * the loop, free everything, exit 0. A second signal while draining cancels what is left. */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "languages.h"
#include "metrics.h"
#include "sched.h"

srv_config srv_default_config(void)
{
    srv_config c;
    memset(&c, 0, sizeof c);
    c.host = "127.0.0.1";
    c.port = 8000;
    c.device = GLOSSA_DEVICE_CPU;
    c.engine = glossa_engine_default_params();
    c.max_input_tokens = 1024;
    c.max_body_bytes = 1 << 20;
    c.max_connections = 512;
    c.limits = rp_default_limits();
    return c;
}

bool srv_work_begin(srv *s)
{
    pthread_mutex_lock(&s->mu);
    bool ok = atomic_load(&s->phase) == SRV_PHASE_READY;
    if (ok) s->inflight++;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void srv_work_end(srv *s)
{
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    pthread_mutex_unlock(&s->mu);
}

static void model_name(srv *s)
{
    const char *d = s->cfg.model_dir;
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && d[b - 1] != '/') b--;
    snprintf(s->model_name, sizeof s->model_name, "%.*s", (int)(n - b), d + b);
}

static bool load(srv *s)
{
    glossa_model_params mp = glossa_model_default_params();
    mp.device = s->cfg.device;
    mp.n_threads = s->cfg.threads;
    double t0 = srv_now();
    if (glossa_model_load(s->cfg.model_dir, &mp, &s->model) != GLOSSA_STATUS_OK) {
        fprintf(stderr, "glossa serve: loading %s: %s\n", s->cfg.model_dir, glossa_last_error());
        return false;
    }
    s->tok = glossa_model_tokenizer(s->model);
    if (!s->tok) {
        fprintf(stderr, "glossa serve: %s has no tokenizer\n", s->cfg.model_dir);
        return false;
    }
    s->dp = glossa_model_decode_params(s->model);
    if (s->cfg.beam > 0) s->dp.num_beams = s->cfg.beam;
    if (s->cfg.max_new_tokens > 0) s->dp.max_new_tokens = s->cfg.max_new_tokens;
    if (s->dp.max_new_tokens <= 0) s->dp.max_new_tokens = 256;
    s->dp.num_return_sequences = 1;
    if (!langs_build(s)) return false;
    if (glossa_langid_create(&s->langid) != GLOSSA_STATUS_OK) {
        fprintf(stderr, "glossa serve: language identification unavailable: %s\n",
                glossa_last_error());
        s->langid = NULL;
    }
    glossa_status st = sched_create(s->model, &s->cfg.engine, s->cfg.static_batching, &s->sched);
    if (st == GLOSSA_STATUS_OK) st = sched_start(s->sched);
    if (st != GLOSSA_STATUS_OK) {
        fprintf(stderr, "glossa serve: scheduler: %s: %s\n", glossa_status_name(st),
                glossa_last_error());
        return false;
    }
    fprintf(stderr, "glossa serve: loaded %s (%zu languages) in %.1f s; %s, ready\n",
            s->model_name, s->n_langs, srv_now() - t0,
            s->cfg.static_batching ? "static batching" : "in-flight batching");
    return true;
}

static int wait_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0) {
    }
    return sig;
}

/* Wait until every work request has been answered. A second signal cancels what is left and
 * waits 5 s more at most (a client that stopped reading cannot hold the exit up). */
static void drain(srv *s, const sigset_t *set)
{
    double t0 = srv_now(), abort_at = 0;
    int last = -1;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int n = s->inflight;
        pthread_mutex_unlock(&s->mu);
        if (n == 0) break;
        if (abort_at > 0 && srv_now() - abort_at > 5) {
            fprintf(stderr, "glossa serve: %d requests still open: closing them\n", n);
            break;
        }
        if (n != last) fprintf(stderr, "glossa serve: draining: %d requests in flight\n", n);
        last = n;
        struct timespec zero = {0, 20 * 1000 * 1000};
        if (sigtimedwait(set, NULL, &zero) > 0 && abort_at == 0) {
            fprintf(stderr, "glossa serve: second signal: cancelling what is left\n");
            atomic_store(&s->abort, true);
            abort_at = srv_now();
        }
    }
    fprintf(stderr, "glossa serve: drained in %.2f s\n", srv_now() - t0);
}

static void teardown(srv *s, struct MHD_Daemon *d)
{
    atomic_store(&s->abort, true); /* nothing should be waiting now; never hang on exit */
    http_stop(d);
    sched_free(s->sched); /* stops the loop; cancels anything left */
    glossa_langid_free(s->langid);
    langs_free(s);
    glossa_model_free(s->model);
    metrics_free(s->metrics);
    pthread_mutex_destroy(&s->mu);
}

int srv_main(const srv_config *cfg)
{
    /* signals go to sigwait() in this thread; every thread started from here inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    static srv s; /* one server a process */
    memset(&s, 0, sizeof s);
    s.cfg = *cfg;
    pthread_mutex_init(&s.mu, NULL);
    atomic_store(&s.phase, SRV_PHASE_LOADING);
    atomic_store(&s.next_id, 1);
    model_name(&s);
    s.metrics = metrics_create();
    int port = 0;
    struct MHD_Daemon *d = s.metrics ? http_start(&s, &port) : NULL;
    if (!d) {
        teardown(&s, NULL);
        return 1;
    }
    fprintf(stderr, "glossa serve: listening on http://%s:%d\n", cfg->host, port);
    if (!load(&s)) {
        teardown(&s, d);
        return 1;
    }
    atomic_store(&s.phase, SRV_PHASE_READY);
    int sig = wait_signal(&set);
    fprintf(stderr, "glossa serve: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    pthread_mutex_lock(&s.mu);
    atomic_store(&s.phase, SRV_PHASE_DRAINING);
    pthread_mutex_unlock(&s.mu);
    drain(&s, &set);
    teardown(&s, d);
    fprintf(stderr, "glossa serve: stopped\n");
    return 0;
}
