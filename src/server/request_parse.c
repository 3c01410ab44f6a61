/* Request bodies to plain structs (see request_parse.h). Every failure is a 400 with a message
 * that names the field; nothing here allocates beyond the copies it returns. */
#include "request_parse.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rp_limits rp_default_limits(void)
{
    rp_limits l = {.max_texts = 128, .max_alternatives = 8, .max_n = 8};
    return l;
}

bool rp_fail(rp_error *err, int http_status, const char *type, const char *code, const char *fmt,
             ...)
{
    if (!err) return false;
    err->http_status = http_status;
    err->type = type;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* the message goes into a JSON string: keep it valid UTF-8 even if truncation split a
     * character (callers only put sanitized ASCII in it, but be safe) */
    size_t n = strlen(err->message);
    while (n && !rp_utf8_valid(err->message, n)) err->message[--n] = '\0';
    return false;
}

static bool bad_request(rp_error *err, const char *code, const char *fmt, const char *field)
{
    return rp_fail(err, 400, "invalid_request_error", code, fmt, field);
}

bool rp_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* A printable-ASCII rendering of a client string for messages (at most 40 bytes). */
static void sanitize(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c >= 0x20 && c < 0x7F && c != '\'' ? (char)c : '?';
        if (o >= 40) {
            out[o++] = '.', out[o++] = '.';
            break;
        }
    }
    out[o] = '\0';
}

static json_t *load(const char *body, size_t len, rp_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        enum json_error_code code = json_error_code(&je);
        if (code == json_error_invalid_utf8)
            rp_fail(err, 400, "invalid_request_error", "invalid_utf8",
                    "the request body is not valid UTF-8 (byte %d)", je.position);
        else if (code == json_error_null_character)
            rp_fail(err, 400, "invalid_request_error", "invalid_text",
                    "a string contains a NUL character (\\u0000) at line %d, column %d", je.line,
                    je.column);
        else if (len == 0)
            rp_fail(err, 400, "invalid_request_error", "invalid_json",
                    "the request body is empty: send a JSON object");
        else
            rp_fail(err, 400, "invalid_request_error", "invalid_json",
                    "malformed JSON at line %d, column %d: %.200s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        rp_fail(err, 400, "invalid_request_error", "invalid_type",
                "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

static void texts_free(rp_texts *t)
{
    for (size_t i = 0; t->v && i < t->n; i++) free(t->v[i]);
    free(t->v);
    free(t->len);
    memset(t, 0, sizeof *t);
}

/* A string or an array of non-empty strings. */
static bool parse_texts(const json_t *v, const char *field, size_t max_texts, rp_texts *out,
                        rp_error *err)
{
    memset(out, 0, sizeof *out);
    size_t n = 1;
    if (json_is_array(v)) {
        n = json_array_size(v);
        out->is_list = true;
        if (n == 0) return bad_request(err, "empty_text", "\"%s\" is an empty list", field);
        if (n > max_texts)
            return rp_fail(err, 400, "invalid_request_error", "too_many_texts",
                           "\"%s\" has %zu items; at most %zu per request", field, n, max_texts);
    } else if (!json_is_string(v)) {
        return bad_request(err, "invalid_type", "\"%s\" must be a string or a list of strings",
                           field);
    }
    out->v = calloc(n, sizeof *out->v);
    out->len = calloc(n, sizeof *out->len);
    if (!out->v || !out->len) {
        texts_free(out);
        return rp_fail(err, 500, "server_error", "out_of_memory", "out of memory");
    }
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = out->is_list ? json_array_get(v, i) : v;
        if (!json_is_string(s)) {
            texts_free(out);
            return rp_fail(err, 400, "invalid_request_error", "invalid_type",
                           "\"%s\"[%zu] must be a string", field, i);
        }
        size_t len = json_string_length(s);
        const char *str = json_string_value(s);
        if (len == 0 || !str) {
            bool list = out->is_list;
            texts_free(out);
            if (list)
                return rp_fail(err, 400, "invalid_request_error", "empty_text",
                               "\"%s\"[%zu] is empty", field, i);
            return bad_request(err, "empty_text", "\"%s\" is empty", field);
        }
        /* jansson rejects invalid UTF-8 and \u0000 unless asked; check again all the same */
        if (memchr(str, '\0', len) || !rp_utf8_valid(str, len)) {
            texts_free(out);
            return bad_request(err, "invalid_utf8", "\"%s\" is not valid UTF-8 text", field);
        }
        out->v[i] = dup_n(str, len);
        out->len[i] = len;
        if (!out->v[i]) {
            texts_free(out);
            return rp_fail(err, 500, "server_error", "out_of_memory", "out of memory");
        }
    }
    return true;
}

/* A language code: [A-Za-z0-9_-]{1,31}, or "auto" when allow_auto. v NULL / null: absent. */
static bool parse_lang(const json_t *v, const char *field, bool allow_auto, char *out,
                       bool *is_auto, rp_error *err)
{
    out[0] = '\0';
    if (is_auto) *is_auto = false;
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v))
        return bad_request(err, "invalid_type", "\"%s\" must be a language code string", field);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    bool ok = n > 0 && n < RP_LANG_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    }
    if (!ok) {
        char shown[64];
        sanitize(s, n, shown, sizeof shown);
        return rp_fail(err, 400, "invalid_request_error", "unknown_language",
                       "\"%s\": unknown language '%s'; GET /languages lists the supported codes",
                       field, shown);
    }
    if (allow_auto && n == 4 && (s[0] | 32) == 'a' && (s[1] | 32) == 'u' && (s[2] | 32) == 't' &&
        (s[3] | 32) == 'o') {
        if (is_auto) *is_auto = true;
        return true;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

/* An optional integer in [lo, hi]; absent or null leaves *out. */
static bool parse_int(const json_t *v, const char *field, long long lo, long long hi,
                      int32_t *out, rp_error *err)
{
    if (!v || json_is_null(v)) return true;
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 1e15) {
        x = (long long)json_real_value(v); /* 3.0 from a JavaScript client */
    } else {
        return bad_request(err, "invalid_type", "\"%s\" must be an integer", field);
    }
    if (x < lo || x > hi)
        return rp_fail(err, 400, "invalid_request_error", "invalid_value",
                       "\"%s\" is %lld; it must be in [%lld, %lld]", field, x, lo, hi);
    *out = (int32_t)x;
    return true;
}

