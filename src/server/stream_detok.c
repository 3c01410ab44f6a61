/* Incremental detokenization of a streamed output (see stream_detok.h). */
#include "stream_detok.h"

#include <stdlib.h>
#include <string.h>

/* The window is shortened once it holds SETTLE_AT ids, to its last KEEP ids: enough that the
 * tokenizer's rules at the new boundary (byte pieces of one character, a space that clean-up
 * drops before punctuation) see the ids that decide them. */
#define SETTLE_AT 16
#define KEEP 4

glossa_status stream_detok_decode(stream_detok *d, const glossa_tokenizer *tok)
{
    glossa_status st = glossa_tokenizer_decode(tok, d->ids + d->win, d->n_ids - d->win, true,
                                               &d->scratch);
    if (st != GLOSSA_STATUS_OK) return st;
    size_t need = d->head + d->scratch.len + 1;
    if (need > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        while (cap < need) cap *= 2;
        char *p = realloc(d->text, cap);
        if (!p) return GLOSSA_STATUS_OUT_OF_MEMORY;
        d->text = p;
        d->cap = cap;
    }
    memcpy(d->text + d->head, d->scratch.data, d->scratch.len);
    d->len = d->head + d->scratch.len;
    d->text[d->len] = '\0';
    return GLOSSA_STATUS_OK;
}

void stream_detok_settle(stream_detok *d, const glossa_tokenizer *tok, size_t sent)
{
    if (d->n_ids - d->win < SETTLE_AT) return;
    size_t from = d->n_ids - KEEP;
    if (glossa_tokenizer_decode(tok, d->ids + from, KEEP, true, &d->scratch) != GLOSSA_STATUS_OK)
        return;
    size_t wlen = d->len - d->head, tail = d->scratch.len;
    if (tail > wlen || memcmp(d->text + d->len - tail, d->scratch.data, tail) != 0) return;
    size_t split = d->len - tail; /* the text of ids[0..from) */
    if (split > sent) return;     /* not all of it is out yet: it may still change */
    d->head = split;
    d->win = from;
}

void stream_detok_free(stream_detok *d)
{
    free(d->ids);
    free(d->text);
    glossa_text_free(&d->scratch);
    memset(d, 0, sizeof *d);
}
