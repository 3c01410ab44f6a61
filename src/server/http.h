/* The HTTP layer (libmicrohttpd, one thread per connection) and what handlers see of it. */
#ifndef GLOSSA_SERVER_HTTP_H
#define GLOSSA_SERVER_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "jobs.h"
#include "request_parse.h"
#include "server.h"

/* One HTTP request as a handler sees it. The handler sets status and resp (resp NULL: close
 * the connection without an answer — the client is gone). */
typedef struct srv_call {
    srv *s;
    struct MHD_Connection *conn;
    const char *url;
    const char *body;   /* NUL-terminated (not counted in body_len) */
    size_t body_len;
    srv_watch watch;    /* the client's socket and the --request-timeout deadline */
    unsigned status;
    struct MHD_Response *resp;
} srv_call;

typedef void (*srv_handler)(srv_call *call);

/* Replies. json: the value is consumed. */
void call_reply_json(srv_call *c, unsigned status, json_t *body);
void call_reply_error(srv_call *c, const rp_error *e);
/* text: malloc'd, freed by the response. */
void call_reply_text(srv_call *c, unsigned status, const char *content_type, char *text,
                     size_t len);

/* An error from a glossa_status of the library (glossa_last_error() on this thread as message):
 * BAD_INPUT 400, BUSY 429, CANCELLED 503, else 500. */
void srv_status_error(glossa_status st, const char *what, rp_error *err);
/* The error body {"error": {"message", "type", "code"}}. */
json_t *srv_error_json(const rp_error *e);

/* routes.c: find and run the handler of call->url (404 / 405 / 401 / 503 handled there).
 * *counted: the request was admitted as work (srv_work_begin); the caller ends it. */
void routes_dispatch(srv_call *call, const char *method, bool *counted);

/* Handlers. */
void health_handle(srv_call *c);
void metrics_handle(srv_call *c);
void languages_handle(srv_call *c);
void translate_handle(srv_call *c);
void completions_handle(srv_call *c);

/* Start / stop the daemon. The bound port is written to *port_out. */
struct MHD_Daemon *http_start(srv *s, int *port_out);
void http_stop(struct MHD_Daemon *d);

#endif
