/* Jobs: the meeting point of an HTTP thread and the inference loop (see jobs.h). Each job has its
 * own mutex and condition variable: the inference loop's events for one request and that
 * request's HTTP thread contend only with each other, never with other requests. */
#include "jobs.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "metrics.h"
#include "sched.h"

struct srv_job {
    srv *s;
    glossa_request *req;
    int32_t prompt_tokens;
    pthread_mutex_t mu;   /* guards everything below */
    pthread_cond_t cv;
    int refs;             /* the HTTP side, and the scheduler between submit and the last event */
    bool submitted, finished, cancelled;
    bool want_tokens;     /* streaming: keep TOKEN events (set before submission) */
    uint64_t id;
    glossa_status status;
    int32_t *ids;         /* streamed tokens (TOKEN events) */
    size_t n_ids, cap_ids;
    bool oom;
};

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

srv_job *job_create(srv *s, glossa_request *r, int32_t prompt_tokens)
{
    srv_job *j = calloc(1, sizeof *j);
    if (!j) {
        glossa_request_free(r);
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!rc && pthread_mutex_init(&j->mu, NULL)) {
        pthread_cond_destroy(&j->cv);
        rc = 1;
    }
    if (rc) {
        glossa_request_free(r);
        free(j);
        return NULL;
    }
    j->s = s;
    j->req = r;
    j->prompt_tokens = prompt_tokens;
    j->refs = 1;
    return j;
}

static void job_destroy(srv_job *j)
{
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    glossa_request_free(j->req);
    free(j->ids);
    free(j);
}

/* The scheduler's callback, on the inference loop thread. */
static void on_event(const glossa_event *ev, void *user)
{
    srv_job *j = user;
    if (ev->kind == GLOSSA_EVENT_TOKEN) {
        if (!j->want_tokens) return; /* a whole-reply waiter: no wake-up per token */
        pthread_mutex_lock(&j->mu);
        if (j->n_ids + ev->n_ids > j->cap_ids) {
            size_t cap = j->cap_ids ? j->cap_ids * 2 : 64;
            while (cap < j->n_ids + ev->n_ids) cap *= 2;
            int32_t *p = realloc(j->ids, cap * sizeof *p);
            if (p) j->ids = p, j->cap_ids = cap;
            else j->oom = true;
        }
        if (!j->oom && ev->n_ids) {
            memcpy(j->ids + j->n_ids, ev->ids, ev->n_ids * sizeof *ev->ids);
            j->n_ids += ev->n_ids;
        }
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        return;
    }
    metrics_observe_event(j->s->metrics, ev);
    pthread_mutex_lock(&j->mu);
    j->finished = true;
    j->status = ev->kind == GLOSSA_EVENT_DONE     ? GLOSSA_STATUS_OK
                : ev->status != GLOSSA_STATUS_OK ? ev->status
                                                 : GLOSSA_STATUS_INTERNAL; /* ERROR without a cause */
    pthread_cond_broadcast(&j->cv);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (last) job_destroy(j);
}

void job_want_tokens(srv_job *j)
{
    j->want_tokens = true;
}

glossa_status job_submit(srv_job *j)
{
    pthread_mutex_lock(&j->mu);
    j->refs++; /* the scheduler's, released by the final event */
    pthread_mutex_unlock(&j->mu);
    uint64_t id = 0;
    glossa_status st = sched_submit(j->s->sched, j->req, j->prompt_tokens, j->want_tokens, on_event,
                                    j, &id);
    pthread_mutex_lock(&j->mu);
    if (st == GLOSSA_STATUS_OK) {
        j->submitted = true;
        j->id = id;
    } else {
        j->refs--;
    }
    bool cancel = st == GLOSSA_STATUS_OK && j->cancelled && !j->finished;
    pthread_mutex_unlock(&j->mu);
    if (cancel) sched_cancel(j->s->sched, id);
    return st;
}

void job_cancel(srv_job *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    bool go = j->submitted && !j->finished && !j->cancelled;
    j->cancelled = true;
    uint64_t id = j->id;
    pthread_mutex_unlock(&j->mu);
    /* the job stays alive: our own reference is still held */
    if (go) sched_cancel(j->s->sched, id);
}

void job_release(srv_job *j)
{
    if (!j) return;
    job_cancel(j);
    pthread_mutex_lock(&j->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (last) job_destroy(j);
}

bool srv_client_gone(int fd)
{
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = poll(&p, 1, 0);
    if (rc <= 0) return false;
    if (p.revents & (POLLERR | POLLNVAL)) return true;
    if (p.revents & (POLLIN | POLLHUP)) {
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return true; /* orderly shutdown by the peer */
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
    }
    return false;
}

job_wait_result job_wait(srv_job *j, const srv_watch *w, size_t n_seen_ids)
{
    for (;;) {
        pthread_mutex_lock(&j->mu);
        double now = srv_now();
        double wake = now + 0.05;
        if (w && w->deadline > 0 && w->deadline < wake) wake = w->deadline;
        struct timespec ts;
        ts.tv_sec = (time_t)wake;
        ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        while (!j->finished && (n_seen_ids == SIZE_MAX || j->n_ids <= n_seen_ids) && !j->oom) {
            if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT) break;
        }
        bool finished = j->finished;
        bool progress = n_seen_ids != SIZE_MAX && (j->n_ids > n_seen_ids || j->oom);
        pthread_mutex_unlock(&j->mu);
        if (finished) return JOB_WAIT_FINISHED;
        if (progress) return JOB_WAIT_PROGRESS;
        if (atomic_load(&j->s->abort)) return JOB_WAIT_ABORT;
        if (w && w->deadline > 0 && srv_now() >= w->deadline) return JOB_WAIT_TIMEOUT;
        if (w && srv_client_gone(w->fd)) return JOB_WAIT_GONE;
    }
}

glossa_request *job_request(const srv_job *j)
{
    return j->req;
}

int32_t job_prompt_tokens(const srv_job *j)
{
    return j->prompt_tokens;
}

glossa_status job_status(srv_job *j)
{
    pthread_mutex_lock(&j->mu);
    glossa_status st = j->finished ? j->status : GLOSSA_STATUS_INTERNAL;
    pthread_mutex_unlock(&j->mu);
    return st;
}

bool job_copy_ids(srv_job *j, int32_t **buf, size_t *cap, size_t *n)
{
    pthread_mutex_lock(&j->mu);
    size_t from = *n, total = j->n_ids;
    bool ok = !j->oom && from <= total;
    if (ok && total > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < total) c *= 2;
        int32_t *p = realloc(*buf, c * sizeof *p);
        if (p) *buf = p, *cap = c;
        else ok = false;
    }
    if (ok) {
        if (total > from) memcpy(*buf + from, j->ids + from, (total - from) * sizeof **buf);
        *n = total;
    }
    pthread_mutex_unlock(&j->mu);
    return ok;
}
