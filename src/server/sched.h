/* The inference loop: one thread that owns the model. Two schedulers behind one interface:
 * the engine (in-flight batching: glossa_engine_step / glossa_engine_wait), and the static-batching
 * baseline (--static-batching: a batch of waiting requests run to completion with
 * glossa_model_run(), nothing admitted in between). Event callbacks run on the loop thread. */
#ifndef GLOSSA_SERVER_SCHED_H
#define GLOSSA_SERVER_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "glossa.h"

typedef struct srv_sched srv_sched;
typedef struct srv_metrics srv_metrics;

/* metrics (may be NULL): the loop records every iteration's batch size there. */
glossa_status sched_create(glossa_model *m, const glossa_engine_params *p, bool static_batching,
                           srv_metrics *metrics, srv_sched **out);
/* Stops the loop if running; anything still queued or running ends with an ERROR event. */
void sched_free(srv_sched *s);

/* Start the loop thread. */
glossa_status sched_start(srv_sched *s);
/* Stop and join it (pending work is left for sched_free to cancel). */
void sched_stop(srv_sched *s);

/* Thread-safe. prompt_tokens: the request's encoder tokens (static batches respect the token
 * budget with it). tokens: cb wants TOKEN events (streaming); false: only the end event, and
 * the request does not count among the open streams that pace the others. BUSY when the queue
 * is full. */
glossa_status sched_submit(srv_sched *s, glossa_request *r, int32_t prompt_tokens, bool tokens,
                           glossa_event_callback cb, void *user, uint64_t *id_out);
glossa_status sched_cancel(srv_sched *s, uint64_t id);
void sched_get_metrics(srv_sched *s, glossa_engine_metrics *out);

/* The static-batching scheduler (static_batch.c). */
typedef struct static_sched static_sched;
glossa_status static_sched_create(glossa_model *m, const glossa_engine_params *p,
                                  static_sched **out);
void static_sched_free(static_sched *s);
glossa_status static_sched_submit(static_sched *s, glossa_request *r, int32_t prompt_tokens,
                                  glossa_event_callback cb, void *user, uint64_t *id_out);
glossa_status static_sched_cancel(static_sched *s, uint64_t id);
void static_sched_get_metrics(static_sched *s, glossa_engine_metrics *out);
/* One pass of the loop: runs the next batch, or waits up to timeout_ms for work. *batch: the
 * requests of the batch run (0: none); *left_waiting: requests stayed in the queue. */
void static_sched_step(static_sched *s, int32_t timeout_ms, int32_t *batch, bool *left_waiting);
void static_sched_wake(static_sched *s);

#endif
