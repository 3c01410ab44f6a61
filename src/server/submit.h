/* Shared by the generation handlers: text to a submitted job, and waiting for a set of jobs. */
#ifndef GLOSSA_SERVER_SUBMIT_H
#define GLOSSA_SERVER_SUBMIT_H

#include "http.h"

/* Tokenize text (src / tgt: codes the tokenizer takes, NULL for its defaults), check
 * --max-input-tokens, create the request and its job. field / index name the text in errors
 * (index SIZE_MAX: not a list). */
bool submit_make_job(srv *s, const char *text, size_t len, const char *src, const char *tgt,
                     const glossa_decode_params *dp, const char *field, size_t index,
                     srv_job **out, rp_error *err);

/* Submit every job; on a refusal, cancel the ones already submitted (429 for a full queue). */
bool submit_all(srv_job **jobs, size_t n, rp_error *err);

/* Wait for every job. true: all finished (each with its own status). false: *err says why (504
 * timeout, 503 shutdown) or *gone is set (the client closed its connection); every job has been
 * cancelled then. */
bool submit_wait_all(srv_call *c, srv_job **jobs, size_t n, bool *gone, rp_error *err);

/* The first failed job's status as an error; true when all succeeded. */
bool submit_check_status(srv_job **jobs, size_t n, rp_error *err);

void submit_release_all(srv_job **jobs, size_t n);

#endif
