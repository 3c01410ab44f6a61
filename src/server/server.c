/* glossa serve: start-up, readiness, signals and draining (see server.h for the threads).
 * Order: listen first (/health answers 503 "loading" while the model loads), load the model,
 * create the scheduler and start the inference loop, then READY. SIGTERM / SIGINT: DRAINING (new
 * work and /health get 503), wait for the requests in flight to be answered, stop the daemon and
 * the loop, free everything, exit 0. A second signal while draining cancels what is left. */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
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
    /* the server gathers arrivals (the library's default is 0, vLLM's too): on the H100 it cut
     * in-flight p99 at 896 req/s from 186-198 to 135-146 ms and cost 1-2 ms of p50 at 32-128
     * req/s (docs/PERF.md) */
    c.engine.scheduler_delay_factor = 2.0f;
    c.max_input_tokens = 1024;
    c.max_body_bytes = 1 << 20;
    c.max_connections = 0; /* derived from the admission limit */
    c.limits = rp_default_limits();
    return c;
}

/* Admission and overload.
 *
 * The issue asks for "queue full -> 429 with Retry-After". With libmicrohttpd's thread per
 * connection every request in the server holds a connection (and a thread) from its first byte
 * until its answer is sent: while it waits in the engine's queue, while it runs, while a stream
 * is written. libmicrohttpd past MHD_OPTION_CONNECTION_LIMIT accepts a connection and closes it
 * at once (the client sees a reset, not an HTTP answer), and then stops accepting until a slot
 * frees. So the connection limit must never be what refuses work: with the old fixed 512
 * connections against 256 running + 1024 queued requests, an overloaded server (1536 req/s on
 * the H100) reset connections and never answered 429.
 *
 * What other servers do. TGI's router bounds concurrent requests with a semaphore
 * (--max-concurrent-requests) and answers 429 "overloaded" at once when it is exhausted; its
 * transport is asynchronous, so open connections are cheap and never the limit. vLLM's OpenAI
 * server does not bound its waiting queue at all (requests queue until they time out; uvicorn's
 * --limit-concurrency, off by default, answers 503 past a count of connections and tasks).
 * Triton's TensorRT-LLM backend rejects requests past its max_queue_size. The common point: one
 * explicit admission limit, checked before any work, answered with an HTTP status; the transport
 * never runs out first.
 *
 * Here: (1) the admission limit is work_limit = --max-queue + --max-batch-size work requests in
 * the server (running plus waiting, counted from dispatch to the last byte of the answer); the
 * HTTP layer answers 429 (queue_full, Retry-After) at once when it is reached, before parsing or
 * tokenizing, and the engine's own queue check (waiting >= --max-queue jobs: a /translate list
 * is several jobs) still answers 429 behind it. (2) The connection limit sits above work_limit
 * with room for what is not admitted work: 429 answers being written, bodies being read,
 * idle keep-alive connections, /health and /metrics: a quarter of work_limit, at least 64 — or
 * --max-connections, in which case work_limit is lowered to keep that room. (3) Each connection
 * is a file descriptor: the soft RLIMIT_NOFILE is raised toward the hard limit to hold them (the
 * default soft limit, often 1024, would turn accept() failures into resets); when the hard limit
 * is too low, a derived connection limit shrinks to fit (with a warning) and an explicit one is a
 * start-up error. */
#define SRV_FD_RESERVE 128 /* descriptors besides connections: stdio, the listening socket,
                              libmicrohttpd's wake-up pipe, model files, the CUDA driver, traces */

static int32_t spare_for(int64_t work)
{
    int64_t spare = work / 4;
    return (int32_t)(spare < 64 ? 64 : spare);
}

/* The work limit that leaves room below a connection limit of conns (the inverse of spare_for,
 * for small limits half of them). */
static int32_t work_under(int64_t conns)
{
    int64_t spare = conns / 5;
    if (spare < 64) spare = conns / 2 < 64 ? conns / 2 : 64;
    int64_t w = conns - spare;
    return (int32_t)(w < 1 ? 1 : w);
}

