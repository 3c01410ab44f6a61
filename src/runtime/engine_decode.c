/* The engine's decode step (see engine.h): one decoder pass over every running sequence (greedy,
 * sampling and beam search mixed, each job with its own target language and settings), token
 * selection in parallel over jobs, then serially the KV reordering of beams, streaming and
 * finishing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "runtime/engine_internal.h"

glossa_status engine_job_state_init(engine *e, engine_job *j)
{
    const gen_request *r = j->r;
    const decode_params *p = &r->p;
    int32_t vocab = bart_decoder_vocab(e->model);
    j->n_beams = p->num_beams > 1 ? p->num_beams : 1;
    j->len = 0;
    j->logprob = 0;
    j->steps = 0;
    j->seqs = calloc((size_t)j->n_beams, sizeof *j->seqs);
    j->tmp = calloc((size_t)j->n_beams, sizeof *j->tmp);
    j->xslots = malloc((size_t)r->n_src * sizeof *j->xslots);
    if (!j->seqs || !j->tmp || !j->xslots)
        return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "request state");
    if (j->n_beams > 1) {
        j->parent = malloc((size_t)j->n_beams * sizeof *j->parent);
        j->token = malloc((size_t)j->n_beams * sizeof *j->token);
        if (!j->parent || !j->token) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "beams");
        return beam_search_new(p, vocab, r->decoder_start, &j->bs);
    }
    j->tokens = malloc((size_t)p->max_length * sizeof *j->tokens);
    if (!j->tokens) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "sequence");
    j->tokens[0] = r->decoder_start;
    j->len = 1;
    if (p->do_sample) {
        decode_rng_seed(&j->rng, p->seed);
        j->row_copy = malloc((size_t)vocab * sizeof *j->row_copy);
        if (!j->row_copy) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "sampling row");
    }
    return GLOSSA_STATUS_OK;
}

void engine_job_state_free(engine *e, engine_job *j)
{
    engine_ahead_forget(e, j);
    kv_seq_free(&e->cross, &j->cross);
    for (int32_t b = 0; j->seqs && b < j->n_beams; b++) kv_seq_free(&e->self, &j->seqs[b]);
    for (int32_t b = 0; j->tmp && b < j->n_beams; b++) kv_seq_free(&e->self, &j->tmp[b]);
    free(j->seqs);
    free(j->tmp);
    beam_search_free(j->bs);
    free(j->tokens);
    free(j->row_copy);
    free(j->parent);
    free(j->token);
    bart_enc_state_free(j->enc);
    free(j->xslots);
    j->seqs = j->tmp = NULL;
    j->bs = NULL;
    j->tokens = j->parent = j->token = j->xslots = NULL;
    j->row_copy = NULL;
    j->enc = NULL;
    j->len = 0;
    j->enc_done = 0;
}

int32_t engine_job_step_blocks(const engine *e, const engine_job *j)
{
    if (j->ahead) return 0; /* its next slot is taken (a pass queued ahead) */
    int32_t n = 0, bs = e->self.block_size;
    for (int32_t b = 0; b < j->n_beams; b++) {
        const kv_seq *s = &j->seqs[b];
        if (s->len % bs == 0) n++; /* a new block */
        else if (e->self.refcount[s->blocks[s->n_blocks - 1]] > 1) n++; /* copy-on-write */
    }
    return n;
}

static const int32_t *job_seq(const engine_job *j, int32_t b, int32_t *len)
{
    if (j->bs) return beam_search_seq(j->bs, b, len);
    *len = j->len;
    return j->tokens;
}

static int32_t next_cap(int32_t cap, int32_t n)
{
    int64_t c = cap ? cap : 16;
    while (c < n) c *= 2;
    return c > INT32_MAX - 1 ? n : (int32_t)c;
}

static glossa_status grow_i32(int32_t **a, size_t n)
{
    int32_t *p = realloc(*a, n * sizeof *p);
    if (!p) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "step buffers (%zu entries)", n);
    *a = p;
    return GLOSSA_STATUS_OK;
}

