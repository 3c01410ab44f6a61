/* Incremental detokenization of one streamed output (per request, no locking: one HTTP thread
 * owns it). The text of ids[0..n) is kept as a frozen head (the text of ids[0..win), settled and
 * already sent) followed by the decode of a short window ids[win..n), so each new token costs a
 * decode of a few ids instead of the whole output. The head moves forward only where that is
 * exact: the window's text ends with the separate decode of its last ids (so the split falls
 * between whole characters and the tokenizer's boundary rules, leading-space stripping and
 * clean-up, agree), and everything before the split has been sent. */
#ifndef GLOSSA_SERVER_STREAM_DETOK_H
#define GLOSSA_SERVER_STREAM_DETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "glossa.h"

typedef struct stream_detok {
    int32_t *ids;       /* every id so far */
    size_t n_ids, cap_ids;
    size_t win;         /* the window's first id */
    char *text;         /* head + window text, NUL-terminated */
    size_t len, cap;
    size_t head;        /* bytes of text frozen (the text of ids[0..win)) */
    glossa_text scratch;
} stream_detok;

/* Re-decode the window after ids were appended to d->ids (grown by the caller, e.g. with
 * job_copy_ids): d->text[0..d->len) is then the text of every id so far. Not OK (the text
 * unchanged) when the tokenizer cannot decode an id. */
glossa_status stream_detok_decode(stream_detok *d, const glossa_tokenizer *tok);

/* Freeze the text before the last few ids when that is exact and at most sent bytes long (call
 * after sending). Keeps the window short; never changes d->text. */
void stream_detok_settle(stream_detok *d, const glossa_tokenizer *tok, size_t sent);

void stream_detok_free(stream_detok *d);

#endif
