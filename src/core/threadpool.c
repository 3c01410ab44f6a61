/* Persistent pthread pool, one job at a time.
 *
 * The caller publishes the job (fn, ctx, chunking), then opens it by bumping the generation in
 * `state`; workers join it (an active count in `state`), claim chunks from an atomic counter and
 * count finished chunks. The caller runs chunks too, waits until every chunk is finished, then
 * closes the job (a flag in `state`) and waits only for the workers that joined. A worker that
 * was not scheduled in time finds the job closed (or a newer one) and skips it, so a descheduled
 * thread never stalls an op on a busy or oversubscribed machine. Idle workers spin briefly (short
 * gaps between ops are common), then sleep on a condition variable: an idle pool costs no CPU.
 *
 * state: generation << 32 | CLOSED | active workers. */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"

#define SPIN_NS 20000 /* how long an idle worker spins for the next job before sleeping */
#define STATE_CLOSED ((uint64_t)1 << 31)
#define STATE_ACTIVE ((uint64_t)STATE_CLOSED - 1)

typedef struct worker_arg {
    struct threadpool *pool;
    int id;
} worker_arg;

struct threadpool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    worker_arg *args; /* one per worker */
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* a new job or stop */
    pthread_cond_t cv_done; /* the last chunk finished */
    _Atomic uint64_t state;
    atomic_bool stop;
    atomic_llong next_chunk;
    atomic_llong done_chunks;
    /* the current job: written only while it is closed and no worker is active */
    threadpool_fn fn;
    void *ctx;
    int64_t n_items;
    int64_t chunk;
    int64_t n_chunks;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int threadpool_n_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 1024 ? 1024 : (int)n);
}

static inline uint32_t state_gen(uint64_t s)
{
    return (uint32_t)(s >> 32);
}

/* Run chunks until none is left; signal the caller when this finished the last one. */
static void run_chunks(threadpool *p, int id, bool caller)
{
    for (;;) {
        long long c = atomic_fetch_add_explicit(&p->next_chunk, 1, memory_order_relaxed);
        if (c >= p->n_chunks) break;
        int64_t begin = c * p->chunk;
        int64_t end = begin + p->chunk < p->n_items ? begin + p->chunk : p->n_items;
        p->fn(p->ctx, begin, end, id);
        long long done = atomic_fetch_add_explicit(&p->done_chunks, 1, memory_order_acq_rel) + 1;
        if (done == p->n_chunks && !caller) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

/* Wait for a generation other than seen (spin for SPIN_NS, then sleep). */
static void wait_for_job(threadpool *p, uint32_t seen)
{
    int64_t t0 = 0;
    for (int i = 0;; i++) {
        if (state_gen(atomic_load(&p->state)) != seen || atomic_load(&p->stop)) return;
        cpu_relax();
        if ((i & 63) == 63) {
            int64_t t = now_ns();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_NS) break;
        }
    }
    pthread_mutex_lock(&p->mu);
    while (state_gen(atomic_load(&p->state)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv_work, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    threadpool *p = wa->pool;
    uint32_t seen = 0;
    for (;;) {
        wait_for_job(p, seen);
        if (atomic_load(&p->stop)) break;
        uint64_t s = atomic_load(&p->state);
        uint32_t gen = state_gen(s);
        seen = gen;
        bool joined = false;
        while (!(s & STATE_CLOSED) && state_gen(s) == gen)
            if (atomic_compare_exchange_weak(&p->state, &s, s + 1)) {
                joined = true;
                break;
            }
        if (!joined) continue; /* too late for it: the caller and others finished it */
        run_chunks(p, wa->id, false);
        atomic_fetch_sub(&p->state, 1);
    }
    return NULL;
}

static void stop_workers(threadpool *p, int n_started)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < n_started; i++) pthread_join(p->threads[i], NULL);
}

glossa_status threadpool_create(int n_threads, threadpool **out)
{
    *out = NULL;
    if (n_threads <= 0) n_threads = threadpool_n_cores();
    threadpool *p = calloc(1, sizeof *p);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "threadpool: out of memory");
    p->n_threads = n_threads;
    worker_arg *args = NULL;
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        args = calloc((size_t)n_threads - 1, sizeof *args);
        if (!p->threads || !args) {
            free(p->threads);
            free(args);
            free(p);
            return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "threadpool: out of memory");
        }
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    atomic_init(&p->state, STATE_CLOSED); /* generation 0, closed */
    atomic_init(&p->stop, false);
    atomic_init(&p->next_chunk, 0);
    atomic_init(&p->done_chunks, 0);
    p->args = args;
    for (int i = 0; i < n_threads - 1; i++) {
        args[i].pool = p;
        args[i].id = i + 1;
        if (pthread_create(&p->threads[i], NULL, worker_main, &args[i]) != 0) {
            stop_workers(p, i);
            free(args);
            free(p->threads);
            free(p);
            return glossa_error(GLOSSA_STATUS_INTERNAL, "threadpool: cannot start thread %d", i);
        }
    }
    *out = p;
    return GLOSSA_STATUS_OK;
}

void threadpool_destroy(threadpool *p)
{
    if (!p) return;
    stop_workers(p, p->n_threads - 1);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p->args);
    free(p->threads);
    free(p);
}

int threadpool_size(const threadpool *p)
{
    return p->n_threads;
}

/* The caller's side after its own chunks: all chunks finished, then close, then the joined
 * workers gone. */
static void finish_job(threadpool *p)
{
    for (int i = 0; atomic_load(&p->done_chunks) < p->n_chunks; i++) {
        if (i < 4096) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->done_chunks) < p->n_chunks) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    uint64_t s = atomic_fetch_or(&p->state, STATE_CLOSED);
    /* joined workers only have to see that no chunk is left */
    for (int i = 0; s & STATE_ACTIVE; i++, s = atomic_load(&p->state)) {
        if (i < 1024) cpu_relax();
        else sched_yield();
    }
}

void threadpool_parallel_for(threadpool *p, int64_t n_items, int64_t min_chunk, threadpool_fn fn,
                             void *ctx)
{
    if (n_items <= 0) return;
    if (min_chunk < 1) min_chunk = 1;
    int nt = p->n_threads;
    if (nt == 1 || n_items <= min_chunk) {
        fn(ctx, 0, n_items, 0);
        return;
    }
    /* about 4 chunks per thread for balance, none smaller than min_chunk */
    int64_t chunk = (n_items + 4 * (int64_t)nt - 1) / (4 * (int64_t)nt);
    if (chunk < min_chunk) chunk = min_chunk;
    p->fn = fn;
    p->ctx = ctx;
    p->n_items = n_items;
    p->chunk = chunk;
    p->n_chunks = (n_items + chunk - 1) / chunk;
    atomic_store(&p->next_chunk, 0);
    atomic_store(&p->done_chunks, 0);
    uint64_t gen = state_gen(atomic_load(&p->state)) + 1u;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->state, (uint64_t)(uint32_t)gen << 32); /* open, no worker yet */
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    run_chunks(p, 0, true);
    finish_job(p);
}
