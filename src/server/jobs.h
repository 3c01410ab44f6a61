/* One generation request in flight: the glossa_request, its scheduler id, the tokens streamed so
 * far and its final status. Shared by an HTTP thread (which waits on it) and the inference loop
 * (whose event callback fills it); reference-counted, so whichever side lets go last frees it
 * (the engine needs the request alive until its DONE or ERROR event, even after a cancel). */
#ifndef GLOSSA_SERVER_JOBS_H
#define GLOSSA_SERVER_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

typedef struct srv_job srv_job;

/* What an HTTP thread watches while it waits: its client's socket (-1: none) and a deadline
 * (monotonic seconds, 0: none). */
typedef struct srv_watch {
    int fd;
    double deadline;
} srv_watch;

typedef enum job_wait_result {
    JOB_WAIT_FINISHED = 0, /* DONE or ERROR arrived: job_status() says which */
    JOB_WAIT_PROGRESS = 1, /* new streamed tokens */
    JOB_WAIT_TIMEOUT = 2,  /* the deadline passed (--request-timeout) */
    JOB_WAIT_GONE = 3,     /* the client closed its connection */
    JOB_WAIT_ABORT = 4,    /* the server is shutting down hard */
} job_wait_result;

/* Takes ownership of r (freed with the job). */
srv_job *job_create(srv *s, glossa_request *r, int32_t prompt_tokens);
/* Keep the streamed tokens (TOKEN events) for job_wait(..., n_seen_ids) / job_copy_ids(); call
 * before job_submit(). Without it a job only reports its end. */
void job_want_tokens(srv_job *j);
/* Submit to the scheduler. BUSY when the queue is full. */
glossa_status job_submit(srv_job *j);
/* Cancel when submitted and not finished (idempotent). */
void job_cancel(srv_job *j);
/* The HTTP side lets go (cancels first when still running). NULL is fine. */
void job_release(srv_job *j);

/* Wait until the job finishes, or (when n_seen_ids != SIZE_MAX) has more than n_seen_ids streamed
 * tokens, or the watch fires. Wakes at least every 50 ms to look at the socket. */
job_wait_result job_wait(srv_job *j, const srv_watch *w, size_t n_seen_ids);

glossa_request *job_request(const srv_job *j);
int32_t job_prompt_tokens(const srv_job *j);
/* Final status (valid once finished). */
glossa_status job_status(srv_job *j);
/* Append the streamed ids past the first *n (which *buf already holds) to *buf (grown with
 * realloc) and set *n to the number streamed so far; false on out of memory. */
bool job_copy_ids(srv_job *j, int32_t **buf, size_t *cap, size_t *n);

/* true when the peer of fd has closed its end (or the socket failed). */
bool srv_client_gone(int fd);

#endif
