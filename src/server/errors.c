/* Error bodies {"error": {"message", "type", "code"}} and replies. */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"

json_t *srv_error_json(const rp_error *e)
{
    json_t *inner = json_pack("{s:s, s:s, s:s}", "message", e->message, "type",
                              e->type ? e->type : "server_error", "code",
                              e->code ? e->code : "internal_error");
    if (!inner) inner = json_pack("{s:s, s:s, s:s}", "message", "(unprintable message)", "type",
                                  "server_error", "code", "internal_error");
    return json_pack("{s:o}", "error", inner);
}

static struct MHD_Response *buffer_response(char *data, size_t len, const char *content_type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    return r;
}

void call_reply_text(srv_call *c, unsigned status, const char *content_type, char *text,
                     size_t len)
{
    if (c->resp) MHD_destroy_response(c->resp);
    c->resp = text ? buffer_response(text, len, content_type) : NULL;
    c->status = status;
    if (!c->resp) {
        /* out of memory: a static body */
        static const char oom[] = "{\"error\": {\"message\": \"out of memory\", \"type\": "
                                  "\"server_error\", \"code\": \"out_of_memory\"}}\n";
        c->resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom,
                                                  MHD_RESPMEM_PERSISTENT);
        c->status = 500;
        if (c->resp)
            MHD_add_response_header(c->resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    }
}

void call_reply_json(srv_call *c, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    size_t len = text ? strlen(text) : 0;
    if (text) {
        char *t = realloc(text, len + 2); /* a trailing newline for curl users */
        if (t) text = t, text[len++] = '\n', text[len] = '\0';
    }
    call_reply_text(c, status, "application/json", text, len);
}

void call_reply_error(srv_call *c, const rp_error *e)
{
    call_reply_json(c, (unsigned)e->http_status, srv_error_json(e));
    if (c->resp && (e->http_status == 429 || e->http_status == 503))
        MHD_add_response_header(c->resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (c->resp && e->http_status == 401)
        MHD_add_response_header(c->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
}

void srv_status_error(glossa_status st, const char *what, rp_error *err)
{
    const char *msg = glossa_last_error();
    switch (st) {
    case GLOSSA_STATUS_BAD_INPUT:
    case GLOSSA_STATUS_INVALID_ARGUMENT:
        rp_fail(err, 400, "invalid_request_error", "invalid_input", "%s: %s", what, msg);
        break;
    case GLOSSA_STATUS_BUSY:
        rp_fail(err, 429, "rate_limit_error", "queue_full",
                "the server's queue is full (--max-queue); retry later");
        break;
    case GLOSSA_STATUS_CANCELLED:
        rp_fail(err, 503, "server_error", "cancelled", "%s: the request was cancelled (the server "
                "is shutting down)", what);
        break;
    case GLOSSA_STATUS_OUT_OF_MEMORY:
        rp_fail(err, 503, "server_error", "out_of_memory", "%s: out of memory", what);
        break;
    default:
        rp_fail(err, 500, "server_error", "internal_error", "%s: %s: %s", what,
                glossa_status_name(st), msg);
        break;
    }
}