static bool parse_number(const json_t *v, const char *field, double lo, double hi, bool lo_open,
                         double *out, rp_error *err)
{
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) return bad_request(err, "invalid_type", "\"%s\" must be a number", field);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi) || (lo_open && x == lo))
        return rp_fail(err, 400, "invalid_request_error", "invalid_value",
                       "\"%s\" is %g; it must be in %c%g, %g]", field, x, lo_open ? '(' : '[', lo,
                       hi);
    *out = x;
    return true;
}

static bool parse_bool(const json_t *v, const char *field, bool *out, rp_error *err)
{
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) return bad_request(err, "invalid_type", "\"%s\" must be true or false", field);
    *out = json_is_true(v);
    return true;
}

/* An optional string copied out (NULL when absent or null). */
static bool parse_opt_string(const json_t *v, const char *field, char **out, rp_error *err)
{
    *out = NULL;
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) return bad_request(err, "invalid_type", "\"%s\" must be a string", field);
    *out = dup_n(json_string_value(v), json_string_length(v));
    if (!*out) return rp_fail(err, 500, "server_error", "out_of_memory", "out of memory");
    return true;
}

char *rp_body_api_key(const char *body, size_t len)
{
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    char *key = NULL;
    if (root && json_is_object(root)) {
        const json_t *k = json_object_get(root, "api_key");
        if (json_is_string(k)) key = dup_n(json_string_value(k), json_string_length(k));
    }
    json_decref(root);
    return key;
}

static bool translate_fields(const json_t *root, const rp_limits *lim, rp_translate *out,
                             rp_error *err)
{
    bool libre = json_object_get(root, "q") != NULL;
    bool text = json_object_get(root, "text") != NULL;
    if (!libre && !text)
        return bad_request(err, "missing_field", "%s",
                           "missing \"q\" (the text to translate: a string or a list of strings)");
    out->shape = libre ? RP_SHAPE_LIBRETRANSLATE : RP_SHAPE_TEXT_RESULT;
    const char *f_text = libre ? "q" : "text";
    const char *f_src = libre ? "source" : "source_lang";
    const char *f_tgt = libre ? "target" : "target_lang";
    if (!parse_texts(json_object_get(root, f_text), f_text, lim->max_texts, &out->texts, err))
        return false;
    const json_t *src = json_object_get(root, f_src);
    if (!parse_lang(src, f_src, true, out->source, &out->auto_source, err)) return false;
    if (!src || json_is_null(src)) out->auto_source = true;
    const json_t *tgt = json_object_get(root, f_tgt);
    if (!tgt || json_is_null(tgt))
        return bad_request(err, "missing_field", "missing \"%s\" (the target language code)", f_tgt);
    if (!parse_lang(tgt, f_tgt, false, out->target, NULL, err)) return false;
    const json_t *fmt = json_object_get(root, "format");
    if (fmt && !json_is_null(fmt)) {
        if (!json_is_string(fmt)) return bad_request(err, "invalid_type", "\"%s\" must be a string", "format");
        if (strcmp(json_string_value(fmt), "text") != 0)
            return bad_request(err, "unsupported", "%s", "\"format\": only \"text\" is supported");
    }
    if (!parse_int(json_object_get(root, "alternatives"), "alternatives", 0, lim->max_alternatives,
                   &out->alternatives, err))
        return false;
    return parse_opt_string(json_object_get(root, "api_key"), "api_key", &out->api_key, err);
}

bool rp_parse_translate(const char *body, size_t len, const rp_limits *lim, rp_translate *out,
                        rp_error *err)
{
    rp_limits dflt = rp_default_limits();
    if (!lim) lim = &dflt;
    memset(out, 0, sizeof *out);
    json_t *root = load(body, len, err);
    if (!root) return false;
    bool ok = translate_fields(root, lim, out, err);
    json_decref(root);
    if (!ok) rp_translate_free(out);
    return ok;
}

