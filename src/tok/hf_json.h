/* Typed access to tokenizer.json values (jansson). Every getter checks the JSON type and reports
 * a wrong one as BAD_MODEL naming the field, so loaders read like the file's schema:
 *
 *     bool split = true;
 *     GLOSSA_TRY(hfj_bool(obj, "split", true, &split));   // absent or null: the default
 *
 * `what` in the messages is the component being read ("pre_tokenizer.Metaspace"). */
#ifndef GLOSSA_TOK_HF_JSON_H
#define GLOSSA_TOK_HF_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

/* Largest nesting of Sequence components accepted (deeper files are refused). */
#define HF_MAX_DEPTH 16

/* The "type" string of a component object (BAD_MODEL when missing or not a string). */
glossa_status hfj_type(const json_t *obj, const char *what, const char **type);

/* obj[key] as a bool; absent or null gives def. */
glossa_status hfj_bool(const json_t *obj, const char *what, const char *key, bool def, bool *out);

/* obj[key] as an integer in [lo, hi]; absent or null gives def. */
glossa_status hfj_int(const json_t *obj, const char *what, const char *key, long long def,
                      long long lo, long long hi, long long *out);

/* obj[key] as a string (NUL-safe: *len set); absent or null gives NULL / 0 when optional, else
 * BAD_MODEL. The pointer lives as long as the JSON document. */
glossa_status hfj_str(const json_t *obj, const char *what, const char *key, bool optional,
                      const char **s, size_t *len);

/* obj[key] as an array (absent: BAD_MODEL unless optional, then *arr = NULL). */
glossa_status hfj_array(const json_t *obj, const char *what, const char *key, bool optional,
                        const json_t **arr);

/* A JSON number (integer or real) as double. */
bool hfj_number(const json_t *v, double *out);

/* A one-character string (a Rust `char`): its code point and UTF-8 bytes (NUL-terminated, <= 4). */
glossa_status hfj_char(const json_t *obj, const char *what, const char *key, const char *def,
                       char out[5]);

/* Decode standard base64 (with padding, as Rust's BASE64_STANDARD) into a malloc'd buffer. */
glossa_status hfj_base64(const char *s, size_t len, const char *what, unsigned char **out,
                         size_t *out_len);

#endif
