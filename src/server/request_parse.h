/* Parsing and validation of the JSON request bodies of the server into plain C structs: no HTTP,
 * no engine, no model (the fuzz target fuzz/fuzz_request_parser.c drives it on arbitrary bytes).
 * Language codes are checked for shape only here; whether the model knows them is checked by the
 * handlers with the tokenizer. Pure C11 (no POSIX). */
#ifndef GLOSSA_SERVER_REQUEST_PARSE_H
#define GLOSSA_SERVER_REQUEST_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RP_LANG_MAX 32      /* language codes: at most 31 bytes of [A-Za-z0-9_-] */
#define RP_MAX_STOP 4       /* OpenAI: up to 4 stop sequences */
#define RP_STOP_MAX_LEN 256 /* bytes per stop sequence */

/* An error for the client: the HTTP status and the body's type, code and message. */
typedef struct rp_error {
    int http_status;   /* 400, 401, 404, 413, 429, 500, 503, 504 */
    const char *type;  /* "invalid_request_error", "authentication_error", ... (static) */
    const char *code;  /* "invalid_json", "invalid_type", "invalid_utf8", ... (static) */
    char message[512];
} rp_error;

/* Limits the parser enforces (the server passes its configuration). */
typedef struct rp_limits {
    size_t max_texts;         /* items of a "q" / "prompt" list, default 128 */
    int32_t max_alternatives; /* "alternatives" at most, default 8 */
    int32_t max_n;            /* completions "n" at most, default 8 */
} rp_limits;

rp_limits rp_default_limits(void);

/* A list of texts, each a NUL-terminated UTF-8 copy (valid UTF-8, no NUL inside). */
typedef struct rp_texts {
    char **v;
    size_t *len;
    size_t n;
    bool is_list; /* the client sent a JSON array (the reply is an array too) */
} rp_texts;

typedef enum rp_translate_shape {
    RP_SHAPE_LIBRETRANSLATE = 0, /* {"q", "source", "target"} -> {"translatedText"} */
    RP_SHAPE_TEXT_RESULT = 1,    /* {"text", "source_lang", "target_lang"} -> {"result"} */
} rp_translate_shape;

/* POST /translate */
typedef struct rp_translate {
    rp_translate_shape shape;
    rp_texts texts;
    char source[RP_LANG_MAX]; /* "" when absent; auto_source set for "auto" */
    bool auto_source;
    char target[RP_LANG_MAX];
    int32_t alternatives;     /* 0 when absent */
    char *api_key;            /* body "api_key" (NULL when absent) */
} rp_translate;

/* POST /v1/completions */
typedef struct rp_completion {
    rp_texts prompts;
    char *model;              /* echoed back; NULL when absent */
    int32_t max_tokens;       /* 0 when absent (the server's default) */
    double temperature;       /* 0 when absent: greedy */
    double top_p;             /* 1 when absent */
    int32_t n;                /* 1 when absent */
    bool stream;
    char *stop[RP_MAX_STOP];
    size_t stop_len[RP_MAX_STOP];
    size_t n_stop;
    bool has_seed;
    uint64_t seed;
    /* glossa extensions: languages for translation models ("" when absent) */
    char source_lang[RP_LANG_MAX];
    char target_lang[RP_LANG_MAX];
} rp_completion;

/* Parse body[0..len). true on success; false with *err filled (and *out left empty). */
bool rp_parse_translate(const char *body, size_t len, const rp_limits *lim, rp_translate *out,
                        rp_error *err);
void rp_translate_free(rp_translate *t);

bool rp_parse_completion(const char *body, size_t len, const rp_limits *lim, rp_completion *out,
                         rp_error *err);
void rp_completion_free(rp_completion *c);

/* The "api_key" string member of a JSON object body, as a malloc'd copy; NULL when the body is
 * not a JSON object or has no string "api_key". */
char *rp_body_api_key(const char *body, size_t len);

/* Fill *err (message printf-style). Returns false, for `return rp_fail(...)`. */
bool rp_fail(rp_error *err, int http_status, const char *type, const char *code, const char *fmt,
             ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* true when s[0..len) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool rp_utf8_valid(const char *s, size_t len);

#endif
