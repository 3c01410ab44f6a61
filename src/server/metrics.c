/* Metrics: engine gauges and counters (glossa_engine_get_metrics) plus histograms of the DONE
 * events' timings, rendered in the Prometheus text exposition format. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

static const double k_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                  0.5,   1,      2.5,   5,    10,    30,   60,  120};
#define N_BOUNDS (sizeof k_bounds / sizeof k_bounds[0])
#define N_CODES 32

typedef struct hist {
    uint64_t counts[N_BOUNDS]; /* observations <= k_bounds[i] (not cumulative here) */
    uint64_t n;
    double sum;
} hist;

/* Batch sizes: powers of two up to 1024 rows. */
static const double k_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define N_BATCH_BOUNDS (sizeof k_batch_bounds / sizeof k_batch_bounds[0])

typedef struct batch_hist {
    uint64_t counts[N_BATCH_BOUNDS + 1]; /* the last: above every bound */
    uint64_t n;
    double sum;
} batch_hist;

struct srv_metrics {
    pthread_mutex_t mu;
    hist ttft, tpot, queue, latency;
    batch_hist batch[2]; /* [0]: nothing left waiting after the iteration's admissions; [1]: some */
    uint64_t done, failed, cancelled, timeouts, disconnects;
    unsigned codes[N_CODES];
    uint64_t code_counts[N_CODES];
};

srv_metrics *metrics_create(void)
{
    srv_metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->mu, NULL);
    return m;
}