static glossa_status bufs_reserve(engine_bufs *sb, int32_t rows, int32_t tab, int32_t xtab)
{
    if (rows > sb->cap_rows) {
        int32_t c = next_cap(sb->cap_rows, rows);
        int32_t **arrs[] = {&sb->ids, &sb->pos, &sb->slots, &sb->lens, &sb->xlens, &sb->off};
        for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
            GLOSSA_TRY(grow_i32(arrs[i], (size_t)c + 1));
        sb->cap_rows = c;
    }
    if (tab > sb->cap_tab) {
        int32_t c = next_cap(sb->cap_tab, tab);
        GLOSSA_TRY(grow_i32(&sb->tab, (size_t)c));
        sb->cap_tab = c;
    }
    if (xtab > sb->cap_xtab) {
        int32_t c = next_cap(sb->cap_xtab, xtab);
        GLOSSA_TRY(grow_i32(&sb->xtab, (size_t)c));
        sb->cap_xtab = c;
    }
    return GLOSSA_STATUS_OK;
}

static glossa_status reserve_logits(engine *e, size_t n)
{
    if (n <= e->logits_cap) return GLOSSA_STATUS_OK;
    size_t cap = e->logits_cap * 2 > n ? e->logits_cap * 2 : n;
    float *l = realloc(e->logits, cap * sizeof *l);
    if (!l) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "logits (%zu floats)", cap);
    e->logits = l;
    e->logits_cap = cap;
    return GLOSSA_STATUS_OK;
}

/* Block tables of the step, one row per sequence, zero-padded to the widest. */
static void fill_tables(engine *e, engine_job **jobs, int32_t n, int32_t max_self, int32_t max_cross)
{
    engine_bufs *sb = &e->b;
    int32_t r = 0;
    for (int32_t i = 0; i < n; i++) {
        const engine_job *j = jobs[i];
        for (int32_t b = 0; b < j->n_beams; b++, r++) {
            int32_t *t = sb->tab + (size_t)r * (size_t)max_self;
            int32_t *x = sb->xtab + (size_t)r * (size_t)max_cross;
            memset(t, 0, (size_t)max_self * sizeof *t);
            memset(x, 0, (size_t)max_cross * sizeof *x);
            memcpy(t, j->seqs[b].blocks, (size_t)j->seqs[b].n_blocks * sizeof *t);
            memcpy(x, j->cross.blocks, (size_t)j->cross.n_blocks * sizeof *x);
        }
    }
}

/* beam jobs per beam_topk call (the groups live on the stack) */
#define BEAM_GROUPS_PER_CALL 64

/* Device logits: greedy jobs whose token the raw argmax decides (decode_greedy_shortcut) take
 * it from the device argmax; beam jobs whose step needs no processed row on the host
 * (beam_search_device_group) take their candidates from the device's beam_topk; only the other
 * jobs' rows are copied to the host. */
static glossa_status reserve_argmax(engine *e, int32_t rows)
{
    if (rows <= e->cap_argmax) return GLOSSA_STATUS_OK;
    int32_t *a = realloc(e->argmax, (size_t)rows * sizeof *a);
    if (!a) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "argmax ids");
    e->argmax = a;
    e->cap_argmax = rows;
    return GLOSSA_STATUS_OK;
}

/* any_greedy: the argmax ids are wanted (fetched here unless ids_ready: in e->argmax already) */
static glossa_status fetch_rows(engine *e, engine_job **jobs, int32_t n, int32_t rows,
                                bool any_greedy, bool ids_ready)
{
    GLOSSA_TRY(reserve_argmax(e, rows));
    int32_t vocab = bart_decoder_vocab(e->model);
    if (any_greedy && !ids_ready) GLOSSA_TRY(bart_logits_argmax(e->model, e->ws, rows, e->argmax));
    gl_beam_group groups[BEAM_GROUPS_PER_CALL];
    int32_t n_groups = 0;
    for (int32_t i = 0; i < n; i++) {
        engine_job *j = jobs[i];
        j->shortcut = !j->bs && !j->r->output_scores &&
                      decode_greedy_shortcut(&j->r->p, vocab, j->len, e->argmax[j->row0],
                                             &j->shortcut_tok);
        if (j->shortcut) continue;
        if (j->bs && beam_search_device_group(j->bs, &groups[n_groups])) {
            groups[n_groups++].row0 = j->row0;
            if (n_groups == BEAM_GROUPS_PER_CALL) {
                GLOSSA_TRY(bart_logits_beam_topk(e->model, e->ws, rows, n_groups, groups));
                n_groups = 0;
            }
            continue;
        }
        GLOSSA_TRY(bart_logits_rows(e->model, e->ws, j->row0, j->n_beams,
                                    e->logits + (size_t)j->row0 * (size_t)vocab));
    }
    if (n_groups > 0) GLOSSA_TRY(bart_logits_beam_topk(e->model, e->ws, rows, n_groups, groups));
    return GLOSSA_STATUS_OK;
}

