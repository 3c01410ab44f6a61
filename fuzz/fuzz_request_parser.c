/* libFuzzer target: the server's request parser (src/server/request_parse.c) on arbitrary bytes,
 * as a /translate body, a /v1/completions body and an api_key lookup. A body that parses must
 * satisfy the parser's promises: non-empty valid UTF-8 texts within the limits, codes of the
 * documented shape, parameters in range; a body that fails must carry a 4xx/5xx error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/request_parse.h"

static void check_texts(const rp_texts *t, const rp_limits *lim)
{
    if (t->n == 0 || t->n > lim->max_texts || (!t->is_list && t->n != 1)) abort();
    for (size_t i = 0; i < t->n; i++) {
        if (!t->v[i] || t->len[i] == 0 || strlen(t->v[i]) != t->len[i]) abort();
        if (!rp_utf8_valid(t->v[i], t->len[i])) abort();
    }
}

static void check_lang(const char *code)
{
    size_t n = 0;
    while (n < RP_LANG_MAX && code[n]) n++;
    if (n >= RP_LANG_MAX) abort();
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", code[i])) abort();
}

static void check_error(const rp_error *e)
{
    if (e->http_status < 400 || e->http_status > 599 || !e->type || !e->code) abort();
    if (!rp_utf8_valid(e->message, strlen(e->message))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    rp_limits lim = rp_default_limits();
    lim.max_texts = 16;
    rp_error err;
    rp_translate t;
    if (rp_parse_translate(body, size, &lim, &t, &err)) {
        check_texts(&t.texts, &lim);
        check_lang(t.source);
        check_lang(t.target);
        if (!t.target[0] || (t.auto_source && t.source[0])) abort();
        if (t.alternatives < 0 || t.alternatives > lim.max_alternatives) abort();
        rp_translate_free(&t);
    } else {
        check_error(&err);
    }
    rp_completion c;
    if (rp_parse_completion(body, size, &lim, &c, &err)) {
        check_texts(&c.prompts, &lim);
        if (c.n < 1 || c.n > lim.max_n || c.max_tokens < 0 || c.n_stop > RP_MAX_STOP) abort();
        if (!(c.temperature >= 0 && c.temperature <= 2) || !(c.top_p > 0 && c.top_p <= 1)) abort();
        if (c.stream && (c.n != 1 || c.prompts.n != 1)) abort();
        for (size_t i = 0; i < c.n_stop; i++)
            if (!c.stop[i] || c.stop_len[i] == 0 || c.stop_len[i] > RP_STOP_MAX_LEN) abort();
        check_lang(c.source_lang);
        check_lang(c.target_lang);
        rp_completion_free(&c);
    } else {
        check_error(&err);
    }
    free(rp_body_api_key(body, size));
    (void)rp_utf8_valid(body, size);
    return 0;
}
