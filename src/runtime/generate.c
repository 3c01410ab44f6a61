/* Batch generation to completion (see generate.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "runtime/generate.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Per-request state during a run. */
typedef struct gen_state {
    gen_request *r;
    kv_seq cross;
    int32_t n_beams;       /* rows this request occupies per step */
    kv_seq *seqs, *tmp;    /* (n_beams) self-attention caches; tmp for beam reordering */
    beam_search *bs;       /* beam search; NULL for greedy / sampling */
    int32_t *tokens;       /* greedy / sampling: the sequence, start token first */
    int32_t len;
    double logprob;
    decode_rng rng;
    float *row_copy;       /* sampling: the processed row before the warpers */
    int32_t *parent, *token;
    int32_t row0;          /* first logits row of this step */
    bool finishing;        /* the step's selection ended the request */
    glossa_status status;  /* of the step's selection */
    bool done;
} gen_state;

/* Step arrays, sized for all rows of a run. */
typedef struct step_bufs {
    int32_t *ids, *off, *pos, *slots, *lens, *xlens, *tab, *xtab;
    int32_t cap_rows, cap_tab, cap_xtab;
} step_bufs;

glossa_status gen_engine_init(gen_engine *e, bart_model *m)
{
    memset(e, 0, sizeof *e);
    e->model = m;
    const model_config *c = &m->cfg;
    if (m->be->n_threads > 1) GLOSSA_TRY(threadpool_create(m->be->n_threads, &e->pool));
    kv_pool_init(&e->self, m->be, c->decoder_layers, c->d_model, GEN_BLOCK_SIZE);
    kv_pool_init(&e->cross, m->be, c->decoder_layers, c->d_model, GEN_BLOCK_SIZE);
    return bart_ws_new(m, &e->ws);
}

void gen_engine_free(gen_engine *e)
{
    if (!e) return;
    bart_ws_free(e->ws);
    threadpool_destroy(e->pool);
    kv_pool_free(&e->self);
    kv_pool_free(&e->cross);
    kv_copies_free(&e->cow);
    free(e->logits);
    memset(e, 0, sizeof *e);
}

void gen_request_clear_results(gen_request *r)
{
    for (int32_t i = 0; i < r->n_results; i++) free(r->results[i].ids);
    free(r->results);
    r->results = NULL;
    r->n_results = 0;
}

static bart_kv engine_kv(const gen_engine *e)
{
    bart_kv kv = {e->self.k, e->self.v, e->cross.k, e->cross.v, GEN_BLOCK_SIZE};
    return kv;
}

static glossa_status reserve_logits(gen_engine *e, size_t n)
{
    if (n <= e->logits_cap) return GLOSSA_STATUS_OK;
    float *l = realloc(e->logits, n * sizeof *l);
    if (!l) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "logits (%zu floats)", n);
    e->logits = l;
    e->logits_cap = n;
    return GLOSSA_STATUS_OK;
}

/* Pools large enough for the whole run (grown only while idle). */
static glossa_status reserve_pools(gen_engine *e, gen_state *st, int32_t n)
{
    int64_t self = 0, cross = 0;
    for (int32_t i = 0; i < n; i++) {
        self += (int64_t)st[i].n_beams * kv_blocks_for(&e->self, st[i].r->p.max_length);
        cross += kv_blocks_for(&e->cross, st[i].r->n_src);
    }
    if (self > INT32_MAX / GEN_BLOCK_SIZE || cross > INT32_MAX / GEN_BLOCK_SIZE)
        return glossa_error(GLOSSA_STATUS_BAD_INPUT, "batch too large for the kv cache");
    if (self > e->self.n_blocks) GLOSSA_TRY(kv_pool_resize(&e->self, (int32_t)self));
    if (cross > e->cross.n_blocks) GLOSSA_TRY(kv_pool_resize(&e->cross, (int32_t)cross));
    return GLOSSA_STATUS_OK;
}

