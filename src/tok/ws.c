#include "tok/ws.h"

#include <stdlib.h>

tok_ws *tok_ws_new(void)
{
    tok_ws *ws = calloc(1, sizeof *ws);
    if (ws) arena_init(&ws->lattice, 64 * 1024);
    return ws;
}

void tok_ws_free(tok_ws *ws)
{
    if (!ws) return;
    strbuf_free(&ws->norm);
    strbuf_free(&ws->tmp);
    idvec_free(&ws->ids);
    arena_free(&ws->lattice);
    for (int i = 0; i < 4; i++) free(ws->ext[i]);
    free(ws);
}

void *tok_ws_ext(tok_ws *ws, int slot, size_t bytes)
{
    if (ws->ext_cap[slot] >= bytes) return ws->ext[slot];
    size_t cap = ws->ext_cap[slot] ? ws->ext_cap[slot] : 1024;
    while (cap < bytes) cap *= 2;
    free(ws->ext[slot]);
    ws->ext[slot] = malloc(cap);
    ws->ext_cap[slot] = ws->ext[slot] ? cap : 0;
    return ws->ext[slot];
}
