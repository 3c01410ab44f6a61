/* POST /v1/completions (OpenAI-compatible) shared between the whole-reply and streaming paths. */
#ifndef GLOSSA_SERVER_COMPLETIONS_H
#define GLOSSA_SERVER_COMPLETIONS_H

#include "submit.h"

typedef struct cmpl_meta {
    char id[48];
    long long created;
    char model[128];
    int32_t max_tokens;
} cmpl_meta;

/* "stop" / "length" for a finished hypothesis of n tokens. */
const char *cmpl_finish_reason(size_t n, int32_t max_tokens);

/* {"id", "object": "text_completion", "created", "model", "choices": choices} (choices consumed). */
json_t *cmpl_envelope(const cmpl_meta *m, json_t *choices);

/* Stream one prompt's job as server-sent events: sets c->resp / c->status. Takes the job and the
 * parsed request (its stop strings) over. */
void cmpl_stream_start(srv_call *c, srv_job *job, rp_completion *req, const cmpl_meta *meta);

#endif