static glossa_status encode_all(gen_engine *e, gen_state *st, int32_t n)
{
    int64_t total = 0;
    for (int32_t i = 0; i < n; i++) total += st[i].r->n_src;
    int32_t *ids = malloc((size_t)(total ? total : 1) * sizeof *ids);
    int32_t *slots = malloc((size_t)(total ? total : 1) * sizeof *slots);
    int32_t *off = malloc((size_t)(n + 1) * sizeof *off);
    glossa_status s = ids && slots && off ? GLOSSA_STATUS_OK
                                          : glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "encoder batch");
    int32_t at = 0;
    for (int32_t i = 0; i < n && s == GLOSSA_STATUS_OK; i++) {
        off[i] = at;
        memcpy(ids + at, st[i].r->src, (size_t)st[i].r->n_src * sizeof *ids);
        s = kv_seq_append(&e->cross, &st[i].cross, st[i].r->n_src, slots + at, NULL);
        at += st[i].r->n_src;
    }
    if (s == GLOSSA_STATUS_OK) {
        off[n] = at;
        bart_kv kv = engine_kv(e);
        bart_enc_batch b = {n, ids, off, slots};
        s = bart_encode(e->model, e->ws, &kv, &b);
    }
    free(ids);
    free(slots);
    free(off);
    return s;
}

static void state_free(gen_engine *e, gen_state *s)
{
    kv_seq_free(&e->cross, &s->cross);
    for (int32_t b = 0; s->seqs && b < s->n_beams; b++) kv_seq_free(&e->self, &s->seqs[b]);
    for (int32_t b = 0; s->tmp && b < s->n_beams; b++) kv_seq_free(&e->self, &s->tmp[b]);
    free(s->seqs);
    free(s->tmp);
    beam_search_free(s->bs);
    free(s->tokens);
    free(s->row_copy);
    free(s->parent);
    free(s->token);
}

static glossa_status state_init(gen_state *s, gen_request *r, int32_t vocab)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    const decode_params *p = &r->p;
    s->n_beams = p->num_beams > 1 ? p->num_beams : 1;
    s->seqs = calloc((size_t)s->n_beams, sizeof *s->seqs);
    s->tmp = calloc((size_t)s->n_beams, sizeof *s->tmp);
    if (!s->seqs || !s->tmp) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "request state");
    if (s->n_beams > 1) {
        s->parent = malloc((size_t)s->n_beams * sizeof *s->parent);
        s->token = malloc((size_t)s->n_beams * sizeof *s->token);
        if (!s->parent || !s->token) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "beams");
        return beam_search_new(p, vocab, r->decoder_start, &s->bs);
    }
    s->tokens = malloc((size_t)p->max_length * sizeof *s->tokens);
    if (!s->tokens) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "sequence");
    s->tokens[0] = r->decoder_start;
    s->len = 1;
    if (p->do_sample) {
        decode_rng_seed(&s->rng, p->seed);
        s->row_copy = malloc((size_t)vocab * sizeof *s->row_copy);
        if (!s->row_copy) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "sampling row");
    }
    return GLOSSA_STATUS_OK;
}

static const int32_t *state_seq(const gen_state *s, int32_t b, int32_t *len)
{
    if (s->bs) return beam_search_seq(s->bs, b, len);
    *len = s->len;
    return s->tokens;
}

static glossa_status bufs_reserve(step_bufs *sb, int32_t rows, int32_t tab, int32_t xtab)
{
    if (rows > sb->cap_rows) {
        int32_t **arrs[] = {&sb->ids, &sb->pos, &sb->slots, &sb->lens, &sb->xlens};
        for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
            int32_t *a = realloc(*arrs[i], (size_t)rows * sizeof *a);
            if (!a) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "step buffers");
            *arrs[i] = a;
        }
        int32_t *o = realloc(sb->off, (size_t)(rows + 1) * sizeof *o);
        if (!o) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "step buffers");
        sb->off = o;
        sb->cap_rows = rows;
    }
    if (tab > sb->cap_tab) {
        int32_t *a = realloc(sb->tab, (size_t)tab * sizeof *a);
        if (!a) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "block tables");
        sb->tab = a;
        sb->cap_tab = tab;
    }
    if (xtab > sb->cap_xtab) {
        int32_t *a = realloc(sb->xtab, (size_t)xtab * sizeof *a);
        if (!a) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "block tables");
        sb->xtab = a;
        sb->cap_xtab = xtab;
    }
    return GLOSSA_STATUS_OK;
}

static void bufs_free(step_bufs *sb)
{
    free(sb->ids);
    free(sb->off);
    free(sb->pos);
    free(sb->slots);
    free(sb->lens);
    free(sb->xlens);
    free(sb->tab);
    free(sb->xtab);
}

