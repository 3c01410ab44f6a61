/* Internals shared by the encoder (bart_forward.c) and the decoder (bart_decode.c) passes: the
 * workspace (bart_ws) and the helpers both use. Not part of the model's interface (bart.h). */
#ifndef GLOSSA_MODEL_BART_WS_H
#define GLOSSA_MODEL_BART_WS_H

#include <stdbool.h>
#include <stdint.h>

#include "model/bart.h"
#include "model/bart_graph.h"

struct bart_ws {
    bart_model *m;
    size_t esz;           /* activation element size */
    int32_t cap_tok;      /* token rows the activation buffers hold */
    int32_t cap_seq;      /* sequences ws->off holds */
    int64_t cap_logits;   /* logits elements */
    void *x, *y, *qkv, *attn, *h, *q; /* (cap_tok, d|d|3d|d|ffn|d) */
    void *logits;         /* (cap_logits) */
    int32_t *ids, *pos, *slots;        /* (cap_tok) device int32 (the encoder's) */
    int32_t *off;                      /* (cap_seq + 1) the encoder's sequence offsets */
    int32_t *host_pos;                 /* (cap_tok) host staging */
    int32_t *didx, *hidx;              /* (cap_idx) a decoder pass's index arrays, one upload */
    int64_t cap_idx;
    int32_t *dfeed; /* (cap_feed) device: a pass's argmax ids (linear_argmax), which the next
                       pass may take as its input ids (bart_dec_batch.ids_feed) */
    int32_t cap_feed;
    int32_t *dids;    /* the last pass's argmax ids on the device (dfeed) */
    int32_t ids_rows; /* rows of dids the last pass computed (0: none; bart_logits_argmax) */
    uint64_t dec_passes; /* decoder passes run (bart_dec_passes) */
    int lm_argmax;    /* the backend's linear_argmax: -1 not tried yet, 0 declined, 1 runs */
    bool logits_gone; /* the last pass kept only the argmax (ids_only): no logits to read */
    float *hlogits; /* (cap_hlogits) host staging of padded logits rows */
    size_t cap_hlogits;
    uint64_t epoch;                    /* bumped whenever a buffer above moves */
    bart_graphs *graphs;               /* recorded decoder passes; NULL: none */
    int table_pow2;                    /* GLOSSA_TABLE_POW2 (read once): 1, 0, or -1 unset */
    bool graph_check;                  /* GLOSSA_GRAPHS_CHECK=1: compare replays (debugging) */
    bool buckets;                      /* GLOSSA_DECODE_BUCKETS=1: pad decode passes (bart_decode.c) */
};

/* Grow the buffers to hold n token rows / n logits / n index entries (bumps ws->epoch on a move). */
glossa_status bart_ws_reserve_tok(bart_ws *ws, int32_t n_tok);
glossa_status bart_ws_reserve_logits(bart_ws *ws, int64_t n);
glossa_status bart_ws_reserve_idx(bart_ws *ws, int64_t n);
glossa_status bart_ws_reserve_feed(bart_ws *ws, int32_t n);
/* base + elems activations */
void *bart_ws_at(const bart_ws *ws, void *base, size_t elems);
/* n int32 to the device (nothing for n = 0) */
glossa_status bart_up(backend *be, int32_t *dst, const int32_t *src, size_t n);
/* Positions to rows of the position table, checked against it. */
glossa_status bart_position_rows(const bart_model *m, const gl_weight *table, int32_t *rows,
                                 const int32_t *positions, int32_t n);
/* BAD_INPUT naming `what` for an id outside [0, vocab). */
glossa_status bart_check_ids(const int32_t *ids, int32_t n, int32_t vocab, const char *what);
/* n_tok rows of embeddings (ids and position rows already on the device) into x. */
void bart_embed_ids(bart_ws *ws, int32_t n_tok, const int32_t *ids, const int32_t *pos_rows,
                    const gl_weight *tok, const gl_weight *pos, const gl_weight *ln_g,
                    const gl_weight *ln_b, void *x);

#endif