/* Undo the slots rows [0, rows) of the jobs took (a pass queued ahead that did not happen). */
static void pop_rows(engine *e, engine_job **jobs, int32_t rows)
{
    for (int32_t i = 0, r = 0; r < rows; i++)
        for (int32_t b = 0; b < jobs[i]->n_beams && r < rows; b++, r++)
            kv_seq_pop(&e->self, &jobs[i]->seqs[b]);
}

glossa_status engine_step_batch(engine *e, engine_job **jobs, int32_t n, bool ahead,
                                bart_dec_batch *out, int32_t *rows_out)
{
    engine_bufs *sb = &e->b;
    int32_t rows = 0, max_self = 1, max_cross = 1;
    for (int32_t i = 0; i < n; i++) rows += jobs[i]->n_beams;
    GLOSSA_TRY(bufs_reserve(sb, rows, 0, 0));
    rows = 0;
    for (int32_t i = 0; i < n; i++) {
        engine_job *j = jobs[i];
        if (!ahead) j->row0 = rows;
        for (int32_t b = 0; b < j->n_beams; b++, rows++) {
            int32_t len;
            const int32_t *seq = job_seq(j, b, &len);
            sb->ids[rows] = ahead ? 0 : seq[len - 1]; /* ahead: fed from the device */
            sb->pos[rows] = len - 1 + (ahead ? 1 : 0);
            sb->off[rows] = rows;
            glossa_status st =
                kv_seq_append(&e->self, &j->seqs[b], 1, &sb->slots[rows], ahead ? NULL : &e->cow);
            if (st != GLOSSA_STATUS_OK) {
                if (ahead) pop_rows(e, jobs, rows);
                return st;
            }
            sb->lens[rows] = j->seqs[b].len;
            sb->xlens[rows] = j->cross.len;
            if (j->seqs[b].n_blocks > max_self) max_self = j->seqs[b].n_blocks;
            if (j->seqs[b].len > e->it.max_self_len) e->it.max_self_len = j->seqs[b].len;
            if (j->cross.n_blocks > max_cross) max_cross = j->cross.n_blocks;
        }
    }
    sb->off[rows] = rows;
    glossa_status st = GLOSSA_STATUS_OK;
    if ((int64_t)rows * max_self > INT32_MAX || (int64_t)rows * max_cross > INT32_MAX)
        st = glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "block tables of %d rows", rows);
    if (st == GLOSSA_STATUS_OK) st = bufs_reserve(sb, rows, rows * max_self, rows * max_cross);
    if (st == GLOSSA_STATUS_OK) {
        fill_tables(e, jobs, n, max_self, max_cross);
        if (!ahead) st = kv_copies_apply(&e->self, &e->cow);
    }
    if (st == GLOSSA_STATUS_OK)
        st = reserve_logits(e, (size_t)rows * (size_t)bart_decoder_vocab(e->model));
    if (st != GLOSSA_STATUS_OK) {
        if (ahead) pop_rows(e, jobs, rows);
        return st;
    }
    *out = (bart_dec_batch){rows,      sb->ids,  sb->off,  sb->pos,  sb->slots,
                            sb->tab,   sb->lens, max_self, sb->xtab, sb->xlens,
                            max_cross, false,    false,    false,    ahead};
    *rows_out = rows;
    return GLOSSA_STATUS_OK;
}

/* One decoder pass over every sequence of the jobs, logits rows in job order; *want_ids: the
 * pass computed the argmax (any greedy job, logits on the device). */
static glossa_status step_forward(engine *e, engine_job **jobs, int32_t n, int32_t *rows_out,
                                  bool *want_ids)
{
    bart_dec_batch b;
    int32_t rows;
    GLOSSA_TRY(engine_step_batch(e, jobs, n, false, &b, &rows));
    int32_t vocab = bart_decoder_vocab(e->model);
    bart_kv kv = engine_kv(e);
    /* greedy jobs: fetch_rows takes their argmax, computed with the pass where it can be; when
     * every job is greedy and needs no row whatever the argmax, the pass may keep only that */
    b.ids_only = e->device_logits && !e->ids_only_off;
    for (int32_t i = 0; i < n; i++) {
        const engine_job *j = jobs[i];
        bool greedy = !j->bs;
        b.want_ids = b.want_ids || (e->device_logits && greedy);
        b.ids_only = b.ids_only && greedy && !j->r->output_scores &&
                     decode_greedy_rowless(&j->r->p, vocab, j->len);
    }
    *rows_out = rows;
    *want_ids = b.want_ids;
    return bart_decode(e->model, e->ws, &kv, &b, e->device_logits ? NULL : e->logits);
}

