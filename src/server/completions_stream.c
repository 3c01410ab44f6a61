/* "stream": true for /v1/completions: server-sent events, one `data: {...}` line per new piece of
 * text, a last chunk with finish_reason, then `data: [DONE]`. The connection thread runs the
 * content reader: it waits for the job's TOKEN events, copies the new ids, decodes them
 * incrementally (stream_detok: a short window of the last ids, not the whole output) and sends
 * only what is stable (complete UTF-8 characters, see stream_stable_len; a possible stop-string
 * prefix is held back). When the job ends the final text (the request's result) is sent in full.
 * Errors after the headers went out (timeout, shutdown) arrive as a `data: {"error": ...}` event
 * that ends the stream. A client that goes away cancels the request. */
#include <stdlib.h>
#include <string.h>

#include "completions.h"
#include "metrics.h"
#include "stream_detok.h"
#include "stream_text.h"

enum { PH_RUNNING = 0, PH_FINISHING = 1, PH_END = 2 };

typedef struct cstream {
    srv *s;
    srv_job *job;
    srv_watch watch;
    rp_completion req;
    cmpl_meta meta;
    stream_detok detok; /* the streamed ids and their text */
    glossa_text text;   /* the final text */
    size_t max_stop;    /* the longest stop string */
    size_t sent;      /* bytes of the text sent */
    char *out;        /* pending event bytes */
    size_t out_len, out_off, out_cap;
    int phase;
} cstream;

static bool out_append(cstream *cs, const char *p, size_t n)
{
    if (cs->out_len + n > cs->out_cap) {
        size_t cap = cs->out_cap ? cs->out_cap : 1024;
        while (cap < cs->out_len + n) cap *= 2;
        char *q = realloc(cs->out, cap);
        if (!q) return false;
        cs->out = q;
        cs->out_cap = cap;
    }
    memcpy(cs->out + cs->out_len, p, n);
    cs->out_len += n;
    return true;
}

/* data: <json>\n\n (the value consumed) */
static bool out_event(cstream *cs, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!s) return false;
    bool ok = out_append(cs, "data: ", 6) && out_append(cs, s, strlen(s)) &&
              out_append(cs, "\n\n", 2);
    free(s);
    return ok;
}

static bool out_chunk(cstream *cs, const char *text, size_t len, const char *finish)
{
    json_t *t = srv_json_text(text, len);
    json_t *choice = t ? json_pack("{s:o, s:i, s:n, s:s?}", "text", t, "index", 0, "logprobs",
                                   "finish_reason", finish)
                       : NULL;
    json_t *choices = choice ? json_pack("[o]", choice) : NULL;
    return choices && out_event(cs, cmpl_envelope(&cs->meta, choices));
}

static bool out_error(cstream *cs, int status, const char *type, const char *code,
                      const char *msg)
{
    rp_error e;
    rp_fail(&e, status, type, code, "%s", msg);
    cs->phase = PH_END;
    return out_event(cs, srv_error_json(&e));
}

/* Send the new stable part of text[0..len) (all of it when final). true when a stop string was
 * reached (the text is cut there). */
static bool emit(cstream *cs, const char *t, size_t len, bool final, bool *ok)
{
    const rp_completion *r = &cs->req;
    size_t pos, end;
    /* a stop string ending in the sent text would have been found before (the held-back suffix
     * covers one that starts there): look from where one could still begin */
    size_t start = cs->sent > cs->max_stop ? cs->sent - cs->max_stop : 0;
    bool stopped = stream_find_stop(t, start, len, r->stop, r->stop_len, r->n_stop, &pos);
    if (stopped) {
        end = pos;
    } else if (final) {
        end = len;
    } else {
        end = cs->sent <= len ? stream_stable_len(t, cs->sent, len) : cs->sent;
        size_t hold = stream_stop_holdback(t, end, r->stop, r->stop_len, r->n_stop);
        end = end - hold > cs->sent ? end - hold : cs->sent;
    }
    if (end > cs->sent && !out_chunk(cs, t + cs->sent, end - cs->sent, NULL)) *ok = false;
    if (end > cs->sent) cs->sent = end;
    return stopped;
}