void metrics_free(srv_metrics *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void hist_add(hist *h, double v)
{
    if (!(v >= 0)) v = 0;
    for (size_t i = 0; i < N_BOUNDS; i++)
        if (v <= k_bounds[i]) {
            h->counts[i]++;
            break;
        }
    h->n++;
    h->sum += v;
}

void metrics_observe_event(srv_metrics *m, const glossa_event *ev)
{
    if (!m || ev->kind == GLOSSA_EVENT_TOKEN) return;
    pthread_mutex_lock(&m->mu);
    if (ev->kind == GLOSSA_EVENT_DONE) {
        m->done++;
        hist_add(&m->queue, ev->queue_ms * 1e-3);
        hist_add(&m->ttft, ev->first_token_ms * 1e-3);
        hist_add(&m->latency, ev->total_ms * 1e-3);
        if (ev->generated_tokens > 1)
            hist_add(&m->tpot, (ev->total_ms - ev->first_token_ms) * 1e-3 /
                                   (double)(ev->generated_tokens - 1));
    } else if (ev->status == GLOSSA_STATUS_CANCELLED) {
        m->cancelled++;
    } else {
        m->failed++;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_observe_batch(srv_metrics *m, int32_t rows, bool left_waiting)
{
    if (!m || rows <= 0) return;
    batch_hist *h = &m->batch[left_waiting ? 1 : 0];
    size_t i = 0;
    while (i < N_BATCH_BOUNDS && (double)rows > k_batch_bounds[i]) i++;
    pthread_mutex_lock(&m->mu);
    h->counts[i]++;
    h->n++;
    h->sum += rows;
    pthread_mutex_unlock(&m->mu);
}

void metrics_count_http(srv_metrics *m, unsigned status)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < N_CODES; i++) {
        if (m->codes[i] == status || m->codes[i] == 0) {
            m->codes[i] = status;
            m->code_counts[i]++;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_count_disconnect(srv_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->disconnects++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_count_timeout(srv_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->timeouts++;
    pthread_mutex_unlock(&m->mu);
}

static void put_hist(FILE *f, const char *name, const char *help, const hist *h)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < N_BOUNDS; i++) {
        cum += h->counts[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, k_bounds[i], (unsigned long long)cum);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
            (unsigned long long)h->n, name, h->sum, name, (unsigned long long)h->n);
}

static void put_batch(FILE *f, const srv_metrics *m)
{
    const char *name = "glossa_batch_size";
    fprintf(f, "# HELP %s Sequences per decode step (beams count; static batching: requests per "
               "batch), by whether requests were left waiting after the iteration's admissions.\n"
               "# TYPE %s histogram\n", name, name);
    for (int w = 0; w < 2; w++) {
        const batch_hist *h = &m->batch[w];
        const char *q = w ? "waiting" : "empty";
        uint64_t cum = 0;
        for (size_t i = 0; i < N_BATCH_BOUNDS; i++) {
            cum += h->counts[i];
            fprintf(f, "%s_bucket{queue=\"%s\",le=\"%g\"} %llu\n", name, q, k_batch_bounds[i],
                    (unsigned long long)cum);
        }
        fprintf(f, "%s_bucket{queue=\"%s\",le=\"+Inf\"} %llu\n%s_sum{queue=\"%s\"} %.0f\n"
                   "%s_count{queue=\"%s\"} %llu\n", name, q, (unsigned long long)h->n, name, q,
                h->sum, name, q, (unsigned long long)h->n);
    }
}

static void put(FILE *f, const char *name, const char *type, const char *help, long long v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name, v);
}

static void put_engine(FILE *f, const glossa_engine_metrics *e)
{
    put(f, "glossa_requests_running", "gauge", "Requests admitted and not finished.", e->running);
    put(f, "glossa_requests_waiting", "gauge", "Requests queued for admission.", e->waiting);
    put(f, "glossa_kv_cache_blocks_used", "gauge", "KV cache blocks in use.", e->kv_blocks_used);
    put(f, "glossa_kv_cache_blocks_total", "gauge", "KV cache blocks in the pools.",
        e->kv_blocks_total);
    put(f, "glossa_preemptions_total", "counter",
        "Requests paused for lack of KV blocks (max-utilization).", e->preemptions);
    put(f, "glossa_prompt_tokens_total", "counter", "Encoder tokens processed.", e->prompt_tokens);
    put(f, "glossa_generation_tokens_total", "counter", "Tokens generated.", e->generated_tokens);
    put(f, "glossa_engine_iterations_total", "counter", "Scheduler iterations (static: batches).",
        e->iterations);
}

char *metrics_render(srv *s, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
    glossa_engine_metrics em;
    memset(&em, 0, sizeof em);
    int phase = atomic_load(&s->phase); /* the scheduler exists once loading is over */
    if (phase != SRV_PHASE_LOADING) sched_get_metrics(s->sched, &em);
    put_engine(f, &em);
    put(f, "glossa_server_ready", "gauge", "1 when serving, 0 while loading or draining.",
        phase == SRV_PHASE_READY);
    pthread_mutex_lock(&s->mu);
    int inflight = s->inflight;
    pthread_mutex_unlock(&s->mu);
    put(f, "glossa_http_work_in_flight", "gauge", "Translate / completion requests being served.",
        inflight);
    put(f, "glossa_http_work_limit", "gauge",
        "Requests in flight at most (--max-queue + --max-batch-size); beyond: 429.", s->work_limit);
    put(f, "glossa_http_connection_limit", "gauge", "Open connections at most.",
        s->cfg.max_connections);
    srv_metrics *m = s->metrics;
    pthread_mutex_lock(&m->mu);
    fprintf(f, "# HELP glossa_requests_finished_total Generation requests by outcome.\n"
               "# TYPE glossa_requests_finished_total counter\n"
               "glossa_requests_finished_total{outcome=\"done\"} %llu\n"
               "glossa_requests_finished_total{outcome=\"cancelled\"} %llu\n"
               "glossa_requests_finished_total{outcome=\"error\"} %llu\n",
            (unsigned long long)m->done, (unsigned long long)m->cancelled,
            (unsigned long long)m->failed);
    put(f, "glossa_request_timeouts_total", "counter", "Requests cancelled by --request-timeout.",
        (long long)m->timeouts);
    put(f, "glossa_client_disconnects_total", "counter",
        "Requests cancelled because the client went away.", (long long)m->disconnects);
    fprintf(f, "# HELP glossa_http_responses_total HTTP responses by status code.\n"
               "# TYPE glossa_http_responses_total counter\n");
    for (size_t i = 0; i < N_CODES && m->codes[i]; i++)
        fprintf(f, "glossa_http_responses_total{code=\"%u\"} %llu\n", m->codes[i],
                (unsigned long long)m->code_counts[i]);
    put_hist(f, "glossa_time_to_first_token_seconds", "Submit to the first generated token.",
             &m->ttft);
    put_hist(f, "glossa_time_per_output_token_seconds",
             "Decode time per generated token after the first.", &m->tpot);
    put_hist(f, "glossa_request_queue_time_seconds", "Submit to admission.", &m->queue);
    put_hist(f, "glossa_request_latency_seconds", "Submit to done.", &m->latency);
    put_batch(f, m);
    pthread_mutex_unlock(&m->mu);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    if (len) *len = n;
    return buf;
}

/* GET /metrics */
#include "http.h"

void metrics_handle(srv_call *c)
{
    size_t len = 0;
    char *text = metrics_render(c->s, &len);
    call_reply_text(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