void rp_translate_free(rp_translate *t)
{
    if (!t) return;
    texts_free(&t->texts);
    free(t->api_key);
    memset(t, 0, sizeof *t);
}

static bool parse_stop(const json_t *v, rp_completion *out, rp_error *err)
{
    if (!v || json_is_null(v)) return true;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_string(v))
        return bad_request(err, "invalid_type", "\"%s\" must be a string or a list of strings", "stop");
    if (n > RP_MAX_STOP)
        return rp_fail(err, 400, "invalid_request_error", "invalid_value",
                       "\"stop\" has %zu sequences; at most %d", n, RP_MAX_STOP);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(s))
            return bad_request(err, "invalid_type", "\"%s\" items must be strings", "stop");
        size_t len = json_string_length(s);
        if (len == 0 || len > RP_STOP_MAX_LEN)
            return rp_fail(err, 400, "invalid_request_error", "invalid_value",
                           "\"stop\" sequences must be 1 to %d bytes", RP_STOP_MAX_LEN);
        out->stop[out->n_stop] = dup_n(json_string_value(s), len);
        if (!out->stop[out->n_stop]) return rp_fail(err, 500, "server_error", "out_of_memory", "out of memory");
        out->stop_len[out->n_stop++] = len;
    }
    return true;
}

/* Fields the server does not implement: accepted only at their neutral values. */
static bool check_unsupported(const json_t *root, rp_error *err)
{
    const json_t *v = json_object_get(root, "logprobs");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 0) && !json_is_false(v))
        return bad_request(err, "unsupported", "%s", "\"logprobs\" is not supported");
    v = json_object_get(root, "echo");
    if (v && !json_is_null(v) && !json_is_false(v))
        return bad_request(err, "unsupported", "%s", "\"echo\" is not supported");
    v = json_object_get(root, "best_of");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return bad_request(err, "unsupported", "%s", "\"best_of\" is not supported");
    v = json_object_get(root, "suffix");
    if (v && !json_is_null(v))
        return bad_request(err, "unsupported", "%s", "\"suffix\" is not supported");
    return true;
}

static bool completion_fields(const json_t *root, const rp_limits *lim, rp_completion *out,
                              rp_error *err)
{
    const json_t *prompt = json_object_get(root, "prompt");
    if (!prompt || json_is_null(prompt))
        return bad_request(err, "missing_field", "%s", "missing \"prompt\" (a string or a list of strings)");
    if (!parse_texts(prompt, "prompt", lim->max_texts, &out->prompts, err)) return false;
    if (!parse_opt_string(json_object_get(root, "model"), "model", &out->model, err)) return false;
    if (!parse_int(json_object_get(root, "max_tokens"), "max_tokens", 1, INT32_MAX, &out->max_tokens, err))
        return false;
    if (!parse_number(json_object_get(root, "temperature"), "temperature", 0, 2, false,
                      &out->temperature, err))
        return false;
    if (!parse_number(json_object_get(root, "top_p"), "top_p", 0, 1, true, &out->top_p, err))
        return false;
    if (!parse_int(json_object_get(root, "n"), "n", 1, lim->max_n, &out->n, err)) return false;
    if (!parse_bool(json_object_get(root, "stream"), "stream", &out->stream, err)) return false;
    if (!parse_stop(json_object_get(root, "stop"), out, err)) return false;
    const json_t *seed = json_object_get(root, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) return bad_request(err, "invalid_type", "\"%s\" must be an integer", "seed");
        out->has_seed = true;
        out->seed = (uint64_t)json_integer_value(seed);
    }
    if (!parse_lang(json_object_get(root, "source_lang"), "source_lang", false, out->source_lang,
                    NULL, err) ||
        !parse_lang(json_object_get(root, "target_lang"), "target_lang", false, out->target_lang,
                    NULL, err))
        return false;
    if (out->stream && (out->n > 1 || out->prompts.n > 1))
        return bad_request(err, "unsupported", "%s",
                           "\"stream\": true takes one prompt and \"n\": 1");
    return check_unsupported(root, err);
}

bool rp_parse_completion(const char *body, size_t len, const rp_limits *lim, rp_completion *out,
                         rp_error *err)
{
    rp_limits dflt = rp_default_limits();
    if (!lim) lim = &dflt;
    memset(out, 0, sizeof *out);
    out->top_p = 1;
    out->n = 1;
    json_t *root = load(body, len, err);
    if (!root) return false;
    bool ok = completion_fields(root, lim, out, err);
    json_decref(root);
    if (!ok) rp_completion_free(out);
    return ok;
}

void rp_completion_free(rp_completion *c)
{
    if (!c) return;
    texts_free(&c->prompts);
    free(c->model);
    for (size_t i = 0; i < c->n_stop; i++) free(c->stop[i]);
    memset(c, 0, sizeof *c);
}