bool srv_limits_setup(srv *s)
{
    srv_config *c = &s->cfg;
    int64_t work = (int64_t)c->engine.max_queue + c->engine.max_batch_size;
    if (work > INT32_MAX / 2) work = INT32_MAX / 2;
    bool explicit_conns = c->max_connections > 0;
    int64_t conns = explicit_conns ? c->max_connections : work + spare_for(work);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        rl.rlim_cur = rl.rlim_max = RLIM_INFINITY; /* unknown: assume it holds */
    }
    rlim_t need = (rlim_t)conns + SRV_FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        struct rlimit nl = {want, rl.rlim_max};
        if (want > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &nl) == 0) {
            fprintf(stderr, "glossa serve: raised the open-file limit from %llu to %llu\n",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
            rl.rlim_cur = want;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        int64_t fit = (int64_t)rl.rlim_cur - SRV_FD_RESERVE;
        if (explicit_conns || fit < 16) {
            fprintf(stderr,
                    "glossa serve: %lld connections need %llu open files and the limit is %llu "
                    "(hard %llu): raise it (ulimit -n) or lower %s\n",
                    (long long)conns, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
                    (unsigned long long)rl.rlim_max,
                    explicit_conns ? "--max-connections" : "--max-queue / --max-batch-size");
            return false;
        }
        fprintf(stderr,
                "glossa serve: warning: the open-file limit %llu (hard %llu) holds %lld "
                "connections, not %lld: raise it (ulimit -n) for the full queue\n",
                (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                (long long)fit, (long long)conns);
        conns = fit;
        explicit_conns = true; /* the work limit follows the connections now */
    }
    if (explicit_conns && conns < work + spare_for(work)) {
        int32_t w = work_under(conns);
        fprintf(stderr,
                "glossa serve: %lld connections: at most %d requests in flight (not --max-queue + "
                "--max-batch-size = %lld), so that 429 answers keep room below the limit\n",
                (long long)conns, w, (long long)work);
        work = w;
    }
    c->max_connections = (int32_t)conns;
    s->work_limit = (int)work;
    return true;
}

srv_work srv_work_begin(srv *s)
{
    pthread_mutex_lock(&s->mu);
    srv_work w = atomic_load(&s->phase) != SRV_PHASE_READY ? SRV_WORK_NOT_READY
                 : s->inflight >= s->work_limit            ? SRV_WORK_BUSY
                                                           : SRV_WORK_OK;
    if (w == SRV_WORK_OK) s->inflight++;
    pthread_mutex_unlock(&s->mu);
    return w;
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
    mp.bf16 = s->cfg.bf16;
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
    /* the K/V pools hold --max-batch-size sequences of --max-new-tokens unless --kv-cache-mb
     * says otherwise (else guaranteed-no-evict caps the batch: see engine_api.c size_pools) */
    if (s->cfg.engine.kv_cache_bytes <= 0) s->cfg.engine.kv_min_length = s->dp.max_new_tokens + 1;
    glossa_status st = sched_create(s->model, &s->cfg.engine, s->cfg.static_batching, s->metrics,
                                    &s->sched);
    if (st == GLOSSA_STATUS_OK) st = sched_start(s->sched);
    if (st != GLOSSA_STATUS_OK) {
        fprintf(stderr, "glossa serve: scheduler: %s: %s\n", glossa_status_name(st),
                glossa_last_error());
        return false;
    }
    glossa_engine_metrics em;
    sched_get_metrics(s->sched, &em);
    char kv[64] = "";
    if (!s->cfg.static_batching)
        snprintf(kv, sizeof kv, ", K/V cache %d blocks of 16 tokens", em.kv_blocks_total);
    fprintf(stderr, "glossa serve: loaded %s (%zu languages) in %.1f s; %s%s; ready\n",
            s->model_name, s->n_langs, srv_now() - t0,
            s->cfg.static_batching ? "static batching" : "in-flight batching", kv);
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
    struct MHD_Daemon *d = s.metrics && srv_limits_setup(&s) ? http_start(&s, &port) : NULL;
    if (!d) {
        teardown(&s, NULL);
        return 1;
    }
    fprintf(stderr, "glossa serve: listening on http://%s:%d (%d requests in flight at most, %d "
            "connections)\n", cfg->host, port, s.work_limit, s.cfg.max_connections);
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
