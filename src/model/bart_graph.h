/* Replayable decoder passes: the backend's recorded graphs (backend.h graph_*) of bart_decode,
 * kept per pass shape. A graph holds the device pointers of its recording (workspace, index
 * buffers, K/V pools, backend scratch), so the key carries everything that could move them. */
#ifndef GLOSSA_MODEL_BART_GRAPH_H
#define GLOSSA_MODEL_BART_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"

typedef struct bart_graph_key {
    int32_t n_seqs;        /* one new token each */
    int32_t self_stride;   /* block-table row widths the pass was packed with */
    int32_t cross_stride;
    int32_t ids_mode;      /* 0: logits; 1: logits and their argmax; 2: the argmax only
                              (bart_dec_batch.want_ids, ids_only) */
    bool feed;             /* input ids from the previous pass's argmax (ids_feed) */
    uint64_t be_epoch;     /* backend graph_epoch() at recording */
    uint64_t ws_epoch;     /* workspace allocations at recording */
    uint64_t kv_epoch;     /* bart_kv.epoch: the K/V pools' buffers */
} bart_graph_key;

typedef struct bart_graphs bart_graphs;

/* NULL when graphs are off: the backend has none, GLOSSA_GRAPHS=0, or out of memory. */
bart_graphs *bart_graphs_new(backend *be);
void bart_graphs_free(bart_graphs *g);

/* The graph recorded for key, or NULL; then *record says whether to record this pass (its shape
 * came before and was not refused). Entries of other epochs are dropped. */
void *bart_graphs_get(bart_graphs *g, const bart_graph_key *key, bool *record);
/* Keep graph for key (the cache owns it); NULL: recording failed, do not try this key again. */
void bart_graphs_put(bart_graphs *g, const bart_graph_key *key, void *graph);

#endif
