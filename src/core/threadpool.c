/* Persistent pthread pool. One job at a time: the caller publishes (fn, ctx, chunking), bumps the
 * generation and wakes the workers; everyone claims chunks from an atomic counter; the caller
 * returns once every worker has acknowledged the job, so the next job can safely overwrite the
 * fields. Idle workers spin briefly (short gaps between ops are common) and then sleep on a
 * condition variable, so an idle pool costs no CPU. */
#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"

#define SPIN_NS 20000 /* how long a worker spins for the next job before sleeping */

typedef struct worker_arg {
    struct threadpool *pool;
    int id;
} worker_arg;

struct threadpool {
    int n_threads; /* including the caller */
    pthread_t *threads;
    worker_arg *args; /* one per worker, read by the worker at start */
    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    pthread_cond_t cv_done;
    atomic_uint generation;
    atomic_int pending; /* workers that have not finished the current job */
    atomic_bool stop;
    /* the current job, written only while no worker runs one */
    threadpool_fn fn;
    void *ctx;
    int64_t n_items;
    int64_t chunk;
    int64_t n_chunks;
    atomic_llong next_chunk;
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

static void run_chunks(threadpool *p, int id)
{
    for (;;) {
        long long c = atomic_fetch_add_explicit(&p->next_chunk, 1, memory_order_relaxed);
        if (c >= p->n_chunks) break;
        int64_t begin = c * p->chunk;
        int64_t end = begin + p->chunk;
        if (end > p->n_items) end = p->n_items;
        p->fn(p->ctx, begin, end, id);
    }
}

/* Spin for up to SPIN_NS until the generation moves past old (or the pool stops); false when the
 * worker should go to sleep instead. */
static bool spin_until_gen(threadpool *p, unsigned old)
{
    int64_t t0 = 0;
    for (int i = 0;; i++) {
        if (atomic_load_explicit(&p->generation, memory_order_acquire) != old) return true;
        if (atomic_load_explicit(&p->stop, memory_order_relaxed)) return true;
        cpu_relax();
        if ((i & 63) == 63) {
            int64_t t = now_ns();
            if (t0 == 0) t0 = t;
            else if (t - t0 > SPIN_NS) return false;
        }
    }
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    threadpool *p = wa->pool;
    int id = wa->id;
    unsigned seen = 0;
    for (;;) {
        if (!spin_until_gen(p, seen)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv_work, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        run_chunks(p, id);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
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
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, false);
    atomic_init(&p->next_chunk, 0);
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
    atomic_store_explicit(&p->next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, nt - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    run_chunks(p, 0);

    for (int i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) != 0; i++) {
        if (i > 4096) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->cv_done, &p->mu);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        cpu_relax();
    }
}