/* The step's pass: the one queued ahead for these jobs, else a new one; then what the selection
 * reads (ids, candidates, rows). Where this step's jobs qualify, the next step's pass is queued
 * between the ids' copy and the wait for it (engine_pipeline.c). */
static glossa_status step_pass(engine *e, engine_job **jobs, int32_t n, int32_t *rows_out)
{
    int32_t rows = 0;
    bool want_ids = true;
    if (engine_ahead_matches(e, jobs, n)) {
        rows = engine_ahead_take(e, jobs, n);
    } else {
        engine_ahead_drop(e);
        GLOSSA_TRY(step_forward(e, jobs, n, &rows, &want_ids));
        if (!e->device_logits) {
            *rows_out = rows;
            return GLOSSA_STATUS_OK;
        }
    }
    *rows_out = rows;
    bool next = want_ids && engine_ahead_eligible(e, jobs, n, rows);
    if (!next) return fetch_rows(e, jobs, n, rows, want_ids, false);
    GLOSSA_TRY(reserve_argmax(e, rows));
    GLOSSA_TRY(bart_ids_begin(e->model, e->ws, rows));
    glossa_status st = engine_ahead_launch(e, jobs, n);
    glossa_status st2 = bart_ids_end(e->model, rows, e->argmax);
    GLOSSA_TRY(st);
    GLOSSA_TRY(st2);
    return fetch_rows(e, jobs, n, rows, true, true);
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

static glossa_status finish_single(engine_job *j)
{
    gen_request *r = j->r;
    r->results = calloc(1, sizeof *r->results);
    if (!r->results) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "results");
    r->n_results = 1;
    gen_result *res = &r->results[0];
    res->n = j->len - 1;
    res->ids = malloc((size_t)(res->n ? res->n : 1) * sizeof *res->ids);
    if (!res->ids) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "results");
    memcpy(res->ids, j->tokens + 1, (size_t)res->n * sizeof *res->ids);
    res->score = (float)j->logprob;
    return GLOSSA_STATUS_OK;
}

static glossa_status finish_beams(engine_job *j)
{
    gen_request *r = j->r;
    int32_t k = r->p.num_return_sequences > 0 ? r->p.num_return_sequences : 1;
    r->results = calloc((size_t)k, sizeof *r->results);
    if (!r->results) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "results");
    r->n_results = k;
    for (int32_t i = 0; i < k; i++) {
        const int32_t *seq;
        int32_t len;
        float score;
        GLOSSA_TRY(beam_search_result(j->bs, i, &seq, &len, &score));
        gen_result *res = &r->results[i];
        res->n = len - 1;
        res->ids = malloc((size_t)(res->n > 0 ? res->n : 1) * sizeof *res->ids);
        if (!res->ids) return glossa_error(GLOSSA_STATUS_OUT_OF_MEMORY, "results");
        memcpy(res->ids, seq + 1, (size_t)res->n * sizeof *res->ids);
        res->score = score;
    }
    return GLOSSA_STATUS_OK;
}

/* Phase 1 of a step (parallel over jobs, touches only the job's own state): pick the next
 * token(s) from the logits rows. */
static glossa_status select_single(engine_job *j, float *row, int32_t vocab)
{
    const decode_params *p = &j->r->p;
    int32_t tok;
    if (j->shortcut) {
        j->shortcut = false;
        tok = j->shortcut_tok;
        j->tokens[j->len++] = tok;
        j->finishing = (!p->ignore_eos && is_eos(p, tok)) || j->len >= p->max_length;
        return GLOSSA_STATUS_OK;
    }
    decode_process_logits(row, vocab, j->tokens, j->len, p);
    if (p->do_sample) {
        memcpy(j->row_copy, row, (size_t)vocab * sizeof *row);
        tok = decode_sample(j->row_copy, vocab, p, &j->rng);
    } else {
        tok = decode_argmax(row, vocab);
    }
    if (j->r->output_scores) j->logprob += (double)row[tok] - log_sum_exp(row, vocab);
    j->tokens[j->len++] = tok;
    j->finishing = (!p->ignore_eos && is_eos(p, tok)) || j->len >= p->max_length;
    return GLOSSA_STATUS_OK;
}

