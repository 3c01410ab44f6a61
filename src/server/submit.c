/* Text to jobs, submission and waiting, shared by /translate and /v1/completions. */
#include "submit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"

static void name_text(char *buf, size_t cap, const char *field, size_t index)
{
    if (index == SIZE_MAX) snprintf(buf, cap, "\"%s\"", field);
    else snprintf(buf, cap, "\"%s\"[%zu]", field, index);
}

bool submit_make_job(srv *s, const char *text, size_t len, const char *src, const char *tgt,
                     const glossa_decode_params *dp, const char *field, size_t index,
                     srv_job **out, rp_error *err)
{
    *out = NULL;
    char what[64];
    name_text(what, sizeof what, field, index);
    glossa_encode_params ep = glossa_encode_default_params();
    ep.src_lang = src;
    ep.tgt_lang = tgt;
    glossa_tokens toks = {0};
    int32_t bos = -1;
    glossa_request *r = NULL;
    glossa_status st = glossa_tokenizer_encode(s->tok, text, len, &ep, &toks);
    if (st == GLOSSA_STATUS_OK && toks.n > (size_t)s->cfg.max_input_tokens) {
        rp_fail(err, 400, "invalid_request_error", "input_too_long",
                "%s has %zu tokens; the limit is %d tokens (--max-input-tokens)", what, toks.n,
                s->cfg.max_input_tokens);
        glossa_tokens_free(&toks);
        return false;
    }
    if (st == GLOSSA_STATUS_OK) st = glossa_tokenizer_forced_bos_id(s->tok, tgt, &bos);
    if (st == GLOSSA_STATUS_OK)
        st = glossa_request_create_ids(s->model, toks.ids, toks.n, bos, dp, &r);
    int32_t n_tokens = (int32_t)toks.n;
    glossa_tokens_free(&toks);
    if (st != GLOSSA_STATUS_OK) {
        srv_status_error(st, what, err);
        return false;
    }
    *out = job_create(s, r, n_tokens);
    if (!*out) return rp_fail(err, 503, "server_error", "out_of_memory", "out of memory");
    return true;
}

bool submit_all(srv_job **jobs, size_t n, rp_error *err)
{
    for (size_t i = 0; i < n; i++) {
        glossa_status st = job_submit(jobs[i]);
        if (st == GLOSSA_STATUS_OK) continue;
        for (size_t k = 0; k < i; k++) job_cancel(jobs[k]);
        srv_status_error(st, "submit", err);
        return false;
    }
    return true;
}

bool submit_wait_all(srv_call *c, srv_job **jobs, size_t n, bool *gone, rp_error *err)
{
    *gone = false;
    for (size_t i = 0; i < n; i++) {
        job_wait_result w = job_wait(jobs[i], &c->watch, SIZE_MAX);
        if (w == JOB_WAIT_FINISHED) continue;
        for (size_t k = 0; k < n; k++) job_cancel(jobs[k]);
        if (w == JOB_WAIT_GONE) {
            metrics_count_disconnect(c->s->metrics);
            *gone = true;
        } else if (w == JOB_WAIT_TIMEOUT) {
            metrics_count_timeout(c->s->metrics);
            rp_fail(err, 504, "timeout_error", "timeout",
                    "the request took longer than the server's limit of %g s (--request-timeout) "
                    "and was cancelled",
                    c->s->cfg.request_timeout_s);
        } else {
            rp_fail(err, 503, "server_error", "shutting_down",
                    "the server is shutting down; the request was cancelled");
        }
        return false;
    }
    return true;
}

bool submit_check_status(srv_job **jobs, size_t n, rp_error *err)
{
    for (size_t i = 0; i < n; i++) {
        glossa_status st = job_status(jobs[i]);
        if (st == GLOSSA_STATUS_OK) continue;
        /* the engine's message is on its own thread: describe the status */
        if (st == GLOSSA_STATUS_CANCELLED)
            rp_fail(err, 503, "server_error", "cancelled",
                    "the request was cancelled (the server is shutting down)");
        else if (st == GLOSSA_STATUS_OUT_OF_MEMORY)
            rp_fail(err, 503, "server_error", "out_of_memory", "the server ran out of memory");
        else if (st == GLOSSA_STATUS_BAD_INPUT)
            rp_fail(err, 400, "invalid_request_error", "invalid_input",
                    "the request cannot be served by this model (%s)", glossa_status_name(st));
        else
            rp_fail(err, 500, "server_error", "internal_error", "generation failed: %s",
                    glossa_status_name(st));
        return false;
    }
    return true;
}

void submit_release_all(srv_job **jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++) job_release(jobs[i]);
}
