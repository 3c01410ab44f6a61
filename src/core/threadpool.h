/* A small persistent thread pool: n - 1 worker threads plus the calling thread run the chunks of
 * one parallel_for at a time and the call blocks until all are done. No allocation per call.
 *
 * Thread safety: a pool is driven by one thread at a time (the backend's user); parallel_for must
 * not be called from inside a chunk function. */
#ifndef GLOSSA_CORE_THREADPOOL_H
#define GLOSSA_CORE_THREADPOOL_H

#include <stdint.h>

#include "glossa.h"

typedef struct threadpool threadpool;

/* Run items [begin, end) on thread thread_id (0 = the caller, 1..n-1 = workers; use it to index
 * per-thread scratch). */
typedef void (*threadpool_fn)(void *ctx, int64_t begin, int64_t end, int thread_id);

/* n_threads <= 0: one per online core. A pool of 1 runs everything on the caller. */
glossa_status threadpool_create(int n_threads, threadpool **out);
void threadpool_destroy(threadpool *p);
int threadpool_size(const threadpool *p);

/* Split [0, n_items) into chunks of at least min_chunk items (a few chunks per thread, handed out
 * dynamically) and run fn on each; returns when all are done. Which thread runs which chunk is not
 * fixed, so fn's results must not depend on the split. */
void threadpool_parallel_for(threadpool *p, int64_t n_items, int64_t min_chunk, threadpool_fn fn,
                             void *ctx);

/* The number of online cores (at least 1). */
int threadpool_n_cores(void);

#endif
