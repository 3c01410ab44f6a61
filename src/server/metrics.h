/* Server metrics and their Prometheus text rendering (GET /metrics). */
#ifndef GLOSSA_SERVER_METRICS_H
#define GLOSSA_SERVER_METRICS_H

#include "glossa.h"
#include "server.h"

srv_metrics *metrics_create(void);
void metrics_free(srv_metrics *m);

/* A DONE or ERROR event (loop thread): latency histograms and outcome counters. */
void metrics_observe_event(srv_metrics *m, const glossa_event *ev);
/* One decode step of rows sequences (static batching: one batch of rows requests);
 * left_waiting: requests were still waiting after the iteration's admissions (loop thread). */
void metrics_observe_batch(srv_metrics *m, int32_t rows, bool left_waiting);
/* An HTTP response with this status was queued. */
void metrics_count_http(srv_metrics *m, unsigned status);
/* A request cancelled because its client went away / because it ran past --request-timeout. */
void metrics_count_disconnect(srv_metrics *m);
void metrics_count_timeout(srv_metrics *m);

/* The exposition text (malloc'd, NUL-terminated; NULL on out of memory). */
char *metrics_render(srv *s, size_t *len);

#endif