/* One decoder pass over every running sequence; logits rows in state order. */
static glossa_status step_forward(gen_engine *e, gen_state *st, int32_t n, step_bufs *sb,
                                  int32_t *rows_out)
{
    int32_t rows = 0, max_self = 1, max_cross = 1;
    for (int32_t i = 0; i < n; i++) rows += st[i].done ? 0 : st[i].n_beams;
    GLOSSA_TRY(bufs_reserve(sb, rows, 0, 0));
    rows = 0;
    for (int32_t i = 0; i < n; i++) {
        if (st[i].done) continue;
        for (int32_t b = 0; b < st[i].n_beams; b++, rows++) {
            int32_t len;
            const int32_t *seq = state_seq(&st[i], b, &len);
            sb->ids[rows] = seq[len - 1];
            sb->pos[rows] = len - 1;
            sb->off[rows] = rows;
            GLOSSA_TRY(kv_seq_append(&e->self, &st[i].seqs[b], 1, &sb->slots[rows], &e->cow));
            sb->lens[rows] = st[i].seqs[b].len;
            sb->xlens[rows] = st[i].cross.len;
            if (st[i].seqs[b].n_blocks > max_self) max_self = st[i].seqs[b].n_blocks;
            if (st[i].cross.n_blocks > max_cross) max_cross = st[i].cross.n_blocks;
        }
    }
    sb->off[rows] = rows;
    GLOSSA_TRY(bufs_reserve(sb, rows, rows * max_self, rows * max_cross));
    int32_t r = 0;
    for (int32_t i = 0; i < n; i++) {
        if (st[i].done) continue;
        for (int32_t b = 0; b < st[i].n_beams; b++, r++) {
            int32_t *t = sb->tab + (size_t)r * (size_t)max_self;
            int32_t *x = sb->xtab + (size_t)r * (size_t)max_cross;
            memset(t, 0, (size_t)max_self * sizeof *t);
            memset(x, 0, (size_t)max_cross * sizeof *x);
            memcpy(t, st[i].seqs[b].blocks, (size_t)st[i].seqs[b].n_blocks * sizeof *t);
            memcpy(x, st[i].cross.blocks, (size_t)st[i].cross.n_blocks * sizeof *x);
        }
    }
    GLOSSA_TRY(kv_copies_apply(&e->self, &e->cow));
    int32_t vocab = bart_decoder_vocab(e->model);
    GLOSSA_TRY(reserve_logits(e, (size_t)rows * (size_t)vocab));
    bart_kv kv = engine_kv(e);
    bart_dec_batch b = {rows, sb->ids, sb->off, sb->pos, sb->slots, sb->tab, sb->lens, max_self,
                        sb->xtab, sb->xlens, max_cross, false};
    *rows_out = rows;
    return bart_decode(e->model, e->ws, &kv, &b, e->logits);
}

static bool is_eos(const decode_params *p, int32_t tok)
{
    for (int32_t i = 0; i < p->n_eos; i++)
        if (p->eos_ids[i] == tok) return true;
    return false;
}

static double log_sum_exp(const float *row, int32_t n)
{
    float mx = -INFINITY;
    for (int32_t i = 0; i < n; i++) mx = row[i] > mx ? row[i] : mx;
    if (mx == -INFINITY) return -INFINITY;
    double s = 0;
    for (int32_t i = 0; i < n; i++) s += exp((double)(row[i] - mx));
    return (double)mx + log(s);
}

static glossa_status finish_single(gen_engine *e, gen_state *s)
{
    gen_request *r = s->r;
    r->results = calloc(1, sizeof *r->results);
    if (!r->results) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "results");
    r->n_results = 1;
    gen_result *res = &r->results[0];
    res->n = s->len - 1;
    res->ids = malloc((size_t)(res->n ? res->n : 1) * sizeof *res->ids);
    if (!res->ids) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "results");
    memcpy(res->ids, s->tokens + 1, (size_t)res->n * sizeof *res->ids);
    res->score = (float)s->logprob;
    s->done = true;
    kv_seq_release(&e->self, &s->seqs[0]);
    kv_seq_release(&e->cross, &s->cross);
    return GLOSSA_STATUS_OK;
}

