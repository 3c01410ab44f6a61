/* GET /health: 200 {"status": "ok"} when serving; 503 while loading or draining. No API key. */
#include "http.h"

void health_handle(srv_call *c)
{
    int phase = atomic_load(&c->s->phase);
    const char *st = phase == SRV_PHASE_READY ? "ok" : phase == SRV_PHASE_LOADING ? "loading" : "draining";
    call_reply_json(c, phase == SRV_PHASE_READY ? 200 : 503, json_pack("{s:s}", "status", st));
    if (c->resp && phase != SRV_PHASE_READY)
        MHD_add_response_header(c->resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
}
