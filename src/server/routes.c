/* The route table, API-key check and readiness gate in front of the handlers. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

typedef struct route {
    const char *method;
    const char *path;
    srv_handler fn;
    bool open;     /* no API key needed (/health) */
    bool work;     /* generation: counted in flight, refused while loading or draining */
    bool body_key; /* the key may come as the body's "api_key" (LibreTranslate) */
} route;

static const route k_routes[] = {
    {"GET", "/health", health_handle, true, false, false},
    {"GET", "/metrics", metrics_handle, false, false, false},
    {"GET", "/languages", languages_handle, false, false, false},
    {"POST", "/translate", translate_handle, false, true, true},
    {"POST", "/v1/completions", completions_handle, false, true, false},
};
#define N_ROUTES (sizeof k_routes / sizeof k_routes[0])

/* Constant-time comparison (no early exit on the first differing byte). */
static bool key_eq(const char *given, const char *key)
{
    size_t a = strlen(given), b = strlen(key);
    unsigned char diff = a != b;
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)(key[i] ^ (i < a ? given[i] : 0));
    return diff == 0;
}

/* true when the request carries the key: "Authorization: Bearer KEY", "X-API-Key: KEY",
 * ?api_key=KEY, or (LibreTranslate) "api_key" in a /translate body. *offered: some key came. */
static bool authorized(srv_call *c, const route *r, bool *offered)
{
    const char *key = c->s->cfg.api_key;
    *offered = false;
    if (!key || r->open) return true;
    const char *h = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (h) {
        *offered = true;
        if (!strncasecmp(h, "Bearer ", 7)) {
            h += 7;
            while (*h == ' ') h++;
            if (key_eq(h, key)) return true;
        }
    }
    const char *alt[] = {MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "X-API-Key"),
                         MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "api_key")};
    for (size_t i = 0; i < 2; i++) {
        if (!alt[i]) continue;
        *offered = true;
        if (key_eq(alt[i], key)) return true;
    }
    if (r->body_key) {
        char *k = rp_body_api_key(c->body, c->body_len);
        bool ok = k && key_eq(k, key);
        *offered = *offered || k;
        free(k);
        if (ok) return true;
    }
    return false;
}

static const route *find(const char *method, const char *url, bool *path_known)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    *path_known = false;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (strcmp(url, k_routes[i].path)) continue;
        *path_known = true;
        if (!strcmp(method, k_routes[i].method) || (get && !strcmp(k_routes[i].method, "GET")))
            return &k_routes[i];
    }
    return NULL;
}

void routes_dispatch(srv_call *c, const char *method, bool *counted)
{
    *counted = false;
    rp_error err;
    bool known;
    const route *r = find(method, c->url, &known);
    if (!r) {
        if (known)
            rp_fail(&err, 405, "invalid_request_error", "method_not_allowed",
                    "%s is not allowed on this path", !strcmp(method, "POST") ? "POST" : "this method");
        else
            rp_fail(&err, 404, "invalid_request_error", "not_found",
                    "no such endpoint; the server has GET /health, GET /metrics, GET /languages, "
                    "POST /translate and POST /v1/completions");
        call_reply_error(c, &err);
        return;
    }
    bool offered;
    if (!authorized(c, r, &offered)) {
        rp_fail(&err, 401, "authentication_error", "invalid_api_key", "%s",
                offered ? "wrong API key"
                        : "missing API key: send \"Authorization: Bearer KEY\" (or \"api_key\" in "
                          "a /translate body)");
        call_reply_error(c, &err);
        return;
    }
    int phase = atomic_load(&c->s->phase);
    if (r->work) {
        srv_work w = srv_work_begin(c->s);
        *counted = w == SRV_WORK_OK;
        if (w == SRV_WORK_BUSY) {
            /* answered before the body is parsed or tokenized: an overloaded server spends
             * nothing on what it refuses (see srv_limits_setup) */
            rp_fail(&err, 429, "rate_limit_error", "queue_full",
                    "the server is full: %d requests in flight (--max-queue + --max-batch-size); "
                    "retry later", c->s->work_limit);
            call_reply_error(c, &err);
            return;
        }
        if (!*counted) {
            phase = atomic_load(&c->s->phase);
            rp_fail(&err, 503, "server_error", phase == SRV_PHASE_LOADING ? "loading" : "draining",
                    phase == SRV_PHASE_LOADING ? "the model is still loading"
                                               : "the server is shutting down");
            call_reply_error(c, &err);
            return;
        }
    }
    if (r->fn == languages_handle && phase == SRV_PHASE_LOADING) {
        rp_fail(&err, 503, "server_error", "loading", "the model is still loading");
        call_reply_error(c, &err);
        return;
    }
    r->fn(c);
}
