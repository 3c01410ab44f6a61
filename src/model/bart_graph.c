/* The decoder-pass graph cache (bart_graph.h): a small table with least-recently-used eviction.
 * A shape is recorded the second time it comes (the first, unrecorded run grows whatever scratch
 * memory it needs, which recording may not do), and replayed from then on. */
#include <stdlib.h>
#include <string.h>

#include "model/bart_graph.h"

/* A server meets many (batch size, table widths) shapes, and every new one costs an unrecorded
 * pass, then a recording; a recorded decoder pass is about 150 kernel nodes. */
#define GRAPHS_CAP 256

typedef struct graph_entry {
    bart_graph_key key;
    void *graph;     /* NULL: seen, not recorded (yet, or refused) */
    bool refused;
    bool used;
    uint64_t last;   /* use clock */
} graph_entry;

struct bart_graphs {
    backend *be;
    uint64_t clock;
    graph_entry e[GRAPHS_CAP];
};

bart_graphs *bart_graphs_new(backend *be)
{
    if (!be || !be->ops->graph_begin) return NULL;
    /* GLOSSA_GRAPHS=0: every pass unrecorded (comparisons, debugging) */
    const char *env = getenv("GLOSSA_GRAPHS");
    if (env && env[0] == '0') return NULL;
    bart_graphs *g = calloc(1, sizeof *g);
    if (g) g->be = be;
    return g;
}

static void entry_clear(bart_graphs *g, graph_entry *e)
{
    if (e->graph) g->be->ops->graph_free(g->be, e->graph);
    memset(e, 0, sizeof *e);
}

void bart_graphs_free(bart_graphs *g)
{
    if (!g) return;
    for (int i = 0; i < GRAPHS_CAP; i++) entry_clear(g, &g->e[i]);
    free(g);
}

static bool same_key(const bart_graph_key *a, const bart_graph_key *b)
{
    return a->n_seqs == b->n_seqs && a->ids_mode == b->ids_mode && a->feed == b->feed &&
           a->self_stride == b->self_stride && a->cross_stride == b->cross_stride &&
           a->be_epoch == b->be_epoch && a->ws_epoch == b->ws_epoch && a->kv_epoch == b->kv_epoch;
}

void *bart_graphs_get(bart_graphs *g, const bart_graph_key *key, bool *record)
{
    *record = false;
    g->clock++;
    graph_entry *victim = NULL;
    for (int i = 0; i < GRAPHS_CAP; i++) {
        graph_entry *e = &g->e[i];
        if (e->used && (e->key.be_epoch != key->be_epoch || e->key.ws_epoch != key->ws_epoch ||
                        e->key.kv_epoch != key->kv_epoch))
            entry_clear(g, e); /* recorded over memory that has moved since */
        if (e->used && same_key(&e->key, key)) {
            e->last = g->clock;
            if (e->graph) return e->graph;
            *record = !e->refused;
            return NULL;
        }
        if (!victim || !e->used || (victim->used && e->last < victim->last)) victim = e;
    }
    entry_clear(g, victim);
    victim->key = *key;
    victim->used = true;
    victim->last = g->clock;
    return NULL;
}

void bart_graphs_put(bart_graphs *g, const bart_graph_key *key, void *graph)
{
    for (int i = 0; i < GRAPHS_CAP; i++) {
        graph_entry *e = &g->e[i];
        if (!e->used || !same_key(&e->key, key)) continue;
        if (e->graph) g->be->ops->graph_free(g->be, e->graph);
        e->graph = graph;
        e->refused = graph == NULL;
        return;
    }
    if (graph) g->be->ops->graph_free(g->be, graph); /* evicted meanwhile: cannot happen */
}