static bool on_progress(cstream *cs)
{
    srv *s = cs->s;
    stream_detok *d = &cs->detok;
    if (!job_copy_ids(cs->job, &d->ids, &d->cap_ids, &d->n_ids)) return false;
    if (stream_detok_decode(d, s->tok) != GLOSSA_STATUS_OK)
        return true; /* an id the tokenizer cannot decode yet: wait for the final text */
    bool ok = true;
    if (emit(cs, d->text, d->len, false, &ok)) {
        job_cancel(cs->job); /* a stop string: no need for more tokens */
        ok = ok && out_chunk(cs, "", 0, "stop");
        cs->phase = PH_FINISHING;
        return ok;
    }
    stream_detok_settle(d, s->tok, cs->sent);
    return ok;
}

static bool on_finished(cstream *cs)
{
    glossa_status st = job_status(cs->job);
    if (st != GLOSSA_STATUS_OK) {
        return out_error(cs, st == GLOSSA_STATUS_CANCELLED ? 503 : 500, "server_error",
                         st == GLOSSA_STATUS_CANCELLED ? "cancelled" : "internal_error",
                         st == GLOSSA_STATUS_CANCELLED ? "the request was cancelled"
                                                       : "generation failed");
    }
    glossa_request *r = job_request(cs->job);
    const int32_t *ids = NULL;
    size_t n = 0;
    if (glossa_request_result(r, 0, &ids, &n, NULL) != GLOSSA_STATUS_OK ||
        glossa_request_result_text(r, 0, &cs->text) != GLOSSA_STATUS_OK)
        return out_error(cs, 500, "server_error", "internal_error", "no result");
    bool ok = true;
    bool stopped = emit(cs, cs->text.data, cs->text.len, true, &ok);
    const char *reason = stopped ? "stop" : cmpl_finish_reason(n, cs->meta.max_tokens);
    ok = ok && out_chunk(cs, "", 0, reason);
    cs->phase = PH_FINISHING;
    return ok;
}

/* Produce the next events; false: end the connection with an error (client gone, no memory). */
static bool advance(cstream *cs)
{
    if (cs->phase == PH_FINISHING) {
        cs->phase = PH_END;
        return out_append(cs, "data: [DONE]\n\n", 14);
    }
    switch (job_wait(cs->job, &cs->watch, cs->detok.n_ids)) {
    case JOB_WAIT_PROGRESS: return on_progress(cs);
    case JOB_WAIT_FINISHED: return on_finished(cs);
    case JOB_WAIT_TIMEOUT:
        job_cancel(cs->job);
        metrics_count_timeout(cs->s->metrics);
        return out_error(cs, 504, "timeout_error", "timeout",
                         "the request took longer than the server's --request-timeout and was "
                         "cancelled");
    case JOB_WAIT_ABORT:
        job_cancel(cs->job);
        return out_error(cs, 503, "server_error", "shutting_down", "the server is shutting down");
    case JOB_WAIT_GONE:
    default:
        return false; /* cstream_free() cancels and counts it */
    }
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    cstream *cs = cls;
    while (cs->out_off == cs->out_len) {
        cs->out_off = cs->out_len = 0;
        if (cs->phase == PH_END) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!advance(cs)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = cs->out_len - cs->out_off;
    if (n > max) n = max;
    memcpy(buf, cs->out + cs->out_off, n);
    cs->out_off += n;
    return (ssize_t)n;
}

static void cstream_free(void *cls)
{
    cstream *cs = cls;
    /* freed before the end of the stream: the client went away (or the write failed) */
    if (cs->phase != PH_END) metrics_count_disconnect(cs->s->metrics);
    job_release(cs->job); /* cancels it when still running */
    rp_completion_free(&cs->req);
    glossa_text_free(&cs->text);
    stream_detok_free(&cs->detok);
    free(cs->out);
    free(cs);
}

void cmpl_stream_start(srv_call *c, srv_job *job, rp_completion *req, const cmpl_meta *meta)
{
    cstream *cs = calloc(1, sizeof *cs);
    if (!cs) {
        job_release(job);
        rp_completion_free(req);
        rp_error err;
        rp_fail(&err, 503, "server_error", "out_of_memory", "out of memory");
        call_reply_error(c, &err);
        return;
    }
    cs->s = c->s;
    cs->job = job;
    cs->watch = c->watch;
    cs->req = *req;
    memset(req, 0, sizeof *req);
    for (size_t k = 0; k < cs->req.n_stop; k++)
        if (cs->req.stop_len[k] > cs->max_stop) cs->max_stop = cs->req.stop_len[k];
    cs->meta = *meta;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, cs, cstream_free);
    if (!r) {
        cstream_free(cs);
        rp_error err;
        rp_fail(&err, 503, "server_error", "out_of_memory", "out of memory");
        call_reply_error(c, &err);
        return;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    c->resp = r;
    c->status = 200;
}