static glossa_status finish_beams(gen_engine *e, gen_state *s)
{
    gen_request *r = s->r;
    int32_t k = r->p.num_return_sequences > 0 ? r->p.num_return_sequences : 1;
    r->results = calloc((size_t)k, sizeof *r->results);
    if (!r->results) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "results");
    r->n_results = k;
    for (int32_t i = 0; i < k; i++) {
        const int32_t *seq;
        int32_t len;
        float score;
        GLOSSA_TRY(beam_search_result(s->bs, i, &seq, &len, &score));
        gen_result *res = &r->results[i];
        res->n = len - 1;
        res->ids = malloc((size_t)(res->n > 0 ? res->n : 1) * sizeof *res->ids);
        if (!res->ids) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "results");
        memcpy(res->ids, seq + 1, (size_t)res->n * sizeof *res->ids);
        res->score = score;
    }
    s->done = true;
    for (int32_t b = 0; b < s->n_beams; b++) kv_seq_release(&e->self, &s->seqs[b]);
    kv_seq_release(&e->cross, &s->cross);
    return GLOSSA_STATUS_OK;
}

/* Phase 1 of a step (parallel over requests, touches only the request's own state): pick the
 * next token(s) from the logits rows. */
static glossa_status select_single(gen_state *s, float *row, int32_t vocab)
{
    const decode_params *p = &s->r->p;
    decode_process_logits(row, vocab, s->tokens, s->len, p);
    int32_t tok;
    if (p->do_sample) {
        memcpy(s->row_copy, row, (size_t)vocab * sizeof *row);
        tok = decode_sample(s->row_copy, vocab, p, &s->rng);
    } else {
        tok = decode_argmax(row, vocab);
    }
    if (s->r->output_scores) s->logprob += (double)row[tok] - log_sum_exp(row, vocab);
    s->tokens[s->len++] = tok;
    s->finishing = (!p->ignore_eos && is_eos(p, tok)) || s->len >= p->max_length;
    return GLOSSA_STATUS_OK;
}

static glossa_status select_beams(gen_state *s, float *rows, int32_t vocab)
{
    const decode_params *p = &s->r->p;
    for (int32_t b = 0; b < s->n_beams; b++) {
        float *row = rows + (size_t)b * (size_t)vocab;
        int32_t len;
        const int32_t *seq = beam_search_seq(s->bs, b, &len);
        decode_log_softmax(row, vocab);
        decode_process_logits(row, vocab, seq, len, p);
    }
    GLOSSA_TRY(beam_search_step(s->bs, rows, s->parent, s->token));
    s->finishing = beam_search_done(s->bs);
    return GLOSSA_STATUS_OK;
}

/* Phase 2 (serial: the block pools are shared): reorder beam caches, finish requests. */
static glossa_status commit(gen_engine *e, gen_state *s)
{
    if (s->bs) {
        for (int32_t b = 0; b < s->n_beams; b++)
            GLOSSA_TRY(kv_seq_fork(&e->self, &s->tmp[b], &s->seqs[s->parent[b]]));
        for (int32_t b = 0; b < s->n_beams; b++) kv_seq_release(&e->self, &s->seqs[b]);
        kv_seq *t = s->seqs;
        s->seqs = s->tmp;
        s->tmp = t;
        return s->finishing ? finish_beams(e, s) : GLOSSA_STATUS_OK;
    }
    return s->finishing ? finish_single(e, s) : GLOSSA_STATUS_OK;
}

typedef struct select_ctx {
    gen_state **active;
    float *logits;
    int32_t vocab;
} select_ctx;

static void select_range(void *ctx, int64_t begin, int64_t end, int thread_id)
{
    (void)thread_id;
    select_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++) {
        gen_state *s = c->active[i];
        float *row = c->logits + (size_t)s->row0 * (size_t)c->vocab;
        s->status = s->bs ? select_beams(s, row, c->vocab) : select_single(s, row, c->vocab);
    }
}

static glossa_status run_loop(gen_engine *e, gen_state *st, int32_t n, double t_start)
{
    step_bufs sb = {0};
    int32_t vocab = bart_decoder_vocab(e->model);
    gen_state **active = malloc((size_t)n * sizeof *active);
    if (!active) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "request states");
    glossa_status s = GLOSSA_STATUS_OK;
    for (;;) {
        int32_t running = 0;
        for (int32_t i = 0; i < n; i++) running += !st[i].done;
        if (!running) break;
        int32_t rows;
        double t0 = now_ms();
        s = step_forward(e, st, n, &sb, &rows);
        if (s != GLOSSA_STATUS_OK) break;
        e->stats.generated_tokens += rows;
        int32_t n_active = 0, r = 0;
        for (int32_t i = 0; i < n; i++) {
            if (st[i].done) continue;
            st[i].row0 = r;
            r += st[i].n_beams;
            active[n_active++] = &st[i];
        }
        select_ctx sc = {active, e->logits, vocab};
        if (e->pool) threadpool_parallel_for(e->pool, n_active, 1, select_range, &sc);
        else select_range(&sc, 0, n_active, 0);
        for (int32_t i = 0; i < n_active && s == GLOSSA_STATUS_OK; i++) {
            s = active[i]->status;
            if (s == GLOSSA_STATUS_OK) s = commit(e, active[i]);
        }
        if (s != GLOSSA_STATUS_OK) break;
        double t1 = now_ms();
        e->stats.decode_ms += t1 - t0;
        if (e->stats.decode_steps++ == 0) e->stats.first_token_ms = t1 - t_start;
    }
    bufs_free(&sb);
    free(active);
    return s;
}

