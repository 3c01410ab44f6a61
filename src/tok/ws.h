/* Per-call scratch for encoding: reused across calls by one thread (held in glossa_tokens.scratch),
 * so that steady-state encoding does not allocate. */
#ifndef GLOSSA_TOK_WS_H
#define GLOSSA_TOK_WS_H

#include "core/arena.h"
#include "core/buf.h"

typedef struct tok_ws {
    strbuf norm;      /* normalized text */
    strbuf tmp;       /* second string buffer (pre-tokenized pieces, pipelines) */
    idvec ids;        /* intermediate ids */
    arena lattice;    /* lattice nodes / BPE symbols; arena_reset() at the start of each call */
    void *ext[4];     /* encoder-specific growable arrays (owned; freed by tok_ws_free) */
    size_t ext_cap[4];
} tok_ws;

tok_ws *tok_ws_new(void);
void tok_ws_free(tok_ws *ws);
/* Grow ws->ext[slot] to at least bytes (contents not kept). NULL on out-of-memory. */
void *tok_ws_ext(tok_ws *ws, int slot, size_t bytes);

#endif