static glossa_status select_beams(engine_job *j, float *rows, int32_t vocab)
{
    const decode_params *p = &j->r->p;
    if (beam_search_device_pending(j->bs)) { /* candidates from the device (fetch_rows) */
        GLOSSA_TRY(beam_search_step_device(j->bs, j->parent, j->token));
        j->finishing = beam_search_done(j->bs);
        return GLOSSA_STATUS_OK;
    }
    for (int32_t b = 0; b < j->n_beams; b++) {
        float *row = rows + (size_t)b * (size_t)vocab;
        int32_t len;
        const int32_t *seq = beam_search_seq(j->bs, b, &len);
        decode_log_softmax(row, vocab);
        decode_process_logits(row, vocab, seq, len, p);
    }
    GLOSSA_TRY(beam_search_step(j->bs, rows, j->parent, j->token));
    j->finishing = beam_search_done(j->bs);
    return GLOSSA_STATUS_OK;
}

typedef struct select_ctx {
    engine_job **jobs;
    float *logits;
    int32_t vocab;
} select_ctx;

static void select_range(void *ctx, int64_t begin, int64_t end, int thread_id)
{
    (void)thread_id;
    select_ctx *c = ctx;
    for (int64_t i = begin; i < end; i++) {
        engine_job *j = c->jobs[i];
        float *row = c->logits + (size_t)j->row0 * (size_t)c->vocab;
        j->status = j->bs ? select_beams(j, row, c->vocab) : select_single(j, row, c->vocab);
    }
}

/* Phase 2 (serial: the block pools are shared): reorder beam caches. */
static glossa_status commit_beams(engine *e, engine_job *j)
{
    for (int32_t b = 0; b < j->n_beams; b++)
        GLOSSA_TRY(kv_seq_fork(&e->self, &j->tmp[b], &j->seqs[j->parent[b]]));
    for (int32_t b = 0; b < j->n_beams; b++) kv_seq_release(&e->self, &j->seqs[b]);
    kv_seq *t = j->seqs;
    j->seqs = j->tmp;
    j->tmp = t;
    return GLOSSA_STATUS_OK;
}

/* After the selection: commit, stream, finish. */
static void job_after_select(engine *e, engine_job *j, double now)
{
    glossa_status s = j->status;
    if (s == GLOSSA_STATUS_OK && j->bs) s = commit_beams(e, j);
    if (s != GLOSSA_STATUS_OK) {
        engine_job_end(e, j, s);
        return;
    }
    j->steps++;
    if (j->t_first == 0) j->t_first = now;
    if (!j->bs && j->len - 1 > j->emitted) {
        int32_t from = j->emitted;
        j->emitted = j->len - 1;
        if (e->ev.token) e->ev.token(e->ev.ctx, j, j->tokens + 1 + from, j->len - 1 - from);
    }
    if (!j->finishing) return;
    s = j->bs ? finish_beams(j) : finish_single(j);
    if (s != GLOSSA_STATUS_OK) gen_request_clear_results(j->r);
    engine_job_end(e, j, s);
}

glossa_status engine_decode_step(engine *e, engine_job **jobs, int32_t n)
{
    if (n <= 0) return GLOSSA_STATUS_OK;
    double t0 = engine_now_ms();
    int32_t rows = 0;
    glossa_status s = step_pass(e, jobs, n, &rows);
    if (s != GLOSSA_STATUS_OK) {
        e->cow.n = 0;
        for (int32_t i = 0; i < n; i++) engine_job_end(e, jobs[i], s);
        return s;
    }
    e->c.generated_tokens += rows;
    double t1 = engine_now_ms();
    select_ctx sc = {jobs, e->logits, bart_decoder_vocab(e->model)};
    if (e->pool) threadpool_parallel_for(e->pool, n, 1, select_range, &sc);
    else select_range(&sc, 0, n, 0);
    double now = engine_now_ms();
    for (int32_t i = 0; i < n; i++) job_after_select(e, jobs[i], now);
    double t3 = engine_now_ms();
    e->c.decode_ms += t3 - t0;
    e->it.fwd_ms += t1 - t0;
    e->it.sel_ms += now - t1;
    e->it.post_ms += t3 - now;
    e->it.dec_jobs += n;
    e->it.dec_rows += rows;
    e->c.decode_steps++;
    return GLOSSA_STATUS_OK;
}