glossa_status gen_run(gen_engine *e, gen_request *const *reqs, int32_t n)
{
    if (n <= 0) return GLOSSA_STATUS_OK;
    int32_t vocab = bart_decoder_vocab(e->model);
    gen_state *st = calloc((size_t)n, sizeof *st);
    if (!st) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "request states");
    glossa_status s = GLOSSA_STATUS_OK;
    int32_t inited = 0;
    for (; inited < n && s == GLOSSA_STATUS_OK; inited++) {
        gen_request_clear_results(reqs[inited]);
        s = state_init(&st[inited], reqs[inited], vocab);
    }
    memset(&e->stats, 0, sizeof e->stats);
    double t_start = now_ms();
    if (s == GLOSSA_STATUS_OK) s = reserve_pools(e, st, n);
    if (s == GLOSSA_STATUS_OK) s = encode_all(e, st, n);
    e->stats.encode_ms = now_ms() - t_start;
    if (s == GLOSSA_STATUS_OK) s = run_loop(e, st, n, t_start);
    e->stats.total_ms = now_ms() - t_start;
    for (int32_t i = 0; i < inited; i++) {
        if (s != GLOSSA_STATUS_OK) gen_request_clear_results(reqs[i]);
        state_free(e, &st[i]);
    }
    free(st);
    return s;
}

glossa_status gen_teacher_forced(gen_engine *e, const int32_t *src, int32_t n_src,
                                 const int32_t *dec, int32_t n_dec, float *logits)
{
    if (n_src <= 0 || n_dec <= 0)
        return glossa_error(GLOSSA_STATUS_INVALID_ARGUMENT, "empty source or decoder input");
    kv_seq cross = {0}, self = {0};
    int32_t *slots = malloc((size_t)(n_src > n_dec ? n_src : n_dec) * sizeof *slots);
    int32_t *pos = malloc((size_t)n_dec * sizeof *pos);
    glossa_status s = slots && pos ? GLOSSA_STATUS_OK
                                   : glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "teacher forcing");
    if (s == GLOSSA_STATUS_OK && kv_blocks_for(&e->self, n_dec) > e->self.n_blocks)
        s = kv_pool_resize(&e->self, kv_blocks_for(&e->self, n_dec));
    if (s == GLOSSA_STATUS_OK && kv_blocks_for(&e->cross, n_src) > e->cross.n_blocks)
        s = kv_pool_resize(&e->cross, kv_blocks_for(&e->cross, n_src));
    bart_kv kv = engine_kv(e);
    if (s == GLOSSA_STATUS_OK) s = kv_seq_append(&e->cross, &cross, n_src, slots, NULL);
    if (s == GLOSSA_STATUS_OK) {
        int32_t off[2] = {0, n_src};
        bart_enc_batch b = {1, src, off, slots};
        s = bart_encode(e->model, e->ws, &kv, &b);
    }
    if (s == GLOSSA_STATUS_OK) s = kv_seq_append(&e->self, &self, n_dec, slots, NULL);
    if (s == GLOSSA_STATUS_OK) {
        for (int32_t i = 0; i < n_dec; i++) pos[i] = i;
        int32_t off[2] = {0, n_dec};
        bart_dec_batch b = {1, dec, off, pos, slots, self.blocks, &self.len, self.n_blocks,
                            cross.blocks, &cross.len, cross.n_blocks, true};
        s = bart_decode(e->model, e->ws, &kv, &b, logits);
    }
    kv_seq_free(&e->self, &self);
    kv_seq_free(&e->cross, &cross);
    free(slots);
    free(pos);
    return s;
}
